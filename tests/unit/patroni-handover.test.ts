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
