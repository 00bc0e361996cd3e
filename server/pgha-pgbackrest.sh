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
# Operations (scripts/ops/backup.ts, `npm run backup`):
#   pgha-pgbackrest.sh take --stanza S --type full|diff|incr --repo N [--repo N] [--unit UNIT]
#       a backup now, into each repository of this host: through UNIT (pgha-backup-TYPE.service,
#       which backs up every repository of this host) when it is installed here, else
#       pgBackRest directly, one repository after the other; returns when it is done. On a
#       failure, the last lines of the unit's journal and of pgBackRest's backup log.
#   pgha-pgbackrest.sh info --stanza S
#       pgBackRest's info of the stanza, as JSON (every repository this host holds)
#   pgha-pgbackrest.sh archive-status --port PORT --bin DIR
#       on a PostgreSQL node: one JSON line, whether it is in recovery, pg_stat_archiver, the
#       segments waiting to be archived (.ready files) and the WAL segment being written
#
# PGHA_PGBACKREST: the pgbackrest binary (tests only; default /usr/bin/pgbackrest).
# PGHA_PGBACKREST_LOG: pgBackRest's log directory (tests only; default /var/log/pgbackrest).
set -euo pipefail

PGBACKREST=${PGHA_PGBACKREST:-/usr/bin/pgbackrest}
LOG_DIR=${PGHA_PGBACKREST_LOG:-/var/log/pgbackrest}
cmd=${1:-}
[ "$#" -gt 0 ] && shift
unit="" address="" port="" timeout="" stanza="" type="" bin=""
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
    --type) type=$2; shift 2;;
    --bin) bin=$2; shift 2;;
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
      tail -n 20 "$LOG_DIR/$stanza-backup.log" >&2 2>/dev/null || true
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
  take)
    need --stanza "$stanza"; need --type "$type"
    case "$type" in full|diff|incr) ;; *) echo "pgha-pgbackrest.sh take: --type must be full, diff or incr, not $type" >&2; exit 2;; esac
    [ "${#repos[@]}" -gt 0 ] || { echo "pgha-pgbackrest.sh take: --repo is required" >&2; exit 2; }
    since=$(date '+%Y-%m-%d %H:%M:%S')
    via=""
    if [ -n "$unit" ] && [ "$(systemctl show -p LoadState --value "$unit" 2>/dev/null)" = loaded ]; then via=$unit; fi
    rc=0
    if [ -n "$via" ]; then
      echo "pgha: $type backup of $stanza on $(hostname) (repo ${repos[*]}) through $via"
      # A oneshot service: start returns when the backup ends (joining one the timer started).
      systemctl start "$via" || rc=$?
    else
      for r in "${repos[@]}"; do
        echo "pgha: $type backup of $stanza on $(hostname) into repo $r${unit:+ ($unit is not installed here: pgBackRest directly)}"
        as_postgres "--stanza=$stanza" "--repo=$r" "--type=$type" backup || { rc=$?; break; }
      done
    fi
    if [ "$rc" -ne 0 ]; then
      # This run's lines only (the unit's journal; else pgBackRest's log from its start, a
      # line without a time going with the one before), cut at 300 characters: a run's first
      # line lists every option it was given.
      echo "pgha: the $type backup of $stanza on $(hostname) failed (exit $rc); the last lines of its log:" >&2
      if [ -n "$via" ]; then
        journalctl -u "$via" --since "$since" -n 20 --no-pager -o cat 2>/dev/null | cut -c 1-300 >&2 || true
      else
        awk -v since="$since" '/^[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] / { keep = ($1 " " $2 >= since) } keep' \
          "$LOG_DIR/$stanza-backup.log" 2>/dev/null | tail -n 20 | cut -c 1-300 >&2 || true
      fi
      exit 1
    fi
    echo "pgha: the $type backup of $stanza on $(hostname) is complete"
    ;;
  info)
    need --stanza "$stanza"
    as_postgres "--stanza=$stanza" --output=json info
    ;;
  archive-status)
    need --port "$port"; need --bin "$bin"
    # now() is the server's clock: ages are measured there. pg_ls_archive_statusdir: PostgreSQL 12+.
    sql="select json_build_object('in_recovery', pg_is_in_recovery(), 'archive_mode', current_setting('archive_mode'), 'now', now(),
      'archived_count', a.archived_count, 'last_archived_wal', a.last_archived_wal, 'last_archived_time', a.last_archived_time,
      'failed_count', a.failed_count, 'last_failed_wal', a.last_failed_wal, 'last_failed_time', a.last_failed_time,
      'stats_reset', a.stats_reset,
      'ready', (select count(*) from pg_ls_archive_statusdir() s where s.name like '%.ready'),
      'current_wal', case when pg_is_in_recovery() then null else pg_walfile_name(pg_current_wal_lsn()) end)
      from pg_stat_archiver a"
    runuser -u postgres -- "$bin/psql" -XAtq -h /var/run/postgresql -p "$port" -d postgres -v ON_ERROR_STOP=1 -c "$sql"
    ;;
  *)
    echo "pgha-pgbackrest.sh: unknown command: ${cmd:-(none)} (server-start, stanza-create, check, first-backup, timers, take, info, archive-status)" >&2
    exit 2
    ;;
esac
