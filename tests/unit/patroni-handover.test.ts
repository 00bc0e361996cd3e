// patroni-handover.py's choice of the member to hand leadership to, with /cluster
// answers shaped as Patroni 3.0.2 gives them (python3 runs the script's own function).
import { spawnSync } from "child_process";
import * as path from "path";

const DIR = path.join(__dirname, "../../server");

function pick(members: object[]): string | null {
    const code = `import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("handover", sys.argv[1] + "/patroni-handover.py")
m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
c = m.pick_candidate(json.loads(sys.argv[2]))
print(json.dumps(c and c["name"]))`;
    const r = spawnSync("python3", ["-c", code, DIR, JSON.stringify(members)], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(r.stderr);
    return JSON.parse(r.stdout);
}

const member = (name: string, role: string, state = "running", tags = {}) => ({ name, role, state, tags, api_url: `https://${name}:8008/patroni` });

describe("patroni-handover.py: who takes over before a leader stops", () => {
    test("asynchronous: the first running replica", () => {
        expect(pick([member("a", "leader"), member("b", "replica"), member("c", "replica")])).toBe("b");
    });
    test("synchronous mode: the synchronous standby, which is the only one Patroni accepts", () => {
        expect(pick([member("a", "leader"), member("b", "replica"), member("c", "sync_standby")])).toBe("c");
    });
    test("not a stopped replica, not one tagged nofailover; none left: nobody", () => {
        expect(pick([member("a", "leader"), member("b", "replica", "stopped"), member("c", "replica", "running", { nofailover: true })])).toBeNull();
    });
});

/** main() against a fake Patroni (fake time): pg1 leads, pg2 leads `leadsAt` s after the switchover's answer `answer`. */
function handover(answer: [number, string], leadsAt: number): { printed: string; now: number } {
    const code = `import importlib.util, io, contextlib, json, sys
spec = importlib.util.spec_from_file_location("handover", sys.argv[1] + "/patroni-handover.py")
m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
answer, leads_at = json.loads(sys.argv[2]), float(sys.argv[3])
now, asked = [0.0], []
m.time.monotonic = lambda: now[0]
m.time.sleep = lambda s: now.__setitem__(0, now[0] + s)
def call(method, url, body=None, timeout=10):
    if url.endswith("/patroni"):
        return 200, json.dumps({"state": "running", "role": "primary"})
    if url.endswith("/cluster"):
        return 200, json.dumps({"members": [{"name": n, "role": r, "state": "running", "api_url": "https://%s:8008/patroni" % n} for n, r in (("pg1", "leader"), ("pg2", "replica"))]})
    if url.endswith("/switchover"):
        now[0] += 20
        asked.append(now[0])
        return answer[0], answer[1]
    if url == "https://pg2:8008/primary":
        return (200 if asked and now[0] - asked[0] >= leads_at else 503), ""
    raise AssertionError(url)
m.call = call
out = io.StringIO()
with contextlib.redirect_stdout(out):
    m.main("https://pg1:8008")
print(json.dumps({"printed": out.getvalue(), "now": now[0]}))`;
    const r = spawnSync("python3", ["-c", code, DIR, JSON.stringify(answer), String(leadsAt)], { encoding: "utf8", env: { ...process.env, PYTHONDONTWRITEBYTECODE: "1" } });
    if (r.status !== 0) throw new Error(r.stderr);
    return JSON.parse(r.stdout);
}

describe("patroni-handover.py: the switchover before the leader stops (fake time)", () => {
    test("503 'Switchover status unknown' (the old leader still stops) is waited for like a 200", () => {
        const r = handover([503, "Switchover status unknown"], 30);
        expect(r.printed).toBe("pgha: switched over pg1 -> pg2 before stopping\n");
        expect(r.now).toBe(50);
    });
    test("a candidate that does not lead within the window: the leader stops all the same, and says so (not 'switched over')", () => {
        const r = handover([200, 'Successfully switched over to "pg2"'], 500);
        expect(r.printed).toBe("pgha: switchover pg1 -> pg2: pg2 does not lead yet after 60 s; stopping the leader, which goes on handing over as it stops\n");
        expect(r.now).toBe(80);
    });
    test("any other answer: no wait", () => {
        expect(handover([412, "candidate name does not match with sync_standby"], 0).printed).toMatch(/answered 412: .*stopping the leader anyway/);
    });
});
