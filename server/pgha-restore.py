# pgha's in-place restore (pgha:restore), one step per host, run as root by
# components/in-place-restore.ts in this order:
#
#   flush     (every member)     on the primary: one commit, so the archive holds a commit after
#                                any past target (a time target is reached only at such a commit)
#   precheck  (repository host)  the repository holds a backup the target can be reached from;
#                                pgBackRest's check flushes the primary's WAL into the archive
#   stop      (every member)     Patroni stopped, PostgreSQL down
#   leader    (the restored one) the cluster's DCS state removed; the data directory moved
#                                aside; pgBackRest restore to the target; PostgreSQL replays
#                                and promotes (a new timeline); the role passwords set; Patroni
#                                started on it (it takes the data over and leads); the dynamic
#                                configuration applied again
#   backup    (repository host)  a full backup of the new timeline, from the primary
#   replica   (the others)       the old copy removed; Patroni re-creates the replica from
#                                that backup and it streams
#
# Every step of a restore `--id` runs once per host: when it ends it leaves a marker
# (MARKER_DIR/<id>.done), and a step that finds its marker does nothing. So the same id
# again is a no-op, and after a failure the next `pulumi up` goes on where it stopped.
# Waits on work that grows with the data (restore, replay, backup, re-creating a replica) are
# bounded by progress: they fail when nothing moved for --stall seconds (pgha:progress.stallTimeout),
# saying what they last saw, and print how far they are every 15 s (pgha_progress.py).
#
# stdin (leader): {"superuser": ..., "replication": ..., "dynamic": <patroni-dcs-apply.py's stdin>}
import argparse
import datetime
import importlib.util
import json
import os
import shlex
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pgha_progress import Watch, amount, dir_size  # noqa: E402

MARKER_DIR = "/var/lib/pgha/restore"
TOOLS_DIR = os.path.dirname(os.path.abspath(__file__))
PGBACKREST = os.environ.get("PGHA_PGBACKREST", "/usr/bin/pgbackrest")
POLL_SEC = 2
# The outer bound of a wait bounded by progress (--stall is the real one).
OUTER_SEC = 24 * 3600


def say(msg):
    print("pgha: %s" % msg, flush=True)


def fail(msg):
    raise SystemExit("pgha: %s" % msg)


def marker(restore_id):
    return os.path.join(MARKER_DIR, "%s.done" % restore_id)


def done_already(restore_id, step):
    if os.path.exists(marker(restore_id)):
        say("restore %s: %s already done on this host (marker %s): nothing to do" % (restore_id, step, marker(restore_id)))
        return True
    return False


def mark_done(restore_id):
    os.makedirs(MARKER_DIR, mode=0o755, exist_ok=True)
    with open(marker(restore_id), "w") as f:
        f.write("%s\n" % datetime.datetime.now(datetime.timezone.utc).isoformat())


def run(argv, what, stdin=None, as_postgres=False, check=True):
    """Runs argv (as postgres when asked, from /); returns stdout; on failure says what and shows its output."""
    full = (["runuser", "-u", "postgres", "--"] if as_postgres else []) + list(argv)
    r = subprocess.run(full, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd="/")
    if check and r.returncode != 0:
        fail("%s failed (exit %d): %s" % (what, r.returncode, (r.stderr.strip() or r.stdout.strip())[-2000:]))
    return r.stdout


def pgbackrest(stanza, *args):
    return [PGBACKREST, "--stanza=%s" % stanza] + list(args)


# ---------------------------------------------------------------------------- precheck


def backups_of(info_json, stanza):
    """The stanza's backups from `pgbackrest info --output=json`, oldest first."""
    for s in json.loads(info_json):
        if s.get("name") == stanza:
            return sorted(s.get("backup", []), key=lambda b: b["timestamp"]["stop"])
    return []


def precheck_problem(backups, target_type, target_epoch, now):
    """Why the target cannot be reached from these backups (None when it can)."""
    if not backups:
        return "the repository holds no backup of this stanza"
    if target_type != "time":
        return None
    oldest = backups[0]["timestamp"]["stop"]
    if target_epoch < oldest:
        return "the target %s lies before the end of the oldest backup (%s, %s): no backup can be rolled forward to it" % (
            utc(target_epoch),
            backups[0]["label"],
            utc(oldest),
        )
    if target_epoch > now:
        return "the target %s lies in the future (now %s)" % (utc(target_epoch), utc(now))
    return None


def utc(epoch):
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S+00")


def precheck(a):
    if done_already(a.id, "precheck"):
        return
    # check forces a WAL switch on the primary and waits for it in the archive, so that every
    # commit up to now can be replayed; in a disaster (no primary) it fails, and the restore goes on.
    r = subprocess.run(["runuser", "-u", "postgres", "--"] + pgbackrest(a.stanza, "check"), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd="/")
    if r.returncode == 0:
        say("pgBackRest check passed: the primary's WAL up to now is in the archive")
    else:
        say("pgBackRest check failed (is the primary down?): the archive ends at the last WAL segment it received: %s" % r.stdout.strip()[-300:])
    info = run(pgbackrest(a.stanza, "--output=json", "info"), "pgbackrest info", as_postgres=True)
    backups = backups_of(info, a.stanza)
    problem = precheck_problem(backups, a.target_type, a.target_epoch, time.time())
    if problem is not None:
        fail("restore %s refused before anything was stopped: %s" % (a.id, problem))
    say("restore %s: %d backup(s) of %s, the oldest ending %s: the target %s can be reached" % (a.id, len(backups), a.stanza, utc(backups[0]["timestamp"]["stop"]), a.target))


# ---------------------------------------------------------------------------- flush


def flush(a):
    if done_already(a.id, "flush"):
        return
    if not postgres_running(a.data_dir):
        say("PostgreSQL does not run on this member: nothing to flush")
        return
    if psql(a, "select pg_is_in_recovery()") != "f":
        say("this member is not the primary: nothing to flush")
        return
    # PostgreSQL stops a recovery to a time at the first commit after it: an idle cluster has
    # none, and the replay would end with "recovery ended before configured recovery target was reached".
    xid = psql(a, "select txid_current()")
    say("the primary committed transaction %s, so a commit after the target is in the WAL" % xid)


# ---------------------------------------------------------------------------- stop


def postgres_running(data_dir):
    pid = os.path.join(data_dir, "postmaster.pid")
    if not os.path.exists(pid):
        return False
    with open(pid) as f:
        first = f.readline().strip()
    try:
        os.kill(int(first), 0)
        return True
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True


def stop(a):
    if done_already(a.id, "stop"):
        return
    run(["systemctl", "stop", "patroni"], "systemctl stop patroni")
    deadline = time.monotonic() + 120
    while postgres_running(a.data_dir):
        if time.monotonic() > deadline:
            fail("PostgreSQL in %s still runs 120 s after Patroni stopped" % a.data_dir)
        time.sleep(1)
    say("Patroni and PostgreSQL are stopped on this member")


# ---------------------------------------------------------------------------- waits bounded by progress


def wait_progress(what, poll, stall_sec, total=None):
    """Calls poll() every POLL_SEC until it returns (True, result); it returns (False, progress)
    while working: a byte count (it moves by 1 MiB or more; printed with `total`, when known, and
    the rate) or a position (it moves when it changes). Says how far it is every REPORT_SEC;
    fails when progress did not move for stall_sec seconds."""
    start = time.monotonic()
    watch = Watch(stall_sec, start)
    while True:
        finished, progress = poll()
        if finished:
            return progress
        now = time.monotonic()
        done = progress if isinstance(progress, int) else None
        watch.see(now, {"progress": progress}, amount(done, total, None) if done is not None else str(progress))
        if watch.stalled(now):
            fail("%s: no progress for %d s (last seen: %s)" % (what, stall_sec, watch.last_seen))
        due, rate = watch.due(now, done)
        if due:
            say("%s: %s" % (what, amount(done, total, rate) if done is not None else "%s (%d s)" % (progress, now - start)))
        time.sleep(POLL_SEC)


def run_with_progress(argv, what, progress, stall_sec, as_postgres=False, total=None):
    """Runs argv; fails when it fails or when progress() did not change for stall_sec seconds."""
    full = (["runuser", "-u", "postgres", "--"] if as_postgres else []) + list(argv)
    proc = subprocess.Popen(full, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd="/")

    def poll():
        rc = proc.poll()
        return (rc is not None, progress())

    try:
        wait_progress(what, poll, stall_sec, total)
    except SystemExit:
        proc.kill()
        raise
    out = proc.stdout.read()
    if proc.returncode != 0:
        fail("%s failed (exit %d): %s" % (what, proc.returncode, out.strip()[-2000:]))
    return out


# ---------------------------------------------------------------------------- leader


def psql(a, sql):
    return run([os.path.join(a.bin_dir, "psql"), "-X", "-At", "-h", a.socket_dir, "-p", str(a.port), "-d", "postgres", "-c", sql], "psql", as_postgres=True, check=False).strip()


def patronictl(a, *args, stdin=None, check=True):
    return run(["patronictl", "-c", a.config] + list(args), "patronictl %s" % " ".join(args), stdin=stdin, check=check)


def running_members(list_json):
    """Members `patronictl list -f json` shows with a running PostgreSQL."""
    return [m["Member"] for m in json.loads(list_json or "[]") if m.get("State") in ("running", "streaming", "starting")]


def leader(a):
    if done_already(a.id, "leader"):
        return
    secrets = json.load(sys.stdin)
    aside = "%s.pre-restore-%s" % (a.data_dir, a.id)
    # Nothing may run: a member still running would go on as a second cluster.
    still = running_members(patronictl(a, "list", "-f", "json", check=False) or "[]")
    if still:
        fail("restore %s: %s still running in the DCS; every member must be stopped first" % (a.id, ", ".join(still)))
    patronictl(a, "remove", a.scope, stdin="%s\nYes I am aware\n" % a.scope)
    say("the DCS state of %s is removed (initialize key, leader, configuration, history)" % a.scope)
    if os.path.exists(aside):
        # A failed earlier attempt of this id: the original is aside already, this is a partial restore.
        if os.path.exists(a.data_dir):
            shutil.rmtree(a.data_dir)
        say("the pre-restore data directory is already kept at %s" % aside)
    elif os.path.exists(a.data_dir):
        os.rename(a.data_dir, aside)
        say("the pre-restore data directory is kept at %s (remove it when you no longer need it)" % aside)
    run(["install", "-d", "-o", "postgres", "-g", "postgres", "-m", "0700", a.data_dir], "mkdir data directory")
    say("pgBackRest restore of %s to %s" % (a.stanza, a.target))
    total = backup_size(run(pgbackrest(a.stanza, "--output=json", "info"), "pgbackrest info", as_postgres=True, check=False), a.stanza)
    run_with_progress(pgbackrest(a.stanza, *shlex.split(a.restore_options), "restore"), "pgbackrest restore", lambda: dir_size(a.data_dir), a.stall, as_postgres=True, total=total)
    say("restored %.1f MB; PostgreSQL replays the archive to the target" % (dir_size(a.data_dir) / 1e6))
    log = "/var/log/postgresql/pgha-restore-%s.log" % a.id
    pg_ctl = os.path.join(a.bin_dir, "pg_ctl")
    # Not `pg_ctl -w -t N`: reaching a consistent state replays WAL that grows with the data, so the
    # start is bounded by progress (the data directory and the log move while it replays).
    r = subprocess.run(["runuser", "-u", "postgres", "--", pg_ctl, "-D", a.data_dir, "-l", log, "-W", "start"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd="/")
    if r.returncode != 0:
        fail("PostgreSQL did not start on the restored data (exit %d); the end of %s:\n%s" % (r.returncode, log, tail(log)))
    started_at = time.monotonic()

    def accepting():
        if not postgres_running(a.data_dir) and time.monotonic() - started_at > 10:
            fail("PostgreSQL stopped before it accepted connections; the end of %s:\n%s" % (log, tail(log)))
        ok = psql(a, "select 1") == "1"
        size = os.path.getsize(log) if os.path.exists(log) else 0
        return (ok, "the data directory holds %s, the log %d bytes" % (amount(dir_size(a.data_dir), None, None), size))

    wait_progress("PostgreSQL's start on the restored data (replaying to a consistent state)", accepting, a.stall)

    def replayed():
        if not postgres_running(a.data_dir):
            fail("PostgreSQL stopped during the replay; the end of %s:\n%s" % (log, tail(log)))
        state = psql(a, "select pg_is_in_recovery(), coalesce(pg_last_wal_replay_lsn()::text, '')")
        return (state.startswith("f|"), state)

    wait_progress("the replay to %s" % a.target, replayed, a.stall)
    timeline = int(psql(a, "select substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)") or "0", 16)
    say("PostgreSQL reached the target and was promoted (timeline %s)" % timeline)
    run(["python3", os.path.join(TOOLS_DIR, "pg-set-passwords.py"), a.socket_dir, str(a.port)], "role passwords", stdin=json.dumps({"superuser": secrets["superuser"], "replication": secrets["replication"]}), as_postgres=True)
    run(["runuser", "-u", "postgres", "--", pg_ctl, "-D", a.data_dir, "-m", "fast", "-w", "-t", "600", "stop"], "pg_ctl stop")
    run(["systemctl", "start", "patroni"], "systemctl start patroni")
    # Patroni finds a data directory and no cluster in the DCS: it takes the data over and leads.
    run(["python3", os.path.join(TOOLS_DIR, "patroni-wait.py"), "--member", a.member, "--role", "leader", "--timeout", "300", "--cacert", a.cacert, "%s/patroni" % a.api], "wait for the leader")
    # patroni-dcs-apply.py waits while the emptied DCS holds no configuration (Patroni writes it a loop after it leads).
    print(run(["python3", os.path.join(TOOLS_DIR, "patroni-dcs-apply.py"), a.api], "the dynamic configuration", stdin=secrets["dynamic"]).strip(), flush=True)
    mark_done(a.id)
    say("restore %s: %s leads the restored cluster" % (a.id, a.member))


def backup_size(info_json, stanza):
    """The size of the stanza's newest backup (`pgbackrest info --output=json`): what a restore
    writes, about; None when unknown."""
    try:
        backups = backups_of(info_json, stanza)
        return int(backups[-1]["info"]["size"]) if backups else None
    except (ValueError, KeyError, TypeError):
        return None


def tail(path, n=20):
    try:
        with open(path) as f:
            return "".join(f.readlines()[-n:])
    except OSError as e:
        return "(cannot read: %s)" % e


# ---------------------------------------------------------------------------- backup


def backup(a):
    if done_already(a.id, "backup"):
        return
    # The archive of the new timeline works (the primary switches a WAL segment and it arrives).
    run(pgbackrest(a.stanza, "check"), "pgbackrest check", as_postgres=True)
    for repo in a.repo:
        say("a full backup of the restored cluster into repo %s (from the primary: no replica exists yet)" % repo)
        path = a.repo_path[a.repo.index(repo)]
        run_with_progress(pgbackrest(a.stanza, "--repo=%s" % repo, "--type=full", "--no-backup-standby", "backup"), "the full backup", lambda: dir_size(path), a.stall, as_postgres=True)
    mark_done(a.id)
    say("restore %s: the restored timeline has a full backup" % a.id)


# ---------------------------------------------------------------------------- replica


def patroni_wait():
    """patroni-wait.py, installed beside this program on PostgreSQL nodes, as a module."""
    spec = importlib.util.spec_from_file_location("patroni_wait", os.path.join(TOOLS_DIR, "patroni-wait.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def replica(a):
    if done_already(a.id, "replica"):
        return
    url = "%s/patroni" % a.api
    # An earlier run of this step started Patroni, which is still creating the replica: that
    # is the copy of the restored cluster this step makes, so it is followed, not thrown away.
    w = patroni_wait()
    active = subprocess.run(["systemctl", "is-active", "--quiet", "patroni"]).returncode == 0
    answer = w.member(url, a.cacert) if active else None
    if w.busy(active, answer, active and w.cloning(w.children(w.service()))):
        say("Patroni is already re-creating this replica (%s; an earlier run started it): following it" % w.state_text(answer))
    else:
        run(["systemctl", "stop", "patroni"], "systemctl stop patroni")
        # A copy of the old timeline: the restored leader's pre-restore directory keeps the same data.
        if os.path.exists(a.data_dir):
            shutil.rmtree(a.data_dir)
            say("the old replica copy in %s is removed (the restored member keeps the pre-restore data aside)" % a.data_dir)
        run(["systemctl", "start", "patroni"], "systemctl start patroni")
    # patroni-wait.py bounds the clone by progress and prints it (its output goes straight to ours).
    wait = [sys.executable, os.path.join(TOOLS_DIR, "patroni-wait.py"), "--member", a.member, "--role", "replica", "--timeout", str(OUTER_SEC), "--cacert", a.cacert]
    r = subprocess.run(wait + ["--progress-dir", a.data_dir, "--stall", str(a.stall), url], cwd="/")
    if r.returncode != 0:
        fail("restore %s: re-creating the replica %s failed (above)" % (a.id, a.member))
    mark_done(a.id)
    say("restore %s: %s is a streaming replica again" % (a.id, a.member))


def main(argv=None):
    ap = argparse.ArgumentParser(prog="pgha-restore.py")
    ap.add_argument("step", choices=["flush", "precheck", "stop", "leader", "backup", "replica"])
    ap.add_argument("--id", required=True)
    ap.add_argument("--stanza")
    ap.add_argument("--target", default="latest")
    ap.add_argument("--target-type", default="latest")
    ap.add_argument("--target-epoch", type=float, default=0)
    ap.add_argument("--restore-options", default="")
    ap.add_argument("--data-dir")
    ap.add_argument("--bin-dir")
    ap.add_argument("--socket-dir", default="/var/run/postgresql")
    ap.add_argument("--port", type=int, default=5432)
    ap.add_argument("--scope")
    ap.add_argument("--config", default="/etc/patroni/config.yml")
    ap.add_argument("--member")
    ap.add_argument("--api")
    ap.add_argument("--cacert")
    ap.add_argument("--repo", action="append", default=[])
    ap.add_argument("--repo-path", action="append", default=[])
    ap.add_argument("--stall", type=int, default=600)
    a = ap.parse_args(argv)
    {"flush": flush, "precheck": precheck, "stop": stop, "leader": leader, "backup": backup, "replica": replica}[a.step](a)


if __name__ == "__main__":
    main()
