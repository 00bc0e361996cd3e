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

api = sys.argv[1].rstrip("/")


def call(method, url, body=None, timeout=10):
    return rest_call(method, url, body, timeout=timeout, catch=True)


status, text = call("GET", api + "/patroni")
if status != 200:
    print("pgha: Patroni not answering (%s); nothing to hand over" % text)
    sys.exit(0)
me = json.loads(text)
if me.get("role") not in ("master", "primary"):
    print("pgha: %s is not the leader; nothing to hand over" % me.get("patroni", {}).get("name", "this member"))
    sys.exit(0)
status, text = call("GET", api + "/cluster")
members = json.loads(text)["members"] if status == 200 else []
for m in members:  # api_url points at .../patroni; the endpoints hang off its base
    m["api_url"] = m["api_url"].rsplit("/patroni", 1)[0]
name = next((m["name"] for m in members if m["role"] == "leader"), None)
candidates = [m for m in members if m["role"] != "leader" and m["state"] == "running" and not m.get("tags", {}).get("nofailover")]
if not name or not candidates:
    print("pgha: no replica can take over; stopping the leader")
    sys.exit(0)
cand = candidates[0]
status, text = call("POST", api + "/switchover", {"leader": name, "candidate": cand["name"]}, timeout=120)
if status != 200:
    raise SystemExit("pgha: switchover %s -> %s answered %s: %s" % (name, cand["name"], status, text))
deadline = time.time() + 60
while time.time() < deadline and call("GET", cand["api_url"] + "/primary", timeout=3)[0] != 200:
    time.sleep(1)
print("pgha: switched over %s -> %s before stopping" % (name, cand["name"]))
