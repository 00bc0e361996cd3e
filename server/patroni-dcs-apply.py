# Patroni's dynamic configuration and the restarts PostgreSQL asks for, through the REST API
# of the member it runs on. Three uses, each printing what it did:
#
#   patroni-dcs-apply.py <api>
#       The cluster's first apply (<cluster>:dynamic-config created, the leader alone):
#       PATCH /config, then restart the members pending_restart.
#   patroni-dcs-apply.py --no-restart <api>
#       Every later apply: PATCH /config only. Other members' config.yml may be rewritten later
#       in the same run (a new listen address, a port), so restarting now could restart a
#       member twice; <cluster>:restart-pending restarts once every member's config is placed.
#   patroni-dcs-apply.py --restart-pending [--settle] <api>
#       <cluster>:restart-pending: restart the members PostgreSQL marks pending_restart.
#       stdin holds the restart-relevant settings; they only make the step re-run, and are not read.
#       --settle first waits loop_wait + 5 s: Patroni applies a reloaded config.yml on its next cycle.
#   Any of them with --stall SEC (pgha:progress.stallTimeout; 300 without it): see "Waits" below.
#
# Restarts: the pending replicas first, one at a time (no write pauses), then the leader: at
# most one switchover (to a replica that already runs the new settings; a synchronous standby
# when there is one, the only one Patroni accepts), or a restart in place when no replica can
# take over. So one run pauses writes at most once.
# Before a PATCH, a leader that the stack no longer lists hands over to a member it does list:
# Pulumi deletes removed members only at the end of a run, after HAProxy has already stopped
# routing to them.
#
# Waits: a restart, a switchover and a demoted leader's return as a replica take as long as the
# data makes them (the shutdown checkpoint, crash or archive recovery, a rewind, catching up), so
# they have no time limit of their own: pgha follows each member through its REST API (GET
# <api_url>/patroni: this host reaches the others over HTTPS only) and fails only when nothing
# moved for the stall bound (--stall), saying what it last saw; every REPORT_SEC it prints where
# the member is. What moves (Member.marks): the member reaching a later step of its stop and start
# (restarting or stopping, stopped, starting, running again), a role or a postmaster start time it
# did not have before, its timeline, the WAL positions a replica received and replayed. Patroni
# shows no position while PostgreSQL stops or starts (it cannot query it then): such a step moves
# when it begins, and one step may last the stall bound, no longer. Nothing else counts: a state
# that comes back (a start that fails and is retried in a loop) is no progress, and neither is
# Patroni's own heartbeat (dcs_last_seen), which moves while PostgreSQL is stuck.
# The remote command's own limit is only an outer bound (24 hours for <cluster>:restart-pending;
# the dynamic config's, whose waits are rarer and shorter, is 1500 s).
#
# stdin (apply): {"config": <desired config>, "members": [<member names the stack lists>]}
# argv: [--no-restart | --restart-pending [--settle]] [--stall SEC] <this member's REST API URL>
import argparse
import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pgha_progress import REPORT_SEC, Watch  # noqa: E402
from pgha_rest import call  # noqa: E402  (HTTPS with the cluster CA, basic auth)

# Set by main(): the desired config, the member names the stack lists, this member's REST API.
desired = {}
wanted = set()
api = ""
# A member that can take over: Patroni up to 3.0.3 reports a replica as "running";
# from 3.0.4 (and so Patroni 4, Debian 13) one that streams as "streaming".
REPLICA_STATES = ("running", "streaming")
# pgha:progress.stallTimeout (its default here; --stall sets it): how long a wait may see nothing move.
STALL_SEC = 300
POLL_SEC = 2
# How long POST /restart and /switchover wait for Patroni's answer. Patroni answers a restart once
# PostgreSQL is up again (or after its own start timeout), a switchover once the new leader holds
# the leader key (or after 2 x max(10, loop_wait) s: "status unknown"): no answer by then is no
# failure; pgha follows the member through GET /patroni. No longer than a report's interval, so
# that `pulumi up` shows the work moving from the start.
ANSWER_SEC = REPORT_SEC
# The steps of a member's stop and start, in the order Patroni reports them (its states); running
# is the last one only once the member went through one of the others (or a new postmaster runs).
STEPS = {"restarting": 1, "stopping": 1, "stopped": 2, "starting": 3}
STEP_NAMES = ("running", "stopping", "stopped", "starting", "running again")
# A restart that Patroni gave up: it may retry the start, but pgha says so at once.
FAILED_STATES = ("restart failed", "start failed", "stop failed")


def get_json(url):
    status, text = call("GET", url)
    if status != 200:
        raise SystemExit("pgha: GET %s answered %s: %s" % (url, status, text))
    return json.loads(text)


def current_config(seconds=120):
    """GET /config. Patroni answers 502 while the DCS holds no configuration yet: right after a
    cluster bootstraps from a backup or an in-place restore empties the DCS, its leader writes it
    within a loop or two; so 502 is retried, for `seconds` at most."""
    deadline = time.time() + seconds
    while True:
        status, text = call("GET", api + "/config")
        if status == 200:
            return json.loads(text)
        if status != 502 or time.time() >= deadline:
            raise SystemExit("pgha: GET %s/config answered %s: %s" % (api, status, text[:300]))
        time.sleep(2)


def patch_for(current, want):
    """The smallest PATCH turning `current` into `want`; parameters no longer wanted are reset (None)."""
    out = {}
    for k, v in want.items():
        cur = current.get(k)
        if isinstance(v, dict):
            sub = patch_for(cur if isinstance(cur, dict) else {}, v)
            if k == "parameters" and isinstance(cur, dict):
                sub.update({p: None for p in cur if p not in v})
            if sub:
                out[k] = sub
        elif cur != v:
            out[k] = v
    return out


def patroni_status(m):
    """The member's GET /patroni answer (a dict: Patroni gives the same JSON with 503 while
    PostgreSQL is not running), or what went wrong, as text."""
    try:
        status, text = call("GET", m["api_url"] + "/patroni", timeout=5)
        answer = json.loads(text)
    except Exception as e:  # its Patroni may be busy, or restarting too
        return "no answer from its REST API (%s: %s)" % (type(e).__name__, e)
    return answer if isinstance(answer, dict) else "GET /patroni answered %s" % status


class Member:
    """What pgha sees of one member while it waits on it: GET /patroni, sampled by see()."""

    def __init__(self, m):
        self.m = m
        self.name = m["name"]
        self.answer = "nothing yet"
        self.state = None
        self.since = None
        self.first_start = None
        self.cycled = False  # went through a step of a stop and start since first seen
        self.furthest = None
        self.roles = set()

    def see(self, now):
        a = patroni_status(self.m)
        self.answer = a
        if not isinstance(a, dict):
            return
        state = a.get("state")
        if state != self.state:
            self.state, self.since = state, now
        started = a.get("postmaster_start_time")
        if started and self.first_start is None:
            self.first_start = started
        if state in STEPS or (started and started != self.first_start):
            self.cycled = True
        step = STEPS.get(state, (4 if self.cycled else 0) if state == "running" else None)
        if step is not None and (self.furthest is None or step > self.furthest):
            self.furthest = step
        if a.get("role"):
            self.roles.add(str(a["role"]))

    def marks(self):
        """Watch's marks: each moves only forward (see the head of this file)."""
        a = self.answer if isinstance(self.answer, dict) else {}
        xlog = a.get("xlog") or {}
        text = lambda v: None if v is None else str(v)  # noqa: E731  (positions: any change moves)
        return {
            self.name + " step": None if self.furthest is None else STEP_NAMES[self.furthest],
            self.name + " roles": ",".join(sorted(self.roles)) or None,
            self.name + " timeline": text(a.get("timeline")),
            self.name + " postmaster": text(a.get("postmaster_start_time")),
            self.name + " received": text(xlog.get("received_location")),
            self.name + " replayed": text(xlog.get("replayed_location")),
        }

    def replica(self):
        """Whether it last answered as a running replica: what GET /replica checks, but its
        noloadbalance tag (which makes /replica answer 503 on a healthy replica)."""
        a = self.answer
        return isinstance(a, dict) and a.get("state") == "running" and a.get("role") == "replica"

    def short(self):
        a = self.answer
        if not isinstance(a, dict):
            return a
        return "state %s, role %s" % (a.get("state", "?"), a.get("role", "?"))

    def seen(self, now):
        """What pgha last saw of the member, as a failure says it."""
        a = self.answer
        if not isinstance(a, dict):
            return "%s: %s" % (self.name, a)
        text = "%s: state %s for %d s, role %s" % (self.name, a.get("state", "?"), now - (self.since or now), a.get("role", "?"))
        if a.get("timeline") is not None:
            text += ", timeline %s" % a["timeline"]
        xlog = a.get("xlog") or {}
        for key, word in (("received_location", "received"), ("replayed_location", "replayed"), ("location", "WAL at")):
            if xlog.get(key) is not None:
                text += ", %s %s" % (word, xlog[key])
        if a.get("postmaster_start_time"):
            text += ", PostgreSQL started %s" % a["postmaster_start_time"]
        if a.get("state") in STEPS:
            text += " (Patroni shows no position while PostgreSQL stops or starts)"
        return text


def follow(what, label, watched, done, start=None):
    """Waits until done() is true, sampling `watched` (Members) every POLL_SEC; fails when none of
    them moved for STALL_SEC since `start` (when the work began; default now). Prints
    "pgha: <label>: <where they are>, <seconds since start>" every REPORT_SEC."""
    start = time.monotonic() if start is None else start
    watch = Watch(STALL_SEC, start)
    while True:
        now = time.monotonic()
        for w in watched:
            w.see(now)
        if done():
            return
        marks = {}
        for w in watched:
            marks.update(w.marks())
        watch.see(now, marks, "; ".join(w.seen(now) for w in watched))
        if watch.stalled(now):
            raise SystemExit("pgha: %s: no progress for %d s (last seen: %s)" % (what, STALL_SEC, watch.last_seen))
        if watch.due(now)[0]:
            where = watched[0].short() if len(watched) == 1 else "; ".join("%s %s" % (w.name, w.short()) for w in watched)
            print("pgha: %s: %s, %d s" % (label, where, now - start), flush=True)
        time.sleep(POLL_SEC)


def post(url, body):
    """(status, text) of a POST Patroni may answer only once the work is done, or (None, why) when
    no answer came within ANSWER_SEC: the request was sent, and the work goes on."""
    try:
        return call("POST", url, body, timeout=ANSWER_SEC)
    except (socket.timeout, TimeoutError):
        return None, "no answer within %d s" % ANSWER_SEC
    except Exception as e:
        raise SystemExit("pgha: POST %s failed: %s: %s" % (url, type(e).__name__, e))


def members():
    # api_url in /cluster points at .../patroni; the endpoints hang off its base.
    ms = get_json(api + "/cluster")["members"]
    for m in ms:
        m["api_url"] = m["api_url"].rsplit("/patroni", 1)[0]
    return ms


def ok(url):
    try:
        return call("GET", url, timeout=3)[0] == 200
    except Exception:  # the member may be restarting
        return False


def switchover(leader, cand):
    """Switches over and waits, as long as the old leader's stop and the candidate's promotion move,
    until the candidate leads."""
    old, new = Member(leader), Member(cand)
    leads = lambda: ok(cand["api_url"] + "/primary")  # noqa: E731
    start = time.monotonic()
    status, text = post(api + "/switchover", {"leader": leader["name"], "candidate": cand["name"]})
    # 503 "Switchover status unknown": Patroni stopped waiting for it; the old leader still stops.
    if status not in (200, None) and not (status == 503 and "status unknown" in text) and not leads():
        raise SystemExit("pgha: switchover %s -> %s answered %s: %s" % (leader["name"], cand["name"], status, text))
    follow("%s leading" % cand["name"], "switchover %s -> %s" % (leader["name"], cand["name"]), [old, new], leads, start)
    print("pgha: switched over %s -> %s" % (leader["name"], cand["name"]))


def candidates(ms):
    return [m for m in ms if m["name"] in wanted and m["role"] != "leader" and m["state"] in REPLICA_STATES and not m.get("tags", {}).get("nofailover")]


def pick_candidate(ms):
    """The member a leader switches over to, or None. In synchronous mode Patroni accepts only a
    synchronous standby (412 otherwise), so one comes first whenever /cluster lists any; then one
    that already runs its new settings (not pending_restart); then by name."""
    ranked = sorted(candidates(ms), key=lambda m: (m["role"] != "sync_standby", bool(m.get("pending_restart")), m["name"]))
    return (ranked or [None])[0]


def pending_restarts(ms):
    """(replicas, leader): the members the stack lists that are pending_restart, the replicas in
    name order, then the leader (None when it is not pending)."""
    pending = [m for m in ms if m.get("pending_restart") and m["name"] in wanted]
    replicas = sorted((m for m in pending if m["role"] != "leader"), key=lambda m: m["name"])
    leader = next((m for m in pending if m["role"] == "leader"), None)
    return replicas, leader


def members_by_hba(config, ms):
    """The members the stack lists, read off the DCS's pg_hba (pgha writes one replication line per
    member, "hostssl replication <user> <address>/32 ..."), so that the restart step needs no member
    list of its own: its inputs then change only with what can need a restart. No such line: all."""
    hosts = set()
    for line in (config.get("postgresql") or {}).get("pg_hba") or []:
        f = line.split()
        if len(f) >= 4 and f[0] in ("host", "hostssl") and f[1] == "replication" and f[3].endswith("/32"):
            hosts.add(f[3][: -len("/32")])
    listed = {m["name"] for m in ms if m.get("host") in hosts}
    return listed or {m["name"] for m in ms}


def restart(m, probe):
    """POST /restart, then waits, as long as the member's stop and start move, until it runs as
    `probe` says: "/replica" (Member.replica) or "/primary" (GET /primary: 200). Patroni's `timeout` is left to its default, primary_start_timeout:
    Patroni still decides when a leader starting too slowly fails over (pgha restarts a leader in
    place only when no replica can take over, and Patroni then goes on waiting)."""
    me = Member(m)
    me.see(time.monotonic())  # its postmaster's start time before the restart
    before = me.state
    start = time.monotonic()
    status, text = post(m["api_url"] + "/restart", {})
    answered = status == 200
    if status not in (200, None):
        # Patroni answers "restart failed" or "postgres is still starting" when its start timeout
        # passed while PostgreSQL still starts: that start goes on. Anything else is a failure.
        me.see(time.monotonic())
        if me.state not in STEPS and not (me.state == "running" and me.cycled):
            raise SystemExit("pgha: restart of %s answered %s: %s (%s)" % (m["name"], status, text, me.seen(time.monotonic())))

    def done():
        if me.state in FAILED_STATES and (me.cycled or me.state != before):
            raise SystemExit("pgha: restart of %s failed: Patroni reports %s (last seen: %s)" % (m["name"], me.state, me.seen(time.monotonic())))
        return (answered or me.cycled) and (me.replica() if probe == "/replica" else ok(m["api_url"] + probe))

    follow("%s running after its restart" % m["name"], "%s restarting" % m["name"], [me], done, start)


def restart_pending():
    """Restarts the pending members: replicas first, then at most one switchover (or the leader in
    place when no replica can take over). Returns what it did, in order, e.g.
    ["restart pg2", "switchover pg1 -> pg2", "restart pg1"]."""
    done = []
    replicas, leader = pending_restarts(members())
    if not replicas and not leader:
        print("pgha: no PostgreSQL restart needed")
        return done
    for m in replicas:
        restart(m, "/replica")
        print("pgha: restarted replica %s" % m["name"])
        done.append("restart %s" % m["name"])
    if leader:
        cand = pick_candidate(members())
        if cand:
            switchover(leader, cand)
            done.append("switchover %s -> %s" % (leader["name"], cand["name"]))
            # Its shutdown, a rewind if it needs one, its start as a replica: as long as they move.
            old = Member(leader)
            follow("%s back as a replica" % leader["name"], "%s rejoining as a replica" % leader["name"], [old], old.replica)
            # The demotion restarted PostgreSQL as a replica, which usually applied the settings already.
            again = next((m for m in members() if m["name"] == leader["name"]), {})
            if again.get("pending_restart"):
                restart(leader, "/replica")
                print("pgha: restarted %s" % leader["name"])
                done.append("restart %s" % leader["name"])
            else:
                print("pgha: %s runs the new settings since its switchover" % leader["name"])
        else:
            print("pgha: no replica can take over from %s: restarting it in place" % leader["name"])
            restart(leader, "/primary")
            print("pgha: restarted %s" % leader["name"])
            done.append("restart %s" % leader["name"])
    return done


def apply_config(request, restarts):
    global desired, wanted
    desired = request["config"]
    wanted = set(request["members"])
    ms = members()
    leaving = next((m for m in ms if m["role"] == "leader" and m["name"] not in wanted), None)
    if leaving:
        cand = pick_candidate(ms)
        if not cand:
            raise SystemExit("pgha: the leader %s is being removed, but no remaining member is running to take over" % leaving["name"])
        switchover(leaving, cand)

    current = current_config()
    patch = patch_for(current, desired)
    loop_wait = int(desired.get("loop_wait", 10))
    if patch:
        status, text = call("PATCH", api + "/config", patch)
        if status != 200:
            raise SystemExit("pgha: PATCH /config answered %s: %s" % (status, text))
        print("pgha: dynamic config changed: %s" % json.dumps(patch, sort_keys=True))
        if restarts:
            # Members pick the change up on their next HA loop; pending_restart follows the reload.
            time.sleep(loop_wait + 5)
    else:
        print("pgha: dynamic config already as desired")
    if restarts:
        restart_pending()
    elif patch:
        print("pgha: PostgreSQL restarts, if any, are the restart-pending step's (once every member's config is placed)")


def restart_step(settle):
    global wanted
    config = current_config()
    if settle:
        time.sleep(int(config.get("loop_wait", 10)) + 5)
    wanted = members_by_hba(config, members())
    restart_pending()


def main(argv):
    global api, STALL_SEC
    ap = argparse.ArgumentParser(prog="patroni-dcs-apply.py")
    ap.add_argument("--no-restart", action="store_true")
    ap.add_argument("--restart-pending", action="store_true")
    ap.add_argument("--settle", action="store_true")
    ap.add_argument("--stall", type=int, default=STALL_SEC)
    ap.add_argument("api")
    args = ap.parse_args(argv)
    api = args.api.rstrip("/")
    STALL_SEC = args.stall
    if args.restart_pending:
        restart_step(args.settle)
        return
    apply_config(json.loads(sys.stdin.read()), not args.no_restart)


if __name__ == "__main__":
    main(sys.argv[1:])
