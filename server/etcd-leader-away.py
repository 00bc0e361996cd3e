#!/usr/bin/python3
# pgha: keeps etcd's raft leadership off the host that runs the PostgreSQL primary.
#
# Why: when etcd's leader changes, the new leader restarts every lease at its full TTL
# (etcd 3.4 keeps a lease's deadline only on the leader). Patroni's leader key lives on
# such a lease. If the primary's host also holds etcd's leadership and loses power, both
# go at once, so the dead primary's key is given a fresh ttl and failover waits a whole
# ttl plus etcd's election. Held elsewhere, the key expires on its own clock: failover
# comes sooner by whatever of the ttl had already run (up to loop_wait). pgha's
# kill-leader and isolate-leader drills measured this.
#
#   etcd-leader-away.py --etcd URL --patroni URL --cacert F --cert F --key F [--interval S] [--once]
#
# Every interval: when this host's Patroni answers 200 on /primary and this host's etcd
# member is the raft leader, hand leadership to the other voting member that answers
# and has applied the most of the log. Anything else: nothing. Runs as user etcd.
import argparse
import json
import ssl
import sys
import time
import urllib.error
import urllib.request

TIMEOUT = 2


def log(msg):
    print("pgha: " + msg, flush=True)


class Clients:
    def __init__(self, cacert, cert, key):
        self.etcd = ssl.create_default_context(cafile=cacert)
        self.etcd.load_cert_chain(cert, key)
        self.patroni = ssl.create_default_context(cafile=cacert)

    def etcd_call(self, url, path, body=None):
        req = urllib.request.Request(url + path, data=json.dumps(body or {}).encode(), method="POST")
        with urllib.request.urlopen(req, timeout=TIMEOUT, context=self.etcd) as r:
            return json.load(r)

    def is_primary(self, patroni_url):
        try:
            with urllib.request.urlopen(patroni_url + "/primary", timeout=TIMEOUT, context=self.patroni) as r:
                return r.status == 200
        except urllib.error.HTTPError:
            return False  # 503: a replica, or a primary without the leader lock


def pick_transferee(clients, self_id, members):
    """The voting member (not this one) that answers and has applied the most; None if none does."""
    best = None
    for m in members:
        if m.get("ID") == self_id or m.get("isLearner") or not m.get("clientURLs"):
            continue
        try:
            st = clients.etcd_call(m["clientURLs"][0], "/v3/maintenance/status")
        except Exception:
            continue
        applied = int(st.get("raftAppliedIndex", "0"))
        if best is None or applied > best[1]:
            best = (m, applied)
    return best and best[0]


def step(clients, etcd_url, patroni_url):
    """One check; returns what happened, for the log (None: nothing to do)."""
    st = clients.etcd_call(etcd_url, "/v3/maintenance/status")
    self_id = st["header"]["member_id"]
    if st.get("leader") != self_id or not clients.is_primary(patroni_url):
        return None
    members = clients.etcd_call(etcd_url, "/v3/cluster/member/list").get("members", [])
    name = next((m.get("name", self_id) for m in members if m.get("ID") == self_id), self_id)
    target = pick_transferee(clients, self_id, members)
    if target is None:
        return "the PostgreSQL primary and etcd's leader are both here, and no other etcd member answers: leadership stays"
    clients.etcd_call(etcd_url, "/v3/maintenance/transfer-leadership", {"targetID": target["ID"]})
    return "moved etcd leadership from %s to %s: the PostgreSQL primary runs here" % (name, target.get("name", target["ID"]))


def main():
    p = argparse.ArgumentParser()
    for flag in ("--etcd", "--patroni", "--cacert", "--cert", "--key"):
        p.add_argument(flag, required=True)
    p.add_argument("--interval", type=float, default=5.0)
    p.add_argument("--once", action="store_true")
    a = p.parse_args()
    last = None
    while True:
        try:
            # Read the certificate on every check: a renewed one is used without a restart.
            said = step(Clients(a.cacert, a.cert, a.key), a.etcd, a.patroni)
        except Exception as e:
            said = "check failed: %s: %s" % (type(e).__name__, e)
        # A repeated message is logged once, until something else happens.
        if said and (said != last or said.startswith("moved")):
            log(said)
        last = said
        if a.once:
            return 0 if said is None or said.startswith("moved") else 1
        time.sleep(a.interval)


if __name__ == "__main__":
    sys.exit(main())
