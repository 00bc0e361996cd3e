// Issue 18: the restarts PostgreSQL asks for (pending_restart) are one cluster-level step,
// <cluster>:restart-pending, once every member's config is placed: a switch of
// pgha:vip.manager (or any edit touching several members) pauses writes at most once.
// The wiring under mocks, the step's input (core/render/patroni-restart.ts), and the decisions
// of server/patroni-dcs-apply.py against a simulated Patroni cluster.
import { spawnSync } from "child_process";
import { restartUnlessListening } from "../../components/vip-manager";
import { dynamicConfigScript, pendingRestartScript } from "../../components/patroni-dynamic-config";
import { MEMBER_ADDRESS, restartRelevantSettings } from "../../core/render/patroni-restart";
import { nodeConnection } from "../../components/ssh";
import { FAKE_SECRETS, classicWith, specOf } from "./fixtures";
import { Registered, changedSince, registerCluster as register, remoteCommands } from "./mock-cluster";
import { hasPython3, withProgram } from "./server-python";

jest.setTimeout(60_000);

/** The drill's lab: three hosts holding every role (etcd, postgres, haproxy, keepalived). */
const allRoles = () =>
    classicWith((v) => {
        v.nodes = [1, 2, 3].map((i) => ({ name: `pg${i}`, address: `172.51.216.8${i}`, roles: ["etcd", "postgres", "haproxy", "keepalived"] }));
    });
/** The same hosts after the drill's stack edit: vip-manager, no balancer roles. */
const vipManager = () =>
    classicWith((v) => {
        v.nodes = [1, 2, 3].map((i) => ({ name: `pg${i}`, address: `172.51.216.8${i}`, roles: ["etcd", "postgres"] }));
        v.vip.manager = "vip-manager";
    });

/** Every resource `name` waits for, directly or through others. */
function upstream(tree: ReadonlyMap<string, Registered>, name: string): Set<string> {
    const seen = new Set<string>();
    const todo = [...(tree.get(name)?.deps ?? [])];
    while (todo.length > 0) {
        const d = todo.pop()!;
        if (seen.has(d)) continue;
        seen.add(d);
        todo.push(...(tree.get(d)?.deps ?? []));
    }
    return seen;
}

const PG = ["pg1", "pg2", "pg3"];

describe("the wiring (mocks)", () => {
    let keepalived: Map<string, Registered>;
    let switched: Map<string, Registered>;
    beforeAll(async () => {
        keepalived = await register(specOf(allRoles()));
        switched = await register(specOf(vipManager()));
    });

    test("one restart step for the cluster, after every member's config.yml and Patroni service, the dynamic config and the VIP services (keepalived mode)", () => {
        expect(
            remoteCommands(keepalived)
                .filter((c) => /restart/.test(c.name))
                .map((c) => c.name),
        ).toEqual(["pgsql:restart-pending"]);
        const up = upstream(keepalived, "pgsql:restart-pending");
        for (const n of PG) for (const r of [`${n}:/etc/patroni/config.yml`, `${n}:patroni`, `${n}:haproxy`, `${n}:keepalived`]) expect(up).toContain(r);
        expect(up).toContain("pgsql:dynamic-config");
        // What must see the restarts done waits for it.
        expect(keepalived.get("pgsql:verify")!.deps).toContain("pgsql:restart-pending");
    });

    test("vip-manager mode: also after every member's vip-manager service (which restarts, in place, only a leader not yet on the VIP)", () => {
        const up = upstream(switched, "pgsql:restart-pending");
        for (const n of PG) for (const r of [`${n}:/etc/patroni/config.yml`, `${n}:patroni`, `${n}:vip-manager`, `${n}:release-keepalived`]) expect(up).toContain(r);
        // Nothing the vip-manager services need waits for the restart step: no cycle, and the VIP moves first.
        for (const n of PG) expect(upstream(switched, `${n}:vip-manager`)).not.toContain("pgsql:restart-pending");
    });

    test("an unchanged stack changes no command", async () => {
        const again = await register(specOf(allRoles()));
        expect(changedSince(keepalived, again)).toEqual([]);
        for (const c of remoteCommands(keepalived)) expect(again.has(c.name)).toBe(true);
    });

    test("the switch keepalived -> vip-manager: the preview shows one restart step, and the dynamic config's update restarts nothing", () => {
        const differs = changedSince(keepalived, switched);
        // Only these commands that exist on both sides differ: the members' config.yml (the VIP in listen_addresses)
        // and their reload, the packages the roles need (no HAProxy, no keepalived), the DCS's pg_hba (no balancers),
        // the one restart step, and the verification.
        expect(differs).toEqual([
            "pg1:/etc/patroni/config.yml",
            "pg1:packages",
            "pg1:patroni",
            "pg1:preflight",
            "pg2:/etc/patroni/config.yml",
            "pg2:packages",
            "pg2:patroni",
            "pg2:preflight",
            "pg3:/etc/patroni/config.yml",
            "pg3:packages",
            "pg3:patroni",
            "pg3:preflight",
            "pgsql:dynamic-config",
            "pgsql:restart-pending",
            "pgsql:verify",
        ]);
        expect(differs.filter((n) => /restart/.test(n))).toEqual(["pgsql:restart-pending"]);
        // A Patroni member reloads (never restarts) for its new config.yml.
        for (const n of PG) expect(String(switched.get(`${n}:patroni`)!.inputs.update)).toMatch(/systemctl reload patroni/);
        // The DCS apply that runs as an update (a running cluster) restarts nothing: it runs before the other members' config.yml is placed.
        const dyn = switched.get("pgsql:dynamic-config")!.inputs;
        expect(String(dyn.update)).toMatch(/patroni-dcs-apply\.py --no-restart /);
        expect(String(dyn.create)).not.toMatch(/--no-restart/);
        // The restart step, as an update, lets Patroni apply the reloaded config.yml first.
        expect(String(switched.get("pgsql:restart-pending")!.inputs.update)).toMatch(/patroni-dcs-apply\.py --restart-pending --settle /);
        expect(String(switched.get("pgsql:restart-pending")!.inputs.create)).not.toMatch(/--settle/);
    });

    test("a new stall bound updates both steps that wait on members (the restart step, the dynamic config)", async () => {
        const slow = await register(specOf(classicWith((v) => (Object.assign(v, allRoles()), (v.progress = { stallTimeout: 900 })))));
        expect(changedSince(keepalived, slow).filter((n) => /restart|dynamic-config/.test(n))).toEqual(["pgsql:dynamic-config", "pgsql:restart-pending"]);
        // Its waits are bounded by progress: the command's own limit is only the outer bound.
        expect(String(keepalived.get("pgsql:restart-pending")!.inputs.create)).toMatch(/timeout --kill-after=10 86400 bash -c/);
    });

    test("edits that cannot need a restart leave the restart step out of the diff", async () => {
        for (const edit of [
            (v: any) => (v.patroni.synchronousMode = true),
            (v: any) => (v.patroni.loopWait = 5),
            (v: any) => v.nodes.push({ name: "pg4", address: "172.51.216.84", roles: ["postgres"] }),
            (v: any) => (v.postgres.allowedClientCidrs = ["172.51.0.0/16"]),
            (v: any) => (v.haproxy.replicaPort = 5002),
        ]) {
            const edited = await register(specOf(classicWith((v) => (Object.assign(v, allRoles()), edit(v)))));
            expect(changedSince(keepalived, edited)).not.toContain("pgsql:restart-pending");
        }
        const rotated = await register(specOf(allRoles()), { ...FAKE_SECRETS, superuserPassword: "rotated-superuser-pw" });
        expect(changedSince(keepalived, rotated)).not.toContain("pgsql:restart-pending");
    });
});

describe("the restart step's input: restartRelevantSettings", () => {
    const settings = (edit: (v: any) => void = () => undefined) => JSON.parse(restartRelevantSettings(specOf(classicWith((v) => (Object.assign(v, allRoles()), edit(v))))));

    test("one value for the cluster: each member's own address is a placeholder, no secret in it", () => {
        // (password_encryption is a parameter's name, not a secret.)
        const s = settings();
        expect(s.local).toHaveLength(1);
        expect(s.local[0].listen).toBe(`${MEMBER_ADDRESS},127.0.0.1:5432`);
        expect(s.dynamicParameters.max_connections).toBe(200);
        expect(s.dynamicParameters.wal_level).toBe("replica");
        expect(s.dynamicParameters.wal_sender_timeout).toBeUndefined();
        expect(JSON.stringify(s)).not.toMatch(/fake-/);
    });

    test("changes with the VIP mode, the port, a parameter; not with timings, synchronous mode or the nodes list", () => {
        const base = JSON.stringify(settings());
        const vip = JSON.parse(restartRelevantSettings(specOf(vipManager())));
        expect(vip.local[0].listen).toBe(`${MEMBER_ADDRESS},127.0.0.1,172.51.216.88:5432`);
        expect(JSON.stringify(settings((v) => (v.postgres.port = 5433)))).not.toBe(base);
        expect(JSON.stringify(settings((v) => (v.postgres.parameters = { max_connections: 300 })))).not.toBe(base);
        expect(JSON.stringify(settings((v) => (v.postgres.parameters = { max_connections: 200, shared_buffers: "256MB" })))).not.toBe(base);
        // An extension's parameter, or one pgha does not know, may need a restart: it counts.
        expect(JSON.stringify(settings((v) => (v.postgres.parameters = { max_connections: 200, "pg_stat_statements.max": 10000 })))).not.toBe(base);
        // Parameters PostgreSQL reloads do not; nor does pgha's profile (wal_sender_timeout, wal_retrieve_retry_interval).
        expect(JSON.stringify(settings((v) => (v.postgres.parameters = { max_connections: 200, work_mem: "64MB", log_min_duration_statement: 250 })))).toBe(base);
        expect(JSON.stringify(settings((v) => (v.patroni.profile = "fast")))).toBe(base);
        expect(JSON.stringify(settings((v) => ((v.patroni.ttl = 40), (v.patroni.synchronousMode = true))))).toBe(base);
        expect(JSON.stringify(settings((v) => v.nodes.reverse()))).toBe(base);
    });

    test("a member's address inside another address (the VIP 10.0.0.10 beside the node 10.0.0.1) is not replaced", () => {
        const spec = specOf(
            classicWith((v) => {
                v.nodes = [1, 2, 3].map((i) => ({ name: `pg${i}`, address: `10.0.0.${i}`, roles: ["etcd", "postgres"] }));
                v.vip = { address: "10.0.0.10", manager: "vip-manager" };
                v.postgres.allowedClientCidrs = ["10.0.0.0/24"];
            }),
        );
        expect(JSON.parse(restartRelevantSettings(spec)).local[0].listen).toBe(`${MEMBER_ADDRESS},127.0.0.1,10.0.0.10:5432`);
    });
});

describe("the command texts", () => {
    const spec = specOf(allRoles());
    const conn = nodeConnection(spec.nodes[0], "key");
    test("bash parses them", () => {
        for (const text of [
            dynamicConfigScript(spec, conn, "create"),
            dynamicConfigScript(spec, conn, "update"),
            pendingRestartScript(spec, conn, "create"),
            pendingRestartScript(spec, conn, "update"),
        ])
            expect(spawnSync("bash", ["-n", "-c", text]).status).toBe(0);
    });

    test("the stall bound (pgha:progress.stallTimeout) reaches the restart step always, the dynamic config only when not the default (its command is then unchanged)", () => {
        const slow = specOf(classicWith((v) => (Object.assign(v, allRoles()), (v.progress = { stallTimeout: 900 }))));
        expect(pendingRestartScript(spec, conn, "create")).toMatch(/patroni-dcs-apply\.py --restart-pending --stall 300 'https:\/\/172\.51\.216\.81:8008'$/);
        expect(pendingRestartScript(slow, conn, "update")).toMatch(/patroni-dcs-apply\.py --restart-pending --settle --stall 900 'https:/);
        expect(dynamicConfigScript(spec, conn, "create")).toMatch(/\npython3 \/usr\/local\/libexec\/pgha\/patroni-dcs-apply\.py 'https:[^\n]*$/);
        expect(dynamicConfigScript(spec, conn, "update")).toMatch(/\npython3 \/usr\/local\/libexec\/pgha\/patroni-dcs-apply\.py --no-restart 'https:[^\n]*$/);
        expect(dynamicConfigScript(slow, conn, "create")).toMatch(/patroni-dcs-apply\.py --stall 900 'https:/);
        expect(dynamicConfigScript(slow, conn, "update")).toMatch(/patroni-dcs-apply\.py --no-restart --stall 900 'https:/);
    });

    test("vip-manager's listen-address restart is the leader's only: a replica is left to the restart step", () => {
        const text = restartUnlessListening(specOf(vipManager()), "pg2");
        expect(text).toMatch(/select pg_is_in_recovery\(\)/);
        expect(text).toMatch(/t\) leads=no; echo "pgha: pg2 is a replica: pgsql:restart-pending restarts it/);
        expect(text).toMatch(/if \[ "\$leads" = yes \] && pending; then\n\s+timeout 120 patronictl -c \/etc\/patroni\/config\.yml restart 'pgsql' 'pg2' --force/);
        expect(spawnSync("bash", ["-n", "-c", text]).status).toBe(0);
    });
});

// ---------------------------------------------------------------------------
// server/patroni-dcs-apply.py against a simulated Patroni cluster

interface Member {
    name: string;
    role: "leader" | "replica" | "sync_standby";
    state?: string;
    pending_restart?: boolean;
    tags?: Record<string, boolean>;
    host?: string;
}
interface Outcome {
    /** What restart_pending returned (or what the run did, for main). */
    done: string[];
    /** Every unsafe REST call, in order. */
    calls: string[];
    /** Writes paused: a switchover, or a restart of the member leading at the time. */
    pauses: number;
    printed: string;
}

/** A Patroni cluster in memory: /cluster, /config, /primary, /replica, POST /restart and /switchover, PATCH /config. */
const FAKE = `
import json, sys
state = json.loads(sys.argv[1])
ms = state["members"]
for x in ms:
    x.setdefault("state", "streaming" if x["role"] != "leader" else "running")
    x.setdefault("host", "10.0.0." + x["name"][-1])
    x.setdefault("tags", {})
calls = []
pauses = [0]
config = state.get("config", {"loop_wait": 10, "postgresql": {"pg_hba": ["hostssl replication replicator %s/32 scram-sha-256" % x["host"] for x in ms]}})
def by(url):
    host = url.split("//", 1)[1].split(":", 1)[0]
    return next(x for x in ms if x["name"] == host)
def fake_call(method, url, body=None, timeout=30, catch=False):
    path = "/" + url.split("//", 1)[1].split("/", 1)[1] if "/" in url.split("//", 1)[1] else "/"
    if method == "GET" and path == "/cluster":
        return 200, json.dumps({"members": [dict(x, api_url="https://%s:8008/patroni" % x["name"]) for x in ms]})
    if method == "GET" and path == "/config":
        return 200, json.dumps(config)
    if method == "GET" and path == "/primary":
        return (200 if by(url)["role"] == "leader" else 503), ""
    if method == "GET" and path == "/replica":
        return (200 if by(url)["role"] != "leader" else 503), ""
    if method == "GET" and path == "/patroni":
        x = by(url)
        return 200, json.dumps({"state": "running" if x["state"] in ("running", "streaming") else x["state"], "role": "primary" if x["role"] == "leader" else "replica"})
    if method == "POST" and path == "/restart":
        x = by(url)
        calls.append("restart %s" % x["name"])
        if x["role"] == "leader":
            pauses[0] += 1
        x["pending_restart"] = False
        # Patroni starts a stopped member too.
        x["state"] = "running" if x["role"] == "leader" else "streaming"
        return 200, "restarted"
    if method == "POST" and path == "/switchover":
        old = next(x for x in ms if x["name"] == body["leader"])
        new = next(x for x in ms if x["name"] == body["candidate"])
        calls.append("switchover %s -> %s" % (old["name"], new["name"]))
        pauses[0] += 1
        old["role"], new["role"] = "replica", "leader"
        # Patroni demotes by stopping PostgreSQL and starting it as a standby: the new settings apply.
        if state.get("demotion_applies", True):
            old["pending_restart"] = False
        return 200, "switched over"
    if method == "PATCH" and path == "/config":
        calls.append("patch")
        return 200, "{}"
    raise AssertionError("unexpected call %s %s" % (method, url))
m.call = fake_call
# Fake time: a wait that never ends stalls at once instead of spinning for real.
now = [0.0]
m.time.monotonic = lambda: now[0]
m.time.sleep = lambda s: now.__setitem__(0, now[0] + s)
m.api = "https://pg1:8008"
def run_main(argv, stdin=""):
    import io
    m.sys.stdin = io.StringIO(stdin)
    m.main(argv)
    return sorted(m.wanted)
`;

function simulate(members: Member[], run: string, opts: { demotionApplies?: boolean; wanted?: string[] } = {}): Outcome {
    const code = `${FAKE}
m.wanted = set(json.loads(sys.argv[2]))
import io, contextlib
out = io.StringIO()
with contextlib.redirect_stdout(out):
    done = ${run}
print(json.dumps({"done": done or [], "calls": calls, "pauses": pauses[0], "printed": out.getvalue()}))`;
    const state = { members, demotion_applies: opts.demotionApplies ?? true };
    const text = withProgram("patroni-dcs-apply.py", code, [JSON.stringify(state), JSON.stringify(opts.wanted ?? members.map((x) => x.name))]);
    return JSON.parse(text) as Outcome;
}
const restartPending = (members: Member[], opts: { demotionApplies?: boolean; wanted?: string[] } = {}) => simulate(members, "m.restart_pending()", opts);

(hasPython3 ? describe : describe.skip)("patroni-dcs-apply.py: which members restart, in what order, with at most one write pause", () => {
    test("nothing pending: nothing restarts", () => {
        const r = restartPending([
            { name: "pg1", role: "leader" },
            { name: "pg2", role: "replica" },
        ]);
        expect(r.calls).toEqual([]);
        expect(r.printed).toMatch(/no PostgreSQL restart needed/);
    });

    test("the vip-manager switch after the fix: the leader already restarted in place with the VIP move, so only the replicas restart, one at a time; no write pause here", () => {
        const r = restartPending([
            { name: "pg1", role: "leader" },
            { name: "pg2", role: "replica", pending_restart: true },
            { name: "pg3", role: "replica", pending_restart: true },
        ]);
        expect(r.calls).toEqual(["restart pg2", "restart pg3"]);
        expect(r.pauses).toBe(0);
    });

    test("every member pending (a parameter, a port, the switch back to keepalived): replicas first, then one switchover; the demoted leader runs the new settings", () => {
        const r = restartPending([
            { name: "pg1", role: "leader", pending_restart: true },
            { name: "pg3", role: "replica", pending_restart: true },
            { name: "pg2", role: "replica", pending_restart: true },
        ]);
        expect(r.calls).toEqual(["restart pg2", "restart pg3", "switchover pg1 -> pg2"]);
        expect(r.pauses).toBe(1);
        expect(r.printed).toMatch(/pg1 runs the new settings since its switchover/);
    });

    test("a demoted leader still pending restarts once more, as a replica: still one write pause", () => {
        const r = restartPending(
            [
                { name: "pg1", role: "leader", pending_restart: true },
                { name: "pg2", role: "replica", pending_restart: true },
            ],
            { demotionApplies: false },
        );
        expect(r.calls).toEqual(["restart pg2", "switchover pg1 -> pg2", "restart pg1"]);
        expect(r.pauses).toBe(1);
    });

    test("synchronous mode: the switchover goes to the synchronous standby (the only one Patroni accepts)", () => {
        const r = restartPending([
            { name: "pg1", role: "leader", pending_restart: true },
            { name: "pg2", role: "replica" },
            { name: "pg3", role: "sync_standby" },
        ]);
        expect(r.calls).toEqual(["switchover pg1 -> pg3"]);
    });

    test("no replica can take over (stopped, nofailover, or none): the leader restarts in place, once", () => {
        const r = restartPending([
            { name: "pg1", role: "leader", pending_restart: true },
            { name: "pg2", role: "replica", state: "stopped" },
            { name: "pg3", role: "replica", tags: { nofailover: true } },
        ]);
        expect(r.calls).toEqual(["restart pg1"]);
        expect(r.pauses).toBe(1);
        expect(restartPending([{ name: "pg1", role: "leader", pending_restart: true }]).calls).toEqual(["restart pg1"]);
    });

    test("a member the stack no longer lists is neither restarted nor switched over to", () => {
        const r = restartPending(
            [
                { name: "pg1", role: "leader", pending_restart: true },
                { name: "pg2", role: "replica", pending_restart: true },
                { name: "pg3", role: "replica" },
            ],
            { wanted: ["pg1", "pg3"] },
        );
        expect(r.calls).toEqual(["switchover pg1 -> pg3"]);
    });

    test("whatever the members' states, at most one write pause and the replicas before the leader", () => {
        const roles = ["leader", "replica", "sync_standby"] as const;
        for (let mask = 0; mask < 64; mask++) {
            const members: Member[] = [0, 1, 2].map((i) => ({
                name: `pg${i + 1}`,
                role: i === 0 ? "leader" : roles[1 + ((mask >> (i + 2)) & 1)],
                pending_restart: ((mask >> i) & 1) === 1,
                ...(((mask >> 5) & 1) === 1 && i === 1 ? { state: "stopped" } : {}),
            }));
            // One synchronous standby at most.
            if (members.filter((x) => x.role === "sync_standby").length > 1) members[2].role = "replica";
            const r = restartPending(members, { demotionApplies: mask % 3 !== 0 });
            expect(r.pauses).toBeLessThanOrEqual(1);
            const pendingReplicas = members.filter((x) => x.role !== "leader" && x.pending_restart).map((x) => `restart ${x.name}`);
            expect(r.calls.slice(0, pendingReplicas.length)).toEqual(pendingReplicas.sort());
            expect(r.calls.filter((c) => c.startsWith("switchover")).length).toBeLessThanOrEqual(1);
        }
    });

    test("the restart step (--restart-pending) reads the members the stack lists off the DCS's pg_hba", () => {
        const r = simulate(
            [
                { name: "pg1", role: "leader", pending_restart: true },
                { name: "pg2", role: "replica", pending_restart: true, host: "10.0.0.2" },
                { name: "pg3", role: "replica", host: "10.0.0.3" },
            ],
            "run_main(['--restart-pending', '--settle', 'https://pg1:8008'])",
        );
        expect(r.calls).toEqual(["restart pg2", "switchover pg1 -> pg2"]);
        expect(r.done).toEqual(["pg1", "pg2", "pg3"]);
        // pg_hba without pg3's replication line: pg3 is leaving.
        expect(
            JSON.parse(
                withProgram(
                    "patroni-dcs-apply.py",
                    `import json\nprint(json.dumps(sorted(m.members_by_hba({"postgresql": {"pg_hba": ["hostssl replication replicator 10.0.0.1/32 scram-sha-256", "hostssl replication replicator 127.0.0.1/32 scram-sha-256", "hostssl all all 10.0.0.3/32 scram-sha-256"]}}, [{"name": "pg1", "host": "10.0.0.1"}, {"name": "pg3", "host": "10.0.0.3"}]))))`,
                ),
            ),
        ).toEqual(["pg1"]);
    });

    test("an update of the dynamic config (--no-restart) PATCHes and restarts nothing, even with members pending; the first apply (create) restarts them", () => {
        const members: Member[] = [
            { name: "pg1", role: "leader", pending_restart: true },
            { name: "pg2", role: "replica", pending_restart: true },
        ];
        const request = JSON.stringify({ config: { loop_wait: 10, ttl: 40 }, members: ["pg1", "pg2"] });
        const run = (argv: string) => `run_main(${argv}, ${JSON.stringify(request)})`;
        const update = simulate(members, run(`['--no-restart', 'https://pg1:8008']`));
        expect(update.calls).toEqual(["patch"]);
        expect(update.pauses).toBe(0);
        expect(update.printed).toMatch(/restarts, if any, are the restart-pending step's/);
        const create = simulate(members, run(`['https://pg1:8008']`));
        expect(create.calls).toEqual(["patch", "restart pg2", "switchover pg1 -> pg2"]);
    });
});

// ---------------------------------------------------------------------------
// The waits of server/patroni-dcs-apply.py against members that take their time, in fake time:
// each member's GET /patroni answers follow a script from the moment its POST (restart or
// switchover) arrives; POST /restart and /switchover answer when Patroni would (or the HTTP
// call times out first); sleeping moves the clock, nothing sleeps for real.

/** One member's GET /patroni answer (Patroni 4's keys), plus pending_restart. */
interface PatroniAnswer {
    state: string;
    role: string;
    timeline?: number;
    postmaster_start_time?: string;
    xlog?: Record<string, number>;
    pending_restart?: boolean;
}
interface Scripted {
    /** What each member answers before its POST arrives. */
    idle: Record<string, PatroniAnswer>;
    /** [seconds after its POST, answer from then on], in order. */
    after: Record<string, [number, PatroniAnswer][]>;
    /** When and what Patroni answers a POST: [seconds, status, text]. */
    answers: { restart?: [number, number, string]; switchover?: [number, number, string] };
    /** Members tagged noloadbalance: their GET /replica answers 503 even when they run as replicas. */
    noloadbalance?: string[];
}
interface Followed {
    calls: string[];
    printed: string;
    /** The SystemExit's message, or null when the run ended well. */
    exit: string | null;
    /** Fake seconds when the run ended. */
    now: number;
}

const TIMED = `
import json, socket, sys
script = json.loads(sys.argv[1])
now = [0.0]
m.time.monotonic = lambda: now[0]
m.time.sleep = lambda s: now.__setitem__(0, now[0] + s)
t0 = {}
calls = []
def answer(name):
    a = script["idle"][name]
    if name in t0:
        for at, later in script["after"].get(name, []):
            if now[0] - t0[name] >= at:
                a = later
    return a
def member_of(url):
    return url.split("//", 1)[1].split(":", 1)[0]
def listed():
    out = []
    for i, name in enumerate(sorted(script["idle"])):
        a = answer(name)
        out.append({"name": name, "host": "10.0.0.%d" % (i + 1), "api_url": "https://%s:8008/patroni" % name, "tags": {},
                    "role": "leader" if a["role"] == "primary" and a["state"] == "running" else "replica",
                    "state": "streaming" if a["role"] == "replica" and a["state"] == "running" else a["state"],
                    "pending_restart": bool(a.get("pending_restart"))})
    return out
def answered(kind, timeout):
    at, status, text = script["answers"][kind]
    if at > timeout:
        now[0] += timeout
        raise socket.timeout("timed out")
    now[0] += at
    return status, text
def fake_call(method, url, body=None, timeout=30, catch=False):
    path = "/" + url.split("//", 1)[1].split("/", 1)[1] if "/" in url.split("//", 1)[1] else "/"
    if method == "GET" and path == "/cluster":
        return 200, json.dumps({"members": listed()})
    if method == "GET" and path == "/config":
        return 200, json.dumps({"loop_wait": 10, "postgresql": {"pg_hba": ["hostssl replication replicator %s/32 scram-sha-256" % x["host"] for x in listed()]}})
    if method == "GET" and path == "/patroni":
        a = answer(member_of(url))
        return (200 if a["state"] == "running" else 503), json.dumps(a)
    if method == "GET" and path in ("/primary", "/replica"):
        a = answer(member_of(url))
        tagged = path == "/replica" and member_of(url) in script.get("noloadbalance", [])
        return (200 if a["state"] == "running" and a["role"] == path[1:] and not tagged else 503), ""
    if method == "POST" and path == "/restart":
        name = member_of(url)
        calls.append("restart %s" % name)
        t0[name] = now[0]
        return answered("restart", timeout)
    if method == "POST" and path == "/switchover":
        calls.append("switchover %s -> %s" % (body["leader"], body["candidate"]))
        t0[body["leader"]] = t0[body["candidate"]] = now[0]
        return answered("switchover", timeout)
    raise AssertionError("unexpected call %s %s" % (method, url))
m.call = fake_call
m.api = "https://pg1:8008"
m.wanted = set(script["idle"])
import io, contextlib
out = io.StringIO()
code = None
try:
    with contextlib.redirect_stdout(out):
        run()
except SystemExit as e:
    code = str(e.code)
print(json.dumps({"calls": calls, "printed": out.getvalue(), "exit": code, "now": now[0]}))`;

/** Runs `run` (python: the body of run(), with the program as m) against the script. */
function timed(script: Scripted, run: string): Followed {
    const code = `def run():\n    ${run}\n${TIMED}`;
    return JSON.parse(withProgram("patroni-dcs-apply.py", code, [JSON.stringify(script)])) as Followed;
}

const leaderRunning: PatroniAnswer = { state: "running", role: "primary", timeline: 1, postmaster_start_time: "2026-03-01 09:00:00+00", xlog: { location: 90000000 } };
const replicaAt = (started: string, replayed: number, pending = false): PatroniAnswer => ({
    state: "running",
    role: "replica",
    timeline: 1,
    postmaster_start_time: started,
    xlog: { received_location: replayed, replayed_location: replayed },
    ...(pending ? { pending_restart: true } : {}),
});
/** pg1 leads; pg2, pending_restart, restarts along `after`; Patroni answers its POST /restart with `answer`. */
const replicaRestart = (after: [number, PatroniAnswer][], answer: [number, number, string]): Scripted => ({
    idle: { pg1: leaderRunning, pg2: replicaAt("2026-03-01 09:00:05+00", 80000000, true) },
    after: { pg2: after },
    answers: { restart: answer },
});

(hasPython3 ? describe : describe.skip)("patroni-dcs-apply.py: waits that last as long as the member moves (fake time)", () => {
    test("a replica's restart that takes 690 s (a long restartpoint while it still replays, then 290 s starting) succeeds; Patroni's answer comes after pgha stopped waiting for it; progress every 15 s", () => {
        const r = timed(
            replicaRestart(
                [
                    [0, { ...replicaAt("2026-03-01 09:00:05+00", 80000000), state: "restarting" }],
                    [100, { ...replicaAt("2026-03-01 09:00:05+00", 81000000), state: "restarting" }],
                    [200, { ...replicaAt("2026-03-01 09:00:05+00", 82000000), state: "restarting" }],
                    [300, { ...replicaAt("2026-03-01 09:00:05+00", 83000000), state: "restarting" }],
                    [400, { state: "starting", role: "replica" }],
                    [690, replicaAt("2026-03-01 09:11:30+00", 84000000)],
                ],
                [690, 200, "restarted successfully"],
            ),
            "m.restart_pending()",
        );
        expect(r.exit).toBeNull();
        expect(r.calls).toEqual(["restart pg2"]);
        expect(r.now).toBeGreaterThanOrEqual(690);
        expect(r.printed).toMatch(/^pgha: pg2 restarting: state restarting, role replica, 1\d s\n/);
        expect(r.printed).toMatch(/pgha: pg2 restarting: state starting, role replica, 4\d\d s\n/);
        expect(r.printed).toMatch(/pgha: restarted replica pg2\n/);
        // Every REPORT_SEC (15 s) or so while it waits: about 44 lines in 660 s.
        expect((r.printed.match(/pg2 restarting:/g) ?? []).length).toBeGreaterThanOrEqual(40);
    });

    test("Patroni answering 503 'restart failed' while PostgreSQL still starts is no failure: a 'starting' of 440 s succeeds with --stall 600", () => {
        const script = replicaRestart(
            [
                [0, { state: "restarting", role: "replica" }],
                [5, { state: "starting", role: "replica" }],
                [445, replicaAt("2026-03-01 09:07:30+00", 80000000)],
            ],
            // Patroni's own start timeout (primary_start_timeout, here 5 s) passed: it answers, PostgreSQL goes on.
            [10, 503, "restart failed"],
        );
        const r = timed(script, "m.main(['--restart-pending', '--stall', '600', 'https://pg1:8008'])");
        expect(r.exit).toBeNull();
        expect(r.calls).toEqual(["restart pg2"]);
        expect(r.now).toBeGreaterThanOrEqual(445);
        // With the default stall bound (300 s) the same 440 s without any visible progress is a stall.
        expect(timed(script, "m.main(['--restart-pending', 'https://pg1:8008'])").exit).toMatch(/no progress for 300 s/);
    });

    test("a restart that shows nothing new for the stall bound fails then, naming the member and what it last saw", () => {
        const r = timed(
            replicaRestart(
                [
                    [0, { state: "restarting", role: "replica" }],
                    [100, { state: "starting", role: "replica" }],
                ],
                [400, 503, "restart failed"],
            ),
            "m.restart_pending()",
        );
        expect(r.exit).toMatch(
            /^pgha: pg2 running after its restart: no progress for 300 s \(last seen: pg2: state starting for 30\d s, role replica \(Patroni shows no position while PostgreSQL stops or starts\)\)$/,
        );
        // 300 s after the last thing that moved (the start, at 100 s), not 300 s after the restart.
        expect(r.now).toBeGreaterThanOrEqual(400);
        expect(r.now).toBeLessThan(410);
    });

    test("a replica tagged noloadbalance (its GET /replica says 503) is back once GET /patroni shows it running as a replica", () => {
        const r = timed(
            {
                ...replicaRestart(
                    [
                        [0, { state: "restarting", role: "replica" }],
                        [20, replicaAt("2026-03-01 09:00:40+00", 80000000)],
                    ],
                    [20, 200, "restarted successfully"],
                ),
                noloadbalance: ["pg2"],
            },
            "m.restart_pending()",
        );
        expect(r.exit).toBeNull();
        expect(r.now).toBeLessThan(30);
    });

    test("a start Patroni reports failed ends the wait at once, whatever the stall bound", () => {
        const r = timed(
            replicaRestart(
                [
                    [0, { state: "restarting", role: "replica" }],
                    [10, { state: "starting", role: "replica" }],
                    [40, { state: "start failed", role: "replica" }],
                ],
                [40, 503, "restart failed"],
            ),
            "m.restart_pending()",
        );
        expect(r.exit).toMatch(/^pgha: restart of pg2 failed: Patroni reports start failed \(last seen: pg2: state start failed/);
        expect(r.now).toBeLessThan(50);
    });

    test("a state that keeps coming back is no progress: a start retried in a loop stalls", () => {
        const loop: [number, PatroniAnswer][] = [[0, { state: "restarting", role: "replica" }]];
        for (let t = 10; t < 2000; t += 40) loop.push([t, { state: "starting", role: "replica" }], [t + 20, { state: "crashed", role: "replica" }]);
        const r = timed(replicaRestart(loop, [25, 503, "restart failed"]), "m.restart_pending()");
        expect(r.exit).toMatch(/no progress for 300 s/);
        expect(r.now).toBeLessThan(400);
    });

    test("a switchover whose old leader takes long but moves (150 s checkpoint, its stop, a 230 s start as a replica) succeeds: 503 'status unknown' is no failure", () => {
        const r = timed(
            {
                idle: { pg1: { ...leaderRunning, pending_restart: true }, pg2: replicaAt("2026-03-01 09:00:05+00", 90000000) },
                after: {
                    pg1: [
                        [0, { ...leaderRunning, pending_restart: true }],
                        [150, { state: "stopping", role: "primary" }],
                        [260, { state: "stopped", role: "demoted" }],
                        [270, { state: "starting", role: "replica" }],
                        [500, { ...replicaAt("2026-03-01 09:08:20+00", 90001000), timeline: 2 }],
                    ],
                    pg2: [[265, { ...leaderRunning, timeline: 2, postmaster_start_time: "2026-03-01 09:00:05+00" }]],
                },
                answers: { switchover: [20, 503, "Switchover status unknown"] },
            },
            "m.restart_pending()",
        );
        expect(r.exit).toBeNull();
        expect(r.calls).toEqual(["switchover pg1 -> pg2"]);
        expect(r.now).toBeGreaterThanOrEqual(500);
        expect(r.printed).toMatch(/pgha: switchover pg1 -> pg2: pg1 state stopping, role primary; pg2 state running, role replica, 1\d\d s\n/);
        expect(r.printed).toMatch(/pgha: pg1 rejoining as a replica: state starting, role replica, \d+ s\n/);
        expect(r.printed).toMatch(/pgha: switched over pg1 -> pg2\n/);
        expect(r.printed).toMatch(/pg1 runs the new settings since its switchover/);
    });
});
