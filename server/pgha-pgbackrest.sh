#!/bin/bash
# pgha's pgBackRest steps (components/backup-repository.ts), run as root; pgBackRest itself
# runs as postgres. Every wait is bounded and, when it gives up, says what it last saw.
#
#   pgha-pgbackrest.sh server-start --unit UNIT --address ADDR --port PORT --timeout SEC
#       enable and start pgBackRest's TLS server, wait until it listens on ADDR:PORT
#   pgha-pgbackrest.sh stanza-create --stanza S --timeout SEC
#       create (or confirm) the stanza on this repository host, retried while the
#       PostgreSQL primary or its pgBackRest server is not reachable yet
#   pgha-pgbackrest.sh check --stanza S --timeout SEC
#       pgBackRest's check (the primary archives a WAL segment into every repository), retried
#   pgha-pgbackrest.sh first-backup --stanza S --repo N [--repo N] [--unit UNIT] --timeout SEC
#       a full backup into each repository that holds none yet: through UNIT (the scheduled full
#       backup's service, which backs up every repository of this host) when given, else
#       pgBackRest directly; nothing when every repository already holds a full backup
#   pgha-pgbackrest.sh timers [--timer NAME.timer ...]
#       enable and start the given pgha-backup-*.timer units, disable every other one
#
# PGHA_PGBACKREST: the pgbackrest binary (tests only; default /usr/bin/pgbackrest).
set -euo pipefail

PGBACKREST=${PGHA_PGBACKREST:-/usr/bin/pgbackrest}
cmd=${1:-}
[ "$#" -gt 0 ] && shift
unit="" address="" port="" timeout="" stanza=""
repos=() timers=()
while [ "$#" -gt 0 ]; do
  case "$1" in
    --unit) unit=$2; shift 2;;
    --address) address=$2; shift 2;;
    --port) port=$2; shift 2;;
    --timeout) timeout=$2; shift 2;;
    --stanza) stanza=$2; shift 2;;
    --repo) repos+=("$2"); shift 2;;
    --timer) timers+=("$2"); shift 2;;
    *) echo "pgha-pgbackrest.sh: unknown argument: $1" >&2; exit 2;;
  esac
done

need() { # option value
  [ -n "$2" ] || { echo "pgha-pgbackrest.sh $cmd: $1 is required" >&2; exit 2; }
}

as_postgres() {
  runuser -u postgres -- "$PGBACKREST" "$@"
}

# retry WHAT SECONDS COMMAND...: runs COMMAND every 5 s until it succeeds or SECONDS pass;
# then prints its last output and fails.
retry() {
  local what=$1 seconds=$2 out rc
  shift 2
  local deadline=$((SECONDS + seconds))
  while :; do
    rc=0
    out=$("$@" 2>&1) || rc=$?
    if [ "$rc" -eq 0 ]; then
      [ -z "$out" ] || printf '%s\n' "$out"
      return 0
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      printf 'pgha: %s: still failing after %s s (exit %s); last output:\n%s\n' "$what" "$seconds" "$rc" "$out" >&2
      return 1
    fi
    sleep 5
  done
}

listening() { # address port
  (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

case "$cmd" in
  server-start)
    need --unit "$unit"; need --address "$address"; need --port "$port"; need --timeout "$timeout"
    systemctl daemon-reload
    systemctl enable "$unit" >/dev/null 2>&1
    systemctl restart "$unit"
    deadline=$((SECONDS + timeout))
    until systemctl is-active --quiet "$unit" && listening "$address" "$port"; do
      if [ "$SECONDS" -ge "$deadline" ]; then
        echo "pgha: $unit does not listen on $address:$port after $timeout s; it is $(systemctl is-active "$unit" 2>&1 || true); its last log lines:" >&2
        journalctl -u "$unit" -n 15 --no-pager >&2 || true
        exit 1
      fi
      sleep 1
    done
    echo "pgha: $unit listens on $address:$port"
    ;;
  stanza-create)
    need --stanza "$stanza"; need --timeout "$timeout"
    retry "stanza-create of $stanza" "$timeout" as_postgres "--stanza=$stanza" stanza-create
    echo "pgha: stanza $stanza is ready on $(hostname)"
    ;;
  check)
    need --stanza "$stanza"; need --timeout "$timeout"
    retry "check of $stanza" "$timeout" as_postgres "--stanza=$stanza" check
    echo "pgha: check of $stanza passed: WAL archiving reaches every repository of $(hostname)"
    ;;
  first-backup)
    need --stanza "$stanza"; need --timeout "$timeout"
    [ "${#repos[@]}" -gt 0 ] || { echo "pgha-pgbackrest.sh first-backup: --repo is required" >&2; exit 2; }
    lacking=()
    for r in "${repos[@]}"; do
      info=$(as_postgres "--stanza=$stanza" "--repo=$r" --output=json info 2>&1) || {
        echo "pgha: pgbackrest info of $stanza, repo $r, failed: $info" >&2
        exit 1
      }
      if printf '%s' "$info" | grep -q '"type":"full"'; then
        echo "pgha: repo $r already holds a full backup of $stanza"
      else
        lacking+=("$r")
      fi
    done
    [ "${#lacking[@]}" -gt 0 ] || exit 0
    rc=0
    if [ -n "$unit" ]; then
      echo "pgha: first full backup of $stanza (repo ${lacking[*]}) through $unit"
      timeout "$timeout" systemctl start "$unit" || rc=$?
    else
      for r in "${lacking[@]}"; do
        echo "pgha: first full backup of $stanza into repo $r"
        timeout "$timeout" runuser -u postgres -- "$PGBACKREST" "--stanza=$stanza" "--repo=$r" --type=full backup || { rc=$?; break; }
      done
    fi
    if [ "$rc" -eq 124 ]; then
      # A service started by systemctl keeps running: the next `pulumi up` finds its backup.
      echo "pgha: the first full backup of $stanza did not finish within $timeout s${unit:+; it goes on in $unit (systemctl status $unit), and the next pulumi up finds it}" >&2
      exit 1
    elif [ "$rc" -ne 0 ]; then
      echo "pgha: the first full backup of $stanza failed (exit $rc); the last lines of the backup log:" >&2
      if [ -n "$unit" ]; then journalctl -u "$unit" -n 20 --no-pager >&2 || true; fi
      tail -n 20 "/var/log/pgbackrest/$stanza-backup.log" >&2 2>/dev/null || true
      exit 1
    fi
    as_postgres "--stanza=$stanza" info
    ;;
  timers)
    systemctl daemon-reload
    for t in "${timers[@]}"; do
      systemctl enable "$t" >/dev/null 2>&1
      systemctl restart "$t"
      echo "pgha: $t: next $(systemctl show -p NextElapseUSecRealtime --value "$t" 2>/dev/null || echo unknown)"
    done
    while read -r t _; do
      [ -n "$t" ] || continue
      keep=false
      for w in "${timers[@]}"; do [ "$w" = "$t" ] && keep=true; done
      if ! $keep; then
        systemctl disable --now "$t" >/dev/null 2>&1 || true
        echo "pgha: $t disabled"
      fi
    done < <(systemctl list-unit-files 'pgha-backup-*.timer' --no-legend 2>/dev/null || true)
    ;;
  *)
    echo "pgha-pgbackrest.sh: unknown command: ${cmd:-(none)} (server-start, stanza-create, check, first-backup, timers)" >&2
    exit 2
    ;;
esac
