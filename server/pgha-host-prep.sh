#!/bin/bash
# pgha's first step on every server (components/host-prep.ts): the Debian packages the
# node's roles need, installed only when missing (through the apt proxy when given) while
# no service may start, the programs they must provide checked, and the distro defaults
# neutralised before Patroni and pgha's etcd take over. Nothing here deletes data.
#
#   pgha-host-prep.sh --node NAME [--install [--apt-proxy URL]] [--postgres] [--etcd] [--keepalived] [--vip-bind]
#                     [--stall SEC] --package NAME ... --program PATH ...
#   pgha-host-prep.sh --preflight --node NAME [--install [--apt-proxy URL]] [--refresh]
#                     --supported 'ID:VERSION_ID:LABEL' ... [--postgres-version N] --package NAME ...
#
# --preflight changes nothing but apt's package lists: the host runs a supported release,
# and every package it lacks can be installed from its sources (--refresh: read them
# anew even when nothing is missing, as after pgha:packages.repositories changed). pgha
# runs it on every node before any node installs anything or starts any service.
# Without --install, a missing package is an error (pgha:packages.install is false).
# --postgres: the distro's PostgreSQL clusters are stopped and kept from starting (never
# dropped); --etcd: the distro's etcd is stopped until pgha's drop-in runs it; --keepalived:
# the unprivileged user of keepalived's tracking script exists; --vip-bind: services may bind the
# VIP before it is here (pgha:vip.manager vip-manager: PostgreSQL listens on it on every member).
# The install is bounded by progress, not by a fixed time: apt-get is stopped (and the step
# fails, with apt's last lines) only when it printed nothing new for --stall seconds
# (pgha:progress.stallTimeout; default 300). Meanwhile a line every PGHA_PROGRESS_SEC (15) says
# how far it is: apt's own status (APT::Status-Fd: the download's and dpkg's percent).
# PGHA_POLICY_RC_D: where policy-rc.d is (tests only; default /usr/sbin/policy-rc.d).
# PGHA_OS_RELEASE: where os-release is (tests only; default /etc/os-release).
set -euo pipefail

node="" install=false proxy="" stall=300 postgres=false etcd=false keepalived=false vip_bind=false preflight=false refresh=false pg_version=""
packages=() programs=() supported=()
while [ "$#" -gt 0 ]; do
  case "$1" in
    --node) node=$2; shift 2;;
    --install) install=true; shift;;
    --apt-proxy) proxy=$2; shift 2;;
    --postgres) postgres=true; shift;;
    --etcd) etcd=true; shift;;
    --keepalived) keepalived=true; shift;;
    --vip-bind) vip_bind=true; shift;;
    --stall) stall=$2; shift 2;;
    --package) packages+=("$2"); shift 2;;
    --preflight) preflight=true; shift;;
    --refresh) refresh=true; shift;;
    --supported) supported+=("$2"); shift 2;;
    --postgres-version) pg_version=$2; shift 2;;
    --program) programs+=("$2"); shift 2;;
    *) echo "pgha-host-prep.sh: unknown argument: $1" >&2; exit 2;;
  esac
done
[ -n "$node" ] || { echo "pgha-host-prep.sh: --node is required" >&2; exit 2; }

# The last status apt reported in $apt_log (APT::Status-Fd lines: dlstatus:N:PERCENT:TEXT while it
# downloads, pmstatus:PACKAGE:PERCENT:TEXT while dpkg works), else its last line.
apt_status() {
  local line
  line=$(grep -E '^(dl|pm)status:' "$apt_log" | tail -n 1 || true)
  if [ -n "$line" ]; then
    IFS=: read -r kind _item pct text <<<"$line"
    case "$kind" in dlstatus) kind=downloading;; *) kind=installing;; esac
    printf '%s %s%% (%s)' "$kind" "${pct%%.*}" "$text"
  else
    tail -n 1 "$apt_log"
  fi
}

# watched WHAT COMMAND...: runs COMMAND with its output appended to $apt_log; says how far it is every
# PGHA_PROGRESS_SEC seconds; stops it (its whole process group) when its output did not grow for
# $stall seconds. Returns COMMAND's status (1 when stopped).
watched() {
  local what=$1; shift
  local every=${PGHA_PROGRESS_SEC:-15} pid size last=-1 moved=$SECONDS reported=$SECONDS
  # fd 3 for apt's status (APT::Status-Fd=3), never stdout: Debian 12's apt takes its status fd
  # away from dpkg's maintainer scripts, and with 1 etcd-server's postinst (adduser) failed with
  # "Unable to flush stdout: Bad file descriptor" (seen on the lab).
  setsid "$@" >>"$apt_log" 2>&1 3>>"$apt_log" &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1
    size=$(stat -c %s "$apt_log")
    if [ "$size" != "$last" ]; then last=$size; moved=$SECONDS; fi
    if [ $((SECONDS - moved)) -ge "$stall" ]; then
      kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
      echo "pgha: $node: $what printed nothing for $stall s (pgha:progress.stallTimeout): stopped; it was at: $(apt_status)" >&2
      return 1
    fi
    if [ $((SECONDS - reported)) -ge "$every" ]; then
      reported=$SECONDS
      echo "pgha: $node: $what: $(apt_status)"
    fi
  done
  wait "$pid"
}

missing=()
for p in "${packages[@]}"; do
  st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [ "$st" = "install ok installed" ] || missing+=("$p")
done
proxy_opt=()
[ -z "$proxy" ] || proxy_opt=(-o "Acquire::http::Proxy=$proxy")

if $preflight; then
  # The release, from the host itself: a subshell keeps os-release's variables out of ours.
  osr=${PGHA_OS_RELEASE:-/etc/os-release}
  # shellcheck source=/dev/null
  read -r os_id os_version os_codename < <(. "$osr" 2>/dev/null; echo "${ID:-unknown} ${VERSION_ID:-unknown} ${VERSION_CODENAME:--}")
  # shellcheck source=/dev/null
  os_pretty=$(. "$osr" 2>/dev/null; echo "${PRETTY_NAME:-$os_id $os_version}")
  labels=() ok=false
  for s in "${supported[@]}"; do
    IFS=: read -r s_id s_version s_label <<<"$s"
    labels+=("$s_label")
    if [ "$s_id" = "$os_id" ] && [ "$s_version" = "$os_version" ]; then ok=true; fi
  done
  if ! $ok; then
    list=$(printf '%s, ' "${labels[@]}"); list=${list%, }
    echo "pgha: $node: runs $os_pretty, which pgha does not support; it supports $list" >&2
    exit 1
  fi
  echo "pgha: $node: platform $os_id $os_version ($os_codename)"
  if [ "${#missing[@]}" -gt 0 ] && ! $install; then
    echo "pgha: $node: pgha:packages.install is false, but these packages are missing: ${missing[*]}" >&2
    exit 1
  fi
  if $install && { [ "${#missing[@]}" -gt 0 ] || $refresh; }; then
    apt_log=$(mktemp); trap 'rm -f "$apt_log"' EXIT
    # apt exits non-zero when a source cannot be read or its signature does not verify; with
    # --error-on=any also when it would only warn and keep the lists it read before (a key
    # replaced by a wrong one must not pass on the strength of the old key's lists).
    DEBIAN_FRONTEND=noninteractive apt-get "${proxy_opt[@]}" -q -o Dpkg::Use-Pty=0 --error-on=any update >"$apt_log" 2>&1 || {
      grep -E '^(E|W): ' "$apt_log" | tail -n 20 >&2 || tail -n 20 "$apt_log" >&2
      echo "pgha: $node: apt-get update failed: a package source above cannot be read or does not verify with its key" >&2
      exit 1
    }
    unavailable=()
    for p in "${missing[@]}"; do
      cand=$(apt-cache policy "$p" 2>/dev/null | awk '$1 == "Candidate:" {print $2}')
      [ -n "$cand" ] && [ "$cand" != "(none)" ] || unavailable+=("$p")
    done
    if [ "${#unavailable[@]}" -gt 0 ]; then
      # shellcheck disable=SC2016 # apt's own format placeholders
      sources=$(apt-get indextargets --format '$(SITE) $(RELEASE) $(COMPONENT)' 'Identifier: Packages' 2>/dev/null | sort -u | paste -sd ';' - || true)
      what=""; [ -z "$pg_version" ] || what=" (PostgreSQL $pg_version: pgha:postgres.version)"
      echo "pgha: $node: $os_pretty cannot install ${unavailable[*]}$what from its package sources: ${sources:-none}; add one that has them with pgha:packages.repositories" >&2
      exit 1
    fi
  fi
  echo "pgha: $node: preflight passed"
  exit 0
fi

if [ "${#missing[@]}" -gt 0 ]; then
  if ! $install; then
    echo "pgha: $node: pgha:packages.install is false, but these packages are missing: ${missing[*]}" >&2
    exit 1
  fi
  echo "pgha: $node: installing ${missing[*]}"
  apt_log=$(mktemp)
  # Keep services from starting with distro defaults while they install. A policy-rc.d
  # already there is the admin's: moved aside meanwhile and put back as it was.
  prc=${PGHA_POLICY_RC_D:-/usr/sbin/policy-rc.d}; prc_saved=$prc.pgha-saved; prc_mark='# pgha: temporary, while pgha installs packages'
  # Safe in any state: removes only pgha's own policy, restores only into a free place.
  restore_prc() {
    if grep -qsxF "$prc_mark" "$prc"; then rm -f "$prc"; fi
    if [ -e "$prc_saved" ] && [ ! -e "$prc" ] && [ ! -L "$prc" ]; then mv "$prc_saved" "$prc"; fi
  }
  # What a run killed before its cleanup left behind.
  restore_prc
  trap 'restore_prc; rm -f "$apt_log"' EXIT
  if [ -e "$prc" ] || [ -L "$prc" ]; then
    [ ! -e "$prc_saved" ] || { echo "pgha: $node: both $prc and $prc_saved exist, neither written by pgha: keep the right one, remove the other" >&2; exit 1; }
    mv "$prc" "$prc_saved"
  fi
  printf '#!/bin/sh\n%s\nexit 101\n' "$prc_mark" >"$prc"; chmod 0755 "$prc"
  export DEBIAN_FRONTEND=noninteractive
  watched "apt-get update" apt-get "${proxy_opt[@]}" -q -o Dpkg::Use-Pty=0 -o APT::Status-Fd=3 update || { tail -n 20 "$apt_log" >&2; echo "pgha: $node: apt-get update failed" >&2; exit 1; }
  watched "apt-get install" apt-get "${proxy_opt[@]}" -q -y -o Dpkg::Use-Pty=0 -o APT::Status-Fd=3 --no-install-recommends install "${missing[@]}" || { tail -n 20 "$apt_log" >&2; echo "pgha: $node: apt-get install failed" >&2; exit 1; }
  restore_prc; rm -f "$apt_log"; trap - EXIT
fi
for prog in "${programs[@]}"; do
  [ -x "$prog" ] || { echo "pgha: $node: required program $prog is missing" >&2; exit 1; }
done
if $postgres; then
  # Patroni runs PostgreSQL: the distro's own clusters are stopped and kept from
  # starting again, but never dropped: their data stays where it is.
  systemctl disable --now postgresql >/dev/null 2>&1 || true
  for conf in /etc/postgresql/*/*/start.conf; do
    [ -e "$conf" ] || continue
    ver=$(basename "$(dirname "$(dirname "$conf")")"); name=$(basename "$(dirname "$conf")")
    pg_ctlcluster "$ver" "$name" stop >/dev/null 2>&1 || true
    [ "$(tr -d '[:space:]' <"$conf")" = disabled ] || echo disabled >"$conf"
  done
fi
if $etcd; then
  # The distro's etcd runs a throwaway single-node cluster in its default data dir;
  # pgha's member uses its own data dir, so that one is only stopped.
  [ -e /etc/systemd/system/etcd.service.d/pgha.conf ] || systemctl stop etcd >/dev/null 2>&1 || true
fi
if $keepalived; then
  # The tracking script runs unprivileged (enable_script_security).
  id keepalived_script >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin keepalived_script
fi
if $vip_bind; then
  printf '# Managed by pgha: PostgreSQL binds the VIP before vip-manager moves it here.\nnet.ipv4.ip_nonlocal_bind = 1\n' >/etc/sysctl.d/60-pgha-vip.conf
  sysctl -q -p /etc/sysctl.d/60-pgha-vip.conf
fi
echo "pgha: $node: packages ready"
