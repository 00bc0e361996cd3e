#!/usr/bin/env bash
# npm run bench:backup: backup and restore figures on the 4-host lab (Debian 13), measured, not asserted.
#   - a database of BENCH_SCALE pgbench scale (default 140, about 2.1 GB), loaded on the primary
#   - pgBackRest full backup (pgha's service: from the replica, zst, 2 processes, encrypted)
#     against pg_basebackup of the same database over the same network (plain format, run on
#     the replica's host from the primary, as Patroni's basebackup method does)
#   - an in-place restore to `latest` with pgha:restore: the time from `pulumi up` to the
#     cluster verified (every replica streaming again), and its steps
#   - a replica made from the repository (scale-out) against a replica streamed from the primary
# Throughput = the database's size (pg_database_size) / wall-clock time of the command.
# It tears the lab down at the end; its Pulumi state is its own, apart from the `lab` stack.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "bench:backup: run as root" >&2; exit 1; }
SCALE=${BENCH_SCALE:-140}
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
