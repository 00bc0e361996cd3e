// pgha:vip.manager vip-manager: validation, rendering, the endpoints, the build, and the
// program's decisions (server/pgha-vip-manager.py). The VIP moving on real hosts is the
// drill suite's (tests/e2e/drill.e2e.test.ts).
import { spawnSync } from "child_process";
import { restartUnlessListening } from "../../components/vip-manager";
import { classicWith, errorsOf, specOf } from "./fixtures";
import { registerCluster, remoteCommands } from "./mock-cluster";
import { callPython, hasPython3 } from "./server-python";
import { clusterEndpoints, connectionString } from "../../core/topology";
import { VIP_MANAGER_CONFIG_PATH, renderVipManagerConfig, renderVipManagerUnit } from "../../core/render/vip-manager";
import { verificationScript } from "../../components/cluster-verification";
import { renderPgbouncerIni } from "../../core/render/pgbouncer";

/** Three all-PostgreSQL nodes, no balancer roles, the VIP on the leader. */
const vipManagerValues = () =>
    classicWith((v) => {
        v.nodes = v.nodes.map((n: { roles: string[] }) => ({ ...n, roles: ["etcd", "postgres"] }));
        v.vip.manager = "vip-manager";
    });

describe("validation", () => {
    test("vip-manager with only etcd and postgres roles is valid and needs no keepalived password", () => {
        const spec = specOf(vipManagerValues(), { superuserPassword: "a-superuser-pw", replicationPassword: "a-replication-pw" });
        expect(spec.vip?.manager).toBe("vip-manager");
    });

    test("the default is keepalived", () => {
        expect(specOf().vip?.manager).toBe("keepalived");
    });

    test("an unknown manager is refused, naming the key", () => {
        const errors = errorsOf(classicWith((v) => (v.vip.manager = "ucarp")));
        expect(errors.join("\n")).toMatch(/pgha:vip\.manager: "ucarp" is not a VIP manager \(expected one of keepalived, vip-manager\)/);
    });

    test("keepalived and haproxy roles are refused with vip-manager, each at its node's roles", () => {
        const errors = errorsOf(classicWith((v) => (v.vip.manager = "vip-manager")));
        const text = errors.join("\n");
        expect(text).toMatch(/pgha:nodes\[0\]\.roles: has the keepalived role, which would also claim the VIP/);
        expect(text).toMatch(/pgha:nodes\[1\]\.roles: has the keepalived role/);
        expect(text).toMatch(/pgha:nodes\[0\]\.roles: has the haproxy role/);
        expect(text).toMatch(/pgha:nodes\[1\]\.roles: has the haproxy role/);
        // pg3 holds etcd only.
        expect(text).not.toMatch(/pgha:nodes\[2\]/);
    });

    test("every postgres node must share the VIP's subnet (any of them may hold it)", () => {
        const errors = errorsOf(
            classicWith((v) => {
                v.nodes = v.nodes.map((n: { roles: string[] }) => ({ ...n, roles: ["etcd", "postgres"] }));
                v.nodes[2].address = "172.51.217.83";
                v.postgres.allowedClientCidrs = ["172.51.0.0/16"];
                v.vip.manager = "vip-manager";
            }),
        );
        expect(errors.join("\n")).toMatch(/pgha:nodes\[2\]\.address: "172\.51\.217\.83" is outside the VIP's subnet 172\.51\.216\.0\/24; with vip-manager/);
    });
});

describe("rendering and endpoints", () => {
    const spec = specOf(vipManagerValues());
    const node = spec.nodes[1];

    test("the program's settings: this member, Patroni's leader key, every etcd member over TLS, nothing secret", () => {
        const f = renderVipManagerConfig(spec, node);
        expect(f.path).toBe(VIP_MANAGER_CONFIG_PATH);
        expect(f.mode).toBe("0644");
        const c = JSON.parse(f.content);
        expect(c).toMatchObject({
            member: "pg2",
            triggerKey: "/service/pgsql/leader",
            address: "172.51.216.88",
            prefixLength: 24,
            interface: "eth0",
            etcdEndpoints: ["https://172.51.216.81:2379", "https://172.51.216.82:2379", "https://172.51.216.83:2379"],
            ttl: spec.patroni.ttl,
        });
        expect(f.content).not.toMatch(/password|fake-/i);
    });

    test("the unit names the program's hash, so a new version restarts it", () => {
        expect(renderVipManagerUnit(spec, "/usr/local/libexec/pgha/pgha-vip-manager.py", "abc123").content).toMatch(
            /# program sha256:abc123[\s\S]*ExecStart=\/usr\/bin\/python3 \/usr\/local\/libexec\/pgha\/pgha-vip-manager\.py --config \/etc\/pgha\/vip-manager\.json/,
        );
    });

    test("clients reach PostgreSQL on the VIP itself; replicas at their addresses; no stats page", () => {
        const ep = clusterEndpoints(spec);
        expect(ep.primary).toBe("172.51.216.88:5432");
        expect(ep.replica).toBe("172.51.216.81:5432,172.51.216.82:5432,172.51.216.83:5432");
        expect(ep.statsUrl).toBeUndefined();
        expect(connectionString(spec, "pw")).toMatch(/@172\.51\.216\.88:5432\/postgres\?/);
        expect(verificationScript(spec, 180)).toMatch(/--front '172\.51\.216\.88:5432'/);
        expect(verificationScript(spec, 180)).not.toMatch(/--stats/);
    });
});

describe("the build", () => {
    jest.setTimeout(60_000);
    test("one vip-manager service per postgres node, each after every node's keepalived release; no keepalived, no HAProxy", async () => {
        const spec = specOf(vipManagerValues());
        const names = remoteCommands(await registerCluster(spec)).map((c) => c.name);
        expect(names.filter((n) => n.endsWith(":vip-manager")).sort()).toEqual(["pg1:vip-manager", "pg2:vip-manager", "pg3:vip-manager"]);
        // Only the one-time release of a keepalived a switch leaves behind, before any vip-manager starts.
        expect(names.filter((n) => /keepalived|haproxy/.test(n)).sort()).toEqual(["pg1:release-keepalived", "pg2:release-keepalived", "pg3:release-keepalived"]);
        const tree = await registerCluster(spec);
        for (const n of ["pg1", "pg2", "pg3"])
            expect(tree.get(`${n}:vip-manager`)!.deps).toEqual(expect.arrayContaining(["pg1:release-keepalived", "pg2:release-keepalived", "pg3:release-keepalived"]));
    });

    test("the keepalived mode builds no vip-manager", async () => {
        const names = remoteCommands(await registerCluster(specOf())).map((c) => c.name);
        expect(names.filter((n) => n.includes("vip-manager"))).toEqual([]);
        expect(names.filter((n) => n.endsWith(":keepalived")).length).toBe(2);
    });
});

(hasPython3 ? describe : describe.skip)("pgha-vip-manager.py's decisions", () => {
    const decide = (leader: string | null, holding: boolean, downFor: number | null) =>
        (callPython("pgha-vip-manager.py", "decide", [leader, "pg1", holding, downFor === null ? null : 100 - downFor, 100, 30]) as { ok: string | null }).ok;

    test.each([
        ["pg1", false, null, "add"],
        ["pg1", true, null, null],
        ["pg2", true, null, "del"],
        ["pg2", false, null, null],
        ["", true, null, "del"],
        // etcd unreadable: the VIP stays for ttl, then goes.
        [null, true, 5, null],
        [null, true, 30, "del"],
        [null, false, 60, null],
    ])("leader %p, holding %p, etcd down for %p s: %p", (leader, holding, downFor, expected) => {
        expect(decide(leader as string | null, holding as boolean, downFor as number | null)).toBe(expected);
    });

    test("the gratuitous ARP frame: broadcast, ARP, request, sender = target = the VIP", () => {
        const hex = (callPython("pgha-vip-manager.py", "garp_hex", ["02:00:00:00:00:01", "198.18.0.100"]) as { ok: string }).ok;
        const b = Buffer.from(hex, "hex");
        expect(b.length).toBe(42);
        expect(b.subarray(0, 6).toString("hex")).toBe("ffffffffffff");
        expect(b.subarray(6, 12).toString("hex")).toBe("020000000001");
        expect(b.readUInt16BE(12)).toBe(0x0806);
        expect(b.readUInt16BE(20)).toBe(1);
        expect(b.subarray(28, 32).toString("hex")).toBe("c6120064");
        expect(b.subarray(38, 42).toString("hex")).toBe("c6120064");
    });
});

describe("the listen-address restart", () => {
    test("waits for PostgreSQL's own pending flag before restarting, and fails unless it then listens on the VIP; bash parses it", () => {
        const text = restartUnlessListening(specOf(vipManagerValues()), "pg1");
        expect(text).toMatch(/select pending_restart from pg_settings where name = 'listen_addresses'/);
        expect(text).toMatch(/grep -qxF '172\.51\.216\.88'/);
        expect(text).toMatch(/does not listen on the VIP 172\.51\.216\.88 after 90 s/);
        expect(spawnSync("bash", ["-n", "-c", text]).status).toBe(0);
    });
});

describe("PgBouncer in vip-manager mode", () => {
    test("listens on the node's address and the VIP, but reaches PostgreSQL at the node's address only (the name its certificate holds)", () => {
        // The lab once rendered host=<address>,<VIP>: PgBouncer checked that whole string against the certificate and every login failed.
        const spec = specOf({ ...vipManagerValues(), pgbouncer: { port: 6432 } });
        const node = spec.nodes[0];
        const ini = renderPgbouncerIni(spec, node).content;
        expect(ini).toMatch(new RegExp(`^listen_addr = ${node.address.replace(/\./g, "\\.")},${spec.vip!.address.replace(/\./g, "\\.")}$`, "m"));
        expect(ini).toMatch(new RegExp(`^\\* = host=${node.address.replace(/\./g, "\\.")} port=5432$`, "m"));
        for (const line of ini.split("\n").filter((l) => /host=/.test(l))) expect(line).not.toContain(spec.vip!.address);
    });
});
