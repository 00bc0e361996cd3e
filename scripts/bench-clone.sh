#!/usr/bin/env bash
# npm run bench:clone [-- --scale N] [--rate R] [--kill-after S]
# A new replica's clone that takes longer than the old fixed limit (900 s), interrupted and
# resumed (issue 15). Root; boots and deletes its own 3-host Debian 13 lab, refuses to start
# while one is up. Its Pulumi state is its own (.pulumi-state/bench-clone, stack bench-clone).
#   1. lab1, lab2 etcd + PostgreSQL + HAProxy + keepalived, lab3 etcd only: a cold `pulumi up`.
#   2. `pgbench -i -s N` on the leader (--scale, default 340: about 5 GB); its size and time.
#   3. lab3's link limited to R (--rate, default 40mbit: 5 GB then take over 1000 s): a tc tbf
#      qdisc on the machine's end of lab3's veth (pgha-lab3), whose egress is what lab3
#      receives, the clone's data included.
#   4. lab3 becomes etcd + PostgreSQL (the stack edited by scripts/lab-stack.js), and a
#      `pulumi up` runs in the background. S seconds (--kill-after, default 120) after
#      pg_basebackup starts on lab3, that pulumi and its plugins get SIGKILL, as when the
#      terminal or the machine running it is lost. Then a second `pulumi up`, doing what pulumi
#      says to: `pulumi cancel` when it finds the lock the killed run left, and afterwards
#      `pulumi refresh --clear-pending-creates` for the pending creates that run left in the state.
#      Asserted: the clone survived the kill and was not restarted (one pg_basebackup PID from
#      start to end, and lab3's data directory, sampled every 5 s, never shrank by more than
#      100 MB), the second run said it followed the clone, `creating replica:` progress lines
#      in the runs' output, lab3 a streaming replica at the end, and the clone longer than 900 s.
#   5. Figures: database size, load time, link limit, clone time and throughput, progress lines.
# Any failed step stops the benchmark with its log's end. On any exit: the tc qdisc removed, the
# stack destroyed and removed, the lab down. Every step's output stays in a logs directory.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SCALE=340 RATE=40mbit KILL_AFTER=120
die() { echo "bench:clone: $*" >&2; exit 1; }
say() { echo "bench:clone: $*" >&2; }
usage="npm run bench:clone -- [--scale N] [--rate R (e.g. 40mbit)] [--kill-after S]"
while [ $# -gt 0 ]; do
    case $1 in
        --scale) SCALE=${2:?--scale needs a pgbench scale, e.g. 340}; shift 2 ;;
        --rate) RATE=${2:?--rate needs a tc rate, e.g. 40mbit}; shift 2 ;;
        --kill-after) KILL_AFTER=${2:?--kill-after needs seconds, e.g. 120}; shift 2 ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument '$1' (usage: $usage)" ;;
    esac
done
[[ $SCALE =~ ^[1-9][0-9]*$ ]] || die "--scale $SCALE: a positive number"
[[ $RATE =~ ^[1-9][0-9]*(kbit|mbit|gbit)$ ]] || die "--rate $RATE: a number and kbit, mbit or gbit (tc's units: 1 mbit = 10^6 bit/s)"
[[ $KILL_AFTER =~ ^[1-9][0-9]*$ ]] || die "--kill-after $KILL_AFTER: a positive number of seconds"

STACK=bench-clone
LAB_STATE=${PGHA_LAB_STATE:-/var/lib/pgha-lab}
VETH=pgha-lab3          # lab/lab.sh host_veth(): VETH_PREFIX + name, the machine's end, a port of pghabr0
BRIDGE=pghabr0
DATA=/var/lib/postgresql/17/pgsql # core/config-build.ts: /var/lib/postgresql/<version>/<clusterName>; lab-stack.js: pgsql
BIN=/usr/lib/postgresql/17/bin
OLD_LIMIT=900 # the fixed bound a replica's start had before issue 15
DROP_LIMIT=$((100 * 1048576))
ROLES_BEFORE=lab1=etcd+postgres+haproxy+keepalived,lab2=etcd+postgres+haproxy+keepalived,lab3=etcd
ROLES_AFTER=lab1=etcd+postgres+haproxy+keepalived,lab2=etcd+postgres+haproxy+keepalived,lab3=etcd+postgres
# pgbench's database is about 15 MB per unit of scale (bench:backup: scale 140, 2101 MB).
MB_PER_SCALE=15

rate_bps() { # tc rate -> bit/s (tc's kbit, mbit, gbit are powers of 1000)
    local n=${1%%[a-z]*}
    case ${1#"$n"} in
        kbit) echo $((n * 1000)) ;;
        mbit) echo $((n * 1000000)) ;;
        gbit) echo $((n * 1000000000)) ;;
    esac
}
BPS=$(rate_bps "$RATE")
LIMIT_MIB=$(awk -v b="$BPS" 'BEGIN { printf "%.2f", b / 8 / 1048576 }')

# ------------------------------------------------------------- preflight ---
[ "$(id -u)" -eq 0 ] || die "run as root (the lab and tc need it)"
# The lab is one per machine, whatever the clone: never take down someone else's.
if compgen -G "$LAB_STATE/hosts/*" >/dev/null; then
    die "a lab is up ($LAB_STATE/hosts): this benchmark boots and deletes its own; run 'npm run lab -- down' first if it is free"
fi
[ ! -e "Pulumi.$STACK.yaml" ] || die "Pulumi.$STACK.yaml exists already: remove it (the stack file this benchmark writes; left by an earlier run?)"
for c in tc ip ps ssh node setsid pgrep du df awk timeout; do command -v "$c" >/dev/null || die "'$c' is not on PATH"; done
est_mb=$((SCALE * MB_PER_SCALE))
est_secs=$(awk -v mb="$est_mb" -v b="$BPS" 'BEGIN { printf "%d", mb * 1048576 * 8 / b }')
((est_secs > OLD_LIMIT * 11 / 10)) || die "scale $SCALE (about $est_mb MB) at $RATE takes about $est_secs s: not clearly longer than the old $OLD_LIMIT s limit; use a larger --scale or a lower --rate"
# The leader's copy, lab2's, lab3's, and WAL: 4 x the database on the lab's disk.
disk_at=$LAB_STATE
[ -d "$disk_at" ] || disk_at=$(dirname "$LAB_STATE")
avail_mb=$(df -Pm "$disk_at" | awk 'NR == 2 { print $4 }')
((avail_mb > est_mb * 4)) || die "$disk_at has $avail_mb MB free; scale $SCALE needs about $((est_mb * 4)) MB (3 copies of about $est_mb MB and WAL)"

export PATH="$HOME/.pulumi/bin:$ROOT/node_modules/.bin:$PATH"
[ -x node_modules/.bin/ts-node ] || die "node_modules is missing: run npm ci"
bash toolchain/install.sh >/dev/null || die "npm run toolchain failed"
# shellcheck source=scripts/env.sh
source scripts/env.sh # PATH, the lab passphrase lab-stack.js uses
export PULUMI_BACKEND_URL="file://$ROOT/.pulumi-state/$STACK"
mkdir -p "$ROOT/.pulumi-state/$STACK"
# A stack left in this benchmark's own backend by an interrupted run describes hosts long gone.
pulumi stack rm --yes --force "$STACK" --non-interactive >/dev/null 2>&1 || true
logs=$(mktemp -d "${TMPDIR:-/tmp}/pgha-bench-clone-logs.XXXXXX")

# --------------------------------------------------------------- helpers ---
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
on() { # host command: ssh as root to a lab host (the lab's ssh_config pins host keys)
    local h=$1
    shift
    ssh -F .lab/ssh_config -o BatchMode=yes -o ConnectTimeout=10 "$h" "$@" </dev/null
}
sql() { on "$1" "cd / && runuser -u postgres -- psql -AtX -v ON_ERROR_STOP=1 -c \"$2\""; }
fail_log() { # log message
    echo "----- the end of $1:" >&2
    tail -40 "$1" >&2
    echo "-----" >&2
    die "$2 (whole output: $1)"
}
# SECS: the wall-clock seconds of `command...`, its output in LOG; a failure prints the log's end and stops everything.
timed() { # label log command...
    local label=$1 log=$2 t0 rc=0
    shift 2
    say "$label ..."
    t0=$(now)
    "$@" </dev/null >"$log" 2>&1 || rc=$?
    SECS=$(secs "$t0" "$(now)")
    [ "$rc" -eq 0 ] || fail_log "$log" "$label failed (exit $rc after $SECS s)"
    say "$label: $SECS s"
}
up() { pulumi up --yes --skip-preview --stack "$STACK" --non-interactive; }
alive() { # pid: running (not a zombie)
    local s
    s=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
    [[ $s != Z* ]]
}
descendants() {
    local c
    for c in $(pgrep -P "$1" || true); do
        echo "$c"
        descendants "$c"
    done
}
# "SIZE PID": lab3's data directory in bytes (0 when missing) and the oldest pg_basebackup's PID ("-": none).
sample_lab3() {
    # shellcheck disable=SC2016 # expanded on lab3
    on lab3 "d=$DATA"'; s=0; if [ -d "$d" ]; then s=$(du -sb "$d" 2>/dev/null | cut -f1); fi; p=$(pgrep -o -x pg_basebackup || true); echo "${s:-0} ${p:--}"'
}
# One sample into S_SIZE and S_PID ("-" for what could not be read: ssh failed).
sample() {
    local out
    out=$(sample_lab3 2>/dev/null) || out="- -"
    read -r S_SIZE S_PID _ <<<"$out" || true
    [[ ${S_SIZE:-} =~ ^[0-9]+$ ]] || S_SIZE=-
    [[ ${S_PID:-} =~ ^[0-9]+$ ]] || S_PID=-
}
members() { on lab1 "patronictl -c /etc/patroni/config.yml list -f json"; }
# "ROLE STATE LAG" of one member from patronictl's JSON on stdin.
member_of() { node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const m=JSON.parse(s).find(x=>x.Member===process.argv[1]);console.log(m?[m.Role,m.State,m["Lag in MB"]??"-"].join(" "):"absent - -")})' "$1"; }
leader_of() { node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const m=JSON.parse(s).find(x=>x.Role==="Leader");if(!m)process.exit(1);console.log(m.Member)})'; }
pending_ops() { pulumi stack export --stack "$STACK" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log((JSON.parse(s).deployment.pending_operations||[]).length))'; }

# --------------------------------------------------------------- cleanup ---
LAB_MADE=0 STACK_MADE=0 TC_SET=0 up1_pid="" sampler_pid=""
kill_tree() { # pid: SIGKILL to its process group and to every descendant (pulumi's plugins have process groups of their own)
    local pid=$1 tree
    tree=$(descendants "$pid" | tr '\n' ' ')
    kill -KILL -- "-$pid" 2>/dev/null || true
    kill -KILL "$pid" 2>/dev/null || true
    for p in $tree; do kill -KILL "$p" 2>/dev/null || true; done
    wait "$pid" 2>/dev/null || true
    KILLED="$pid ${tree% }"
}
cleanup() {
    local rc=$?
    set +e
    trap - INT TERM
    if [ -n "$sampler_pid" ]; then
        kill "$sampler_pid" 2>/dev/null
        wait "$sampler_pid" 2>/dev/null
    fi
    if [ -n "$up1_pid" ] && alive "$up1_pid"; then
        kill_tree "$up1_pid"
        say "cleanup: the background pulumi up killed ($KILLED)"
    fi
    if [ "$TC_SET" = 1 ]; then
        if tc qdisc del dev "$VETH" root 2>/dev/null; then say "cleanup: tc qdisc on $VETH removed"; else say "cleanup: no tc qdisc on $VETH to remove (the link is gone?)"; fi
    fi
    if [ "$STACK_MADE" = 1 ]; then
        pulumi cancel --yes --stack "$STACK" --non-interactive >"$logs/cleanup-cancel.log" 2>&1
        say "cleanup: pulumi destroy ..."
        if ! timeout 900 pulumi destroy --yes --skip-preview --stack "$STACK" --non-interactive >"$logs/cleanup-destroy.log" 2>&1; then
            tail -20 "$logs/cleanup-destroy.log" >&2
            say "cleanup: pulumi destroy failed ($logs/cleanup-destroy.log); the lab goes down anyway"
        fi
        pulumi stack rm --yes --force "$STACK" --non-interactive >"$logs/cleanup-stack-rm.log" 2>&1 || say "cleanup: pulumi stack rm $STACK failed ($logs/cleanup-stack-rm.log)"
        rm -f "Pulumi.$STACK.yaml"
    fi
    if [ "$LAB_MADE" = 1 ]; then
        say "cleanup: lab down ..."
        bash lab/lab.sh down >"$logs/cleanup-lab-down.log" 2>&1 || say "cleanup: 'npm run lab -- down' failed ($logs/cleanup-lab-down.log): run it by hand"
    fi
    say "every step's output: $logs"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say "scale $SCALE (about $est_mb MB), lab3's link $RATE ($LIMIT_MIB MiB/s: about $est_secs s for the clone), kill after $KILL_AFTER s of clone; nproc $(nproc), $(free -g | awk '/^Mem:/ { print $7 " GB of memory available" }'), $avail_mb MB free on $disk_at"

# ---------------------------------------------------- 1. lab and cluster ---
LAB_MADE=1
timed "lab up --nodes 3 --release trixie" "$logs/lab-up.log" bash lab/lab.sh up --nodes 3 --release trixie
STACK_MADE=1
timed "lab-stack ($ROLES_BEFORE)" "$logs/lab-stack-1.log" node scripts/lab-stack.js "$STACK" "--roles=$ROLES_BEFORE"
timed "cold pulumi up" "$logs/up0.log" up
cold_secs=$SECS

# -------------------------------------------------------------- 2. data ---
leader=$(members | leader_of) || die "no leader in patronictl list on lab1"
[ "$leader" = lab1 ] || [ "$leader" = lab2 ] || die "the leader is $leader, not lab1 or lab2"
on "$leader" "test -x $BIN/pgbench" || die "$leader has no $BIN/pgbench (Debian ships it in postgresql-client-17)"
timed "pgbench -i -s $SCALE on $leader" "$logs/pgbench.log" on "$leader" "cd / && runuser -u postgres -- $BIN/pgbench -i -q -s $SCALE postgres"
load_secs=$SECS
sql "$leader" "checkpoint" >/dev/null || die "checkpoint on $leader failed"
db_bytes=$(sql "$leader" "select pg_database_size('postgres')") || die "pg_database_size on $leader failed"
db_size=$(sql "$leader" "select pg_size_pretty(pg_database_size('postgres'))") || die "pg_size_pretty on $leader failed"
all_bytes=$(sql "$leader" "select sum(pg_database_size(oid))::bigint from pg_database") || die "the databases' size on $leader failed"
[[ $db_bytes =~ ^[0-9]+$ && $all_bytes =~ ^[0-9]+$ ]] || die "sizes from $leader are not numbers: '$db_bytes' '$all_bytes'"
say "database postgres: $db_size ($db_bytes bytes; all databases $all_bytes bytes), loaded in $load_secs s"
expect_secs=$(awk -v b="$all_bytes" -v r="$BPS" 'BEGIN { printf "%d", b * 8 / r }')
((expect_secs > OLD_LIMIT * 11 / 10)) || die "$all_bytes bytes at $RATE take about $expect_secs s: not clearly longer than the old $OLD_LIMIT s; use a larger --scale or a lower --rate"

# ---------------------------------------------------- 3. lab3's link limit ---
ip -o link show "$VETH" 2>/dev/null | grep -q "master $BRIDGE" || die "$VETH is not a port of $BRIDGE: is it lab3's veth (lab/lab.sh host_veth)? $(ip -o link show "$VETH" 2>&1)"
TC_SET=1
tc qdisc replace dev "$VETH" root tbf rate "$RATE" burst 256kb latency 400ms || die "tc qdisc replace on $VETH failed"
tc qdisc show dev "$VETH" | tee "$logs/tc.txt" >&2
grep -q '^qdisc tbf .* root' "$logs/tc.txt" || die "no tbf root qdisc on $VETH after tc qdisc replace: $(cat "$logs/tc.txt")"
say "lab3's link: $RATE ($LIMIT_MIB MiB/s) toward lab3; the clone needs about $expect_secs s at that rate"

# ------------------------------------------- 4. the replica, interrupted ---
timed "lab-stack ($ROLES_AFTER)" "$logs/lab-stack-2.log" node scripts/lab-stack.js "$STACK" "--roles=$ROLES_AFTER"
node -e 'const Y=require("yaml"),d=Y.parse(require("fs").readFileSync(process.argv[1],"utf8"));const n=d.config["pgha:nodes"].find(x=>x.name==="lab3");process.exit(n&&n.roles.includes("postgres")?0:1)' "Pulumi.$STACK.yaml" ||
    die "Pulumi.$STACK.yaml does not give lab3 the role postgres after lab-stack.js"
say "first pulumi up adding lab3's PostgreSQL, in the background (its output: $logs/up1.log)"
t_up1=$(now)
# A session of its own, so that its process group is pulumi's alone (not this script's).
setsid pulumi up --yes --skip-preview --stack "$STACK" --non-interactive </dev/null >"$logs/up1.log" 2>&1 &
up1_pid=$!
sleep 1
up1_pgid=$(ps -o pgid= -p "$up1_pid" | tr -d ' ') || true
[ -n "$up1_pgid" ] || fail_log "$logs/up1.log" "the first pulumi up ended within a second"
[ "$up1_pgid" = "$up1_pid" ] || die "the background pulumi (pid $up1_pid) is in process group $up1_pgid, not one of its own"

# The clone has started when pg_basebackup runs on lab3 and its data directory holds more than 1 MiB.
clone_deadline=$((SECONDS + 2400))
while :; do
    if ! alive "$up1_pid"; then
        rc=0
        wait "$up1_pid" || rc=$?
        up1_pid=""
        fail_log "$logs/up1.log" "the first pulumi up ended (exit $rc) before a clone started on lab3"
    fi
    sample
    if [ "$S_PID" != - ] && [ "$S_SIZE" != - ] && [ "$S_SIZE" -gt 1048576 ]; then break; fi
    ((SECONDS < clone_deadline)) || fail_log "$logs/up1.log" "no clone on lab3 2400 s after the first up started (last sample: $DATA $S_SIZE bytes, pg_basebackup pid $S_PID)"
    sleep 5
done
clone_t0=$(date +%s)
clone_pid=$S_PID
say "clone started on lab3: pg_basebackup pid $clone_pid, $DATA holds $S_SIZE bytes ($(secs "$t_up1" "$(now)") s into the first up)"
# Samples every 5 s until the end: "EPOCH SIZE PID" (lines "EPOCH - -" when ssh failed).
(
    while :; do
        echo "$(date +%s) $(sample_lab3 2>/dev/null || echo '- -')"
        sleep 5
    done
) >"$logs/samples.txt" 2>/dev/null &
sampler_pid=$!

kill_at=$((clone_t0 + KILL_AFTER))
while [ "$(date +%s)" -lt "$kill_at" ]; do
    alive "$up1_pid" || fail_log "$logs/up1.log" "the first pulumi up ended before --kill-after $KILL_AFTER s of clone (use a larger --scale, a lower --rate or a shorter --kill-after)"
    sleep 5
done
sample
size_before=$S_SIZE pid_before=$S_PID
[ "$pid_before" != - ] || fail_log "$logs/up1.log" "no pg_basebackup on lab3 any more at the kill ($KILL_AFTER s into the clone): finished or failed already?"
[ "$pid_before" = "$clone_pid" ] || die "the clone restarted before the kill: pg_basebackup pid $clone_pid, then $pid_before"
kill_tree "$up1_pid"
up1_pid=""
t_kill=$(date +%s)
say "killed the first pulumi up with SIGKILL: pids $KILLED ($KILL_AFTER s into the clone; lab3's $DATA held $size_before bytes, pg_basebackup pid $pid_before)"
sleep 5
sample
size_after=$S_SIZE pid_after=$S_PID
[ "$pid_after" = "$pid_before" ] || die "the clone did not survive the kill: pg_basebackup on lab3 is now '$pid_after' (was $pid_before)"
say "5 s after the kill, the clone still runs on lab3 (pg_basebackup $pid_after, $size_after bytes)"

# The second run; a killed run leaves its lock in the backend, and pulumi says what to do about it.
up2_log=$logs/up2.log
say "second pulumi up (its output: $up2_log)"
t_up2=$(now)
rc=0
up </dev/null >"$up2_log" 2>&1 || rc=$?
if [ "$rc" -ne 0 ]; then
    grep -q 'currently locked' "$up2_log" || fail_log "$up2_log" "the second pulumi up failed (exit $rc)"
    say "the second up stopped at once, as pulumi does on a stack a killed run left locked:"
    grep -A2 'currently locked' "$up2_log" | sed 's/^/    /' >&2
    find "$ROOT/.pulumi-state/$STACK/.pulumi/locks" -type f 2>/dev/null | sed 's/^/    lock file: /' >&2
    say "doing what it says: pulumi cancel"
    timed "pulumi cancel --yes --stack $STACK" "$logs/cancel.log" pulumi cancel --yes --stack "$STACK" --non-interactive
    up2_log=$logs/up2-after-cancel.log
    timed "second pulumi up, after pulumi cancel (its output: $up2_log)" "$up2_log" up
fi
t_up2_end=$(now)
up2_secs=$(secs "$t_up2" "$t_up2_end")
say "second pulumi up succeeded, $up2_secs s after it was first started"
kill "$sampler_pid" 2>/dev/null || true
wait "$sampler_pid" 2>/dev/null || true
sampler_pid=""

if grep -q 'pending operations from previous deployment' "$up2_log"; then
    say "the second up warned of the killed run's pending operations:"
    grep -A4 'pending operations from previous deployment' "$up2_log" | sed 's/^/    /' >&2
fi
pending=$(pending_ops) || die "pulumi stack export failed"
[[ $pending =~ ^[0-9]+$ ]] || die "pending operations in the state: '$pending', not a number"
pending_before=$pending
if [ "$pending" -gt 0 ]; then
    say "the state keeps $pending pending operation(s) of the killed run; pulumi's advice: 'pulumi refresh' (pending creates: interactively, or --clear-pending-creates)"
    timed "pulumi refresh --clear-pending-creates" "$logs/refresh.log" pulumi refresh --clear-pending-creates --yes --skip-preview --stack "$STACK" --non-interactive
    pending=$(pending_ops) || die "pulumi stack export failed"
    [ "$pending" -eq 0 ] || die "$pending pending operation(s) left after pulumi refresh --clear-pending-creates"
fi

# --------------------------------------------------------------- checks ---
problems=()
members >"$logs/patronictl.json" || die "patronictl list on lab1 failed"
lab3_member=$(member_of lab3 <"$logs/patronictl.json") || die "cannot read patronictl's list ($logs/patronictl.json)"
read -r role state lag <<<"$lab3_member"
if [ "$role" != Replica ] || [ "$state" != streaming ]; then problems+=("lab3 is '$role $state' in patronictl list, not a streaming replica"); fi
on lab3 "journalctl -u patroni --no-pager" >"$logs/lab3-patroni-journal.log" 2>&1 || true
attempts=$(grep -c 'trying to bootstrap from' "$logs/lab3-patroni-journal.log" || true)
((attempts <= 1)) || problems+=("Patroni's log on lab3 shows $attempts clone attempts ('trying to bootstrap from')")

other_pids=$(awk -v orig="$clone_pid" '$3 ~ /^[0-9]+$/ && $3 != orig { print $3 }' "$logs/samples.txt" | sort -u | tr '\n' ' ')
[ -z "$other_pids" ] || problems+=("another pg_basebackup ran on lab3 after pid $clone_pid: ${other_pids% } (the clone restarted)")
drops=$(awk -v lim="$DROP_LIMIT" '$2 ~ /^[0-9]+$/ { if ($2 > max) max = $2; if (max - $2 > lim) n++ } END { print n + 0 }' "$logs/samples.txt")
[ "$drops" -eq 0 ] || problems+=("lab3's data directory shrank by more than 100 MB in $drops sample(s) (the clone restarted; $logs/samples.txt)")
restarted=no
if [ -n "$other_pids" ] || [ "$drops" -ne 0 ] || ((attempts > 1)); then restarted=yes; fi
grep -q 'already creating this member' "$up2_log" || problems+=("the second up did not say it followed the running clone ('already creating this member')")
if grep -q 'restarting Patroni' "$up2_log"; then problems+=("the second up restarted Patroni ('restarting Patroni')"); fi
n1=$(grep -c 'creating replica: ' "$logs/up1.log" || true)
n2=$(grep -c 'creating replica: ' "$up2_log" || true)
((n1 + n2 > 0)) || problems+=("no 'creating replica:' progress line in either run's output")

# The clone: from the first sample with pg_basebackup running to the last one (5 s resolution).
clone_end=$(awk -v orig="$clone_pid" '$3 == orig { t = $1 } END { print (t == "" ? 0 : t) }' "$logs/samples.txt")
clone_bytes=$(awk -v orig="$clone_pid" '$3 == orig && $2 ~ /^[0-9]+$/ { b = $2 } END { print (b == "" ? 0 : b) }' "$logs/samples.txt")
((clone_end > clone_t0)) || die "no sample of the clone after it started ($logs/samples.txt)"
clone_secs=$((clone_end - clone_t0))
clone_mib=$(awk -v b="$clone_bytes" -v s="$clone_secs" 'BEGIN { printf "%.2f", b / 1048576 / s }')
longer=yes
((clone_secs > OLD_LIMIT)) || { longer=no; problems+=("the clone took $clone_secs s, not longer than the old $OLD_LIMIT s limit: use a larger --scale or a lower --rate"); }
awk -v t="$clone_mib" -v l="$LIMIT_MIB" 'BEGIN { exit !(t <= l * 1.1) }' || problems+=("the clone ran at $clone_mib MiB/s, over the link's $LIMIT_MIB MiB/s: did tc limit it? ($logs/tc.txt)")
add_secs=$(secs "$t_up1" "$t_up2_end")

# --------------------------------------------------------------- figures ---
echo
echo "pgha: a replica's clone over a limited link, interrupted and resumed (issue 15); 3 Debian 13 lab hosts, $(nproc) cores"
printf '%-62s %s\n' "database (pgbench scale $SCALE), pg_database_size" "$db_size ($db_bytes bytes)" \
    "data generation (pgbench -i on $leader)" "$load_secs s" \
    "cold pulumi up (lab3 etcd only)" "$cold_secs s" \
    "lab3's link (tc tbf on $VETH)" "$RATE = $LIMIT_MIB MiB/s" \
    "clone (pg_basebackup on lab3 running, sampled every 5 s)" "$clone_secs s, $clone_bytes bytes" \
    "clone throughput vs the link's limit" "$clone_mib MiB/s vs $LIMIT_MIB MiB/s" \
    "clone longer than the old $OLD_LIMIT s limit" "$longer" \
    "first up killed (SIGKILL, CLI and plugins)" "$KILL_AFTER s into the clone ($((t_kill - clone_t0)) s)" \
    "first up start to second up's end (lab3 streaming)" "$add_secs s" \
    "second up (incl. any lock retry)" "$up2_secs s" \
    "pending operations after the second up (cleared by refresh)" "$pending_before" \
    "progress lines 'creating replica:' (first up / second up)" "$n1 / $n2" \
    "clone attempts in lab3's Patroni log" "$attempts" \
    "clone restarted" "$restarted" \
    "lab3 at the end (patronictl: role, state, lag MB)" "$role $state $lag"
echo "(each step's output: $logs)"
if [ "${#problems[@]}" -gt 0 ]; then
    for p in "${problems[@]}"; do echo "bench:clone: FAILED: $p" >&2; done
    exit 1
fi
say "all checks passed"
