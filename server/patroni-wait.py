# After pgha (re)starts Patroni on a member (components/patroni-node.ts): waits until the
# member's own REST API reports the role it was started for, polling every 2 s.
#
#   patroni-wait.py --member NAME --role leader|replica --timeout SEC --cacert PATH URL
#
# URL: the member's GET /patroni endpoint (HTTPS, verified with the cluster CA).
# leader: role master/primary and state running (the member bootstrapping the cluster);
# replica: role replica, state running, and streaming (or no replication state yet).
# Prints `pgha: NAME is the leader (...)` or `... is a streaming replica (...)`; when
# the timeout passes first, says what it saw last on stderr with Patroni's recent log,
# and exits 1.
import argparse
import json
import ssl
import subprocess
import sys
import time
import urllib.request

RETRY_SEC = 2
WANT = {"leader": "the leader", "replica": "a streaming replica"}


def member_state(url, cafile):
    """"<role> <state> <replication_state>" from the REST API, or "unreachable <error type> <error>"."""
    try:
        d = json.load(urllib.request.urlopen(url, timeout=3, context=ssl.create_default_context(cafile=cafile)))
        return "%s %s %s" % (d.get("role", "?"), d.get("state", "?"), d.get("replication_state", "-"))
    except Exception as e:
        return "unreachable %s %s" % (type(e).__name__, e)


def ready(role, state):
    """Whether member_state's text shows the member as `role` (leader or replica)."""
    words = state.split() + ["", "", ""]
    if role == "leader":
        return words[0] in ("master", "primary") and words[1] == "running"
    return words[0] == "replica" and words[1] == "running" and words[2] in ("streaming", "-")


def main(argv=None):
    ap = argparse.ArgumentParser(prog="patroni-wait.py")
    ap.add_argument("--member", required=True)
    ap.add_argument("--role", required=True, choices=sorted(WANT))
    ap.add_argument("--timeout", type=int, required=True)
    ap.add_argument("--cacert", required=True)
    ap.add_argument("url")
    args = ap.parse_args(argv)
    deadline = time.monotonic() + args.timeout
    while True:
        last = member_state(args.url, args.cacert)
        if ready(args.role, last):
            break
        if time.monotonic() >= deadline:
            print("pgha: %s is not %s after %d s: role/state/replication: %s" % (args.member, WANT[args.role], args.timeout, last), file=sys.stderr, flush=True)
            try:
                subprocess.run(["journalctl", "-u", "patroni", "-n", "15", "--no-pager"], stdout=sys.stderr)
            except OSError:
                pass
            sys.exit(1)
        time.sleep(RETRY_SEC)
    print("pgha: %s is %s (%s)" % (args.member, WANT[args.role], last), flush=True)


if __name__ == "__main__":
    main()
