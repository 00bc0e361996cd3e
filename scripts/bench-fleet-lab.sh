#!/usr/bin/env bash
# npm run bench:fleet-lab [-- --runs N]   (root; boots and deletes its own lab)
# npm run fleet over two real clusters side by side on one lab (issue 15), asserted and timed:
#   - `lab up --nodes 6 --release trixie`; stack fleet-a on lab1..lab3, fleet-b on lab4..lab6, each
#     the classic layout (first two hosts etcd + PostgreSQL + HAProxy + keepalived, third etcd),
#     written by scripts/lab-stack.js in a backend of their own (.pulumi-state/bench-fleet-lab, the
#     lab passphrase of scripts/env.sh). fleet-b then differs in everything two clusters on one
#     network could share: VIP 198.18.0.101 (fleet-a 198.18.0.100), VRRP virtualRouterId 52 (51),
#     clusterName pgsqlb (pgsql: etcd and DCS namespace, data directories, CA name) and HAProxy's
#     ports 5010/5011 (5000/5001).
#   - timed: cold `fleet up --stacks fleet-a,fleet-b --parallel 2` (exit 0, both succeeded), then a
#     no-op `fleet up` (exit 0, both "=N": nothing changed).
#   - one after the other against two at once, without redeploying: `fleet preview` and no-op
#     `fleet up` at --parallel 2 and --parallel 1 (--runs N each, default 1, alternating which goes
#     first; medians).
#   - a failure at up, not at preview: lab6 (fleet-b's etcd-only host) powered off (`lab kill`),
#     pgha:postgres.parameters.work_mem 24MB set on both stacks (a reload through Patroni's DCS,
#     then the cluster verification, which checks every etcd endpoint); `fleet preview` still
#     succeeds for both; `fleet up` exits 1, its table shows fleet-a succeeded and fleet-b failed,
#     and lab1's PostgreSQL shows work_mem 24MB. Then `lab start lab6` and a `fleet up` that
#     converges both (exit 0; lab4 shows 24MB too).
#   - both stacks destroyed (timed), removed, `lab down`; the same, best effort, on any failure
#     or Ctrl-C (a trap). Prints the figures and the failure run's table; every step's output is
#     kept in a directory it names.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
RUNS=1
die() { echo "bench:fleet-lab: $*" >&2; exit 1; }
say() { echo "bench:fleet-lab: $*" >&2; }
while [ $# -gt 0 ]; do
    case $1 in
        --runs) RUNS=${2:?--runs needs a number}; shift 2 ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument '$1' (usage: npm run bench:fleet-lab -- [--runs N])" ;;
    esac
done
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "--runs $RUNS: a positive number"
[ "$(id -u)" -eq 0 ] || die "needs root (the lab does)"
# The lab is one per machine, whatever the clone: never take down someone else's.
if compgen -G "${PGHA_LAB_STATE:-/var/lib/pgha-lab}/hosts/*" >/dev/null; then
    die "a lab is up (${PGHA_LAB_STATE:-/var/lib/pgha-lab}/hosts): this benchmark boots and deletes its own; run 'npm run lab -- down' first if it is free"
fi
A=fleet-a B=fleet-b
STACKS="$A,$B"
for s in "$A" "$B"; do
    [ ! -e "Pulumi.$s.yaml" ] || die "Pulumi.$s.yaml exists already: remove it (a stack file this benchmark writes and deletes)"
done
[ -x node_modules/.bin/ts-node ] || die "node_modules is missing: run npm ci"

bash toolchain/install.sh >/dev/null
source scripts/env.sh # PATH, the lab passphrase (lab-stack.js and fleet use it)
export PULUMI_BACKEND_URL="file://$ROOT/.pulumi-state/bench-fleet-lab"
mkdir -p "$ROOT/.pulumi-state/bench-fleet-lab"
logs=$(mktemp -d "${TMPDIR:-/tmp}/pgha-bench-fleet-lab.XXXXXX")

# ------------------------------------------------------------------ cleanup ---
lab_mine=0 lab6_off=0 stacks_made=0 destroyed=0
cleanup() {
    local rc=$? s
    set +e
    trap - EXIT INT TERM
    if [ "$stacks_made" = 1 ] && [ "$destroyed" = 0 ]; then
        say "cleanup: destroying both stacks (best effort; logs in $logs)"
        if [ "$lab6_off" = 1 ]; then bash lab/lab.sh start lab6 >"$logs/cleanup-start-lab6.log" 2>&1 || say "cleanup: 'lab start lab6' failed"; fi
        for s in "$A" "$B"; do
            timeout 900 pulumi destroy --yes --skip-preview --stack "$s" --non-interactive >"$logs/cleanup-destroy-$s.log" 2>&1 \
                || say "cleanup: destroy of $s failed (the lab goes down anyway): $logs/cleanup-destroy-$s.log"
        done
    fi
    for s in "$A" "$B"; do
        [ "$stacks_made" = 0 ] || pulumi stack rm --yes --force "$s" >/dev/null 2>&1
        rm -f "Pulumi.$s.yaml"
    done
    if [ "$lab_mine" = 1 ]; then
        bash lab/lab.sh down >"$logs/lab-down.log" 2>&1 || say "'npm run lab -- down' failed ($logs/lab-down.log): run it by hand"
    fi
    say "every step's output: $logs"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------ helpers ---
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
median() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
load() { cut -d' ' -f1-3 /proc/loadavg; }
# SECS and RC of `command...`, its output in LOG. Any exit status other than WANT prints the
# log's end and stops everything (the trap cleans up).
run() { # want label log command...
    local want=$1 label=$2 log=$3 t0
    shift 3
    say "$label ..."
    t0=$(now)
    RC=0
    "$@" >"$log" 2>&1 || RC=$?
    SECS=$(secs "$t0" "$(now)")
    if [ "$RC" -ne "$want" ]; then
        tail -40 "$log" >&2
        die "$label: exit $RC after $SECS s, expected $want (whole output: $log)"
    fi
    say "$label: $SECS s (exit $RC)"
}
timed() { run 0 "$@"; }
fleet() { bash scripts/fleet.sh "$@"; } # what `npm run fleet -- ...` runs
# The closing table of a fleet log (scripts/ops/fleet-report.ts renderTable, then the tally line).
table() { sed -n '/^stack  *result  *changes  *time/,$p' "$1"; }
# One cell of the closing table: the row of STACK, the column named COLUMN (stack, result, changes,
# time, reason). Columns are cut where the dashed line's runs of dashes start: a cell may hold
# spaces ("~1 =112", "1 m 05 s").
cell() { # log stack column
    awk -v want="$2" -v col="$3" '
        /^stack  +result  +changes  +time/ {
            hdr = $0; getline dash; n = 0
            for (i = 1; i <= length(dash); i++)
                if (substr(dash, i, 1) == "-" && (i == 1 || substr(dash, i - 1, 1) == " ")) start[++n] = i
            for (k = 1; k <= n; k++) { name = substr(hdr, start[k]); sub(/ .*/, "", name); idx[name] = k }
            on = 1; next
        }
        on && $0 == "" { on = 0; next }
        on {
            s = substr($0, start[1]); sub(/ .*/, "", s)
            if (s != want || !(col in idx)) next
            k = idx[col]
            v = (k < n) ? substr($0, start[k], start[k + 1] - start[k]) : substr($0, start[k])
            gsub(/^ +| +$/, "", v); found = v
        }
        END { print found }' "$1"
}
# "52.5 s" / "2 m 05 s" -> seconds.
to_secs() { awk -v t="$1" 'BEGIN { if (split(t, w, " ") == 4) printf "%.1f", w[1] * 60 + w[3]; else printf "%.1f", w[1] }'; }
# Both stacks' rows show RESULT; each stack's changes and time go to CH[stack], T[stack].
declare -A CH T
expect_rows() { # log label result-for-A result-for-B
    local log=$1 label=$2 s r want
    for s in "$A" "$B"; do
        if [ "$s" = "$A" ]; then want=$3; else want=$4; fi
        r=$(cell "$log" "$s" result)
        CH[$s]=$(cell "$log" "$s" changes) T[$s]=$(cell "$log" "$s" time)
        if [ "$r" != "$want" ]; then
            tail -40 "$log" >&2
            die "$label: $s is '${r:-no row in the table}' in the table, expected '$want' (whole output: $log)"
        fi
    done
}
# A no-op: each row's changes are "=N", or "other 1 =N" where the one other is a read (pgha reads its
# own stack's last outputs through a StackReference: a read, not a change; seen on the lab).
expect_noop() { # log label
    local s
    for s in "$A" "$B"; do
        [[ $(cell "$1" "$s" changes) =~ ^(other\ 1\ )?=[0-9]+$ ]] || { table "$1" >&2; die "$2: $s changed something (changes '$(cell "$1" "$s" changes)'; whole output: $1)"; }
    done
}
show_table() { table "$1" | sed 's/^/    /' >&2; }
# work_mem as HOST's PostgreSQL shows it (local socket, as postgres).
work_mem() { ssh -F .lab/ssh_config -o BatchMode=yes -o ConnectTimeout=10 "$1" "runuser -u postgres -- psql -h /var/run/postgresql -AtXc 'show work_mem'" 2>&1; }
# Patroni reloads a DCS change within its loop: wait up to 90 s for HOST to show VALUE.
expect_work_mem() { # host value
    local got="" i
    for i in $(seq 1 45); do
        got=$(work_mem "$1") || true
        [ "$got" = "$2" ] && { say "$1: work_mem $got"; return 0; }
        sleep 2
    done
    die "$1: work_mem is '$got', expected '$2' (the stack edit did not reach it)"
}

say "nproc $(nproc), load average at start $(load); memory: $(free -g | awk '/^Mem:/ { print $2 " GB total, " $7 " GB available" }')"
say "layout: $A lab1, lab2 etcd+postgres+haproxy+keepalived, lab3 etcd (VIP 198.18.0.100, VRID 51, pgsql, 5000/5001);"
say "        $B lab4, lab5 etcd+postgres+haproxy+keepalived, lab6 etcd (VIP 198.18.0.101, VRID 52, pgsqlb, 5010/5011)"

# -------------------------------------------------------------- lab, stacks ---
lab_mine=1
timed "lab up --nodes 6" "$logs/lab-up.log" bash lab/lab.sh up --nodes 6 --release trixie
LAB_UP=$SECS
stacks_made=1
for s in "$A" "$B"; do pulumi stack rm --yes --force "$s" >/dev/null 2>&1 || true; done # an earlier run's, if any
full=etcd+postgres+haproxy+keepalived
timed "lab-stack $A" "$logs/lab-stack-$A.log" node scripts/lab-stack.js "$A" "--roles=lab1=$full,lab2=$full,lab3=etcd"
timed "lab-stack $B" "$logs/lab-stack-$B.log" node scripts/lab-stack.js "$B" "--roles=lab4=$full,lab5=$full,lab6=etcd"
cfg() { pulumi config set --stack "$B" --non-interactive "$@" >>"$logs/config-$B.log" 2>&1 || { cat "$logs/config-$B.log" >&2; die "config set $* on $B failed"; }; }
cfg --path pgha:vip.address 198.18.0.101
cfg --path pgha:vip.virtualRouterId 52
cfg pgha:clusterName pgsqlb
cfg --path pgha:haproxy.primaryPort 5010
cfg --path pgha:haproxy.replicaPort 5011

# ------------------------------------------------------ cold up, no-op up ---
timed "cold fleet up of both, 2 at once" "$logs/cold-up.log" fleet up --stacks "$STACKS" --parallel 2
COLD=$SECS
expect_rows "$logs/cold-up.log" "cold fleet up" succeeded succeeded
COLD_A="${T[$A]} (${CH[$A]})" COLD_B="${T[$B]} (${CH[$B]})"
COLD_SUM=$(awk -v a="$(to_secs "${T[$A]}")" -v b="$(to_secs "${T[$B]}")" 'BEGIN { printf "%.1f", a + b }')
show_table "$logs/cold-up.log"
timed "no-op fleet up, 2 at once" "$logs/noop-up.log" fleet up --stacks "$STACKS" --parallel 2
expect_rows "$logs/noop-up.log" "no-op fleet up" succeeded succeeded
expect_noop "$logs/noop-up.log" "no-op fleet up"
show_table "$logs/noop-up.log"

# --------------------------------------- two at once against one after the other ---
declare -A ALL
for i in $(seq 1 "$RUNS"); do
    if [ $((i % 2)) -eq 1 ]; then order="2 1"; else order="1 2"; fi
    for verb in preview up; do
        for p in $order; do
            log="$logs/$verb-p$p-$i.log"
            timed "$verb at --parallel $p, run $i" "$log" fleet "$verb" --stacks "$STACKS" --parallel "$p"
            expect_rows "$log" "$verb at --parallel $p" succeeded succeeded
            # A no-op up must stay one; a preview's changes are shown, not asserted.
            if [ "$verb" = up ]; then expect_noop "$log" "no-op fleet up at --parallel $p"; else PREV_CH="$A ${CH[$A]}, $B ${CH[$B]}"; fi
            ALL[$verb$p]+="$SECS "
        done
    done
done
med() { echo "${ALL[$1]}" | median; }
ratio() { awk -v s="$(med "${1}1")" -v p="$(med "${1}2")" 'BEGIN { printf "%.2f", s / p }'; }

# ------------------------------------------------------------ failure case ---
timed "lab kill lab6 ($B's etcd-only host)" "$logs/kill-lab6.log" bash lab/lab.sh kill lab6
lab6_off=1
for s in "$A" "$B"; do
    pulumi config set --path --stack "$s" --non-interactive pgha:postgres.parameters.work_mem 24MB >>"$logs/config-work-mem.log" 2>&1 \
        || { cat "$logs/config-work-mem.log" >&2; die "config set work_mem on $s failed"; }
done
# The edit itself is sound: preview (no server contacted) passes for both, lab6 off or not.
timed "fleet preview of the edit, lab6 off" "$logs/fail-preview.log" fleet preview --stacks "$STACKS" --parallel 2
expect_rows "$logs/fail-preview.log" "fleet preview of the edit" succeeded succeeded
run 1 "fleet up of the edit, lab6 off (expect exit 1: $A succeeded, $B failed)" "$logs/fail-up.log" fleet up --stacks "$STACKS" --parallel 2
FAIL=$SECS
expect_rows "$logs/fail-up.log" "fleet up with lab6 off" succeeded failed
FAIL_A="${T[$A]} (${CH[$A]})" FAIL_B="${T[$B]} (${CH[$B]})"
FAIL_REASON=$(cell "$logs/fail-up.log" "$B" reason)
expect_work_mem lab1 24MB
timed "lab start lab6" "$logs/start-lab6.log" bash lab/lab.sh start lab6
lab6_off=0
timed "fleet up converging both, lab6 back" "$logs/final-up.log" fleet up --stacks "$STACKS" --parallel 2
FINAL=$SECS
expect_rows "$logs/final-up.log" "converging fleet up" succeeded succeeded
FINAL_A="${T[$A]} (${CH[$A]})" FINAL_B="${T[$B]} (${CH[$B]})"
expect_work_mem lab4 24MB

# ---------------------------------------------------------------- teardown ---
DESTROY=""
for s in "$A" "$B"; do
    timed "destroy $s" "$logs/destroy-$s.log" pulumi destroy --yes --skip-preview --stack "$s" --non-interactive
    DESTROY+="$s $SECS s, "
done
destroyed=1

# ------------------------------------------------------------------ figures ---
echo
echo "npm run fleet over two lab clusters (3 Debian 13 hosts each, classic layout), $(nproc) cores, load average at the end: $(load)"
printf '%-62s  %-12s  %s\n' "what" "wall-clock" "each stack (fleet's table: time, changes)"
printf '%-62s  %-12s  %s\n' "cold fleet up, both at once (--parallel 2)" "$COLD s" "$A $COLD_A, $B $COLD_B; sum $COLD_SUM s"
printf '%-62s  %-12s  %s\n' "fleet preview, --parallel 2 / 1 (median of $RUNS)" "$(med preview2) / $(med preview1) s" "one after the other / two at once: $(ratio preview)x; changes $PREV_CH"
printf '%-62s  %-12s  %s\n' "no-op fleet up, --parallel 2 / 1 (median of $RUNS)" "$(med up2) / $(med up1) s" "one after the other / two at once: $(ratio up)x; nothing changed"
printf '%-62s  %-12s  %s\n' "failure run: work_mem edit, lab6 off, --parallel 2 (exit 1)" "$FAIL s" "$A $FAIL_A, $B $FAIL_B"
printf '%-62s  %-12s  %s\n' "converging fleet up, lab6 back" "$FINAL s" "$A $FINAL_A, $B $FINAL_B"
printf '%-62s  %-12s  %s\n' "lab up --nodes 6; pulumi destroy, one stack after the other" "$LAB_UP s" "${DESTROY%, }"
echo "(each run's times: preview at 2: ${ALL[preview2]% }; at 1: ${ALL[preview1]% }; no-op up at 2: ${ALL[up2]% }; at 1: ${ALL[up1]% })"
echo "(the cold up's 'sum' adds the two stacks' own times while they ran side by side: what one after the other would take, at most)"
echo
echo "the failure run's table ($B: ${FAIL_REASON:-no reason given}):"
table "$logs/fail-up.log"
