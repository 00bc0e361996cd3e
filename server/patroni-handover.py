# Before Patroni stops on a member that is leaving: if it leads and a healthy
# replica can take over, switch over first, so writes through the VIP resume
# within the switchover time instead of waiting for the leader key to expire.
# It never fails, and waits for the candidate WAIT_SEC at most: only a window, no bound on the
# work. A leader whose stop takes longer (a long checkpoint) goes on with it when Patroni stops
# next: Patroni shuts PostgreSQL down cleanly, however long that takes, and hands the leader key
# over as it stops; the switchover request stays in the DCS, so the candidate takes over.
# argv: <this member's REST API URL>
import json
import os
import sys
import time

# How long the candidate may take to lead before this member's Patroni is stopped all the same.
WAIT_SEC = 60

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
    # 503 "Switchover status unknown": Patroni stopped waiting for it (2 x max(10, loop_wait) s)
    # while this leader still stops; the switchover goes on.
    if status != 200 and not (status == 503 and "status unknown" in text):
        # The handover only shortens the outage: a leader that stops cleanly releases its key,
        # and Patroni lets a member it accepts take over. Removal must not hang on it (the
        # candidate may itself be stopping, as in a whole-cluster destroy).
        print("pgha: switchover %s -> %s answered %s: %s; stopping the leader anyway (it releases the leader key)" % (name, cand["name"], status, text))
        return
    start = time.monotonic()
    while call("GET", cand["api_url"] + "/primary", timeout=3)[0] != 200:
        if time.monotonic() - start >= WAIT_SEC:
            print("pgha: switchover %s -> %s: %s does not lead yet after %d s; stopping the leader, which goes on handing over as it stops" % (name, cand["name"], cand["name"], WAIT_SEC))
            return
        time.sleep(1)
    print("pgha: switched over %s -> %s before stopping" % (name, cand["name"]))


if __name__ == "__main__":
    main(sys.argv[1].rstrip("/"))
