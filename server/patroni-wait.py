# After pgha (re)starts Patroni on a member (components/patroni-node.ts): waits until the
# member's own REST API reports the role it was started for, polling every 2 s.
#
#   patroni-wait.py --member NAME --role leader|replica --timeout SEC --cacert PATH
#                   [--progress-dir DIR --stall SEC] URL
#
# URL: the member's GET /patroni endpoint (HTTPS, verified with the cluster CA).
# leader: role master/primary and state running (the member bootstrapping the cluster);
# replica: role replica, state running, and streaming (or no replication state yet).
# Prints `pgha: NAME is the leader (...)` or `... is a streaming replica (...)`; when
# the timeout passes first, says what it saw last on stderr with Patroni's recent log,
# and exits 1. With --progress-dir (a bootstrap that restores a backup: work that grows with
# the data), the wait instead fails when neither the member's state nor DIR's size changed
# for --stall seconds; --timeout stays the outer bound. Either way, a Patroni that systemd
# restarted CRASH_RESTARTS times during the wait (a bootstrap that keeps failing) ends it at
# once, with the errors from its log.
import argparse
import json
import os
import ssl
import subprocess
import sys
import time
import urllib.request

RETRY_SEC = 2
CRASH_RESTARTS = 3
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


def restarts():
    """How often systemd restarted patroni.service (NRestarts), or None when unknown."""
    try:
        out = subprocess.run(["systemctl", "show", "-p", "NRestarts", "--value", "patroni"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout.strip()
        return int(out)
    except (OSError, ValueError):
        return None


def dir_size(path):
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def show_log():
    """Patroni's recent log, and its errors (PostgreSQL FATALs, Patroni exceptions) from further back."""
    try:
        text = subprocess.run(["journalctl", "-u", "patroni", "-n", "400", "--no-pager"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
    except OSError:
        return
    lines = text.splitlines()
    errors = [ln for ln in lines if any(w in ln for w in ("FATAL:", "PANIC:", "ERROR:", "Exception", "CRITICAL"))]
    if errors:
        print("errors in Patroni's log (last %d):" % min(len(errors), 8), file=sys.stderr)
        print("\n".join(errors[-8:]), file=sys.stderr)
    print("Patroni's log (last 15 lines):", file=sys.stderr)
    print("\n".join(lines[-15:]), file=sys.stderr, flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="patroni-wait.py")
    ap.add_argument("--member", required=True)
    ap.add_argument("--role", required=True, choices=sorted(WANT))
    ap.add_argument("--timeout", type=int, required=True)
    ap.add_argument("--cacert", required=True)
    ap.add_argument("--progress-dir")
    ap.add_argument("--stall", type=int, default=0)
    ap.add_argument("url")
    args = ap.parse_args(argv)
    start = time.monotonic()
    deadline = start + args.timeout
    first_restarts = restarts()
    progress, moved = None, start
    while True:
        last = member_state(args.url, args.cacert)
        if ready(args.role, last):
            break
        now = time.monotonic()
        crashed = restarts()
        if first_restarts is not None and crashed is not None and crashed - first_restarts >= CRASH_RESTARTS:
            print("pgha: %s: Patroni exited and was restarted %d times while pgha waited for it to be %s; last state: %s" % (args.member, crashed - first_restarts, WANT[args.role], last), file=sys.stderr, flush=True)
            show_log()
            sys.exit(1)
        if args.progress_dir:
            seen = (last, dir_size(args.progress_dir))
            if seen != progress:
                progress, moved = seen, now
            elif now - moved >= args.stall:
                print("pgha: %s is not %s: no progress for %d s (state: %s; %s holds %d bytes)" % (args.member, WANT[args.role], args.stall, last, args.progress_dir, seen[1]), file=sys.stderr, flush=True)
                show_log()
                sys.exit(1)
        if now >= deadline:
            print("pgha: %s is not %s after %d s: role/state/replication: %s" % (args.member, WANT[args.role], args.timeout, last), file=sys.stderr, flush=True)
            show_log()
            sys.exit(1)
        time.sleep(RETRY_SEC)
    print("pgha: %s is %s (%s)" % (args.member, WANT[args.role], last), flush=True)


if __name__ == "__main__":
    main()
