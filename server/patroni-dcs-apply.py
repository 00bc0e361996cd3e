# Applies pgha's desired Patroni dynamic configuration once for the cluster,
# through the REST API of the member it runs on (PATCH /config), then restarts
# only the members Patroni reports as pending_restart: replicas first, one at a
# time, then a switchover, then the old leader. Prints what it did.
# Before anything else, a leader that the stack no longer lists hands over to a
# member it does list: Pulumi deletes removed members only at the end of a run,
# after HAProxy has already stopped routing to them.
# stdin: {"config": <desired config>, "members": [<member names the stack lists>]}
# argv: <this member's REST API URL>
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


def main():
    global desired, wanted, api
    request = json.loads(sys.stdin.read())
    desired = request["config"]
    wanted = set(request["members"])
    api = sys.argv[1].rstrip("/")
    ms = members()
    leaving = next((m for m in ms if m["role"] == "leader" and m["name"] not in wanted), None)
    if leaving:
        cands = candidates(ms)
        if not cands:
            raise SystemExit("pgha: the leader %s is being removed, but no remaining member is running to take over" % leaving["name"])
        switchover(leaving, cands[0])

    current = current_config()
    patch = patch_for(current, desired)
    loop_wait = int(desired.get("loop_wait", 10))
    if patch:
        status, text = call("PATCH", api + "/config", patch)
        if status != 200:
            raise SystemExit("pgha: PATCH /config answered %s: %s" % (status, text))
        print("pgha: dynamic config changed: %s" % json.dumps(patch, sort_keys=True))
        # Members pick the change up on their next HA loop; pending_restart follows the reload.
        time.sleep(loop_wait + 5)
    else:
        print("pgha: dynamic config already as desired")

    pending = [m for m in members() if m.get("pending_restart") and m["name"] in wanted]
    if not pending:
        print("pgha: no PostgreSQL restart needed")
        sys.exit(0)

    for m in [m for m in pending if m["role"] != "leader"]:
        status, text = call("POST", m["api_url"] + "/restart", {}, timeout=600)
        if status != 200:
            raise SystemExit("pgha: restart of %s answered %s: %s" % (m["name"], status, text))
        wait("%s running as a replica again" % m["name"], 300, lambda: ok(m["api_url"] + "/replica"))
        print("pgha: restarted replica %s" % m["name"])

    leader = next((m for m in pending if m["role"] == "leader"), None)
    if leader:
        cands = candidates(members())
        if cands:
            switchover(leader, cands[0])
            wait("%s back as a replica" % leader["name"], 120, lambda: ok(leader["api_url"] + "/replica"))
        status, text = call("POST", leader["api_url"] + "/restart", {}, timeout=600)
        if status != 200:
            raise SystemExit("pgha: restart of %s answered %s: %s" % (leader["name"], status, text))
        probe = "/replica" if cands else "/primary"
        wait("%s running after its restart" % leader["name"], 300, lambda: ok(leader["api_url"] + probe))
        print("pgha: restarted %s" % leader["name"])


if __name__ == "__main__":
    main()
