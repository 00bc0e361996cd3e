#!/usr/bin/env bash
# npm run bench:fleet [-- RUNS]: `npm run fleet -- preview` of two stacks, two at once against one
# after the other, measured, not asserted. No lab: the stacks are Pulumi.dev.yaml (pinned
# PostgreSQL version, so preview connects to no server) with a throwaway key and set secrets, in
# a temporary file backend. RUNS (default 3) of each, alternating which goes first; prints each
# run's wall-clock time, the medians and the load average (the figures mean little on a loaded
# machine: the engines share its cores).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-3}
work=$(mktemp -d "${TMPDIR:-/tmp}/pgha-bench-fleet.XXXXXX")
stacks=(bench-fleet-a bench-fleet-b)
export PATH="$HOME/.pulumi/bin:$PATH" PULUMI_BACKEND_URL="file://$work" PULUMI_CONFIG_PASSPHRASE=bench-fleet PULUMI_CONFIG_PASSPHRASE_FILE=
export PULUMI_SKIP_UPDATE_CHECK=true PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
cleanup() { for s in "${stacks[@]}"; do rm -f "Pulumi.$s.yaml"; done; rm -rf "$work"; }
trap cleanup EXIT

printf 'not a real key: preview never connects\n' >"$work/id_test"
chmod 600 "$work/id_test"
for s in "${stacks[@]}"; do
    pulumi stack init "$s" --secrets-provider passphrase --non-interactive >/dev/null 2>&1
    grep -v '^encryptionsalt:' "Pulumi.dev.yaml" | sed "s#privateKeyPath: ~/.ssh/id_ed25519#privateKeyPath: $work/id_test#" >>"Pulumi.$s.yaml"
    for k in superuserPassword replicationPassword keepalivedPassword; do
        printf 'Bench-%s-1' "$k" | pulumi config set --secret "pgha:$k" --stack "$s" --non-interactive
    done
done

now() { date +%s.%N; }
one() { # parallel -> seconds of one fleet preview of both stacks
    local t0 log="$work/run.log"
    t0=$(now)
    bash scripts/fleet.sh preview --stacks "bench-fleet-a,bench-fleet-b" --parallel "$1" >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
    awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'
}
median() { tr ' ' '\n' | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

par=() seq=()
echo "bench:fleet: $RUNS runs, nproc $(nproc), load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
for i in $(seq 1 "$RUNS"); do
    if [ $((i % 2)) -eq 1 ]; then p=$(one 2); s=$(one 1); else s=$(one 1); p=$(one 2); fi
    par+=("$p") seq+=("$s")
    echo "bench:fleet: run $i: two at once ${p} s, one after the other ${s} s (load $(cut -d' ' -f1 /proc/loadavg))"
done
mp=$(echo "${par[*]}" | median)
ms=$(echo "${seq[*]}" | median)
echo "bench:fleet: median of $RUNS: two at once ${mp} s, one after the other ${ms} s, ratio $(awk -v p="$mp" -v s="$ms" 'BEGIN { printf "%.2f", s / p }')x; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
