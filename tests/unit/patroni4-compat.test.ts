// Debian 13 runs Patroni 4.0.7. patroni-run.py patches Patroni 3.0.2's Etcd3._update_leader, and
// only 3.0.2's: a fake `patroni` package on PYTHONPATH (its version.py and dcs/etcd3.py) shows the
// patch decided from the installed version. Patroni 4's own _update_leader already writes the key
// only while it names this member (a txn comparing the value, else creating it only if absent),
// and takes a `leader` argument 3.0.2's replacement does not: applied there it would break Patroni.
// Then what the other server programs read from Patroni 4 (python3 runs their own functions):
// /cluster and `patronictl list` call a streaming replica "streaming" (Patroni >= 3.0.4), and
// /patroni calls the leader "primary" (Patroni 4).
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { PATRONI_RUN, SERVER_DIR } from "../../components/pgha-tools";
import { hasPython3, pyOk } from "./server-python";

const FAKE_DCS_INIT = `class Leader:
    def __init__(self, session):
        self.session = session


def catch_return_false_exception(func):
    return func
`;

const FAKE_ETCD3 = `import base64


class Etcd3Error(Exception):
    pass


def base64_encode(v):
    return base64.b64encode(v.encode()).decode()


class Etcd3:
    def _update_leader(self, leader):
        return "patroni's own"


ORIGINAL = Etcd3._update_leader
`;

/** A fake installed Patroni of `version` in a new directory (the PYTHONPATH entry). */
function fakePatroni(version: string): string {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "pgha-fake-patroni-"));
    const pkg = path.join(root, "patroni");
    fs.mkdirSync(path.join(pkg, "dcs"), { recursive: true });
    fs.writeFileSync(path.join(pkg, "__init__.py"), "");
    fs.writeFileSync(path.join(pkg, "version.py"), `__version__ = ${JSON.stringify(version)}\n`);
    // Only the real start imports it; loading patroni-run.py as a module must not.
    fs.writeFileSync(path.join(pkg, "__main__.py"), "raise SystemExit('patroni started')\n");
    fs.writeFileSync(path.join(pkg, "dcs", "__init__.py"), FAKE_DCS_INIT);
    fs.writeFileSync(path.join(pkg, "dcs", "etcd3.py"), FAKE_ETCD3);
    return root;
}

/** Loads server/patroni-run.py as a module (not __main__) against the fake package, then runs `code`. */
function withPatroni(version: string, code: string): unknown {
    const root = fakePatroni(version);
    const load = `import importlib.util, json, sys
_spec = importlib.util.spec_from_file_location("program", sys.argv[1])
m = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(m)
from patroni.dcs import etcd3
`;
    try {
        const r = spawnSync("python3", ["-c", load + code, path.join(SERVER_DIR, path.basename(PATRONI_RUN.path))], {
            encoding: "utf8",
            env: { ...process.env, PYTHONPATH: root, PYTHONDONTWRITEBYTECODE: "1" },
        });
        if (r.status !== 0) throw new Error(`python3 patroni-run.py with Patroni ${version}: exit ${r.status}\n${r.stderr}`);
        return JSON.parse(r.stdout);
    } finally {
        fs.rmSync(root, { recursive: true, force: true });
    }
}

const PATCHED = `print(json.dumps({"untouched": etcd3.Etcd3._update_leader is etcd3.ORIGINAL, "module": etcd3.Etcd3._update_leader.__module__}))`;

// The replacement's renewal against a stand-in for Etcd3: the lease it holds is no longer the one
// on the key, so it writes only through a txn comparing the key's value with its own name.
const RENEW = `from patroni.dcs import Leader


class Retry:
    deadline = None
    stoptime = __import__("time").time() + 10

    def copy(self):
        return self

    def __call__(self, func, *args, **kwargs):
        return func(*args, **kwargs)


class Client:
    def __init__(self, answer):
        self.answer, self.calls = answer, []

    def txn(self, compare, success, retry=None):
        self.calls.append([compare, success])
        return self.answer


class Self:
    leader_path = "/service/pgsql/leader"
    _name = "pg1"

    def __init__(self, answer):
        self._retry, self._lease, self._client = Retry(), "7", Client(answer)
        self.cluster = type("C", (), {"leader": Leader("6")})()

    def _do_refresh_lease(self, force, retry=None):
        return False

    def _run_and_handle_exceptions(self, method, *args, retry=None):
        return retry(method, *args)


out = {}
for name, answer in (("taken", {}), ("still ours", {"succeeded": True})):
    s = Self(answer)
    out[name] = {"returned": etcd3.Etcd3._update_leader(s), "txn": s._client.calls}
print(json.dumps(out))`;

(hasPython3 ? describe : describe.skip)("patroni-run.py: the Patroni 3.0.2 etcd3 fix follows the installed version", () => {
    test("Patroni 4.0.7 (Debian 13): Etcd3._update_leader is left as Patroni has it", () => {
        expect(withPatroni("4.0.7", PATCHED)).toEqual({ untouched: true, module: "patroni.dcs.etcd3" });
    });
    test("Patroni 3.0.3 and later releases of 3.0: not patched either (3.0.3 has the fix, patroni/patroni#2689, #2693)", () => {
        expect(withPatroni("3.0.3", PATCHED)).toEqual({ untouched: true, module: "patroni.dcs.etcd3" });
        expect(withPatroni("3.0.20", PATCHED)).toEqual({ untouched: true, module: "patroni.dcs.etcd3" });
    });
    test("Patroni 3.0.2 (Debian 12): replaced by pgha's, defined in patroni-run.py", () => {
        expect(withPatroni("3.0.2", PATCHED)).toEqual({ untouched: false, module: "program" });
    });
    test("3.0.2's replacement renews the key only while it names this member", () => {
        const key = Buffer.from("/service/pgsql/leader").toString("base64");
        const name = Buffer.from("pg1").toString("base64");
        const txn = [[{ target: "VALUE", key, value: name }, { request_put: { key, value: name, lease: "7" } }]];
        expect(withPatroni("3.0.2", RENEW)).toEqual({
            // Another member took the key: no write, and Patroni demotes.
            taken: { returned: false, txn },
            "still ours": { returned: true, txn },
        });
    });
    test("loading it does not start Patroni: only __main__ does", () => {
        expect(withPatroni("4.0.7", `print(json.dumps("patroni.__main__" in sys.modules))`)).toBe(false);
    });
});

// /cluster as Patroni 4.0 answers it (docs/rest_api.rst): the leader "running", a replica that
// streams "streaming", a synchronous one "sync_standby".
const member = (name: string, role: string, state: string, tags = {}) => ({ name, role, state, tags, api_url: `https://${name}:8008/patroni`, host: name, port: 5432, timeline: 1 });

function dcsApplyCandidates(wanted: string[], members: object[]): string[] {
    const code = `import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("dcs_apply", sys.argv[1])
m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
m.wanted = set(json.loads(sys.argv[2]))
print(json.dumps([c["name"] for c in m.candidates(json.loads(sys.argv[3]))]))`;
    const r = spawnSync("python3", ["-c", code, path.join(SERVER_DIR, "patroni-dcs-apply.py"), JSON.stringify(wanted), JSON.stringify(members)], {
        encoding: "utf8",
        input: "",
        env: { ...process.env, PYTHONDONTWRITEBYTECODE: "1" },
    });
    if (r.status !== 0) throw new Error(r.stderr);
    return JSON.parse(r.stdout);
}

(hasPython3 ? describe : describe.skip)("server programs read Patroni 4's answers (python3)", () => {
    test("patroni-dcs-apply.py: a streaming replica can take over (Patroni >= 3.0.4 says streaming, not running)", () => {
        const ms = [member("pg1", "leader", "running"), member("pg2", "replica", "streaming"), member("pg3", "sync_standby", "streaming")];
        expect(dcsApplyCandidates(["pg1", "pg2", "pg3"], ms)).toEqual(["pg2", "pg3"]);
        // Patroni 3.0.2's word for the same replicas still counts.
        expect(dcsApplyCandidates(["pg1", "pg2"], [member("pg1", "leader", "running"), member("pg2", "replica", "running")])).toEqual(["pg2"]);
        // Not a member the stack no longer lists, nor one that is not up, nor one tagged nofailover.
        const others = [member("pg2", "replica", "streaming"), member("pg3", "replica", "in archive recovery"), member("pg4", "replica", "streaming", { nofailover: true })];
        expect(dcsApplyCandidates(["pg3", "pg4"], others)).toEqual([]);
    });
    test("patroni-handover.py: the same replicas", () => {
        const ms = [member("pg1", "leader", "running"), member("pg2", "replica", "streaming")];
        expect(pyOk("patroni-handover.py", "pick_candidate", ms)).toMatchObject({ name: "pg2" });
        expect(pyOk("patroni-handover.py", "pick_candidate", [...ms, member("pg3", "sync_standby", "streaming")])).toMatchObject({ name: "pg3" });
    });
    test("patroni-wait.py: the leader is role primary in Patroni 4's /patroni", () => {
        expect(pyOk("patroni-wait.py", "ready", "leader", "primary running -")).toBe(true);
        expect(pyOk("patroni-wait.py", "ready", "replica", "replica running streaming")).toBe(true);
    });
    test("pgha-verify.py: `patronictl list -f json` of Patroni 4.0.7", () => {
        const list = [
            { Cluster: "pgsql", Member: "pg1", Host: "10.0.0.1", Role: "Leader", State: "running", TL: 1 },
            { Cluster: "pgsql", Member: "pg2", Host: "10.0.0.2", Role: "Replica", State: "streaming", TL: 1, "Lag in MB": 0 },
            { Cluster: "pgsql", Member: "pg3", Host: "10.0.0.3", Role: "Sync Standby", State: "streaming", TL: 1, "Lag in MB": 0 },
        ];
        expect(pyOk("pgha-verify.py", "check_patroni", list, ["pg1", "pg2", "pg3"])).toEqual([true, "pg1 10.0.0.1 "]);
        const stopped = list.map((m) => (m.Member === "pg3" ? { ...m, State: "stopped" } : m));
        expect(pyOk("pgha-verify.py", "check_patroni", stopped, ["pg1", "pg2", "pg3"])).toEqual([false, "replica pg3 is stopped"]);
    });
});
