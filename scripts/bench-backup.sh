#!/usr/bin/env bash
# npm run bench:backup [-- --scale N]
# npm run bench:backup -- --sweep [--process-max 1,2,4] [--compress none,lz4,zst,gz] [--runs R] [--scale N]
# Backup and restore figures on the 4-host lab (Debian 13), measured, not asserted. Root; boots
# and deletes its own lab (lab1, lab2 etcd+postgres+haproxy+keepalived, lab3 etcd, lab4 the
# repository host); its Pulumi state is its own (.pulumi-state/bench), apart from the `lab` stack.
# --scale N (or BENCH_SCALE=N): the pgbench scale, default 140 (about 2.1 GB; 15 MB per unit);
# a smaller one (e.g. 10) for a quick run.
#
# Default mode (takes down whatever lab is up first):
#   - a database of pgbench scale N loaded on the primary
#   - pgBackRest full backup (pgha's service: from the replica, zst, 2 processes, encrypted)
#     against pg_basebackup of the same database over the same network (plain format, run on
#     the replica's host from the primary, as Patroni's basebackup method does)
#   - an in-place restore to `latest` with pgha:restore: the time from `pulumi up` to the
#     cluster verified (every replica streaming again), and its steps
#   - a replica made from the repository (scale-out) against a replica streamed from the primary
# Throughput = the database's size (pg_database_size) / wall-clock time of the command.
#
# --sweep (issue 15: pgha:backup.processMax and compressType chosen by measurement): refuses to
# start while a lab is up, and needs about 6 x the database free where the lab keeps its hosts
# (/var/lib/pgha-lab: two data directories, WAL, one uncompressed backup, one restored copy).
# The same lab and load; no pulumi up per combination. For each process-max (--process-max, a
# list, default 1,2,4; pgha's range 1..64) x compress-type (--compress, default none,lz4,zst,gz;
# any of none, bz2, gz, lz4, zst), --runs R times (default 1; odd runs in the listed order,
# even runs reversed, so no combination always comes first or last):
#   1. a full backup, run as pgha's backup service runs it (postgres, on lab4, pgha's
#      /etc/pgbackrest/pgbackrest.conf: from the replica, encrypted with the passphrase pgBackRest
#      reads from conf.d/pgha-cipher.conf there, which this script never reads), with the two
#      options overridden on the command line:
#        pgbackrest --stanza=S --repo=1 --type=full --process-max=P --compress-type=T backup
#      timed (wall-clock on this machine, one SSH login included); MiB/s = pg_database_size / time
#   2. its repository size and pgBackRest's own size of the files it backed up, from
#      `pgbackrest info --output=json` (backup[].info.repository.delta, backup[].info.size);
#      ratio = info.size / repository size
#   3. a restore of that backup (--set=LABEL --process-max=P) on the replica's host into a
#      scratch directory (--pg1-path=/var/lib/postgresql/pgha-bench-restore), through lab4's TLS
#      server as a replica made from the repository is; timed, checked (PG_VERSION, pg_control,
#      its size), then the directory deleted. The cluster keeps running; nothing is started on it.
#   4. that backup expired (`expire --set=LABEL`), so the repository holds one measured backup
#      at a time, next to the warm-up backup.
# Before the first: the scheduled backup timers stopped on lab4 (the lab goes at the end), one
# full backup with pgha's own settings and its restore, not counted (the replica's files and the
# programs are then in the page cache for every combination alike), and every older backup
# expired. Before each timed step: `sync` (no writeback of the step before in the next one).
# At the end, one table: process-max, compress-type, backup s, MiB/s, repo MiB, ratio, restore
# s (medians over the runs; min-max too when R > 1; pgha's current settings marked *), the
# cores of this machine and of the lab hosts (process-max beyond them cannot run in parallel).
# compress-type none: pgBackRest still compresses what crosses the network at
# compress-level-network (default 1) when the command does not run on the repository host (the
# restores here), so its restore figure is not one of uncompressed transfer.
# Any failed step stops the sweep with the end of its output and of pgBackRest's log there.
# Every step's output stays in a logs directory (printed).
set -euo pipefail
cd "$(dirname "$0")/.."
SCALE=${BENCH_SCALE:-140}
SWEEP=0 PMAX="" COMPRESS="" RUNS=1
usage="npm run bench:backup -- [--scale N] | --sweep [--process-max 1,2,4] [--compress none,lz4,zst,gz] [--runs R] [--scale N]"
die() { echo "bench:backup: $*" >&2; exit 1; }
say() { echo "bench:backup: $*" >&2; }
while [ $# -gt 0 ]; do
    case $1 in
        --sweep) SWEEP=1; shift ;;
        --process-max) PMAX=${2:?--process-max needs a list, e.g. 1,2,4}; shift 2 ;;
        --compress) COMPRESS=${2:?--compress needs a list, e.g. none,lz4,zst,gz}; shift 2 ;;
        --runs) RUNS=${2:?--runs needs a number}; shift 2 ;;
        --scale) SCALE=${2:?--scale needs a pgbench scale, e.g. 140}; shift 2 ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument '$1' (usage: $usage)" ;;
    esac
done
[[ $SCALE =~ ^[1-9][0-9]*$ ]] || die "scale $SCALE: a positive number"
if [ "$SWEEP" = 1 ]; then
    PMAX=${PMAX:-1,2,4} COMPRESS=${COMPRESS:-none,lz4,zst,gz}
    [[ $PMAX =~ ^[0-9]+(,[0-9]+)*$ ]] || die "--process-max '$PMAX': a comma-separated list of numbers, e.g. 1,2,4"
    [[ $COMPRESS =~ ^[a-z0-9]+(,[a-z0-9]+)*$ ]] || die "--compress '$COMPRESS': a comma-separated list, e.g. none,lz4,zst,gz"
    [[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "--runs $RUNS: a positive number"
    IFS=, read -r -a pmaxes <<<"$PMAX"
    IFS=, read -r -a ctypes <<<"$COMPRESS"
    for p in "${pmaxes[@]}"; do ((10#$p >= 1 && 10#$p <= 64)) || die "--process-max $p: from 1 to 64 (pgha:backup.processMax's range)"; done
    for c in "${ctypes[@]}"; do [[ $c =~ ^(none|bz2|gz|lz4|zst)$ ]] || die "--compress $c: one of none, bz2, gz, lz4, zst (pgBackRest's compress-type)"; done
else
    if [ -n "$PMAX$COMPRESS" ] || [ "$RUNS" != 1 ]; then die "--process-max, --compress and --runs go with --sweep (usage: $usage)"; fi
fi
[ "$(id -u)" -eq 0 ] || { echo "bench:backup: run as root" >&2; exit 1; }
if [ "$SWEEP" = 1 ]; then
    # The lab is one per machine, whatever the clone: never take down someone else's.
    LAB_STATE=${PGHA_LAB_STATE:-/var/lib/pgha-lab}
    if compgen -G "$LAB_STATE/hosts/*" >/dev/null; then
        die "a lab is up ($LAB_STATE/hosts): --sweep boots and deletes its own; run 'npm run lab -- down' first if it is free"
    fi
    # The primary's and the replica's data directories, their WAL, one backup of compress-type
    # none and one restored copy at a time: about 6 x the database (15 MB per unit of scale).
    disk_at=$LAB_STATE
    [ -d "$disk_at" ] || disk_at=$(dirname "$LAB_STATE")
    est_mb=$((SCALE * 15))
    avail_mb=$(df -Pm "$disk_at" | awk 'NR == 2 { print $4 }')
    ((avail_mb > est_mb * 6 + 2048)) || die "$disk_at has $avail_mb MB free; --sweep at scale $SCALE needs about $((est_mb * 6 + 2048)) MB (6 x about $est_mb MB, and 2 GB)"
fi
bash toolchain/install.sh >/dev/null
source scripts/env.sh
export PULUMI_BACKEND_URL="file://$ROOT/.pulumi-state/bench"
mkdir -p "$ROOT/.pulumi-state/bench"
stack=bench-backup
ROLES=--roles=lab1=etcd+postgres+haproxy+keepalived,lab2=etcd+postgres+haproxy+keepalived,lab3=etcd,lab4=backup
BIN=/usr/lib/postgresql/17/bin

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
rate() { awk -v bytes="$1" -v s="$2" 'BEGIN { printf "%.1f", bytes / 1048576 / s }'; }
on() { local h=$1; shift; ssh -F .lab/ssh_config -o BatchMode=yes "$h" "$@"; }
sql() { on "$1" "cd / && runuser -u postgres -- psql -AtX -c \"$2\""; }
up() { pulumi up --yes --skip-preview --stack "$stack" >"$1" 2>&1 || { tail -40 "$1"; exit 1; }; }
step_secs() { # log resource -> the "created (Ns)" of that resource
    grep -E "$2 created \(" "$1" | tail -1 | sed -E 's/.*created \(([0-9.]+)s\).*/\1/'
}
leader() { on lab1 "patronictl -c /etc/patroni/config.yml list -f json" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).find(m=>m.Role==="Leader").Member))'; }
cleanup() { pulumi stack rm --yes --force "$stack" >/dev/null 2>&1 || true; rm -f "Pulumi.$stack.yaml"; bash lab/lab.sh down >/dev/null 2>&1 || true; }
trap cleanup EXIT

# ------------------------------------------------------------------ --sweep ---
SCRATCH=/var/lib/postgresql/pgha-bench-restore # on the replica's host, deleted after each restore
PGCONF=/etc/pgbackrest/pgbackrest.conf
PGLOGS=/var/log/pgbackrest
REPO=1 # lab-stack.js --backup=lab4: one repository, on lab4
logs="" results="" STANZA=""
# ssh to a lab host, stdin closed (a loop's input stays its own).
lab_sh() { local h=$1; shift; ssh -F .lab/ssh_config -o BatchMode=yes -o ConnectTimeout=10 "$h" "$@" </dev/null; }
secs2() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
# SECS: the wall-clock seconds of COMMAND on HOST, its output in LOG. On a failure: the end of
# LOG and of pgBackRest's log PGLOG on HOST (when given), and the benchmark stops.
remote() { # label host log pglog command
    local label=$1 h=$2 log=$3 pglog=$4 cmd=$5 t0 rc=0
    say "$label ..."
    t0=$(now)
    lab_sh "$h" "$cmd" >"$log" 2>&1 || rc=$?
    SECS=$(secs2 "$t0" "$(now)")
    if [ "$rc" -ne 0 ]; then
        echo "----- the end of $log ($h: $cmd):" >&2
        tail -40 "$log" >&2
        if [ -n "$pglog" ]; then
            echo "----- the end of $h:$pglog:" >&2
            lab_sh "$h" "tail -n 30 $pglog" >&2 || true
        fi
        echo "-----" >&2
        die "$label failed on $h (exit $rc after $SECS s; whole output: $log)"
    fi
}
pgbackrest_cmd() { echo "cd / && runuser -u postgres -- pgbackrest --stanza=$STANZA --repo=$REPO $*"; }
# pgBackRest's info as JSON on stdin -> the stanza's backups, one a line, oldest first:
# LABEL TYPE SIZE REPO-SIZE (bytes: info.size, the files backed up; info.repository.delta,
# what this backup stores in the repository; the same as repository.size for a full backup,
# and the field every version prints).
parse_backups() { # stanza
    # shellcheck disable=SC2016 # JavaScript
    node -e '
let s = "";
process.stdin.on("data", (d) => (s += d)).on("end", () => {
    const st = JSON.parse(s).find((x) => x.name === process.argv[1]);
    if (st === undefined) { console.error(`pgbackrest info: no stanza ${process.argv[1]}`); process.exit(1); }
    for (const b of st.backup || []) {
        const r = b.info.repository;
        console.log([b.label, b.type, b.info.size, r.delta ?? r.size].join(" "));
    }
});' "$1"
}
backups() { # (its warnings, on stderr, in $logs/info.err)
    local out
    out=$(lab_sh lab4 "$(pgbackrest_cmd --output=json info)" 2>"$logs/info.err") || die "pgbackrest info on lab4 failed: $(tail -20 "$logs/info.err")"
    parse_backups "$STANZA" <<<"$out" || die "pgbackrest info on lab4: unexpected output: $(head -c 500 <<<"$out")"
}
# The one backup in AFTER (backups' lines) whose label is not among BEFORE's; it must be a full one.
new_backup() { # before after
    local new
    new=$(awk -v old="$1" 'BEGIN { n = split(old, a, "\n"); for (i = 1; i <= n; i++) { split(a[i], f, " "); seen[f[1]] = 1 } } NF && !($1 in seen)' <<<"$2")
    [ "$(grep -c . <<<"$new")" = 1 ] || die "expected one new backup in the repository, found: ${new:-none} (all: $2)"
    [ "$(cut -d' ' -f2 <<<"$new")" = full ] || die "the new backup is not a full one: $new"
    echo "$new"
}
# Restore LABEL with P processes into the scratch directory on the replica's host: SECS, checked, deleted.
restore_scratch() { # label process-max log-tag
    local label=$1 p=$2 tag=$3 got
    remote "scratch directory on $replica" "$replica" "$logs/$tag-scratch.log" "" \
        "rm -rf $SCRATCH && install -d -o postgres -g postgres -m 0700 $SCRATCH"
    sync
    remote "restore of $label on $replica, process-max $p" "$replica" "$logs/$tag-restore.log" "$PGLOGS/$STANZA-restore.log" \
        "$(pgbackrest_cmd --set="$label" --pg1-path=$SCRATCH --process-max="$p" restore)"
    RESTORE_SECS=$SECS
    got=$(lab_sh "$replica" "test -s $SCRATCH/PG_VERSION && test -s $SCRATCH/global/pg_control && du -sb $SCRATCH | cut -f1") ||
        die "the restore of $label into $replica:$SCRATCH lacks PG_VERSION or global/pg_control"
    RESTORED_BYTES=$got
    remote "delete $replica:$SCRATCH" "$replica" "$logs/$tag-rm.log" "" "rm -rf $SCRATCH"
}
expire_set() { # label log-tag
    local left
    remote "expire $1" lab4 "$logs/$2-expire.log" "$PGLOGS/$STANZA-expire.log" "$(pgbackrest_cmd --set="$1" expire)"
    left=$(backups)
    ! grep -q "^$1 " <<<"$left" || die "$1 is still in the repository after expire --set=$1"
}
# One combination: backup, its sizes, restore, expire; one line into $results.
measure() { # process-max compress-type run
    local p=$1 c=$2 run=$3 tag="run$3-p$1-$2" before after line label size delta
    before=$(backups)
    sync
    remote "full backup, process-max $p, compress-type $c (run $run)" lab4 "$logs/$tag-backup.log" "$PGLOGS/$STANZA-backup.log" \
        "$(pgbackrest_cmd --type=full --process-max="$p" --compress-type="$c" backup)"
    local b_secs=$SECS
    after=$(backups)
    line=$(new_backup "$before" "$after")
    read -r label _ size delta <<<"$line"
    restore_scratch "$label" "$p" "$tag"
    # A restore that wrote much less than the backup holds did not restore it.
    awk -v got="$RESTORED_BYTES" -v want="$size" 'BEGIN { exit !(got >= want * 0.9) }' ||
        die "the restore of $label wrote $RESTORED_BYTES bytes, its backup holds $size"
    expire_set "$label" "$tag"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$p" "$c" "$run" "$b_secs" "$bytes" "$size" "$delta" "$RESTORE_SECS" "$label" >>"$results"
    say "process-max $p, $c: backup $b_secs s ($(rate "$bytes" "$b_secs") MiB/s), repository $(awk -v b="$delta" 'BEGIN { printf "%.1f", b / 1048576 }') MiB, restore $RESTORE_SECS s"
}
# The table from the results (TSV: process-max compress-type run backup-s db-bytes size
# repo-bytes restore-s label), one row per combination in the order of its first run; times
# are medians over the runs (and min-max with more than one); `mark` (P:T) gets a *.
sweep_table() { # results runs mark
    awk -F'\t' -v runs="$2" -v mark="$3" '
    function sorted(list, v,    n, i, j, t) {
        n = split(list, v, " ")
        for (i = 2; i <= n; i++) { t = v[i]; for (j = i - 1; j >= 1 && v[j] + 0 > t + 0; j--) v[j + 1] = v[j]; v[j + 1] = t }
        return n
    }
    function median(list,    v, n) { n = sorted(list, v); return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2 }
    function span(list,    v, n) { n = sorted(list, v); return sprintf("%.2f-%.2f", v[1], v[n]) }
    {
        k = $1 ":" $2
        if (!(k in seen)) { seen[k] = 1; order[++n] = k; p[k] = $1; c[k] = $2 }
        b[k] = b[k] " " $4; r[k] = r[k] " " $8; repo[k] = repo[k] " " $7; db[k] = $5; sz[k] = $6
    }
    END {
        if (runs > 1) {
            printf "%-12s %-14s %9s %11s %8s %9s %7s %10s %11s\n", "process-max", "compress-type", "backup s", "(min-max)", "MiB/s", "repo MiB", "ratio", "restore s", "(min-max)"
        } else {
            printf "%-12s %-14s %9s %8s %9s %7s %10s\n", "process-max", "compress-type", "backup s", "MiB/s", "repo MiB", "ratio", "restore s"
        }
        for (i = 1; i <= n; i++) {
            k = order[i]; bs = median(b[k]); rs = median(r[k]); rb = median(repo[k])
            pm = p[k] (k == mark ? " *" : "")
            mibs = bs > 0 ? sprintf("%.1f", db[k] / 1048576 / bs) : "-"
            ratio = rb > 0 ? sprintf("%.1f", sz[k] / rb) : "-"
            if (runs > 1) {
                printf "%-12s %-14s %9.2f %11s %8s %9.1f %7s %10.2f %11s\n", pm, c[k], bs, span(b[k]), mibs, rb / 1048576, ratio, rs, span(r[k])
            } else {
                printf "%-12s %-14s %9.2f %8s %9.1f %7s %10.2f\n", pm, c[k], bs, mibs, rb / 1048576, ratio, rs
            }
        }
    }' "$1"
}
sweep() {
    logs=$(mktemp -d "${TMPDIR:-/tmp}/pgha-bench-backup-sweep.XXXXXX")
    results=$logs/results.tsv
    : >"$results"
    trap 'rc=$?; say "every step'\''s output: $logs"; cleanup; exit $rc' EXIT
    [ "$(sql "$replica" "select pg_last_wal_replay_lsn() >= '$target_lsn'")" = t ] || die "the replica $replica has not replayed the load (up to $target_lsn) after 600 s"
    local sections conf pmax_now ctype_now keep cores_here cores_lab cores_replica version before after list warm line label type run i n k p c combos=()
    sections=$(lab_sh lab4 "grep -o '^\[[^]]*\]' $PGCONF") || die "cannot read lab4:$PGCONF"
    STANZA=$(tr -d '[]' <<<"$sections" | grep -vx global || true)
    [[ $STANZA =~ ^[a-z0-9_-]+$ ]] || die "lab4:$PGCONF: expected one stanza section besides [global], found: $(echo "$sections" | tr '\n' ' ')"
    # pgha's current settings (the row marked *), and its retention: the warm-up backup and one measured one side by side.
    conf=$(lab_sh lab4 "grep -E '^(process-max|compress-type|repo$REPO-retention-full)=' $PGCONF") || die "lab4:$PGCONF: no process-max/compress-type"
    pmax_now=$(sed -n 's/^process-max=//p' <<<"$conf")
    ctype_now=$(sed -n 's/^compress-type=//p' <<<"$conf")
    keep=$(sed -n "s/^repo$REPO-retention-full=//p" <<<"$conf")
    if [ -n "$keep" ] && ! { [[ $keep =~ ^[0-9]+$ ]] && ((keep >= 2)); }; then
        die "lab4: repo$REPO-retention-full is $keep: each measured backup would expire the warm-up one (2 or more needed)"
    fi
    cores_here=$(nproc)
    cores_lab=$(lab_sh lab4 nproc)
    cores_replica=$(lab_sh "$replica" nproc)
    version=$(lab_sh lab4 "pgbackrest version" | awk '{ print $2 }')
    remote "stop the scheduled backups (timers) on lab4" lab4 "$logs/timers.log" "" "systemctl stop 'pgha-backup-*.timer'"

    # Warm-up, not counted: pgha's own settings; then only its backup stays.
    before=$(backups)
    sync
    remote "warm-up full backup (pgha's settings, not counted)" lab4 "$logs/warmup-backup.log" "$PGLOGS/$STANZA-backup.log" "$(pgbackrest_cmd --type=full backup)"
    after=$(backups)
    line=$(new_backup "$before" "$after")
    warm=${line%% *}
    restore_scratch "$warm" "$pmax_now" warmup
    while read -r label type _; do
        if [ "$label" = "$warm" ] || [ "$type" != full ]; then continue; fi
        expire_set "$label" "older-$label"
    done <<<"$after"
    list=$(backups)
    [ "$(cut -d' ' -f1 <<<"$list")" = "$warm" ] || die "after expiring every older backup, the repository holds: $(tr '\n' ';' <<<"$list")"

    for p in "${pmaxes[@]}"; do for c in "${ctypes[@]}"; do combos+=("$((10#$p)):$c"); done; done
    n=${#combos[@]}
    say "sweep: ${#combos[@]} combinations x $RUNS run(s), database $size; stanza $STANZA, pgBackRest $version"
    for ((run = 1; run <= RUNS; run++)); do
        for ((i = 0; i < n; i++)); do
            if ((run % 2)); then k=${combos[i]}; else k=${combos[n - 1 - i]}; fi
            measure "${k%%:*}" "${k#*:}" "$run"
        done
    done

    echo
    echo "pgha backup sweep: 4 lab hosts (Debian 13, PostgreSQL 17, pgBackRest $version); cores: $cores_here on this machine (nproc), $cores_lab on lab4, $cores_replica on $replica (nproc inside the lab)"
    echo "database $size ($(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1048576 }') MiB by pg_database_size; pgbench scale $SCALE, loaded in $load s); pgBackRest backs up $(awk -F'\t' 'NR == 1 { printf "%.1f", $6 / 1048576 }' "$results") MiB of files (info.size)"
    echo "backups on lab4 from the replica $replica (backup-standby), encrypted; restores on $replica's host into a scratch directory, through lab4; $RUNS run(s) per combination (even runs in reverse order), after one warm-up backup and restore not counted"
    echo
    sweep_table "$results" "$RUNS" "$pmax_now:$ctype_now" | tee "$logs/table.txt"
    echo
    echo "backup s, restore s: wall-clock (one SSH login included)$( ((RUNS > 1)) && echo ", medians over $RUNS runs"); MiB/s = pg_database_size / backup s; repo MiB = info.repository.delta; ratio = info.size / repo size"
    echo "* pgha's current settings (process-max $pmax_now, compress-type $ctype_now). The restores ran with the row's process-max."
    for p in "${pmaxes[@]}"; do
        if ((10#$p > cores_lab)); then
            echo "process-max $((10#$p)) > $cores_lab cores: its processes (and the lab hosts' pgBackRest servers, PostgreSQL) share those cores"
            break
        fi
    done
    echo "raw results: $results"
}


bash lab/lab.sh down >/dev/null
bash lab/lab.sh up --nodes 4 --release trixie >/dev/null
pulumi stack rm --yes --force "$stack" >/dev/null 2>&1 || true
rm -f "Pulumi.$stack.yaml"
node scripts/lab-stack.js "$stack" "$ROLES" --backup=lab4 >/dev/null
up /tmp/pgha-bench-backup-up.log
primary=$(leader)
replica=$([ "$primary" = lab1 ] && echo lab2 || echo lab1)
echo "bench:backup: cluster up (primary $primary, replica $replica); loading pgbench scale $SCALE" >&2

t0=$(now); on "$primary" "cd / && runuser -u postgres -- $BIN/pgbench -i -q -s $SCALE postgres" >/dev/null 2>&1; t1=$(now)
load=$(secs "$t0" "$t1")
sql "$primary" "checkpoint" >/dev/null
bytes=$(sql "$primary" "select pg_database_size('postgres')")
size=$(sql "$primary" "select pg_size_pretty(pg_database_size('postgres'))")
# The replica has replayed everything before either copy starts.
target_lsn=$(sql "$primary" "select pg_current_wal_lsn()")
for _ in $(seq 600); do [ "$(sql "$replica" "select pg_last_wal_replay_lsn() >= '$target_lsn'")" = t ] && break; sleep 1; done
if [ "$SWEEP" = 1 ]; then sweep; exit 0; fi

echo "bench:backup: pgBackRest full backup" >&2
t0=$(now); on lab4 "systemctl start pgha-backup-full.service"; t1=$(now)
br=$(secs "$t0" "$t1")
stored=$(on lab4 "cd / && runuser -u postgres -- pgbackrest --stanza=pgsql --output=json info" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const b=JSON.parse(s)[0].backup.pop();console.log(b.info.repository.delta)})')

echo "bench:backup: pg_basebackup from $primary on $replica's host" >&2
on "$replica" "rm -rf /var/lib/postgresql/bench-bb"
t0=$(now)
on "$replica" "cd / && PGPASSFILE=/var/lib/postgresql/.pgpass_patroni runuser -u postgres -- $BIN/pg_basebackup -d 'host=$(node -e "console.log(require('./.lab/hosts.json').hosts.find(h=>h.name==='$primary').address)") user=replicator sslmode=verify-full sslrootcert=/etc/pgha/tls/ca.crt' -D /var/lib/postgresql/bench-bb -X stream -c fast"
t1=$(now)
bb=$(secs "$t0" "$t1")
on "$replica" "rm -rf /var/lib/postgresql/bench-bb"

echo "bench:backup: in-place restore to latest" >&2
pulumi config set --path pgha:restore.id bench --stack "$stack" >/dev/null
pulumi config set --path pgha:restore.target latest --stack "$stack" >/dev/null
pulumi config set --path pgha:restore.confirmDataLoss true --stack "$stack" >/dev/null
t0=$(now); up /tmp/pgha-bench-backup-restore.log; t1=$(now)
restore=$(secs "$t0" "$t1")
r_leader=$(step_secs /tmp/pgha-bench-backup-restore.log 'lab1:restore-leader')
r_backup=$(step_secs /tmp/pgha-bench-backup-restore.log 'lab4:restore-backup')
r_replica=$(step_secs /tmp/pgha-bench-backup-restore.log 'lab2:restore-replica')
rows=$(sql lab1 "select count(*) from pgbench_accounts")

echo "bench:backup: a new replica (lab3) from the repository" >&2
node -e '
const fs=require("fs"),Y=require("yaml"),f="Pulumi.'"$stack"'.yaml",d=Y.parse(fs.readFileSync(f,"utf8"));
d.config["pgha:nodes"].find(n=>n.name==="lab3").roles=["etcd","postgres"]; fs.writeFileSync(f,Y.stringify(d));'
up /tmp/pgha-bench-backup-scale.log
from_repo=$(step_secs /tmp/pgha-bench-backup-scale.log 'lab3:patroni')
method=$(on lab3 "journalctl -u patroni --no-pager | grep -o 'replica has been created using [a-z]*' | tail -1")

echo
echo "pgha backup benchmark: 4 lab hosts (Debian 13, PostgreSQL 17, pgBackRest $(on lab4 'pgbackrest version' | awk '{print $2}')), $(nproc) cores, database $size (pgbench scale $SCALE, loaded in $load s)"
printf '%-58s %8s s  %7s MB/s\n' "pgBackRest full backup (from the replica, zst, 2 processes)" "$br" "$(rate "$bytes" "$br")"
printf '%-58s %8s s  %7s MB/s\n' "pg_basebackup of the same database (plain, -X stream)" "$bb" "$(rate "$bytes" "$bb")"
printf '%-58s %8s MB\n' "pgBackRest repository size of that full backup" "$(awk -v b="$stored" 'BEGIN { printf "%.0f", b / 1048576 }')"
printf '%-58s %8s s\n' "in-place restore to latest: pulumi up until verified" "$restore"
printf '%-58s %8s s\n' "  of which: restore + replay + promote on lab1" "$r_leader"
printf '%-58s %8s s\n' "  of which: full backup of the new timeline" "$r_backup"
printf '%-58s %8s s\n' "  of which: re-create a replica (lab2) from that backup" "$r_replica"
printf '%-58s %8s\n' "  rows in pgbench_accounts afterwards" "$rows"
printf '%-58s %8s s  (%s)\n' "new replica lab3 (scale-out: Patroni start until streaming)" "$from_repo" "$method"
