#!/usr/bin/env bash
# npm run bench:etcd-lease [-- HOST]: does a change of etcd's raft leader restart the
# remaining time of a lease? That decides whether pgha's etcd-leader-away is still needed
# (Patroni's leader key lives on a lease). Runs on a deployed lab cluster, from HOST (an
# etcd member, default lab1), with that host's etcd client certificate; prints the lease's
# remaining TTL just before and just after a leadership transfer, and etcd's version.
# Leaves nothing behind (the test lease is revoked).
set -euo pipefail
cd "$(dirname "$0")/.."
host=${1:-lab1}
[ -f .lab/ssh_config ] || { echo "bench-etcd-lease: no lab (npm run lab -- up, and deploy a stack)" >&2; exit 1; }
# shellcheck disable=SC2016 # expanded on the lab host
ssh -F .lab/ssh_config -o BatchMode=yes "$host" bash -s <<'EOF'
set -euo pipefail
conf=/etc/etcd/pgha-etcd.yml
[ -f "$conf" ] || { echo "bench-etcd-lease: $(hostname) runs no pgha etcd member" >&2; exit 1; }
# JSON after pgha's comment lines.
ep=$(python3 -c 'import json,sys; print(json.loads("".join(l for l in open(sys.argv[1]) if not l.startswith("#")))["advertise-client-urls"])' "$conf")
tls=(--cacert /etc/pgha/tls/ca.crt --cert /etc/pgha/tls/etcd.crt --key /etc/pgha/tls/etcd.key --command-timeout=5s)
all=$(etcdctl "${tls[@]}" --endpoints "$ep" member list -w json | python3 -c 'import json,sys; print(",".join(u for m in json.load(sys.stdin)["members"] for u in m.get("clientURLs", [])))')
ttl=20; wait_s=9
lease=$(etcdctl "${tls[@]}" --endpoints "$all" lease grant "$ttl" | awk '{print $2}')
trap 'etcdctl "${tls[@]}" --endpoints "$all" lease revoke "$lease" >/dev/null 2>&1 || true' EXIT
sleep "$wait_s"
left() { etcdctl "${tls[@]}" --endpoints "$all" lease timetolive "$lease" -w json | python3 -c 'import json,sys; print(json.load(sys.stdin)["ttl"])'; }
before=$(left)
status=$(etcdctl "${tls[@]}" --endpoints "$all" endpoint status -w json)
leader_ep=$(python3 -c 'import json,sys; s=json.loads(sys.argv[1]); print([e["Endpoint"] for e in s if e["Status"]["header"]["member_id"] == e["Status"]["leader"]][0])' "$status")
target=$(python3 -c 'import json,sys; s=json.loads(sys.argv[1]); print("%x" % [e["Status"]["header"]["member_id"] for e in s if e["Status"]["header"]["member_id"] != e["Status"]["leader"]][0])' "$status")
etcdctl "${tls[@]}" --endpoints "$leader_ep" move-leader "$target" >/dev/null
sleep 1
after=$(left)
echo "etcd $(etcd --version | awk 'NR==1 {print $3}'): lease ttl $ttl s, $wait_s s later $before s left; 1 s after moving the raft leader away from $leader_ep: $after s left"
if [ "$after" -gt "$before" ]; then echo "the leader change restarted the lease: etcd-leader-away is still needed"; else echo "the lease kept its deadline across the leader change"; fi
EOF
