#!/usr/bin/env bash
# npm run bench:scale [-- --nodes 3,9,15] [--runs 3] [--lab] [--lab-nodes 3,9,15] [--parallel P]
# The program at scale, measured, not asserted (issue 15). The layout at every size
# (scripts/ops/scale.ts): lab1, lab2 etcd + PostgreSQL + HAProxy + keepalived, lab3 etcd +
# PostgreSQL, lab4..labN PostgreSQL: 3 etcd members, 2 balancers, PostgreSQL on every node.
#   a) mocks: the program's own time under pulumi.runtime.setMocks (the library component from the
#      stack file's vocabulary, validation included; the median of --runs in one process after one
#      run not counted), its resources and remote commands. No engine, no server.
#   b) preview: `pulumi preview` of a fresh stack of N nodes with the real engine (the median
#      of --runs), and its resource count. No server: a temporary file backend, the lab's
#      addresses (198.18.0.0/24) with placeholder host keys, PostgreSQL pinned.
#   c) --lab (root; boots and deletes its own lab, refuses to start while one is up): for each N of
#      --lab-nodes (default 3,9,15: 16 Debian 13 hosts fit in this machine's 24 GB), `lab up --nodes N`,
#      then timed: cold `pulumi up`, no-op `pulumi up`, `pulumi preview`, and `pulumi up` after
#      adding lab(N+1) as a PostgreSQL node (`lab up --nodes N+1`, the stack edited by
#      scripts/lab-stack.js); then `pulumi destroy` (timed too) and `lab down`. Any failed step
#      stops the benchmark with its log's end; a no-op run or preview that changes anything is
#      shown in its own column, never hidden. --parallel P: the engine's --parallel for those
#      runs (default: the engine's own, 4 x cores, so 8 resource operations at once on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
NODES=3,9,15 RUNS=3 LAB=0 LAB_NODES=3,9,15 PARALLEL=""
die() { echo "bench:scale: $*" >&2; exit 1; }
while [ $# -gt 0 ]; do
    case $1 in
        --nodes) NODES=${2:?--nodes needs a list, e.g. 3,9,15}; shift 2 ;;
        --runs) RUNS=${2:?--runs needs a number}; shift 2 ;;
        --lab) LAB=1; shift ;;
        --lab-nodes) LAB_NODES=${2:?--lab-nodes needs a list, e.g. 3,9}; shift 2 ;;
        --parallel) PARALLEL=${2:?--parallel needs a number}; shift 2 ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument '$1' (usage: npm run bench:scale -- [--nodes 3,9,15] [--runs 3] [--lab] [--lab-nodes 3,9,15] [--parallel P])" ;;
    esac
done
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "--runs $RUNS: a positive number"
[[ -z $PARALLEL || $PARALLEL =~ ^[1-9][0-9]*$ ]] || die "--parallel $PARALLEL: a positive number"
par=()
[ -z "$PARALLEL" ] || par=(--parallel "$PARALLEL")
for list in "$NODES" "$LAB_NODES"; do [[ $list =~ ^[0-9]+(,[0-9]+)*$ ]] || die "'$list': a comma-separated list of node counts, e.g. 3,9,15"; done
IFS=, read -r -a sizes <<<"$NODES"
IFS=, read -r -a lab_sizes <<<"$LAB_NODES"
for n in "${sizes[@]}" "${lab_sizes[@]}"; do ((n >= 3 && n <= 49)) || die "$n nodes: from 3 to 49 (the lab has at most 50 hosts, and --lab adds one)"; done
if [ "$LAB" = 1 ]; then
    [ "$(id -u)" -eq 0 ] || die "--lab needs root (the lab does)"
    # The lab is one per machine, whatever the clone: never take down someone else's.
    if compgen -G "${PGHA_LAB_STATE:-/var/lib/pgha-lab}/hosts/*" >/dev/null; then
        die "a lab is up (${PGHA_LAB_STATE:-/var/lib/pgha-lab}/hosts): --lab boots and deletes its own; run 'npm run lab -- down' first if it is free"
    fi
fi

export PATH="$HOME/.pulumi/bin:$ROOT/node_modules/.bin:$PATH"
export PULUMI_SKIP_UPDATE_CHECK=true PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
[ -x node_modules/.bin/ts-node ] || die "node_modules is missing: run npm ci"
command -v pulumi >/dev/null || die "pulumi is not on PATH: run npm run toolchain"
work=$(mktemp -d "${TMPDIR:-/tmp}/pgha-bench-scale.XXXXXX")
# Every step's output, kept after the run (the temporary backend and stack files are not).
logs=$(mktemp -d "${TMPDIR:-/tmp}/pgha-bench-scale-logs.XXXXXX")
preview_stacks=()
cleanup() {
    local s
    for s in "${preview_stacks[@]}"; do rm -f "Pulumi.$s.yaml"; done
    rm -rf "$work"
}
trap cleanup EXIT

scale() { ts-node --transpile-only scripts/ops/scale.ts "$@"; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
median() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
load() { cut -d' ' -f1-3 /proc/loadavg; }
# SECS: the wall-clock seconds of `command...`, its output in LOG; a failure prints the log's end and stops everything.
timed() { # label log command...
    local label=$1 log=$2 t0 rc=0
    shift 2
    echo "bench:scale: $label ..." >&2
    t0=$(now)
    "$@" >"$log" 2>&1 || rc=$?
    SECS=$(secs "$t0" "$(now)")
    if [ "$rc" -ne 0 ]; then
        tail -40 "$log" >&2
        die "$label failed (exit $rc after $SECS s; whole output: $log)"
    fi
    echo "bench:scale: $label: $SECS s" >&2
}
# What a run's "Resources:" summary says changed ("none" when everything was unchanged).
changes() { # log
    local c
    c=$(awk '/^Resources:/ { on = 1; next } on && /^ *$/ { exit } on' "$1" | grep -v 'unchanged' | sed 's/^ *//' | paste -sd, - || true)
    echo "${c:-none}"
}
# "+ K to create" of a preview's summary.
to_create() { grep -oE '\+ [0-9]+ to create' "$1" | grep -oE '[0-9]+' | tail -1; }

echo "bench:scale: nodes $NODES, $RUNS run(s) each, nproc $(nproc), load average at start: $(load)"
echo "bench:scale: layout: lab1, lab2 etcd+postgres+haproxy+keepalived; lab3 etcd+postgres; lab4..labN postgres"

# ------------------------------------------------------------------ a) mocks ---
echo "bench:scale: a) the program under mocks ..." >&2
scale mocks --nodes "$NODES" --runs "$RUNS" >"$work/mocks" 2>"$logs/mocks.err" || { cat "$logs/mocks.err" >&2; die "the mocks run failed"; }
declare -A m_res m_cmds m_ms m_all
while read -r tag n res cmds ms all; do
    [ "$tag" = mocks ] || continue
    m_res[$n]=$res m_cmds[$n]=$cmds m_ms[$n]=$ms m_all[$n]=$all
done <"$work/mocks"
for n in "${sizes[@]}"; do [ -n "${m_res[$n]:-}" ] || die "the mocks run printed nothing for $n nodes: $(cat "$work/mocks")"; done

# ---------------------------------------------------------------- b) preview ---
# A temporary backend and passphrase of their own: nothing of the caller's stacks is touched.
bpulumi() { PULUMI_BACKEND_URL="file://$work/state" PULUMI_CONFIG_PASSPHRASE=bench-scale PULUMI_CONFIG_PASSPHRASE_FILE='' pulumi "$@"; }
mkdir -p "$work/state"
printf 'not a real key: preview never connects\n' >"$work/id_test"
chmod 600 "$work/id_test"
declare -A p_res p_med p_all
for n in "${sizes[@]}"; do
    s=bench-scale-$n
    [ ! -e "Pulumi.$s.yaml" ] || die "Pulumi.$s.yaml exists already: remove it (a stack file this benchmark would overwrite)"
    preview_stacks+=("$s")
    bpulumi stack init "$s" --secrets-provider passphrase --non-interactive >"$logs/init-$n.log" 2>&1 || { cat "$logs/init-$n.log" >&2; die "stack init $s failed"; }
    grep -v '^config:' "Pulumi.$s.yaml" >"$work/head" || true
    { cat "$work/head"; scale stack-config "$n" "$work/id_test"; } >"Pulumi.$s.yaml"
    for k in superuserPassword replicationPassword keepalivedPassword; do
        printf 'Bench-%s-1' "$k" | bpulumi config set --secret "pgha:$k" --stack "$s" --non-interactive || die "config set $k on $s failed"
    done
    all=""
    for i in $(seq 1 "$RUNS"); do
        timed "b) preview, $n nodes, run $i" "$logs/preview-$n-$i.log" bpulumi preview --stack "$s" --non-interactive
        all+="$SECS "
        c=$(to_create "$logs/preview-$n-$i.log") || die "no '+ K to create' in $logs/preview-$n-$i.log"
        [ -z "${p_res[$n]:-}" ] || [ "${p_res[$n]}" = "$c" ] || die "$n nodes: preview run $i planned $c resources, run 1 ${p_res[$n]}"
        p_res[$n]=$c
    done
    p_all[$n]=$all
    p_med[$n]=$(echo "$all" | median)
done

# -------------------------------------------------------------------- c) lab ---
declare -A l_cold l_noop l_noop_ch l_prev l_prev_ch l_add l_destroy
lab_stack=bench-scale
lab_cleanup() {
    local rc=$? h
    [ "$LAB" = 1 ] || return 0
    # A failed step: what the hosts said, kept with the logs before the lab goes (a cold up's
    # replica that never streamed, seen once at 9 nodes, left nothing to read).
    if [ "$rc" -ne 0 ] && [ -e .lab/ssh_config ]; then
        while read -r h; do
            timeout 20 ssh -n -F .lab/ssh_config -o BatchMode=yes "$h" "journalctl -u patroni -u etcd --no-pager -n 300; patronictl -c /etc/patroni/config.yml list 2>&1" >"$logs/host-$h.log" 2>&1 || true
        done < <(awk '/^Host lab[0-9]+$/ { print $2 }' .lab/ssh_config)
        echo "bench:scale: the hosts' Patroni and etcd journals: $logs/host-lab*.log" >&2
    fi
    pulumi stack rm --yes --force "$lab_stack" >/dev/null 2>&1 || true
    rm -f "Pulumi.$lab_stack.yaml"
    bash lab/lab.sh down >/dev/null 2>&1 || echo "bench:scale: 'npm run lab -- down' failed: run it by hand" >&2
}
if [ "$LAB" = 1 ]; then
    [ ! -e "Pulumi.$lab_stack.yaml" ] || die "Pulumi.$lab_stack.yaml exists already: remove it (the stack file --lab writes)"
    trap 'lab_cleanup; cleanup' EXIT
    bash toolchain/install.sh >/dev/null
    source scripts/env.sh # PATH, the lab passphrase lab-stack.js uses
    export PULUMI_BACKEND_URL="file://$ROOT/.pulumi-state/bench-scale"
    mkdir -p "$ROOT/.pulumi-state/bench-scale"
    echo "bench:scale: c) lab, nodes $LAB_NODES, engine parallelism ${PARALLEL:-default}; memory: $(free -g | awk '/^Mem:/ { print $2 " GB total, " $7 " GB available" }')"
    for n in "${lab_sizes[@]}"; do
        m=$((n + 1))
        timed "c) lab up --nodes $n" "$logs/lab-up-$n.log" bash lab/lab.sh up --nodes "$n" --release trixie
        pulumi stack rm --yes --force "$lab_stack" >/dev/null 2>&1 || true
        rm -f "Pulumi.$lab_stack.yaml"
        roles=$(scale roles "$n")
        timed "c) lab-stack, $n nodes" "$logs/lab-stack-$n.log" node scripts/lab-stack.js "$lab_stack" "--roles=$roles"
        timed "c) cold up, $n nodes" "$logs/lab-cold-$n.log" pulumi up --yes --skip-preview --stack "$lab_stack" --non-interactive "${par[@]}"
        l_cold[$n]=$SECS
        timed "c) no-op up, $n nodes" "$logs/lab-noop-$n.log" pulumi up --yes --skip-preview --stack "$lab_stack" --non-interactive "${par[@]}"
        l_noop[$n]=$SECS l_noop_ch[$n]=$(changes "$logs/lab-noop-$n.log")
        timed "c) preview, $n nodes" "$logs/lab-preview-$n.log" pulumi preview --stack "$lab_stack" --non-interactive "${par[@]}"
        l_prev[$n]=$SECS l_prev_ch[$n]=$(changes "$logs/lab-preview-$n.log")
        timed "c) lab up --nodes $m" "$logs/lab-up-$m.log" bash lab/lab.sh up --nodes "$m" --release trixie
        roles=$(scale roles "$m")
        timed "c) lab-stack, $m nodes" "$logs/lab-stack-$m.log" node scripts/lab-stack.js "$lab_stack" "--roles=$roles"
        timed "c) up adding lab$m, $n -> $m nodes" "$logs/lab-add-$n.log" pulumi up --yes --skip-preview --stack "$lab_stack" --non-interactive "${par[@]}"
        l_add[$n]=$SECS
        timed "c) destroy, $m nodes" "$logs/lab-destroy-$n.log" pulumi destroy --yes --skip-preview --stack "$lab_stack" --non-interactive "${par[@]}"
        l_destroy[$n]=$SECS
        pulumi stack rm --yes "$lab_stack" >/dev/null || die "stack rm $lab_stack failed"
        rm -f "Pulumi.$lab_stack.yaml"
        timed "c) lab down" "$logs/lab-down-$n.log" bash lab/lab.sh down
    done
fi

# ----------------------------------------------------------------- the table ---
echo
echo "pgha at scale: $RUNS run(s) per figure (medians), $(nproc) cores, load average at the end: $(load)"
echo "layout: lab1, lab2 etcd+postgres+haproxy+keepalived; lab3 etcd+postgres; lab4..labN postgres"
printf '%-6s  %-10s  %-12s  %-24s  %-17s  %s\n' nodes resources "remote cmds" "a) mocks: program ms" "b) preview: +K" "b) preview s (runs)"
for n in "${sizes[@]}"; do
    printf '%-6s  %-10s  %-12s  %-24s  %-17s  %s\n' "$n" "${m_res[$n]}" "${m_cmds[$n]}" "${m_ms[$n]} (${m_all[$n]})" "+${p_res[$n]}" "${p_med[$n]} (${p_all[$n]% })"
done
if [ "${#sizes[@]}" -ge 2 ]; then
    a=${sizes[0]} z=${sizes[-1]}
    awk -v a="$a" -v z="$z" -v ra="${m_res[$a]}" -v rz="${m_res[$z]}" -v ca="${m_cmds[$a]}" -v cz="${m_cmds[$z]}" \
        -v ma="${m_ms[$a]}" -v mz="${m_ms[$z]}" -v pa="${p_med[$a]}" -v pz="${p_med[$z]}" 'BEGIN {
        d = z - a
        printf "per added node (%d -> %d nodes): %+.1f resources, %+.1f remote commands, %+.0f ms under mocks, %+.2f s of preview; %d -> %d nodes is %.1fx the nodes, %.2fx the mocks time, %.2fx the preview time\n",
            a, z, (rz - ra) / d, (cz - ca) / d, (mz - ma) / d, (pz - pa) / d, a, z, z / a, mz / ma, pz / pa
    }'
fi
if [ "$LAB" = 1 ]; then
    echo
    printf '%-6s  %-10s  %-28s  %-28s  %-18s  %s\n' nodes "cold up s" "no-op up s (changes)" "preview s (changes)" "up adding 1 node s" "destroy s"
    for n in "${lab_sizes[@]}"; do
        printf '%-6s  %-10s  %-28s  %-28s  %-18s  %s\n' "$n" "${l_cold[$n]}" "${l_noop[$n]} (${l_noop_ch[$n]})" "${l_prev[$n]} (${l_prev_ch[$n]})" "${l_add[$n]}" "${l_destroy[$n]}"
    done
    echo "(lab hosts: Debian 13, bare, packages through the lab's apt proxy; the +1 node is PostgreSQL only; engine --parallel: ${PARALLEL:-its default})"
fi
echo "(each step's output: $logs)"
