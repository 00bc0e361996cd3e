#!/usr/bin/env bash
# npm run bench:deploy: deploy figures for the 3-host lab, measured, not asserted.
#   - cold `pulumi up` from bare hosts (packages through the lab's apt proxy)
#   - cold `pulumi up` from pre-installed hosts (pgha:packages.install=false)
#   - no-op `pulumi up` (BENCH_RUNS times) and the remote commands it ran
# Remote commands are counted as SSH logins in each host's sshd journal over the
# run's time window (every remote command is one SSH session).
# It tears the lab down at the end; it uses its own state, apart from the `lab` stack.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "bench:deploy: run as root" >&2; exit 1; }
RUNS=${BENCH_RUNS:-3}
bash toolchain/install.sh >/dev/null
source scripts/env.sh
export PULUMI_BACKEND_URL="file://$ROOT/.pulumi-state/bench"
mkdir -p "$ROOT/.pulumi-state/bench"
stack=bench

logins() { # since until -> total "Accepted publickey" lines over all lab hosts
    local n=0 h c
    for h in $(node -e 'for (const h of require("./.lab/hosts.json").hosts) console.log(h.name)'); do
        c=$(ssh -F .lab/ssh_config "$h" "journalctl -q -u ssh --since @$1 --until @$2 --no-pager | grep -c 'Accepted publickey' || true")
        n=$((n + c))
    done
    echo "$n"
}
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
cleanup() { pulumi stack rm --yes --force "$stack" >/dev/null 2>&1 || true; rm -f "Pulumi.$stack.yaml"; bash lab/lab.sh down >/dev/null 2>&1 || true; }
trap cleanup EXIT

declare -A cold noop_list noop_cmds
for mode in bare preinstalled; do
    bash lab/lab.sh down >/dev/null
    if [ "$mode" = bare ]; then bash lab/lab.sh up --nodes 3 >/dev/null; extra=""; else bash lab/lab.sh up --nodes 3 --preinstalled >/dev/null; extra=--install=false; fi
    pulumi stack rm --yes --force "$stack" >/dev/null 2>&1 || true
    rm -f "Pulumi.$stack.yaml"
    node scripts/lab-stack.js "$stack" $extra >/dev/null
    t0=$(now); pulumi up --yes --skip-preview --stack "$stack" >"/tmp/pgha-bench-$mode.log" 2>&1 || { tail -30 "/tmp/pgha-bench-$mode.log"; exit 1; }; t1=$(now)
    cold[$mode]=$(secs "$t0" "$t1")
    noop_list[$mode]=""; noop_cmds[$mode]=""
    for i in $(seq "$RUNS"); do
        sleep 1; s=$(date +%s); t0=$(now)
        log="/tmp/pgha-bench-noop-$mode-$i.log"
        pulumi up --yes --skip-preview --stack "$stack" >"$log" 2>&1
        t1=$(now); u=$(( $(date +%s) + 1 )); sleep 3  # our own counting logins come after the window
        noop_list[$mode]+="$(secs "$t0" "$t1") "; noop_cmds[$mode]+="$(logins "$s" "$u") "
        # A no-op run must change nothing: name whatever did (kept in $log).
        grep -E '^ +[~+-] +command:remote:Command' "$log" | sed "s/^/  $mode no-op run $i changed: /" >&2 || true
    done
    pulumi destroy --yes --skip-preview --stack "$stack" >/dev/null 2>&1
done

echo
echo "pgha deploy benchmark: 3 lab hosts (etcd x3, PostgreSQL/HAProxy/keepalived x2, VIP), $(nproc) cores"
printf '%-44s %s\n' "cold pulumi up, bare hosts via apt proxy" "${cold[bare]} s"
printf '%-44s %s\n' "cold pulumi up, pre-installed hosts" "${cold[preinstalled]} s"
printf '%-44s %s\n' "no-op pulumi up, bare-deployed stack" "${noop_list[bare]}s (runs); remote commands: ${noop_cmds[bare]}"
printf '%-44s %s\n' "no-op pulumi up, pre-installed stack" "${noop_list[preinstalled]}s (runs); remote commands: ${noop_cmds[preinstalled]}"
echo "(apt proxy cache: ${PGHA_CACHE}/lab/apt-cacher-ng; a first-ever run downloads the packages from the mirror)"
