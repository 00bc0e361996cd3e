# After pgha (re)starts Patroni on a member (components/patroni-node.ts): waits until the
# member's own REST API reports the role it was started for, polling every 2 s.
#
#   patroni-wait.py --member NAME --role leader|replica --timeout SEC --cacert PATH
#                   [--progress-dir DIR --stall SEC] [--start] [--config PATH] URL
#
# URL: the member's GET /patroni endpoint (HTTPS, verified with the cluster CA).
# leader: role master/primary and state running (the member bootstrapping the cluster);
# replica: role replica, state running, and streaming (or no replication state yet).
# Prints `pgha: NAME is the leader (...)` or `... is a streaming replica (...)`; when
# the timeout passes first, says what it saw last on stderr with Patroni's recent log,
# and exits 1. Every REPORT_SEC it prints where the member is (pgha_progress.py).
#
# With --progress-dir (work that grows with the data: a replica's clone, a bootstrap that
# restores a backup), the wait instead fails when nothing moved for --stall seconds: DIR's
# size, and the disk reads and writes of Patroni's children (pg_basebackup, pgBackRest,
# PostgreSQL replaying WAL; patroni.service's cgroup). --timeout stays the outer bound. Its
# lines then say how much DIR holds, of what total (the leader's base backup estimate or
# the size of its databases, asked as the superuser of config.yml; left out when unknown),
# and how fast it grows. Either way, a Patroni that systemd restarted CRASH_RESTARTS times
# during the wait (a bootstrap that keeps failing) ends it at once, with its log's errors.
#
# --start: (re)starts Patroni first, as the first start of the member does; but a Patroni
# already creating this member (an earlier `pulumi up` was interrupted during the clone) is
# not restarted, which would kill the clone: the wait then follows it, and reloads Patroni
# once it is done (config.yml may have changed meanwhile). A wait that ended without progress
# leaves STALLED_MARK, so the next --start restarts Patroni all the same.
import argparse
import json
import os
import ssl
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pgha_progress import Watch, amount, dir_size  # noqa: E402

RETRY_SEC = 2
CRASH_RESTARTS = 3
WANT = {"leader": "the leader", "replica": "a streaming replica"}
# Patroni's states while it creates the member's data: a restart would throw the work away.
BUSY_STATES = ("creating replica", "running custom bootstrap script", "starting after custom bootstrap", "initializing new cluster")
STALLED_MARK = os.environ.get("PGHA_STALLED_MARK", "/var/lib/pgha/patroni-wait.stalled")
# The leader's estimate of the base backup it streams (PostgreSQL 13+), else the size of its databases.
TOTAL_SQL = "select coalesce((select max(backup_total) from pg_stat_progress_basebackup), (select sum(pg_database_size(oid)) from pg_database))"


def member(url, cafile):
    """The REST API's answer (a dict), or the text of the error."""
    try:
        return json.load(urllib.request.urlopen(url, timeout=3, context=ssl.create_default_context(cafile=cafile)))
    except Exception as e:
        return "%s %s" % (type(e).__name__, e)


def state_text(answer):
    """"<role> <state> <replication_state>", or "unreachable <error type> <error>"."""
    if not isinstance(answer, dict):
        return "unreachable %s" % answer
    return "%s %s %s" % (answer.get("role", "?"), answer.get("state", "?"), answer.get("replication_state", "-"))


def member_state(url, cafile):
    return state_text(member(url, cafile))


def ready(role, state):
    """Whether member_state's text shows the member as `role` (leader or replica)."""
    words = state.split() + ["", "", ""]
    if role == "leader":
        return words[0] in ("master", "primary") and words[1] == "running"
    # "streaming" as a state too, as /cluster words it from Patroni 3.0.4 (pgha-restore.py always accepted it).
    return words[0] == "replica" and words[1] in ("running", "streaming") and words[2] in ("streaming", "-")


def service():
    """patroni.service's NRestarts, MainPID and ControlGroup (each None when unknown)."""
    try:
        out = subprocess.run(["systemctl", "show", "-p", "NRestarts", "-p", "MainPID", "-p", "ControlGroup", "patroni"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
    except OSError:
        out = ""
    props = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    as_int = lambda v: int(v) if (v or "").isdigit() else None  # noqa: E731
    return {"restarts": as_int(props.get("NRestarts")), "pid": as_int(props.get("MainPID")), "cgroup": props.get("ControlGroup") or None}


def restarts():
    """How often systemd restarted patroni.service (NRestarts), or None when unknown."""
    return service()["restarts"]


def children(svc, cgroup_root="/sys/fs/cgroup", proc="/proc"):
    """[(pid, argv)] of the processes in patroni.service's cgroup but Patroni itself; [] when unknown."""
    if not svc["cgroup"]:
        return []
    try:
        with open(os.path.join(cgroup_root, svc["cgroup"].lstrip("/"), "cgroup.procs")) as f:
            pids = [int(x) for x in f.read().split()]
    except (OSError, ValueError):
        return []
    out = []
    for pid in pids:
        if pid == svc["pid"]:
            continue
        try:
            with open(os.path.join(proc, str(pid), "cmdline"), "rb") as f:
                out.append((pid, [a.decode(errors="replace") for a in f.read().split(b"\0") if a]))
        except OSError:
            pass
    return out


def cloning(procs):
    """Whether a clone runs among procs ([(pid, argv)]): pg_basebackup, or a pgBackRest restore."""
    for _pid, argv in procs:
        prog = os.path.basename(argv[0]) if argv else ""
        if prog == "pg_basebackup" or (prog == "pgbackrest" and any(a == "restore" or a.startswith("restore:") for a in argv[1:])):
            return True
    return False


def io_bytes(procs, proc="/proc"):
    """Disk bytes read and written by procs ([(pid, argv)]), or None when none can be read."""
    total, seen = 0, False
    for pid, _argv in procs:
        try:
            with open(os.path.join(proc, str(pid), "io")) as f:
                fields = dict(line.split(":", 1) for line in f if ":" in line)
            total += int(fields["read_bytes"]) + int(fields["write_bytes"])
            seen = True
        except (OSError, KeyError, ValueError):
            pass
    return total if seen else None


def busy(active, answer, clone_running):
    """Whether a running Patroni is creating this member (a restart would kill that work)."""
    if not active:
        return False
    return clone_running or (isinstance(answer, dict) and answer.get("state") in BUSY_STATES)


def leader_address(cluster):
    """(host, port) of the leader in GET /cluster's answer, or None."""
    for m in cluster.get("members", []):
        if m.get("role") in ("leader", "standby_leader") and m.get("host"):
            return (m["host"], int(m.get("port", 5432)))
    return None


def clone_total(config_path, cluster_url, cafile):
    """What the clone will hold, asked of the leader as config.yml's superuser (the password in
    psql's environment, never on a command line); None when it cannot be known."""
    try:
        import yaml

        with open(config_path) as f:
            pg = (yaml.safe_load(f) or {}).get("postgresql") or {}
        su = (pg.get("authentication") or {}).get("superuser") or {}
        where = leader_address(json.load(urllib.request.urlopen(cluster_url, timeout=3, context=ssl.create_default_context(cafile=cafile))))
        if where is None or not su.get("username"):
            return None
        env = dict(os.environ, PGPASSWORD=str(su.get("password", "")), PGCONNECT_TIMEOUT="5", PGAPPNAME="pgha-progress")
        for key, var in (("sslmode", "PGSSLMODE"), ("sslrootcert", "PGSSLROOTCERT")):
            if su.get(key):
                env[var] = str(su[key])
        psql = os.path.join(pg.get("bin_dir") or "", "psql")
        argv = [psql, "-X", "-At", "-h", where[0], "-p", str(where[1]), "-U", su["username"], "-d", "postgres", "-c", TOTAL_SQL]
        out = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, timeout=20, cwd="/").stdout.strip()
        return int(out) if out.isdigit() and int(out) > 0 else None
    except Exception:
        return None


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


def systemctl(*args):
    r = subprocess.run(["systemctl"] + list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        print("pgha: systemctl %s failed (exit %d): %s" % (" ".join(args), r.returncode, r.stdout.strip()), file=sys.stderr, flush=True)
        sys.exit(1)


def start(args):
    """--start: restarts Patroni unless it is busy creating this member; returns whether it was kept."""
    if os.path.exists(STALLED_MARK):
        try:
            os.unlink(STALLED_MARK)
        except OSError:
            pass
        print("pgha: %s: the last wait saw no progress: restarting Patroni" % args.member, flush=True)
    else:
        active = subprocess.run(["systemctl", "is-active", "--quiet", "patroni"]).returncode == 0
        answer = member(args.url, args.cacert) if active else None
        if busy(active, answer, active and cloning(children(service()))):
            print("pgha: %s: Patroni is already creating this member (%s; an earlier run started it): following it, not restarting" % (args.member, state_text(answer)), flush=True)
            return True
    systemctl("restart", "patroni")
    return False


def where(answer):
    """The state word(s) a progress line starts with."""
    if not isinstance(answer, dict):
        return "waiting for its REST API"
    return str(answer.get("state", "?"))


def stalled(args, seen):
    print("pgha: %s is not %s: no progress for %d s (last seen: %s)" % (args.member, WANT[args.role], args.stall, seen), file=sys.stderr, flush=True)
    try:
        os.makedirs(os.path.dirname(STALLED_MARK), exist_ok=True)
        with open(STALLED_MARK, "w") as f:
            f.write("%s\n" % seen)
    except OSError:
        pass
    show_log()
    sys.exit(1)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="patroni-wait.py")
    ap.add_argument("--member", required=True)
    ap.add_argument("--role", required=True, choices=sorted(WANT))
    ap.add_argument("--timeout", type=int, required=True)
    ap.add_argument("--cacert", required=True)
    ap.add_argument("--progress-dir")
    ap.add_argument("--stall", type=int, default=0)
    ap.add_argument("--start", action="store_true")
    ap.add_argument("--config", default="/etc/patroni/config.yml")
    ap.add_argument("--report-sec", type=float, default=None, help=argparse.SUPPRESS)
    ap.add_argument("url")
    args = ap.parse_args(argv)
    kept = start(args) if args.start else False
    start_at = time.monotonic()
    deadline = start_at + args.timeout
    watch = Watch(args.stall, start_at, **({"report_sec": args.report_sec} if args.report_sec is not None else {}))
    first_restarts = restarts()
    total = None
    while True:
        answer = member(args.url, args.cacert)
        last = state_text(answer)
        if ready(args.role, last):
            break
        now = time.monotonic()
        svc = service()
        crashed = svc["restarts"]
        if first_restarts is not None and crashed is not None and crashed - first_restarts >= CRASH_RESTARTS:
            print("pgha: %s: Patroni exited and was restarted %d times while pgha waited for it to be %s; last state: %s" % (args.member, crashed - first_restarts, WANT[args.role], last), file=sys.stderr, flush=True)
            show_log()
            sys.exit(1)
        size = None
        if args.progress_dir:
            size = dir_size(args.progress_dir)
            io = io_bytes(children(svc))
            watch.see(now, {"data": size, "io": io}, "state %s; %s holds %s (%d bytes)%s" % (last, args.progress_dir, amount(size, total, None), size, "" if io is None else "; Patroni's children read and wrote %d bytes" % io))
            if watch.stalled(now):
                stalled(args, watch.last_seen)
        due, rate = watch.due(now, size)
        if due:
            if args.progress_dir and total is None:
                total = clone_total(args.config, args.url.rsplit("/patroni", 1)[0] + "/cluster", args.cacert)
            text = amount(size, total, rate) if size is not None else "waiting %d s (%s)" % (now - start_at, last)
            print("pgha: %s %s: %s" % (args.member, where(answer), text), flush=True)
        if now >= deadline:
            print("pgha: %s is not %s after %d s: role/state/replication: %s" % (args.member, WANT[args.role], args.timeout, last), file=sys.stderr, flush=True)
            show_log()
            sys.exit(1)
        time.sleep(RETRY_SEC)
    print("pgha: %s is %s (%s)" % (args.member, WANT[args.role], last), flush=True)
    if kept:
        # config.yml may have changed since the earlier run started Patroni: read it again.
        systemctl("reload", "patroni")


if __name__ == "__main__":
    main()
