#!/usr/bin/env bash
# npm run bench:pooling: what PgBouncer costs and saves, measured, not asserted, on a 3-host
# Debian 13 lab (every host etcd + postgres + haproxy + keepalived, max_connections 100).
# pgbench from this machine through the VIP's port 5000 as the application role `app`
# (SCRAM over TLS, verify-full), first straight to PostgreSQL, then with pgha:haproxy.pooled
# [primary] (one `pulumi up`: HAProxy reloads), each with BENCH_CLIENTS (default "10 200"):
#   - connections per second: pgbench -C (a new connection, TLS and SCRAM for every transaction)
#   - transactions per second: pgbench -S (select-only, connections kept)
# A run that fails (e.g. more clients than PostgreSQL admits) is printed as failed, with why.
# It tears the lab down at the end; its Pulumi state is its own, apart from the `lab` stack.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "bench:pooling: run as root" >&2; exit 1; }
SECONDS_PER_RUN=${BENCH_SECONDS:-15}
CLIENTS=${BENCH_CLIENTS:-10 200}
bash toolchain/install.sh >/dev/null
source scripts/env.sh
export PULUMI_BACKEND_URL="file://$ROOT/.pulumi-state/bench"
mkdir -p "$ROOT/.pulumi-state/bench"
stack=bench-pooling
ROLES=--roles=lab1=etcd+postgres+haproxy+keepalived,lab2=etcd+postgres+haproxy+keepalived,lab3=etcd+postgres+haproxy+keepalived
PGBENCH=$(find /usr/lib/postgresql -path "*/bin/pgbench" | sort -V | tail -1)
work=$(mktemp -d)
cleanup() { pulumi stack rm --yes --force "$stack" >/dev/null 2>&1 || true; rm -f "Pulumi.$stack.yaml"; rm -rf "$work"; bash lab/lab.sh down >/dev/null 2>&1 || true; }
trap cleanup EXIT
up() { pulumi up --yes --skip-preview --stack "$stack" >"$work/up.log" 2>&1 || { tail -40 "$work/up.log"; exit 1; }; }
set_() { pulumi config set --path "$1" "$2" --stack "$stack" >/dev/null; }

bash lab/lab.sh down >/dev/null
bash lab/lab.sh up --nodes 3 --release trixie >/dev/null
pulumi stack rm --yes --force "$stack" >/dev/null 2>&1 || true
rm -f "Pulumi.$stack.yaml"
node scripts/lab-stack.js "$stack" "$ROLES" >/dev/null
password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
set_ 'pgha:roles[0].name' app
set_ 'pgha:roles[0].login' true
printf '%s' "$password" | pulumi config set --secret --path 'pgha:roles[0].password' --stack "$stack" >/dev/null
set_ 'pgha:databases[0].name' appdb
set_ 'pgha:databases[0].owner' app
set_ 'pgha:pgbouncer.maxClientConn' 1000
set_ 'pgha:pgbouncer.defaultPoolSize' 20
echo "bench:pooling: deploying 3 hosts with PgBouncer" >&2
up
vip=$(pulumi stack output primaryEndpoint --stack "$stack" | cut -d: -f1)
pulumi stack output caCertificate --stack "$stack" >"$work/ca.crt"
conn="host=$vip port=5000 user=app dbname=appdb sslmode=verify-full sslrootcert=$work/ca.crt connect_timeout=10"
export PGPASSWORD=$password
"$PGBENCH" -i -q -s 10 "$conn" >/dev/null 2>&1

# One pgbench run: prints "<tps> ok" or "- failed: <why>".
bench() { # args: clients, extra pgbench args...
    local c=$1 out
    shift
    if out=$("$PGBENCH" -n -S -c "$c" -j 4 -T "$SECONDS_PER_RUN" "$@" "$conn" 2>&1); then
        echo "$(sed -nE 's/^tps = ([0-9.]+).*/\1/p' <<<"$out" | head -1) ok"
    else
        echo "- failed: $(grep -m1 -E 'FATAL|error|aborted' <<<"$out" | cut -c1-100)"
    fi
}

rows=()
for mode in direct pooled; do
    if [ "$mode" = pooled ]; then
        set_ 'pgha:haproxy.pooled[0]' primary
        up
    fi
    for c in $CLIENTS; do
        echo "bench:pooling: $mode, $c clients" >&2
        rows+=("| $mode | $c | $(bench "$c" -C | sed 's/ ok$//') | $(bench "$c" | sed 's/ ok$//') |")
    done
done

echo
echo "PgBouncer through HAProxy's port 5000 (3 hosts, Debian 13, max_connections 100, pool size 20, pgbench scale 10, select-only, ${SECONDS_PER_RUN} s each, TLS + SCRAM)"
echo
echo "| path | clients | connections/s (-C: connect per transaction) | transactions/s (connections kept) |"
echo "|---|---|---|---|"
printf '%s\n' "${rows[@]}"
