// npm run status (scripts/ops/status.ts, status-report.ts, server/pgha-status.py): the node
// program's parsers on the formats the tools print (Patroni 4.0's GET /cluster, etcdctl 3.5's
// endpoint status, HAProxy's `show stat`, `ip -o addr`), what each node is asked, and the
// merged report on two fixtures: a healthy 3-node cluster, and the moment after the leader's
// host was powered off (one node unreachable, a new leader, one node's REST call timing out).
// The fixtures in tests/unit/status-ops/ are written from those formats, not captured on the lab.
import * as fs from "fs";
import * as path from "path";
import { CliConfig, specFromCli } from "../../scripts/ops/stack";
import { nodeCertPaths, nodeUnits, parseStatusArgs, statusBody, statusParams } from "../../scripts/ops/status";
import { NodeResult, StatusInput, renderStatus, statusReport } from "../../scripts/ops/status-report";
import { hasPython3, pyOk, withProgram } from "./server-python";

const DIR = path.join(__dirname, "status-ops");
const text = (f: string): string => fs.readFileSync(path.join(DIR, f), "utf8");
const json = (f: string): any => JSON.parse(text(f));
const CONFIG: CliConfig = json("../backup-ops/pulumi-config-bk.json");

const input = (results: NodeResult[]): StatusInput => ({
    stack: "lab",
    cluster: "pgsql",
    checkedAt: "2026-11-30T11:20:03.000Z",
    members: ["lab1", "lab2", "lab3"],
    vip: "198.18.0.100",
    results,
    backup: { newest: { label: "20261130-040016F_20261130-110002D", type: "diff", stop: "2026-11-30T11:00:05Z" }, status: "ok", archiving: "current" },
});

describe("status: the merged report", () => {
    test("a healthy cluster: members, VIP, etcd leader, HAProxy, certificates, backup, no problem", () => {
        const r = statusReport(input(json("answers-healthy.json")));
        expect(r.problems).toEqual([]);
        expect(r.patroni.seenFrom).toBe("lab1");
        expect(r.patroni.members.map((m) => [m.name, m.role, m.state, m.timeline, m.lag])).toEqual([
            ["lab1", "leader", "running", 3, null],
            ["lab2", "replica", "streaming", 3, 0],
            ["lab3", "replica", "streaming", 3, 16384],
        ]);
        expect(r.vip).toEqual({ address: "198.18.0.100", holders: ["lab1"] });
        expect(r.etcd.leader).toBe("lab2");
        expect(r.certificates[0]).toEqual({ node: "lab1", path: "/etc/pgha/tls/ca.crt", notAfter: "2036-11-20T09:12:44Z", daysLeft: 3642 });
        // The readable form, as the README shows it.
        expect(renderStatus(r)).toBe(text("status-healthy.txt"));
    });

    test("a failover under way: the unreachable node, the views that differ, the VIP and HAProxy as each node sees them", () => {
        const r = statusReport(input(json("answers-failover.json")));
        expect(r.unreachable.map((u) => u.node)).toEqual(["lab1"]);
        expect(r.patroni.seenFrom).toBe("lab2");
        expect(r.etcd.leader).toBe("lab2");
        expect(r.problems).toEqual([
            "lab1: unreachable (SSH to root@198.18.0.11:22 failed: ssh: connect to host 198.18.0.11 port 22: Connection timed out)",
            "lab3: Patroni's REST API: URLError: <urlopen error timed out>",
            "Patroni: member lab1 is not in the cluster",
            "Patroni: lab3 is on timeline 3, the leader on 4",
        ]);
        expect(renderStatus(r)).toBe(text("status-failover.txt"));
    });

    test("two nodes seeing different leaders, no VIP holder, an expiring certificate, archiving behind: each is a problem", () => {
        const healthy: any[] = json("answers-healthy.json");
        healthy[1].answer.patroni.members[0].role = "replica";
        healthy[1].answer.patroni.members[1].role = "leader";
        healthy[0].answer.vip.held = false;
        healthy[2].answer.certs[1].notAfter = "2026-12-10T00:00:00Z";
        healthy[2].answer.units.keepalived = "failed";
        const r = statusReport({ ...input(healthy), backup: { newest: null, status: "ok", archiving: "behind" } });
        expect(r.problems).toEqual([
            "Patroni: lab2 sees leader lab2, lab1 sees lab1",
            "VIP 198.18.0.100: held by no node that answered",
            "lab3: /etc/pgha/tls/etcd.crt expires in 9 days (2026-12-10T00:00:00Z); pulumi up renews it",
            "lab3: keepalived is failed",
            "backup: archiving is behind",
        ]);
    });

    test("nobody answers: no member, no etcd leader, every node named", () => {
        const results: NodeResult[] = ["lab1", "lab2", "lab3"].map((n) => ({ node: n, roles: ["etcd", "postgres"], problem: "no answer within 40 s" }));
        const r = statusReport({ ...input(results), vip: null });
        expect(r.problems).toEqual(["lab1: no answer within 40 s", "lab2: no answer within 40 s", "lab3: no answer within 40 s", "Patroni: no PostgreSQL node answered", "etcd: no leader seen"]);
        expect(renderStatus(r)).toContain("5 problems:");
    });
});

describe("status: what each node is asked", () => {
    const spec = specFromCli("bk", CONFIG);
    test("the arguments", () => {
        expect(parseStatusArgs(["--stack", "lab", "--json"])).toEqual({ ok: true, stack: "lab", json: true });
        expect(parseStatusArgs(["--stack=lab"])).toEqual({ ok: true, stack: "lab", json: false });
        expect(parseStatusArgs([])).toMatchObject({ ok: false, message: "--stack NAME is required" });
        expect(parseStatusArgs(["--stack", "a", "--stack", "b"])).toMatchObject({ ok: false, message: "--stack given twice" });
        expect(parseStatusArgs(["--stack", "a", "--json"], "drift")).toMatchObject({ ok: false, message: "unknown argument --json" });
    });

    test("each node's units, certificates and probes follow its roles; the parameters hold no secret", () => {
        for (const node of spec.nodes) {
            const p = statusParams(spec, node);
            expect(p.units).toEqual(nodeUnits(spec, node));
            expect(p.certs).toEqual(nodeCertPaths(node));
            expect("patroniUrl" in p).toBe(node.roles.includes("postgres"));
            expect("etcd" in p).toBe(node.roles.includes("etcd"));
            expect("haproxy" in p).toBe(node.roles.includes("haproxy"));
            expect(JSON.stringify(p)).not.toMatch(/password|secret|BEGIN/i);
        }
        const backupHost = spec.nodes.find((n) => n.roles.includes("backup"))!;
        expect(nodeUnits(spec, backupHost)).toEqual(["pgha-pgbackrest-server.service"]);
    });

    test("the program comes on stdin and runs from a private temporary file; the parameters are one quoted argument", () => {
        const body = statusBody({ node: "lab1", vip: "198.18.0.100" });
        expect(body).toBe(`t=$(mktemp /tmp/pgha-status.XXXXXX)\ntrap 'rm -f "$t"' EXIT\ncat >"$t"\npython3 "$t" '{"node":"lab1","vip":"198.18.0.100"}'`);
    });
});

(hasPython3 ? describe : describe.skip)("pgha-status.py: the parsers (python3)", () => {
    test("the VIP in `ip -o addr` (a secondary address), not a prefix of another address", () => {
        expect(pyOk("pgha-status.py", "holds_vip", text("ip-o-addr.txt"), "198.18.0.100")).toBe(true);
        expect(pyOk("pgha-status.py", "holds_vip", text("ip-o-addr.txt"), "198.18.0.1")).toBe(false);
        expect(pyOk("pgha-status.py", "holds_vip", text("ip-o-addr.txt"), "198.18.0.10")).toBe(false);
    });

    test("Patroni's /cluster: role, state, timeline, lag (none for the leader)", () => {
        expect(pyOk("pgha-status.py", "patroni_summary", json("patroni-cluster-4.0.json"))).toEqual({
            members: [
                { name: "lab1", role: "leader", state: "running", timeline: 3, lag: null, host: "198.18.0.11" },
                { name: "lab2", role: "replica", state: "streaming", timeline: 3, lag: 0, host: "198.18.0.12" },
                { name: "lab3", role: "sync_standby", state: "streaming", timeline: 3, lag: 16384, host: "198.18.0.13" },
            ],
        });
    });

    test("etcdctl endpoint status: uint64 member ids as hex, exactly (JavaScript numbers would round them)", () => {
        // Read in Python: JSON.parse here would already have rounded the ids.
        const out = withProgram("pgha-status.py", "import json\nprint(json.dumps(m.etcd_summary(json.load(open(sys.argv[1])))))", [path.join(DIR, "etcdctl-endpoint-status.json")]);
        expect(JSON.parse(out)).toEqual({ memberId: "8211f1d0f64f3269", leaderId: "91bc3c398fb3c146", raftTerm: 4, version: "3.5.16", dbSize: 262144, errors: [] });
    });

    test("HAProxy's show stat: each backend server, the stats proxy and FRONTEND/BACKEND rows left out", () => {
        const servers = pyOk("pgha-status.py", "haproxy_servers", text("haproxy-show-stat.csv")) as { proxy: string; server: string; status: string }[];
        expect(servers.map((s) => `${s.proxy}/${s.server}=${s.status}`)).toEqual([
            "primary/lab1=UP",
            "primary/lab2=DOWN",
            "primary/lab3=DOWN",
            "replica/lab1=DOWN",
            "replica/lab2=UP",
            "replica/lab3=UP",
        ]);
    });

    test("openssl's notAfter as ISO 8601 UTC", () => {
        expect(pyOk("pgha-status.py", "parse_not_after", "notAfter=Nov 30 09:12:51 2027 GMT\n")).toBe("2027-11-30T09:12:51Z");
    });
});
