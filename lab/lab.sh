#!/usr/bin/env bash
# pgha lab: real Debian 12/13 hosts (systemd-nspawn + overlayfs + one netns each)
# on this machine, for deploying and drilling the PostgreSQL HA cluster.
#
#   npm run lab -- up [--nodes N] [--preinstalled] [--release R] [--host-release labN=R[,labM=R]]
#   npm run lab -- down | status | kill NAME | start NAME
#   npm run lab -- isolate NAME | heal NAME | ssh NAME [command...]
#   npm run lab -- client command...   (run a command from an address outside the cluster's allowed CIDRs)
#   npm run lab -- serve NAME DIR [PORT] | serve NAME --stop   (serve DIR over http from a host)
#
# Everything needs root. Lab traffic stays on loopback and 198.18.0.0/24; the only
# process that talks to the outside is apt-cacher-ng (to the machine's Debian mirror).
set -euo pipefail

# ---------------------------------------------------------------- settings ---
LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(git -C "$LAB_DIR" rev-parse --show-toplevel 2>/dev/null || (cd "$LAB_DIR/.." && pwd))
CACHE_BASE=${PGHA_CACHE:-${HOME:-/root}/.cache/pgha}
mkdir -p "$CACHE_BASE" 2>/dev/null || true
CACHE_BASE=$(cd "$CACHE_BASE" 2>/dev/null && pwd || echo "$CACHE_BASE")
LAB_CACHE="$CACHE_BASE/lab"
IMAGES="$LAB_CACHE/images"
KEY="$LAB_CACHE/id_ed25519"
ACNG_CACHE="$LAB_CACHE/apt-cacher-ng"
STATE=${PGHA_LAB_STATE:-/var/lib/pgha-lab}
HOSTS_DIR="$STATE/hosts"
LOCK_FILE="/run/lock/pgha-lab.lock"
OUT_DIR="$REPO_ROOT/.lab"

SUBNET="198.18.0.0/24"
NET_PREFIX="198.18.0"
GATEWAY="198.18.0.1"
BRIDGE="pghabr0"
BRIDGE_MAC="02:70:67:68:61:01"
PROXY_PORT=3142
PROXY_URL="http://$GATEWAY:$PROXY_PORT"
NFT_TABLE="pgha_lab"
VETH_PREFIX="pgha-"          # machine-side veth: pgha-lab1, ...
MAX_NODES=50
# 'client': a throwaway netns on the bridge, for "a client outside pgha:postgres.allowedClientCidrs".
CLIENT_NETNS="pgha-outside"
CLIENT_VETH="pgha-outside"     # machine-side end; not matched by the pgha-labN veth cleanup
CLIENT_ADDR="$NET_PREFIX.250"
CLIENT_LOCK="/run/lock/pgha-lab-client.lock"
BOOT_TIMEOUT=${PGHA_LAB_BOOT_TIMEOUT:-120}
STOP_TIMEOUT=60
# Debian releases a host can run (suite -> major version); each has its own cached images.
declare -A RELEASE_VERSION=([bookworm]=12 [trixie]=13)
DEFAULT_RELEASE="trixie"   # Debian 13, the current stable

# Bump IMAGE_VERSION when the image recipe changes; package lists are part of the stamp too.
IMAGE_VERSION="pgha-lab-image-3"
BARE_PKGS=(systemd systemd-sysv dbus iproute2 openssh-server python3 ca-certificates sudo
           procps iputils-ping less netbase)
PRE_RECIPE="pre-2-with-recommends"   # bump to rebuild only the preinstalled image
# Preinstalled packages per release: PostgreSQL 15 on bookworm, 17 on trixie.
pre_pkgs() {
  local pg=15
  [[ $1 == trixie ]] && pg=17
  echo "postgresql-$pg postgresql-client-$pg patroni etcd-server etcd-client haproxy keepalived" \
       "python3-etcd python3-psycopg2 curl jq"
}

# ----------------------------------------------------------------- helpers ---
log()  { printf 'lab: %s\n' "$*" >&2; }
warn() { printf 'lab: warning: %s\n' "$*" >&2; }
die()  { printf 'lab: error: %s\n' "$*" >&2; exit 1; }

usage() {
  cat <<'EOF'
usage: npm run lab -- <verb> [args]   (or: bash lab/lab.sh <verb> [args]; needs root)
  up [--nodes N] [--preinstalled] [--release R] [--host-release labN=R[,labM=R]...]
                                    boot hosts lab1..labN (default 3), build/cache the images;
                                    R is trixie (the default) or bookworm; --host-release sets
                                    one host's release (repeatable) and wins over --release
  down                              stop everything, delete host disks, remove .lab/hosts.json
  status                            table of hosts and their etcd/patroni/postgresql/haproxy/keepalived
  kill NAME                         power loss: SIGKILL every process of the host (disk stays)
  start NAME                        boot a stopped/killed host again (same disk, address, keys)
  isolate NAME | heal NAME          drop / restore all network traffic of the host
  ssh NAME [command...]             ssh into a host as root
  client command...                 run a command (on this machine) in a throwaway netns at
                                    198.18.0.250 on the lab bridge: a client outside the stack's
                                    allowed CIDRs; the netns is removed afterwards
  serve NAME DIR [PORT]             copy DIR to NAME:/srv/pgha-lab-serve and serve it at
                                    http://ADDR:PORT/ (default 8080) with python3 -m http.server
                                    (transient unit pgha-lab-serve); 'serve NAME --stop' ends it
EOF
}

require_root() {
  [[ ${EUID:-$(id -u)} -eq 0 ]] || die "the lab needs root (systemd-nspawn, netns, mounts): run it as root, e.g. 'sudo npm run lab -- ${VERB:-up}'"
}

host_index() { local n=${1#lab}; [[ $1 =~ ^lab[0-9]+$ ]] || return 1; echo "$((10#$n))"; }
host_addr()  { echo "$NET_PREFIX.$((10 + $1))"; }
host_veth()  { echo "$VETH_PREFIX$1"; }
host_dir()   { echo "$HOSTS_DIR/$1"; }

valid_host() {
  local name=$1 i
  i=$(host_index "$name") || die "'$name' is not a lab host name (lab1, lab2, ...)"
  (( i >= 1 && i <= MAX_NODES )) || die "'$name': index out of range 1..$MAX_NODES"
  [[ -d $(host_dir "$name") ]] || die "$name does not exist in the lab (see 'npm run lab -- status')"
}

# Hosts that exist in the lab state, sorted by index.
list_hosts() {
  [[ -d $HOSTS_DIR ]] || return 0
  local d n
  for d in "$HOSTS_DIR"/lab*; do
    [[ -d $d ]] || continue
    n=${d##*/}
    host_index "$n" >/dev/null 2>&1 && echo "$n"
  done | sort -V
}

# Serialize mutating verbs. The lock file holds the owner's pid; a lock that is only
# held by orphans of a crashed lab.sh (children inherit the fd) is taken over.
lock() {
  mkdir -p "$(dirname "$LOCK_FILE")"
  exec 9>>"$LOCK_FILE"
  local owner t=$(( ${1:-600} * 2 ))
  until flock -n 9; do
    owner=$(cat "$LOCK_FILE" 2>/dev/null || true)
    if ! [[ $owner =~ ^[0-9]+$ ]] || ! kill -0 "$owner" 2>/dev/null \
       || ! tr '\0' ' ' <"/proc/$owner/cmdline" 2>/dev/null | grep -q 'lab\.sh'; then
      warn "taking over the lab lock from a crashed run (owner pid ${owner:-?} is gone)"
      break
    fi
    (( t-- > 0 )) || die "another lab command (pid $owner) is still running; wait for it or stop it"
    sleep 0.5
  done
  echo "$$" >"$LOCK_FILE"
}

# Mount points at or under $1 (deepest first). Decodes the \040-style escapes of /proc/mounts.
mounts_under() {
  local base=$1
  awk -v b="$base" '{
      p=$2; gsub(/\\040/," ",p); gsub(/\\011/,"\t",p); gsub(/\\012/,"\n",p); gsub(/\\134/,"\\",p)
      if (p==b || index(p, b "/")==1) print p
    }' /proc/self/mounts | awk '{ print length($0) "\t" $0 }' | sort -rn | cut -f2-
}

umount_under() {
  local base=$1 m
  for _ in 1 2 3; do
    local any=0
    while IFS= read -r m; do
      [[ -n $m ]] || continue
      any=1
      umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || warn "could not unmount $m"
    done < <(mounts_under "$base")
    (( any )) || return 0
  done
  [[ -z $(mounts_under "$base") ]] || warn "mounts remain under $base: $(mounts_under "$base" | tr '\n' ' ')"
}

# rm -rf that refuses to descend into anything still mounted.
safe_rm() {
  local p=$1
  [[ -e $p ]] || return 0
  [[ $p == /*/* ]] || die "refusing to delete suspicious path '$p'"
  umount_under "$p"
  [[ -z $(mounts_under "$p") ]] || die "refusing to delete $p: something is still mounted under it"
  rm -rf --one-file-system -- "$p"
}

# Wait until pid $1 is gone, up to $2 seconds (tenths). Returns 1 on timeout.
wait_pid_gone() {
  local pid=$1 t=$(( $2 * 10 ))
  while kill -0 "$pid" 2>/dev/null; do
    # a zombie child of ours counts as gone
    [[ $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) == Z ]] && return 0
    (( t-- > 0 )) || return 1
    sleep 0.1
  done
}

# --------------------------------------------------------- machine tools ---
ensure_tools() {
  local -A need=(
    [debootstrap]=debootstrap [systemd-nspawn]=systemd-container [apt-cacher-ng]=apt-cacher-ng
    [nft]=nftables [ip]=iproute2 [ssh]=openssh-client [ssh-keygen]=openssh-client [jq]=jq
    [flock]=util-linux [setsid]=util-linux [nsenter]=util-linux [curl]=curl [mountpoint]=util-linux
  )
  local c pkgs=()
  for c in "${!need[@]}"; do
    command -v "$c" >/dev/null 2>&1 || pkgs+=("${need[$c]}")
  done
  if (( ${#pkgs[@]} )); then
    mapfile -t pkgs < <(printf '%s\n' "${pkgs[@]}" | sort -u)
    log "installing machine tools: ${pkgs[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -q "${pkgs[@]}" >"$STATE/apt-machine.log" 2>&1; then
      apt-get update -q >>"$STATE/apt-machine.log" 2>&1 || true
      apt-get install -y -q "${pkgs[@]}" >>"$STATE/apt-machine.log" 2>&1 \
        || { tail -n 20 "$STATE/apt-machine.log" >&2; die "could not install ${pkgs[*]} (log: $STATE/apt-machine.log)"; }
    fi
  fi
  grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null || true
  grep -qw overlay /proc/filesystems || die "the kernel has no overlayfs"
}

# ------------------------------------------------------------ apt mirror ---
# detect_mirror SUITE: prints "MAIN_URI SECURITY_URI COMPONENTS HAS_UPDATES HAS_SECURITY" for
# SUITE from the machine's own apt sources (one-line .list and deb822 .sources). A suite the
# machine does not use (trixie on a bookworm machine) gets the URIs of the machine's own
# release entries (SUITE, SUITE-updates, SUITE-security on the same mirrors).
detect_mirror() {
  local suite=$1 files=() f
  [[ -f /etc/apt/sources.list ]] && files+=(/etc/apt/sources.list)
  for f in /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [[ -f $f ]] && files+=("$f")
  done
  # Emit "URI SUITE COMPONENTS..." records for every enabled 'deb' entry.
  local records
  records=$(
    for f in "${files[@]}"; do
      if [[ $f == *.sources ]]; then
        awk '
          function flush() {
            if (types ~ /(^| )deb( |$)/ && enabled != "no")
              for (i=1;i<=nu;i++) for (j=1;j<=ns;j++) print u[i], s[j], comps
            types=""; enabled=""; nu=0; ns=0; comps=""
          }
          /^[ \t]*#/ { next }
          /^[ \t]*$/ { flush(); next }
          { key=$1; sub(/:$/,"",key); $1=""; sub(/^ +/,""); val=$0
            k=tolower(key)
            if (k=="types") types=val
            else if (k=="enabled") enabled=tolower(val)
            else if (k=="uris") nu=split(val,u," ")
            else if (k=="suites") ns=split(val,s," ")
            else if (k=="components") comps=val }
          END { flush() }' "$f"
      else
        awk '/^[ \t]*deb[ \t]/ {
               i=2; if ($2 ~ /^\[/) { while (i<=NF && $i !~ /\]$/) i++; i++ }
               uri=$i; suite=$(i+1); comps=""
               for (k=i+2;k<=NF;k++) comps=comps (comps==""?"":" ") $k
               print uri, suite, comps }' "$f"
      fi
    done
  )
  local main sec comps upd=0 secu=0 base
  main=$(awk -v s="$suite" '$2==s {print $1; exit}' <<<"$records")
  if [[ -n $main ]]; then
    base=$suite
  else
    # The machine's own release: the first entry whose suite has no -updates/-security suffix.
    base=$(awk '$2 ~ /^[a-z]+$/ {print $2; exit}' <<<"$records")
    [[ -n $base ]] && main=$(awk -v s="$base" '$2==s {print $1; exit}' <<<"$records")
  fi
  comps=$(awk -v s="$base" '$2==s {$1="";$2=""; sub(/^ +/,""); print; exit}' <<<"$records")
  sec=$(awk -v s="$base-security" '$2==s || $2==s"/updates" {print $1; exit}' <<<"$records")
  awk -v s="$base-updates" '$2==s {f=1} END {exit !f}' <<<"$records" && upd=1
  [[ -n $sec ]] && secu=1
  if [[ -n ${PGHA_LAB_MIRROR:-} ]]; then main=$PGHA_LAB_MIRROR; fi
  if [[ -z $main ]]; then
    warn "no Debian entry in the machine's apt sources; using http://deb.debian.org/debian for '$suite'"
    main="http://deb.debian.org/debian"; upd=1
  fi
  [[ -n $sec ]] || sec="http://deb.debian.org/debian-security"
  [[ -n $comps ]] || comps="main"
  # apt-cacher-ng can only cache plain http: use the same mirror over http.
  main=${main/#https:/http:}; sec=${sec/#https:/http:}
  main=${main%/}; sec=${sec%/}
  echo "$main $sec ${comps// /,} $upd $secu"
}

# --------------------------------------------------------------- network ---
net_up() {
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    log "creating bridge $BRIDGE ($GATEWAY/24)"
    ip link add "$BRIDGE" type bridge stp_state 0 forward_delay 0 mcast_snooping 0
  fi
  ip link set "$BRIDGE" address "$BRIDGE_MAC"
  ip link set "$BRIDGE" type bridge mcast_snooping 0
  ip addr replace "$GATEWAY/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  if ! nft list table bridge "$NFT_TABLE" >/dev/null 2>&1; then
    # Fault injection: frames from/to an isolated host's port are dropped (link stays up).
    nft -f - <<EOF
table bridge $NFT_TABLE {
  set isolated { type ifname; }
  chain forward { type filter hook forward priority -200; policy accept; iifname @isolated drop; oifname @isolated drop; }
  chain input   { type filter hook input   priority -200; policy accept; iifname @isolated drop; }
  chain output  { type filter hook output  priority -200; policy accept; oifname @isolated drop; }
}
EOF
  fi
  if ! nft list table inet "$NFT_TABLE" >/dev/null 2>&1; then
    # Guard: nothing from the lab is ever routed off the bridge, even if ip_forward gets enabled.
    nft -f - <<EOF
table inet $NFT_TABLE {
  chain forward {
    type filter hook forward priority -200; policy accept;
    iifname "$BRIDGE" oifname != "$BRIDGE" drop
    oifname "$BRIDGE" iifname != "$BRIDGE" drop
  }
}
EOF
  fi
}

host_net_up() {
  local name=$1 i addr veth mac
  i=$(host_index "$name"); addr=$(host_addr "$i"); veth=$(host_veth "$name")
  mac=$(printf '02:70:67:68:%02x:%02x' $(( i / 256 )) $(( i % 256 )))
  [[ -e /run/netns/$name ]] || ip netns add "$name"
  if ! ip link show "$veth" >/dev/null 2>&1; then
    ip -n "$name" link del eth0 >/dev/null 2>&1 || true
    ip link add "$veth" type veth peer name eth0 netns "$name"
  fi
  ip -n "$name" link set eth0 address "$mac"
  ip link set "$veth" master "$BRIDGE"
  ip link set "$veth" up
  ip -n "$name" link set lo up
  ip -n "$name" addr replace "$addr/24" dev eth0
  ip -n "$name" link set eth0 up
  ip -n "$name" route replace default via "$GATEWAY" dev eth0
}

isolated_ports() {
  nft -j list set bridge "$NFT_TABLE" isolated 2>/dev/null \
    | jq -r '.nftables[] | select(.set) | .set.elem // [] | .[] | if type=="string" then . else empty end' 2>/dev/null || true
}

# ------------------------------------------------------------ apt proxy ----
acng_pid() {
  local pid
  pid=$(cat "$STATE/acng.pid" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null \
    && [[ $(readlink "/proc/$pid/exe" 2>/dev/null) == */apt-cacher-ng ]] && echo "$pid"
}

# apt-cacher-ng processes started by this lab (found by their --CacheDir/state args), by pid.
acng_pids_all() {
  local p cmd
  for p in /proc/[0-9]*; do
    [[ $(readlink "$p/exe" 2>/dev/null) == */apt-cacher-ng ]] || continue
    cmd=$(tr '\0' ' ' <"$p/cmdline" 2>/dev/null) || continue
    [[ $cmd == *"pidfile=$STATE/acng.pid"* ]] && echo "${p#/proc/}"
  done
}

acng_ok() {
  curl -s --noproxy '*' --max-time 3 -o /dev/null -w '%{http_code}' "$PROXY_URL/acng-report.html" 2>/dev/null | grep -q '^200$'
}

acng_start() {
  if acng_pid >/dev/null && acng_ok; then return 0; fi
  local p; for p in $(acng_pids_all); do kill "$p" 2>/dev/null || true; wait_pid_gone "$p" 5 || kill -KILL "$p" 2>/dev/null || true; done
  if ss -Hltn "sport = :$PROXY_PORT" 2>/dev/null | grep -q .; then
    die "port $PROXY_PORT is already in use on this machine (another apt-cacher-ng?): $(ss -Hltnp "sport = :$PROXY_PORT" | head -n 3 | tr -s ' ')"
  fi
  mkdir -p "$ACNG_CACHE" "$STATE/acng-log" "$STATE/acng-conf"
  log "starting apt-cacher-ng on $GATEWAY:$PROXY_PORT (cache: $ACNG_CACHE)"
  rm -f "$STATE/acng.pid"
  # Own config dir: no mirror remapping (the stock Remap-debrep would redirect
  # deb.debian.org to other mirrors); requests go exactly where apt asked.
  cat >"$STATE/acng-conf/acng.conf" <<EOF
CacheDir: $ACNG_CACHE
LogDir: $STATE/acng-log
SupportDir: /usr/lib/apt-cacher-ng
Port: $PROXY_PORT
BindAddress: $GATEWAY
PidFile: $STATE/acng.pid
SocketPath: $STATE/acng.socket
ForeGround: 0
ReportPage: acng-report.html
ExThreshold: 4
ConnectProto: v4 v6
EOF
  apt-cacher-ng -c "$STATE/acng-conf" "pidfile=$STATE/acng.pid" \
    </dev/null >>"$STATE/acng-log/daemon.out" 2>&1 9>&- \
    || { tail -n 5 "$STATE/acng-log/daemon.out" >&2; die "apt-cacher-ng failed to start (port $PROXY_PORT busy?)"; }
  local t=100
  until acng_ok; do
    (( t-- > 0 )) || { tail -n 5 "$STATE/acng-log/daemon.out" "$STATE/acng-log/apt-cacher.err" 2>/dev/null >&2 || true
                       die "apt-cacher-ng does not answer on $PROXY_URL after 10 s"; }
    sleep 0.1
  done
  acng_pid >/dev/null || die "apt-cacher-ng answers but its pid file $STATE/acng.pid is missing"
}

acng_stop() {
  local pids p
  pids=$( { acng_pid || true; acng_pids_all; } | sort -u)
  [[ -n $pids ]] || return 0
  log "stopping apt-cacher-ng"
  # shellcheck disable=SC2206
  STOPPED_PIDS+=($pids)
  for p in $pids; do kill -TERM "$p" 2>/dev/null || true; done
  for p in $pids; do
    wait_pid_gone "$p" 10 || { warn "apt-cacher-ng ($p) ignored SIGTERM; killing"; kill -KILL "$p" 2>/dev/null || true; wait_pid_gone "$p" 5 || true; }
  done
  rm -f "$STATE/acng.pid" "$STATE/acng.socket"
}

# ------------------------------------------------------------------ images ---
chroot_mounts() {
  local d=$1
  mount -t proc proc "$d/proc"
  mount -t sysfs sysfs "$d/sys"
  mount --bind /dev "$d/dev"
  mount --bind /dev/pts "$d/dev/pts"
}

# Run a command in the image chroot with the apt proxy and no service starts.
in_chroot() {
  local d=$1; shift
  chroot "$d" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C.UTF-8 LANG=C.UTF-8 \
    DEBIAN_FRONTEND=noninteractive "$@" 9>&- </dev/null
}

chroot_apt() {
  local d=$1; shift
  in_chroot "$d" apt-get -q -y -o "Acquire::http::Proxy=$PROXY_URL" -o Dpkg::Options::=--force-confdef \
    -o Dpkg::Options::=--force-confold "$@"
}

# Images live in $IMAGES/RELEASE/KIND, with KIND.stamp beside them.
image_dir() { echo "$IMAGES/$1/$2"; }   # RELEASE KIND

image_stamp_value() {
  local release=$1 kind=$2 mirror
  mirror=$(detect_mirror "$release")
  local v="$IMAGE_VERSION|$release|$mirror|bare:${BARE_PKGS[*]}"
  if [[ $kind == preinstalled ]]; then v="$v|$PRE_RECIPE|pre:$(pre_pkgs "$release")"; fi
  echo "$v"
}

image_ready() {
  local release=$1 kind=$2 img
  img=$(image_dir "$release" "$kind")
  [[ -d $img && -f $img.stamp ]] && [[ $(cat "$img.stamp") == "$(image_stamp_value "$release" "$kind")" ]]
}

# Processes of an image build under $1 (chrooted into it, or debootstrap working on it).
build_pids() {
  local base=$1 p r
  for p in /proc/[0-9]*; do
    r=$(readlink "$p/root" 2>/dev/null) || continue
    if [[ $r == "$base"/* ]] || tr '\0' '\n' <"$p/cmdline" 2>/dev/null | grep -qE "^$base/([a-z]+/)?[a-z]+\.tmp/?\$"; then
      echo "${p#/proc/}"
    fi
  done
  return 0
}

kill_build_pids() {
  local base=$1 pids p
  pids=$(build_pids "$base")
  [[ -n $pids ]] || return 0
  warn "stopping leftover image-build processes: $(echo "$pids" | tr '\n' ' ')"
  for p in $pids; do kill -TERM "$p" 2>/dev/null || true; done
  sleep 1
  for p in $(build_pids "$base"); do kill -KILL "$p" 2>/dev/null || true; done
  for p in $pids; do wait_pid_gone "$p" 5 || true; done
}

BUILD_TMP=""
build_cleanup() {
  if [[ -n $BUILD_TMP ]]; then
    kill_build_pids "$IMAGES"
    umount_under "$BUILD_TMP"
    [[ -z $(mounts_under "$BUILD_TMP") ]] && rm -rf --one-file-system -- "$BUILD_TMP"
    BUILD_TMP=""
  fi
}

build_bare() {
  local release=$1 dir="$IMAGES/$1" mirror sec comps upd secu t0=$SECONDS
  local tmp="$dir/bare.tmp" logf="$dir/build-bare.log" keyring=/usr/share/keyrings/debian-archive-keyring.gpg
  read -r mirror sec comps upd secu < <(detect_mirror "$release")
  log "building the $release bare image (first time, ~1-2 min) from $mirror"
  mkdir -p "$dir"
  safe_rm "$tmp"
  BUILD_TMP=$tmp
  : >"$logf"
  local include; include=$(IFS=,; echo "${BARE_PKGS[*]}")
  # An older debootstrap may not know the suite yet: Debian suites share the sid script.
  local script=()
  [[ -e /usr/share/debootstrap/scripts/$release ]] || script=(/usr/share/debootstrap/scripts/sid)
  [[ -f $keyring ]] || die "$keyring is missing (install debian-archive-keyring)"
  if ! http_proxy="$PROXY_URL" https_proxy="" debootstrap --variant=minbase --include="$include" \
        --keyring="$keyring" --components="$comps" "$release" "$tmp" "$mirror" "${script[@]}" >>"$logf" 2>&1 9>&-; then
    tail -n 25 "$logf" >&2
    build_cleanup
    die "debootstrap failed (full log: $logf; a release newer than the machine's debian-archive-keyring fails its signature check)"
  fi
  umount_under "$tmp"   # debootstrap may leave proc/sys mounted on some failures

  # apt sources: the machine's mirror, plain http (works through the lab's apt proxy).
  # bookworm: one-line sources.list, as debootstrap writes it; trixie: deb822, as Debian 13 installs do.
  if [[ $release == bookworm ]]; then
    {
      echo "deb $mirror $release ${comps//,/ }"
      if (( upd )); then echo "deb $mirror $release-updates ${comps//,/ }"; fi
      if (( secu )); then echo "deb $sec $release-security ${comps//,/ }"; fi
    } >"$tmp/etc/apt/sources.list"
  else
    rm -f "$tmp/etc/apt/sources.list"
    {
      printf 'Types: deb\nURIs: %s\nSuites: %s%s\nComponents: %s\nSigned-By: %s\n' \
        "$mirror" "$release" "$( (( upd )) && echo " $release-updates")" "${comps//,/ }" "$keyring"
      if (( secu )); then
        printf '\nTypes: deb\nURIs: %s\nSuites: %s-security\nComponents: %s\nSigned-By: %s\n' \
          "$sec" "$release" "${comps//,/ }" "$keyring"
      fi
    } >"$tmp/etc/apt/sources.list.d/debian.sources"
  fi
  printf '#!/bin/sh\nexit 101\n' >"$tmp/usr/sbin/policy-rc.d"; chmod 755 "$tmp/usr/sbin/policy-rc.d"

  chroot_mounts "$tmp"
  { chroot_apt "$tmp" update && chroot_apt "$tmp" dist-upgrade && chroot_apt "$tmp" clean; } >>"$logf" 2>&1 \
    || { tail -n 25 "$logf" >&2; build_cleanup; die "apt-get update/upgrade in the image failed (log: $logf)"; }

  # Non-root admin user for the 'sudo -n' path (key installed per host; hosts.json: sudoUser).
  in_chroot "$tmp" useradd -m -s /bin/bash -c "pgha lab admin" pgha >>"$logf" 2>&1
  in_chroot "$tmp" usermod -p '*' pgha >>"$logf" 2>&1
  printf 'pgha ALL=(ALL:ALL) NOPASSWD: ALL\n' >"$tmp/etc/sudoers.d/pgha"
  chmod 0440 "$tmp/etc/sudoers.d/pgha"
  in_chroot "$tmp" visudo -cq >>"$logf" 2>&1 || { build_cleanup; die "sudoers check failed in the image"; }
  umount_under "$tmp"

  # sshd: key-only root login. Host keys are generated per host, never baked in.
  mkdir -p "$tmp/etc/ssh/sshd_config.d"
  printf 'PermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n' \
    >"$tmp/etc/ssh/sshd_config.d/pgha-lab.conf"
  rm -f "$tmp"/etc/ssh/ssh_host_*
  # Per-host identity is written at host creation.
  : >"$tmp/etc/machine-id"
  rm -f "$tmp/var/lib/dbus/machine-id"; ln -s /etc/machine-id "$tmp/var/lib/dbus/machine-id"
  rm -f "$tmp/etc/hostname"
  # No DNS in the lab (hosts have no route out); names come from /etc/hosts.
  printf '# pgha lab: no DNS; lab names are in /etc/hosts\n' >"$tmp/etc/resolv.conf"
  # Lab-only: no unattended apt runs competing for the dpkg lock (they cannot reach a mirror anyway).
  ln -sf /dev/null "$tmp/etc/systemd/system/apt-daily.timer"
  ln -sf /dev/null "$tmp/etc/systemd/system/apt-daily-upgrade.timer"
  rm -f "$tmp/usr/sbin/policy-rc.d"
  rm -rf "$tmp"/var/lib/apt/lists/* "$tmp"/var/cache/apt/*.bin "$tmp"/var/log/*.log 2>/dev/null || true

  safe_rm "$dir/bare"; rm -f "$dir/bare.stamp" "$dir/preinstalled.stamp"
  mv "$tmp" "$dir/bare"; BUILD_TMP=""
  image_stamp_value "$release" bare >"$dir/bare.stamp"   # written last
  log "$release bare image ready ($(du -sh "$dir/bare" | cut -f1), $((SECONDS - t0)) s)"
}

build_preinstalled() {
  local release=$1 dir="$IMAGES/$1" t0=$SECONDS pkgs
  local tmp="$dir/preinstalled.tmp" logf="$dir/build-preinstalled.log"
  read -r -a pkgs <<<"$(pre_pkgs "$release")"
  log "building the $release preinstalled image (first time, ~1 min): ${pkgs[*]}"
  safe_rm "$tmp"
  BUILD_TMP=$tmp
  : >"$logf"
  cp -a "$dir/bare" "$tmp"
  printf '#!/bin/sh\nexit 101\n' >"$tmp/usr/sbin/policy-rc.d"; chmod 755 "$tmp/usr/sbin/policy-rc.d"
  chroot_mounts "$tmp"
  { chroot_apt "$tmp" update && chroot_apt "$tmp" install "${pkgs[@]}" \
      && chroot_apt "$tmp" clean; } >>"$logf" 2>&1 \
    || { tail -n 25 "$logf" >&2; build_cleanup; die "installing packages into the preinstalled image failed (log: $logf)"; }
  umount_under "$tmp"
  rm -f "$tmp/usr/sbin/policy-rc.d" "$tmp"/etc/ssh/ssh_host_*
  rm -rf "$tmp"/var/lib/apt/lists/* "$tmp"/var/cache/apt/*.bin 2>/dev/null || true
  safe_rm "$dir/preinstalled"; rm -f "$dir/preinstalled.stamp"
  mv "$tmp" "$dir/preinstalled"; BUILD_TMP=""
  image_stamp_value "$release" preinstalled >"$dir/preinstalled.stamp"   # written last
  log "$release preinstalled image ready ($(du -sh "$dir/preinstalled" | cut -f1), $((SECONDS - t0)) s)"
}

# Is the image directory $1 the lower layer of an existing host?
image_in_use() {
  local n
  for n in $(list_hosts); do
    [[ $(cat "$(host_dir "$n")/image" 2>/dev/null) == "$1" ]] && return 0
  done
  return 1
}

# A host's Debian release (hosts made before releases were recorded are bookworm).
host_release() { cat "$(host_dir "$1")/release" 2>/dev/null || echo bookworm; }

ensure_image() {
  local release=$1 kind=$2 old
  # The flat layout of older lab versions (images/{bare,preinstalled}) is not used any more.
  for old in bare preinstalled; do
    if [[ -e $IMAGES/$old.stamp || -d $IMAGES/$old ]] && ! image_in_use "$IMAGES/$old"; then
      log "removing the old flat image cache $IMAGES/$old (images are per release now)"
      rm -f "$IMAGES/$old.stamp" "$IMAGES/build-$old.log"
      safe_rm "$IMAGES/$old"
    fi
  done
  image_ready "$release" bare || build_bare "$release"
  if [[ $kind == preinstalled ]]; then image_ready "$release" preinstalled || build_preinstalled "$release"; fi
}

# ------------------------------------------------------------------- hosts ---
ensure_ssh_key() {
  mkdir -p "$LAB_CACHE"
  if [[ ! -f $KEY || ! -f $KEY.pub ]]; then
    rm -f "$KEY" "$KEY.pub"
    ssh-keygen -q -t ed25519 -N '' -C "pgha-lab" -f "$KEY"
    log "generated lab ssh key $KEY"
  fi
  chmod 600 "$KEY"
}

ensure_overlay() {
  local name=$1 d image
  d=$(host_dir "$name")
  mountpoint -q "$d/root" && return 0
  image=$(cat "$d/image")
  [[ -d $image ]] || die "$name: image $image is missing; run 'npm run lab -- down' and 'up' again"
  mkdir -p "$d/upper" "$d/work" "$d/root"
  mount -t overlay "pgha-$name" -o "lowerdir=$image,upperdir=$d/upper,workdir=$d/work" "$d/root"
}

host_create() {
  local name=$1 kind=$2 release=$3 d i addr root uidgid
  d=$(host_dir "$name"); i=$(host_index "$name"); addr=$(host_addr "$i")
  mkdir -p "$d/upper" "$d/work" "$d/root"
  image_dir "$release" "$kind" >"$d/image"
  echo "$release" >"$d/release"
  ensure_overlay "$name"
  root="$d/root"
  echo "$name" >"$root/etc/hostname"
  od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$root/etc/machine-id"; echo >>"$root/etc/machine-id"
  cat >"$root/etc/hosts" <<EOF
127.0.0.1	localhost
::1		localhost ip6-localhost ip6-loopback
ff02::1		ip6-allnodes
ff02::2		ip6-allrouters
# pgha-lab begin
# pgha-lab end
EOF
  local t
  for t in ed25519 ecdsa rsa; do
    ssh-keygen -q -t "$t" -N '' -C "root@$name" -f "$root/etc/ssh/ssh_host_${t}_key"
  done
  install -d -m 700 "$root/root/.ssh"
  install -m 600 "$KEY.pub" "$root/root/.ssh/authorized_keys"
  uidgid=$(awk -F: '$1=="pgha" {print $3":"$4}' "$root/etc/passwd")
  [[ -n $uidgid ]] || die "image has no pgha user (stale image? remove $IMAGES/$release and retry)"
  install -d -m 700 -o "${uidgid%:*}" -g "${uidgid#*:}" "$root/home/pgha/.ssh"
  install -m 600 -o "${uidgid%:*}" -g "${uidgid#*:}" "$KEY.pub" "$root/home/pgha/.ssh/authorized_keys"
  date -Is >"$d/created"   # written last: the host is complete
  log "created $name ($addr, $release)"
}

# Rewrite the managed block of /etc/hosts on every host (through the overlay mount).
sync_etc_hosts() {
  local block="" n f
  block+="$GATEWAY	lab-gateway"$'\n'
  for n in $(list_hosts); do block+="$(host_addr "$(host_index "$n")")	$n"$'\n'; done
  for n in $(list_hosts); do
    f="$(host_dir "$n")/root/etc/hosts"
    if ! mountpoint -q "$(host_dir "$n")/root" || [[ ! -f $f ]]; then continue; fi
    awk -v blk="$block" '
      /^# pgha-lab begin/ { print; printf "%s", blk; skip=1; found=1; next }
      /^# pgha-lab end/   { skip=0 }
      !skip { print }
      END { if (!found) { print "# pgha-lab begin"; printf "%s", blk; print "# pgha-lab end" } }' "$f" >"$f.pgha-tmp"
    cat "$f.pgha-tmp" >"$f"; rm -f "$f.pgha-tmp"
  done
}

nspawn_pid() {
  local name=$1 pid
  pid=$(cat "$(host_dir "$name")/nspawn.pid" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  [[ $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) != Z ]] || return 1
  tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qx -- "--machine=$name" || return 1
  echo "$pid"
}

# nspawn processes of this lab (by their -D path under our state dir), pid list.
nspawn_pids_all() {
  local p
  for p in /proc/[0-9]*; do
    [[ $(readlink "$p/exe" 2>/dev/null) == */systemd-nspawn ]] || continue
    tr '\0' '\n' <"$p/cmdline" 2>/dev/null | grep -q -- "^$HOSTS_DIR/lab[0-9]*/root\$" && echo "${p#/proc/}"
  done
}

# PID (machine view) of the container's init: the nspawn descendant in another pid namespace.
container_init_pid() {
  local npid=$1 myns c
  myns=$(readlink "/proc/$npid/ns/pid" 2>/dev/null) || return 1
  local queue=("$npid") cur kids
  while (( ${#queue[@]} )); do
    cur=${queue[0]}; queue=("${queue[@]:1}")
    kids=$(cat /proc/"$cur"/task/*/children 2>/dev/null || true)
    for c in $kids; do
      if [[ $(readlink "/proc/$c/ns/pid" 2>/dev/null) != "$myns" ]]; then echo "$c"; return 0; fi
      queue+=("$c")
    done
  done
  return 1
}

host_boot() {
  local name=$1 d pid
  d=$(host_dir "$name")
  : >>"$d/console.log"
  printf '\n===== boot %s =====\n' "$(date -Is)" >>"$d/console.log"
  # /proc/sys/net writable inside (the host has its own netns), like on a real server:
  # e.g. net.ipv4.ip_nonlocal_bind for a VIP.
  SYSTEMD_NSPAWN_API_VFS_WRITABLE=network \
  setsid systemd-nspawn -b -D "$d/root" --machine="$name" \
    --network-namespace-path="/run/netns/$name" --register=no --keep-unit \
    --capability=CAP_NET_ADMIN,CAP_NET_RAW \
    --resolv-conf=off --link-journal=no --console=read-only \
    </dev/null >>"$d/console.log" 2>&1 9>&- &
  pid=$!
  echo "$pid" >"$d/nspawn.pid"
  sleep 0.2
  kill -0 "$pid" 2>/dev/null || { tail -n 20 "$d/console.log" >&2; die "$name: systemd-nspawn exited immediately (log: $d/console.log)"; }
}

SSH_OPTS=()
set_ssh_opts() {
  SSH_OPTS=(-F /dev/null -i "$KEY" -o IdentitiesOnly=yes -o BatchMode=yes
            -o StrictHostKeyChecking=yes -o "UserKnownHostsFile=$STATE/known_hosts"
            -o GlobalKnownHostsFile=/dev/null -o ConnectTimeout=3 -o LogLevel=ERROR
            -o ServerAliveInterval=5 -o ServerAliveCountMax=3)
}

hssh() {
  local name=$1; shift
  # The command is a remote shell line: it is meant to expand on the host, not here.
  # shellcheck disable=SC2029
  ssh "${SSH_OPTS[@]}" "root@$(host_addr "$(host_index "$name")")" "$@"
}

# Wait until NAME answers ssh and systemd finished booting; $2 = absolute deadline (SECONDS).
wait_host() {
  local name=$1 deadline=$2 d state left
  d=$(host_dir "$name")
  until hssh "$name" true 2>/dev/null; do
    if ! nspawn_pid "$name" >/dev/null; then
      tail -n 30 "$d/console.log" >&2
      die "$name: the container stopped while booting (log: $d/console.log)"
    fi
    if (( SECONDS >= deadline )); then
      tail -n 30 "$d/console.log" >&2
      die "$name: no ssh on $(host_addr "$(host_index "$name")"):22 after ${BOOT_TIMEOUT} s (console log: $d/console.log)"
    fi
    sleep 0.5
  done
  left=$(( deadline - SECONDS )); (( left > 5 )) || left=5
  state=$(hssh "$name" "timeout $left systemctl is-system-running --wait" 2>/dev/null || true)
  case $state in
    running) ;;
    degraded)
      warn "$name: systemd is degraded; failed units: $(hssh "$name" 'systemctl --failed --no-legend --plain | cut -d" " -f1 | tr "\n" " "' 2>/dev/null || true)" ;;
    *)
      hssh "$name" 'systemctl list-jobs --no-pager; systemctl --failed --no-pager' >&2 2>/dev/null || true
      die "$name: systemd did not finish booting within ${BOOT_TIMEOUT} s (state: '${state:-unknown}')" ;;
  esac
}

# ------------------------------------------------------------------ outputs ---
host_key_line() { awk '{print $1" "$2}' "$(host_dir "$1")/root/etc/ssh/ssh_host_${2:-ed25519}_key.pub"; }

write_known_hosts() {
  local n addr t tmp="$STATE/known_hosts.tmp"
  : >"$tmp"
  for n in $(list_hosts); do
    mountpoint -q "$(host_dir "$n")/root" || ensure_overlay "$n"
    addr=$(host_addr "$(host_index "$n")")
    for t in ed25519 ecdsa rsa; do
      [[ -f $(host_dir "$n")/root/etc/ssh/ssh_host_${t}_key.pub ]] && echo "$n,$addr $(host_key_line "$n" "$t")" >>"$tmp"
    done
  done
  mv "$tmp" "$STATE/known_hosts"
}

write_outputs() {
  local n addr rel mode proxy=null hosts_json="[]"
  mode=$(cat "$STATE/mode")
  acng_pid >/dev/null && proxy="\"$PROXY_URL\""
  for n in $(list_hosts); do
    addr=$(host_addr "$(host_index "$n")")
    rel=$(host_release "$n")
    hosts_json=$(jq -c --arg name "$n" --arg addr "$addr" --arg key "$KEY" --arg hk "$(host_key_line "$n")" \
      --arg rel "$rel" --arg ver "${RELEASE_VERSION[$rel]:-?}" \
      '. + [{name:$name, address:$addr, user:"root", sudoUser:"pgha", privateKeyPath:$key, hostKey:$hk,
             release:$rel, debianVersion:$ver}]' <<<"$hosts_json")
  done
  mkdir -p "$OUT_DIR"
  jq -n --arg subnet "$SUBNET" --arg gw "$GATEWAY" --argjson proxy "$proxy" \
     --argjson pre "$([[ $mode == preinstalled ]] && echo true || echo false)" --argjson hosts "$hosts_json" \
     '{subnet:$subnet, gateway:$gw} + (if $proxy then {aptProxy:$proxy} else {} end)
      + {preinstalled:$pre, hosts:$hosts}' >"$OUT_DIR/hosts.json.tmp"
  mv "$OUT_DIR/hosts.json.tmp" "$OUT_DIR/hosts.json"
  cp "$STATE/known_hosts" "$OUT_DIR/known_hosts"
  {
    echo "# generated by lab/lab.sh; use: ssh -F .lab/ssh_config lab1"
    for n in $(list_hosts); do
      cat <<EOF
Host $n
  HostName $(host_addr "$(host_index "$n")")
  User root
  IdentityFile $KEY
  IdentitiesOnly yes
  UserKnownHostsFile $OUT_DIR/known_hosts
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  LogLevel ERROR
EOF
    done
  } >"$OUT_DIR/ssh_config"
  grep -qxF "$REPO_ROOT" "$STATE/repos" 2>/dev/null || echo "$REPO_ROOT" >>"$STATE/repos"
}

# -------------------------------------------------------------------- verbs ---
valid_release() {
  [[ -n ${RELEASE_VERSION[$1]:-} ]] || die "unknown release '$1' (one of: $(printf '%s\n' "${!RELEASE_VERSION[@]}" | sort | paste -sd' '))"
}

# --host-release "labN=R[,labM=R...]" into HOST_RELEASE[labN]=R.
declare -A HOST_RELEASE=()
parse_host_release() {
  local item name rel items
  IFS=, read -r -a items <<<"$1"
  (( ${#items[@]} )) || die "--host-release needs labN=RELEASE"
  for item in "${items[@]}"; do
    [[ $item =~ ^(lab[0-9]+)=([a-z]+)$ ]] || die "--host-release: '$item' is not labN=RELEASE"
    name=${BASH_REMATCH[1]}; rel=${BASH_REMATCH[2]}
    host_index "$name" >/dev/null || die "--host-release: '$name' is not a lab host name"
    valid_release "$rel"
    HOST_RELEASE[$name]=$rel
  done
}

cmd_up() {
  local nodes=3 kind=bare release=$DEFAULT_RELEASE
  local usage_up="up [--nodes N] [--preinstalled] [--release R] [--host-release labN=R[,labM=R]...]"
  while (( $# )); do
    case $1 in
      --nodes) [[ ${2:-} =~ ^[0-9]+$ ]] || die "--nodes needs a number"; nodes=$((10#$2)); shift 2 ;;
      --nodes=*) [[ ${1#*=} =~ ^[0-9]+$ ]] || die "--nodes needs a number"; nodes=$((10#${1#*=})); shift ;;
      --preinstalled) kind=preinstalled; shift ;;
      --release) [[ -n ${2:-} ]] || die "--release needs a release name"; release=$2; shift 2 ;;
      --release=*) release=${1#*=}; shift ;;
      --host-release) [[ -n ${2:-} ]] || die "--host-release needs labN=RELEASE"; parse_host_release "$2"; shift 2 ;;
      --host-release=*) parse_host_release "${1#*=}"; shift ;;
      -h|--help) usage; exit 0 ;;
      *) die "up: unknown option '$1' (usage: $usage_up)" ;;
    esac
  done
  (( nodes >= 1 && nodes <= MAX_NODES )) || die "--nodes must be between 1 and $MAX_NODES"
  valid_release "$release"
  local t0=$SECONDS
  mkdir -p "$STATE" "$HOSTS_DIR"
  lock 600
  ensure_tools

  local i n created=() booted=() running=()
  for n in $(list_hosts); do
    if [[ ! -f $(host_dir "$n")/created ]] && ! nspawn_pid "$n" >/dev/null; then
      warn "$n was left half-created by an interrupted 'up'; discarding it"
      safe_rm "$(host_dir "$n")"
    fi
  done
  local existing; existing=$(list_hosts)
  # Each host's release: --host-release, else --release (default trixie).
  local -A want=()
  for n in "${!HOST_RELEASE[@]}"; do
    if (( $(host_index "$n") > nodes )) && [[ ! -d $(host_dir "$n") ]]; then
      die "--host-release $n=${HOST_RELEASE[$n]}: $n is not among lab1..lab$nodes (raise --nodes)"
    fi
  done
  for (( i = 1; i <= nodes; i++ )); do want[lab$i]=${HOST_RELEASE[lab$i]:-$release}; done
  for n in "${!HOST_RELEASE[@]}"; do want[$n]=${HOST_RELEASE[$n]}; done
  if [[ -n $existing ]]; then
    local mode; mode=$(cat "$STATE/mode" 2>/dev/null || echo unknown)
    if [[ $mode != "$kind" ]]; then
      die "the lab is up with the '$mode' image; '$kind' was asked for. Run 'npm run lab -- down' first."
    fi
    local bad=() have
    for n in $existing; do
      have=$(host_release "$n")
      if [[ -n ${want[$n]:-} && ${want[$n]} != "$have" ]]; then bad+=("$n is $have, not ${want[$n]}"); fi
    done
    if (( ${#bad[@]} )); then
      local msg have_all=""
      msg=$(printf '%s; ' "${bad[@]}"); msg=${msg%; }
      for n in $existing; do have_all+="$n=$(host_release "$n"),"; done
      die "the lab is up and a host's release cannot change ($msg). Pass the releases the hosts have (--host-release ${have_all%,}) or run 'npm run lab -- down' first."
    fi
  else
    echo "$kind" >"$STATE/mode"
  fi
  echo "$LAB_CACHE" >"$STATE/cache"

  ensure_ssh_key
  set_ssh_opts
  net_up
  acng_start
  # Images for the hosts to create. An image that an existing host runs on is never rebuilt.
  local r rels=()
  for (( i = 1; i <= nodes; i++ )); do
    n="lab$i"
    [[ -d $(host_dir "$n") ]] && continue
    [[ " ${rels[*]} " == *" ${want[$n]} "* ]] || rels+=("${want[$n]}")
  done
  for r in "${rels[@]}"; do
    if ! image_in_use "$(image_dir "$r" "$kind")"; then
      trap build_cleanup EXIT
      ensure_image "$r" "$kind"
      trap - EXIT
    fi
  done

  for (( i = 1; i <= nodes; i++ )); do
    n="lab$i"
    if [[ ! -d $(host_dir "$n") ]]; then
      r=${want[$n]}
      [[ -d $(image_dir "$r" "$kind") ]] || die "image $(image_dir "$r" "$kind") is missing; run 'npm run lab -- down' then 'up'"
      host_create "$n" "$kind" "$r"; created+=("$n")
    fi
  done
  if (( ${#created[@]} )); then sync_etc_hosts; fi
  write_known_hosts
  for n in $(list_hosts); do
    if nspawn_pid "$n" >/dev/null; then running+=("$n"); continue; fi
    host_net_up "$n"
    ensure_overlay "$n"
    host_boot "$n"; booted+=("$n")
    [[ " ${created[*]} " == *" $n "* ]] || log "booting existing host $n"
  done
  local deadline=$(( SECONDS + BOOT_TIMEOUT ))
  for n in "${booted[@]}"; do
    wait_host "$n" "$deadline"
    log "$n up ($(host_addr "$(host_index "$n")"))"
  done
  # Already-running hosts: quick parallel ssh check.
  if (( ${#running[@]} )); then
    local pids=() bad=()
    for n in "${running[@]}"; do hssh "$n" true 2>/dev/null & pids+=($!); done
    for i in "${!pids[@]}"; do wait "${pids[$i]}" || bad+=("${running[$i]}"); done
    for n in "${bad[@]}"; do
      if [[ " $(isolated_ports | tr '\n' ' ') " == *" $(host_veth "$n") "* ]]; then
        warn "$n is isolated (no network); 'npm run lab -- heal $n' restores it"
      else
        warn "$n is running but does not answer ssh yet; waiting"
        wait_host "$n" $(( SECONDS + BOOT_TIMEOUT ))
      fi
    done
  fi
  write_outputs
  local nh; nh=$(list_hosts | wc -l)
  if (( ${#booted[@]} == 0 )); then
    log "lab already up: $nh host(s), '$(cat "$STATE/mode")' image; see $OUT_DIR/hosts.json"
  else
    log "lab up: $nh host(s) ($(for n in $(list_hosts); do printf '%s ' "$n=$(host_release "$n")"; done | sed 's/ $//')), '$kind' image, apt proxy $PROXY_URL, $((SECONDS - t0)) s; ssh -F .lab/ssh_config lab1"
  fi
}

stop_hosts() {
  # SIGTERM = clean shutdown of every host, in parallel; SIGKILL after STOP_TIMEOUT.
  local pids=() p n
  for n in $(list_hosts); do p=$(nspawn_pid "$n" || true); [[ -n $p ]] && pids+=("$p"); done
  for p in $(nspawn_pids_all); do [[ " ${pids[*]} " == *" $p "* ]] || pids+=("$p"); done
  (( ${#pids[@]} )) || return 0
  STOPPED_PIDS+=("${pids[@]}")
  log "shutting down ${#pids[@]} host(s)"
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  local deadline=$(( SECONDS + STOP_TIMEOUT ))
  for p in "${pids[@]}"; do
    local left=$(( deadline - SECONDS )); (( left > 0 )) || left=1
    if ! wait_pid_gone "$p" "$left"; then
      warn "host (nspawn pid $p) did not shut down within ${STOP_TIMEOUT} s; killing it"
      local init; init=$(container_init_pid "$p" || true)
      if [[ -n $init ]]; then kill -KILL "$init" 2>/dev/null || true; fi
      wait_pid_gone "$p" 10 || kill -KILL "$p" 2>/dev/null || true
      wait_pid_gone "$p" 5 || warn "nspawn pid $p is still there"
    fi
  done
}

STOPPED_PIDS=()
# Stopped pids still present in /proc (zombies not yet reaped by the machine's init).
stopped_leftovers() {
  local p
  for p in "${STOPPED_PIDS[@]}"; do [[ -e /proc/$p ]] && echo "$p"; done
  return 0
}

cmd_down() {
  (( $# == 0 )) || die "down takes no arguments"
  mkdir -p "$(dirname "$LOCK_FILE")"
  lock 30
  stop_hosts
  local n
  # Mounts: host overlays and any half-finished image build.
  umount_under "$STATE"
  local c t; for c in "$LAB_CACHE" $(cat "$STATE/cache" 2>/dev/null || true); do
    if [[ -d $c/images ]]; then
      kill_build_pids "$c/images"; umount_under "$c/images"
      for t in "$c/images"/*.tmp "$c/images"/*/*.tmp; do if [[ -d $t ]]; then safe_rm "$t"; fi; done
    fi
  done
  # Network: namespaces named after hosts, machine-side veths, the outside client, bridge, nft tables.
  client_net_down
  for n in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^lab[0-9]+$' || true); do
    ip netns del "$n" 2>/dev/null || warn "could not delete netns $n"
  done
  for n in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 | grep -E "^${VETH_PREFIX}lab[0-9]+$" || true); do
    ip link del "$n" 2>/dev/null || true
  done
  if ip link show "$BRIDGE" >/dev/null 2>&1; then ip link del "$BRIDGE"; fi
  nft delete table bridge "$NFT_TABLE" 2>/dev/null || true
  nft delete table inet "$NFT_TABLE" 2>/dev/null || true
  acng_stop
  # Host disks and state.
  if [[ -d $HOSTS_DIR ]]; then safe_rm "$HOSTS_DIR"; fi
  local r; for r in "$REPO_ROOT" $(cat "$STATE/repos" 2>/dev/null || true); do
    rm -f "$r/.lab/hosts.json" "$r/.lab/known_hosts" "$r/.lab/ssh_config"
  done
  rm -f "$STATE/mode" "$STATE/known_hosts" "$STATE/repos" "$STATE/cache" "$STATE/acng.pid" "$STATE/acng.socket"
  # Stopped daemons were re-parented to the machine's init; give it a moment to reap them.
  local t; for (( t = 0; t < 50; t++ )); do
    [[ -z $(stopped_leftovers) ]] && break
    sleep 0.1
  done
  # Report anything left behind.
  local left=()
  [[ -n $(nspawn_pids_all) ]] && left+=("nspawn processes: $(nspawn_pids_all | tr '\n' ' ')")
  [[ -n $(acng_pids_all) ]] && left+=("apt-cacher-ng: $(acng_pids_all | tr '\n' ' ')")
  [[ -n $(mounts_under "$STATE") ]] && left+=("mounts: $(mounts_under "$STATE" | tr '\n' ' ')")
  ip link show "$BRIDGE" >/dev/null 2>&1 && left+=("bridge $BRIDGE")
  if (( ${#left[@]} )); then die "down left things behind: ${left[*]}"; fi
  log "lab down"
}

cmd_status() {
  (( $# == 0 )) || die "status takes no arguments"
  set_ssh_opts
  local hosts; hosts=$(list_hosts)
  if [[ -z $hosts ]]; then echo "lab is down (no hosts)"; return 0; fi
  local iso; iso=" $(isolated_ports | tr '\n' ' ') "
  local proxy="down"; acng_pid >/dev/null && proxy="$PROXY_URL"
  echo "image: $(cat "$STATE/mode" 2>/dev/null || echo '?')   apt proxy: $proxy"
  printf '%-6s %-13s %-9s %-5s %-9s %-9s %-9s %-10s %-9s %-10s\n' NAME ADDRESS RELEASE STATE NET ETCD PATRONI POSTGRESQL HAPROXY KEEPALIVED
  # A script run on each host: its $(...) and "$u" expand there, not here.
  # shellcheck disable=SC2016
  local probe='for u in etcd patroni; do printf "%s " "$(systemctl is-active "$u" 2>/dev/null || true)"; done
    if pgrep -x postgres >/dev/null 2>&1; then printf "active "; else printf "inactive "; fi
    for u in haproxy keepalived; do printf "%s " "$(systemctl is-active "$u" 2>/dev/null || true)"; done'
  local n addr state net out init starred=""
  for n in $hosts; do
    addr=$(host_addr "$(host_index "$n")")
    net="ok"; [[ $iso == *" $(host_veth "$n") "* ]] && net="isolated"
    out=""
    if nspawn_pid "$n" >/dev/null; then
      state="up"
      out=$(hssh "$n" "$probe" 2>/dev/null || true)
      if [[ -z $out ]]; then
        # No ssh (isolated, or still booting): look inside through the namespaces.
        init=$(container_init_pid "$(nspawn_pid "$n")" || true)
        [[ -n $init ]] && out=$(timeout 10 nsenter -t "$init" -m -u -i -n -p sh -c "$probe" 2>/dev/null || true)
        [[ -n $out ]] && { state="up*"; starred=1; }
      fi
    else
      state="down"
    fi
    # shellcheck disable=SC2086
    set -- ${out:-- - - - -}
    printf '%-6s %-13s %-9s %-5s %-9s %-9s %-9s %-10s %-9s %-10s\n' "$n" "$addr" "$(host_release "$n")" "$state" "$net" "${1:--}" "${2:--}" "${3:--}" "${4:--}" "${5:--}"
  done
  if [[ -n $starred ]]; then echo "(up* = no ssh answer; services were read through nsenter)"; fi
}

cmd_kill() {
  (( $# == 1 )) || die "usage: kill NAME"
  local name=$1; valid_host "$name"
  lock 60
  local pid init ns t
  pid=$(nspawn_pid "$name") || die "$name is not running"
  init=$(container_init_pid "$pid") || die "$name: cannot find the container's init process"
  ns=$(readlink "/proc/$init/ns/pid")
  kill -KILL "$init"
  # The kernel kills every process of the pid namespace with its init; nspawn then exits.
  wait_pid_gone "$pid" 15 || { warn "$name: nspawn still running 15 s after its init died; killing it"; kill -KILL "$pid" 2>/dev/null || true; wait_pid_gone "$pid" 5 || true; }
  for (( t = 0; t < 100; t++ )); do
    local p alive=0
    for p in /proc/[0-9]*; do [[ $(readlink "$p/ns/pid" 2>/dev/null) == "$ns" ]] && { alive=1; break; }; done
    (( alive )) || break
    sleep 0.1
  done
  (( alive == 0 )) || die "$name: processes of its pid namespace are still alive"
  rm -f "$(host_dir "$name")/nspawn.pid"
  # A powered-off host is off the network too: its kernel must not go on answering ARP (for
  # the VIP it may have held) or refusing connections, and no address keepalived added
  # survives into the next boot. `start` brings the link and the host's own address back.
  ip -n "$name" addr flush dev eth0 2>/dev/null || true
  ip -n "$name" link set eth0 down 2>/dev/null || true
  ip link set "$(host_veth "$name")" down 2>/dev/null || true
  log "$name killed (power loss: all processes SIGKILLed, link down, addresses gone; disk kept)"
}

cmd_start() {
  (( $# == 1 )) || die "usage: start NAME"
  local name=$1; valid_host "$name"
  lock 300
  set_ssh_opts
  if nspawn_pid "$name" >/dev/null; then
    log "$name is already running"
  else
    net_up
    acng_start
    host_net_up "$name"
    ensure_overlay "$name"
    write_known_hosts
    host_boot "$name"
  fi
  wait_host "$name" $(( SECONDS + BOOT_TIMEOUT ))
  write_outputs
  log "$name up ($(host_addr "$(host_index "$name")"))"
}

cmd_isolate() {
  (( $# == 1 )) || die "usage: isolate NAME"
  local name=$1; valid_host "$name"
  lock 60
  net_up
  nft add element bridge "$NFT_TABLE" isolated "{ \"$(host_veth "$name")\" }"
  log "$name isolated (all its traffic is dropped at $(host_veth "$name"); link stays up)"
}

cmd_heal() {
  (( $# == 1 )) || die "usage: heal NAME"
  local name=$1; valid_host "$name"
  lock 60
  net_up
  nft delete element bridge "$NFT_TABLE" isolated "{ \"$(host_veth "$name")\" }" 2>/dev/null || true
  log "$name healed (network restored)"
}

cmd_ssh() {
  (( $# >= 1 )) || die "usage: ssh NAME [command...]"
  local name=$1; shift; valid_host "$name"
  set_ssh_opts
  local tty=()
  if (( $# == 0 )) || [[ -t 0 && -t 1 ]]; then tty=(-t); fi
  exec ssh "${SSH_OPTS[@]/BatchMode=yes/BatchMode=no}" "${tty[@]}" "root@$(host_addr "$(host_index "$name")")" "$@"
}

# The outside client's netns and machine-side veth, if any (idempotent; the netns takes its eth0 along).
client_net_down() {
  if [[ -e /run/netns/$CLIENT_NETNS ]]; then
    ip netns del "$CLIENT_NETNS" 2>/dev/null || warn "could not delete netns $CLIENT_NETNS"
  fi
  if ip link show "$CLIENT_VETH" >/dev/null 2>&1; then ip link del "$CLIENT_VETH" 2>/dev/null || true; fi
}

# Runs "$@" on this machine inside a throwaway network namespace whose only interface is a
# port of the lab bridge with address $CLIENT_ADDR/24 and no default route: traffic stays on
# the bridge (and the netns' loopback). Exit status: the command's. The netns is gone afterwards.
cmd_client() {
  (( $# >= 1 )) || die "usage: client command..."
  ip link show "$BRIDGE" >/dev/null 2>&1 || die "the lab bridge $BRIDGE does not exist: run 'npm run lab -- up' first"
  mkdir -p "$(dirname "$CLIENT_LOCK")"
  exec 8>>"$CLIENT_LOCK"
  flock -w 60 8 || die "another 'client' command still holds $CLIENT_LOCK"
  trap client_net_down EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM HUP
  client_net_down   # leftovers of an interrupted run
  ip netns add "$CLIENT_NETNS"
  ip link add "$CLIENT_VETH" type veth peer name eth0 netns "$CLIENT_NETNS"
  ip -n "$CLIENT_NETNS" link set eth0 address 02:70:67:68:ff:fa
  ip netns exec "$CLIENT_NETNS" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 2>/dev/null || true
  ip link set "$CLIENT_VETH" master "$BRIDGE"
  ip link set "$CLIENT_VETH" up
  ip -n "$CLIENT_NETNS" link set lo up
  ip -n "$CLIENT_NETNS" addr add "$CLIENT_ADDR/24" dev eth0
  ip -n "$CLIENT_NETNS" link set eth0 up
  local rc=0
  ip netns exec "$CLIENT_NETNS" "$@" 8>&- 9>&- || rc=$?
  return "$rc"   # the EXIT trap removes the netns
}

# Serve a directory of this machine over http from a lab host (e.g. an apt repository made by
# tests/e2e/fixtures/apt-repo.sh): copied to $SERVE_DIR, served by a transient systemd unit.
SERVE_UNIT="pgha-lab-serve"
SERVE_DIR="/srv/pgha-lab-serve"
cmd_serve() {
  (( $# >= 2 && $# <= 3 )) || die "usage: serve NAME DIR [PORT] | serve NAME --stop"
  local name=$1 dir=$2 port=${3:-8080} addr
  valid_host "$name"
  set_ssh_opts
  nspawn_pid "$name" >/dev/null || die "$name is not running"
  addr=$(host_addr "$(host_index "$name")")
  if [[ $dir == --stop ]]; then
    (( $# == 2 )) || die "usage: serve NAME --stop"
    hssh "$name" "systemctl stop $SERVE_UNIT 2>/dev/null; systemctl reset-failed $SERVE_UNIT 2>/dev/null; rm -rf $SERVE_DIR; true"
    log "$name: stopped serving"
    return 0
  fi
  [[ -d $dir ]] || die "serve: '$dir' is not a directory"
  if ! [[ $port =~ ^[0-9]+$ ]] || (( port < 1 || port > 65535 )); then die "serve: '$port' is not a port"; fi
  hssh "$name" "systemctl stop $SERVE_UNIT 2>/dev/null; systemctl reset-failed $SERVE_UNIT 2>/dev/null; rm -rf $SERVE_DIR && mkdir -p $SERVE_DIR"
  tar -C "$dir" -cf - . | hssh "$name" "tar -C $SERVE_DIR -xf - --no-same-owner && chmod -R a+rX $SERVE_DIR"
  hssh "$name" "systemd-run --quiet --unit $SERVE_UNIT --property=Restart=on-failure \
    python3 -m http.server $port --bind $addr --directory $SERVE_DIR"
  local t=50
  until curl -s --noproxy '*' --max-time 2 -o /dev/null "http://$addr:$port/"; do
    (( t-- > 0 )) || { hssh "$name" "journalctl -u $SERVE_UNIT --no-pager -n 20" >&2 || true; die "$name: nothing answers on http://$addr:$port/"; }
    sleep 0.1
  done
  log "$name serves $dir at http://$addr:$port/ (unit $SERVE_UNIT; 'serve $name --stop' ends it)"
}

# --------------------------------------------------------------------- main ---
VERB=${1:-}
[[ -n $VERB ]] || { usage >&2; exit 2; }
shift
case $VERB in
  -h|--help|help) usage; exit 0 ;;
  up|down|status|kill|start|isolate|heal|ssh|client|serve) require_root ;;
  *) usage >&2; die "unknown verb '$VERB'" ;;
esac
case $VERB in
  up) cmd_up "$@" ;;
  down) cmd_down "$@" ;;
  status) cmd_status "$@" ;;
  kill) cmd_kill "$@" ;;
  start) cmd_start "$@" ;;
  isolate) cmd_isolate "$@" ;;
  heal) cmd_heal "$@" ;;
  ssh) cmd_ssh "$@" ;;
  client) cmd_client "$@" ;;
  serve) cmd_serve "$@" ;;
esac
