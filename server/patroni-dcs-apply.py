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
#
# Restarts: the pending replicas first, one at a time (no write pauses), then the leader: at
# most one switchover (to a replica that already runs the new settings; a synchronous standby
# when there is one, the only one Patroni accepts), or a restart in place when no replica can
# take over. So one run pauses writes at most once.
# Before a PATCH, a leader that the stack no longer lists hands over to a member it does list:
# Pulumi deletes removed members only at the end of a run, after HAProxy has already stopped
# routing to them.
# stdin (apply): {"config": <desired config>, "members": [<member names the stack lists>]}
# argv: [--no-restart | --restart-pending [--settle]] <this member's REST API URL>
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pgha_rest import call  # noqa: E402  (HTTPS with the cluster CA, basic auth)

# Set by main(): the desired config, the member names the stack lists, this member's REST API.
desired = {}
wanted = set()
api = ""
# A member that can take over: Patroni up to 3.0.3 reports a replica as "running";
# from 3.0.4 (and so Patroni 4, Debian 13) one that streams as "streaming".
REPLICA_STATES = ("running", "streaming")


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


def wait(what, seconds, probe):
    deadline = time.time() + seconds
    last = None
    while time.time() < deadline:
        try:
            last = probe()
            if last is True:
                return
        except Exception as e:  # the member may be restarting
            last = e
        time.sleep(1)
    raise SystemExit("pgha: %s: not reached after %d s (last: %s)" % (what, seconds, last))


def members():
    # api_url in /cluster points at .../patroni; the endpoints hang off its base.
    ms = get_json(api + "/cluster")["members"]
    for m in ms:
        m["api_url"] = m["api_url"].rsplit("/patroni", 1)[0]
    return ms


def ok(url):
    return call("GET", url, timeout=3)[0] == 200


def switchover(leader, cand):
    status, text = call("POST", api + "/switchover", {"leader": leader["name"], "candidate": cand["name"]}, timeout=120)
    if status != 200:
        raise SystemExit("pgha: switchover %s -> %s answered %s: %s" % (leader["name"], cand["name"], status, text))
    wait("%s leading" % cand["name"], 120, lambda: ok(cand["api_url"] + "/primary"))
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
    status, text = call("POST", m["api_url"] + "/restart", {}, timeout=600)
    if status != 200:
        raise SystemExit("pgha: restart of %s answered %s: %s" % (m["name"], status, text))
    wait("%s running after its restart" % m["name"], 300, lambda: ok(m["api_url"] + probe))


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
            wait("%s back as a replica" % leader["name"], 120, lambda: ok(leader["api_url"] + "/replica"))
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
    global api
    flags = [a for a in argv if a.startswith("--")]
    api = [a for a in argv if not a.startswith("--")][0].rstrip("/")
    if "--restart-pending" in flags:
        restart_step("--settle" in flags)
        return
    apply_config(json.loads(sys.stdin.read()), "--no-restart" not in flags)


if __name__ == "__main__":
    main(sys.argv[1:])
