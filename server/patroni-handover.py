# Before Patroni stops on a member that is leaving: if it leads and a healthy
# replica can take over, switch over first, so writes through the VIP resume
# within the switchover time instead of waiting for the leader key to expire.
# argv: <this member's REST API URL>
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pgha_rest import call as rest_call  # noqa: E402  (HTTPS with the cluster CA, basic auth)


def call(method, url, body=None, timeout=10):
    return rest_call(method, url, body, timeout=timeout, catch=True)


def pick_candidate(members):
    """A running replica that may lead, or None. In synchronous mode Patroni accepts only a
    synchronous standby (412 otherwise), so one is chosen whenever /cluster lists any."""
    running = [m for m in members if m["role"] != "leader" and m["state"] in ("running", "streaming") and not m.get("tags", {}).get("nofailover")]
    sync = [m for m in running if m["role"] == "sync_standby"]
    return (sync or running or [None])[0]


def main(api):
    status, text = call("GET", api + "/patroni")
    if status != 200:
        print("pgha: Patroni not answering (%s); nothing to hand over" % text)
        return
    me = json.loads(text)
    if me.get("role") not in ("master", "primary"):
        print("pgha: %s is not the leader; nothing to hand over" % me.get("patroni", {}).get("name", "this member"))
        return
    status, text = call("GET", api + "/cluster")
    members = json.loads(text)["members"] if status == 200 else []
    for m in members:  # api_url points at .../patroni; the endpoints hang off its base
        m["api_url"] = m["api_url"].rsplit("/patroni", 1)[0]
    name = next((m["name"] for m in members if m["role"] == "leader"), None)
    cand = pick_candidate(members)
    if not name or not cand:
        print("pgha: no replica can take over; stopping the leader")
        return
    status, text = call("POST", api + "/switchover", {"leader": name, "candidate": cand["name"]}, timeout=120)
    if status != 200:
        # The handover only shortens the outage: a leader that stops cleanly releases its key,
        # and Patroni lets a member it accepts take over. Removal must not hang on it (the
        # candidate may itself be stopping, as in a whole-cluster destroy).
        print("pgha: switchover %s -> %s answered %s: %s; stopping the leader anyway (it releases the leader key)" % (name, cand["name"], status, text))
        return
    deadline = time.time() + 60
    while time.time() < deadline and call("GET", cand["api_url"] + "/primary", timeout=3)[0] != 200:
        time.sleep(1)
    print("pgha: switched over %s -> %s before stopping" % (name, cand["name"]))


if __name__ == "__main__":
    main(sys.argv[1].rstrip("/"))
