# The last step of every `pulumi up` that changed something (components/cluster-verification.ts):
# the run ends only when etcd is healthy, there is exactly one Patroni leader and it is a member
# the stack lists, every listed replica streams from it (seen on the leader, in
# pg_stat_replication, by application_name = member name), every HAProxy routes its primary
# port to exactly one server, and the front door (the VIP, else the first balancer) answers
# as a primary. The checks run in that order under one deadline, each retried every 2 s.
#
#   pgha-verify.py --timeout SEC --cacert PATH --cert PATH --key PATH --etcd URL[,URL...]
#                  --members NAME[,NAME...] --pg-port PORT --front HOST:PORT [--stats URL ...]
#                  [--front-user NAME]
#
# stdin: the superuser password, one line (psql reads it from PGPASSWORD; never in argv).
# --front-user (the primary port pooled by PgBouncer, which refuses the superuser): the front is
# checked as that role, whose password is stdin's second line.
# --cert/--key: this node's client certificate for etcd. PostgreSQL is reached with TLS,
# its certificate verified against --cacert and the host connected to (sslmode=verify-full).
# Prints `verified: <check>: <what it saw>` per check; when the deadline passes first,
# `pgha: cluster not verified after SEC s: <check>: <what it saw last>` on stderr, exit 1.
# Members the stack no longer lists are still running until Pulumi deletes them at the end
# of the run: they may be present, but never as the leader.
import argparse
import csv
import io
import json
import os
import subprocess
import sys
import time
import urllib.request

PATRONI_CONFIG = "/etc/patroni/config.yml"
RETRY_SEC = 2


def check_patroni(members, want):
    """members: `patronictl list -f json`; want: the member names the stack lists.
    -> (ok, text): text is "<leader> <its host> [(leaving ...)]", or what is wrong."""
    want = set(want)
    leaders = [m["Member"] for m in members if m.get("Role") == "Leader"]
    names = {m["Member"] for m in members}
    bad = []
    if len(leaders) != 1:
        bad.append("%d leaders" % len(leaders))
    elif leaders[0] not in want:
        bad.append("the leader %s is not a member the stack lists" % leaders[0])
    if want - names:
        bad.append("missing members %s" % sorted(want - names))
    for m in members:
        if m["Member"] in want and m.get("Role") != "Leader" and m.get("State") not in ("streaming", "running"):
            bad.append("replica %s is %s" % (m["Member"], m.get("State")))
    if bad:
        return False, "; ".join(bad)
    leaving = sorted(names - want)
    hosts = " ".join(m["Host"] for m in members if m["Member"] == leaders[0])
    return True, " ".join([leaders[0], hosts, ("(leaving, removed at the end of this run: %s)" % ", ".join(leaving)) if leaving else ""])


def leader_of(text):
    """(name, host without port) from check_patroni's text."""
    words = text.split() + ["", ""]
    return words[0], words[1].split(":")[0]


def check_streaming(got, members, leader):
    """got: psql's application_name lines on the leader. -> (ok, text)."""
    streaming = got.split("\n")
    seen = " ".join(got.split())
    for m in members:
        if m != leader and m not in streaming:
            return False, "replica %s is not streaming from %s (streaming: %s)" % (m, leader, seen)
    return True, "every replica streams from %s: %s" % (leader, seen)


def primary_up_servers(stats_csv):
    """The servers HAProxy's stats CSV shows UP in the `primary` proxy."""
    rows = list(csv.DictReader(io.StringIO(stats_csv.lstrip("# "))))
    return [r["svname"] for r in rows if r["pxname"] == "primary" and r["svname"] not in ("FRONTEND", "BACKEND") and r["status"].startswith("UP")]


def check_haproxy(results):
    """results: [(stats URL, CSV text or the exception reading it)]. -> (ok, text)."""
    bad = []
    for url, got in results:
        if isinstance(got, Exception):
            bad.append("%s: %s" % (url, got))
            continue
        up = primary_up_servers(got)
        if len(up) != 1:
            bad.append("%s: %d UP servers on the primary port %s" % (url, len(up), up))
    if bad:
        return False, "; ".join(bad)
    return True, "%d balancers route the primary port to one server" % len(results)


def output(text):
    """What a shell's $(...) keeps of a command's output: all but the trailing newlines."""
    return text.rstrip("\n")


def joined(*parts):
    return "\n".join(p for p in (output(x) for x in parts) if p)


class Verifier:
    def __init__(self, args, password, front_password=None):
        self.args = args
        self.front_env = None if front_password is None else dict(os.environ, PGPASSWORD=front_password)
        self.deadline = time.monotonic() + args.timeout
        self.last = ""
        self.members = [m for m in args.members.split(",") if m]
        self.env = dict(os.environ, PGPASSWORD=password, ETCDCTL_API="3")
        self.verify_full = "sslmode=verify-full sslrootcert=%s" % args.cacert

    def run(self, cmd):
        return subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, env=self.env)

    def wait_for(self, what, check):
        while True:
            try:
                ok, self.last = check()
            except Exception as e:  # a check that breaks is retried like one that fails
                ok, self.last = False, "%s: %s" % (type(e).__name__, e)
            if ok:
                print("verified: %s: %s" % (what, self.last), flush=True)
                return self.last
            if time.monotonic() >= self.deadline:
                sys.stderr.write("pgha: cluster not verified after %d s: %s: %s\n" % (self.args.timeout, what, self.last))
                sys.exit(1)
            time.sleep(RETRY_SEC)

    def etcd(self):
        a = self.args
        p = subprocess.run(
            ["etcdctl", "--endpoints=" + a.etcd, "--cacert=" + a.cacert, "--cert=" + a.cert, "--key=" + a.key, "--command-timeout=3s", "endpoint", "health"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=self.env,
        )
        return p.returncode == 0, output(p.stdout)

    def patroni(self):
        p = self.run(["patronictl", "-c", PATRONI_CONFIG, "list", "-f", "json"])
        if p.returncode != 0:
            return False, joined(p.stderr, p.stdout) or "patronictl list exited %d" % p.returncode
        return check_patroni(json.loads(p.stdout), self.members)

    def psql(self, host, port, *args):
        conn = "host=%s port=%s user=postgres dbname=postgres connect_timeout=3 %s" % (host, port, self.verify_full)
        return self.run(["psql", conn, *args])

    def streaming(self, leader, host):
        p = self.psql(host, self.args.pg_port, "-AtXc", "select application_name from pg_stat_replication where state = 'streaming'")
        if p.returncode != 0:
            return False, output(p.stderr)
        return check_streaming(output(p.stdout), self.members, leader)

    def haproxy(self):
        results = []
        for url in self.args.stats:
            try:
                results.append((url, urllib.request.urlopen(url, timeout=3).read().decode()))
            except Exception as e:
                results.append((url, e))
        return check_haproxy(results)

    def front(self):
        host, _, port = self.args.front.rpartition(":")
        if self.front_env is not None:
            conn = "host=%s port=%s user=%s dbname=postgres connect_timeout=3 %s" % (host, port, self.args.front_user, self.verify_full)
            p = subprocess.run(["psql", conn, "-Atc", "select pg_is_in_recovery()"], stdin=subprocess.DEVNULL, capture_output=True, text=True, env=self.front_env)
        else:
            p = self.psql(host, port, "-Atc", "select pg_is_in_recovery()")
        r = output(p.stdout)
        if p.returncode == 0 and r == "f":
            return True, "%s answers as the primary" % self.args.front
        return False, joined(p.stderr, "%s answered pg_is_in_recovery=%s" % (self.args.front, r))


def read_password(stream):
    """The first line, as `IFS= read -r` reads it: without its newline, nothing else removed."""
    line = stream.readline()
    return line[:-1] if line.endswith("\n") else line


def main(argv=None):
    ap = argparse.ArgumentParser(prog="pgha-verify.py")
    ap.add_argument("--timeout", type=int, required=True)
    ap.add_argument("--cacert", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--etcd", required=True, help="etcd client URLs, comma-separated")
    ap.add_argument("--members", required=True, help="the Patroni members the stack lists, comma-separated")
    ap.add_argument("--pg-port", type=int, required=True)
    ap.add_argument("--front", required=True, help="HOST:PORT clients write to (the VIP, else the first balancer)")
    ap.add_argument("--stats", action="append", default=[], help="a balancer's HAProxy stats CSV URL (repeated)")
    ap.add_argument("--front-user", help="the role the front is checked as (its password: stdin's second line)")
    args = ap.parse_args(argv)
    password = read_password(sys.stdin)
    v = Verifier(args, password, read_password(sys.stdin) if args.front_user else None)
    v.wait_for("etcd health", v.etcd)
    leader, host = leader_of(v.wait_for("one Patroni leader", v.patroni))
    v.wait_for("replicas streaming", lambda: v.streaming(leader, host))
    if args.stats:
        v.wait_for("HAProxy primary routing", v.haproxy)
    v.wait_for(args.front, v.front)


if __name__ == "__main__":
    main()
