// pgha:monitoring's components under pulumi.runtime.setMocks: what each node gets, where the
// monitoring role's password travels (stdin only), what a day-2 edit touches (adding a node: the
// targets file and Prometheus' reload, nothing else of monitoring's), and the tree pinned in
// golden-tree/monitoring.json. Without pgha:monitoring the tree is the one pinned before it existed.
import { Secrets } from "../../core/spec";
import { FAKE_SECRETS, classicValues, classicWith, specOf } from "./fixtures";
import { Registered, changedSince, registerCluster as register, remoteCommands as commands } from "./mock-cluster";
import { pinnedTree, treeFingerprint } from "./tree-snapshot";

jest.setTimeout(120_000);

const monitored = (edit: (v: any) => void = () => {}) =>
    classicWith((v) => {
        v.monitoring = { prometheusHost: "pg3" };
        edit(v);
    });
const pg4 = { name: "pg4", address: "172.51.216.84", roles: ["postgres"] };
const texts = (c: Registered) => JSON.stringify([c.inputs.create, c.inputs.update, c.inputs.delete]);

describe("monitoring wiring (mocks)", () => {
    let tree: Map<string, Registered>;
    let without: Map<string, Registered>;
    beforeAll(async () => {
        tree = await register(specOf(monitored()));
        without = await register(specOf(classicValues()));
    });

    test("the tree is pinned (golden-tree/monitoring.json); without the block it is classic.json, byte for byte", () => {
        expect(treeFingerprint(tree)).toEqual(pinnedTree("monitoring", tree));
        expect(treeFingerprint(without)).toEqual(pinnedTree("classic", without));
        expect([...without.keys()].filter((n) => /exporter|prometheus|monitor/.test(n))).toEqual([]);
    });

    test("every node gets node_exporter, PostgreSQL nodes postgres_exporter and the role step, pg3 Prometheus; all beside the cluster", () => {
        const added = commands(tree)
            .filter((c) => !without.has(c.name))
            .map((c) => c.name)
            .sort();
        const everyNode = (n: string) => [
            `${n}:/etc/default/prometheus-node-exporter`,
            `${n}:/etc/pgha/monitoring/exporter-web.yml`,
            `${n}:/etc/pgha/tls/prometheus.crt`,
            `${n}:/etc/pgha/tls/prometheus.key`,
            `${n}:/var/lib/pgha/node-exporter/pgha-certificates.prom`,
            `${n}:prometheus-node-exporter`,
        ];
        const pgNode = (n: string) => [
            `${n}:/etc/default/prometheus-postgres-exporter`,
            `${n}:/etc/pgha/monitoring/postgres-exporter.password`,
            `${n}:/usr/local/libexec/pgha/pg-monitor-role.py`,
            `${n}:monitor-role`,
            `${n}:prometheus-postgres-exporter`,
        ];
        const prometheus = [
            "pg3:/etc/default/prometheus",
            "pg3:/etc/pgha/prometheus/prometheus.yml",
            "pg3:/etc/pgha/prometheus/rules.yml",
            "pg3:/etc/pgha/prometheus/targets.json",
            "pg3:/etc/pgha/prometheus/web.yml",
            "pg3:prometheus",
        ];
        expect(added).toEqual([...everyNode("pg1"), ...pgNode("pg1"), ...everyNode("pg2"), ...pgNode("pg2"), ...everyNode("pg3"), ...prometheus].sort());
        // Packages: the exporters, Prometheus on pg3 only.
        expect(String(tree.get("pg1:packages")!.inputs.create)).toContain(`--package '\\''prometheus-postgres-exporter'\\''`);
        expect(String(tree.get("pg3:packages")!.inputs.create)).toContain(`--package '\\''prometheus'\\''`);
        expect(String(tree.get("pg3:packages")!.inputs.create)).not.toContain("postgres-exporter");
        expect(String(tree.get("pg1:packages")!.inputs.create)).not.toContain(`--package '\\''prometheus'\\''`);
        // Nothing of the cluster waits for monitoring (beyond HostPrep's helper programs, as for every feature).
        for (const name of ["pgsql:verify", "pg1:haproxy", "pg1:patroni"]) expect(tree.get(name)!.deps.filter((d) => /exporter|prometheus|monitor-role$/.test(d))).toEqual([]);
        // HAProxy's stats listener serves /metrics (and changed for it).
        expect(changedSince(without, tree)).toEqual(expect.arrayContaining(["pg1:/etc/haproxy/haproxy.cfg", "pg1:haproxy"]));
    });

    test("switching it on changes, of what runs: pg_hba (one dynamic-config update), HAProxy's config (a reload), the packages steps", () => {
        // No Patroni config, etcd or keepalived file changes: nothing of the cluster restarts.
        expect(changedSince(without, tree)).toEqual([
            ...["pg1", "pg2"].flatMap((n) => [`${n}:/etc/haproxy/haproxy.cfg`, `${n}:haproxy`, `${n}:packages`, `${n}:preflight`]),
            "pg3:packages",
            "pg3:preflight",
            "pgsql:dynamic-config",
            "pgsql:verify",
        ]);
    });

    test("order: the role after the leader and its pg_hba; postgres_exporter after the role and its own Patroni", () => {
        const deps = (name: string) => tree.get(name)!.deps;
        for (const n of ["pg1", "pg2"]) {
            expect(deps(`${n}:monitor-role`)).toEqual(expect.arrayContaining(["pg1:patroni", "pgsql:dynamic-config"]));
            expect(deps(`${n}:prometheus-postgres-exporter`)).toEqual(expect.arrayContaining(["pg1:monitor-role", "pg2:monitor-role", `${n}:patroni`]));
        }
    });

    test("the commands: the role step as postgres (--disable on delete); exporters and Prometheus restart only when their arguments change", () => {
        const role = tree.get("pg1:monitor-role")!;
        expect(String(role.inputs.create)).toContain("runuser -u postgres -- python3 /usr/local/libexec/pgha/pg-monitor-role.py '\\''/var/run/postgresql'\\'' 5432");
        expect(String(role.inputs.delete)).toContain("--disable");
        const prom = tree.get("pg3:prometheus")!;
        expect(String(prom.inputs.update)).toContain("systemctl reload prometheus");
        expect(String(prom.inputs.update)).toContain("a setting only a restart applies changed: restarting");
        expect(String(prom.inputs.delete)).toContain("systemctl disable --now prometheus");
        expect(String(tree.get("pg1:prometheus-node-exporter")!.inputs.delete)).toContain("systemctl disable --now prometheus-node-exporter");
    });

    test("the monitoring password is in no command text, only on the stdin of the role steps, the password files and the services' digests", async () => {
        const distinct: Secrets = { ...FAKE_SECRETS, monitoringPassword: "Monitor-Distinct-PW-42" };
        const m = await register(specOf(monitored()), distinct);
        for (const c of commands(m)) expect([c.name, texts(c).includes("Monitor-Distinct-PW-42")]).toEqual([c.name, false]);
        const carrying = commands(m)
            .filter((c) => JSON.stringify(c.inputs.stdin ?? "").includes("Monitor-Distinct-PW-42"))
            .map((c) => c.name)
            .sort();
        expect(carrying).toEqual(["pg1:/etc/pgha/monitoring/postgres-exporter.password", "pg1:monitor-role", "pg2:/etc/pgha/monitoring/postgres-exporter.password", "pg2:monitor-role"]);
    });

    test("day 2: adding a node changes, of monitoring's, only the targets file and Prometheus (a reload); of the rest, only what it changes without monitoring", async () => {
        const bigger = await register(specOf(monitored((v) => v.nodes.push(pg4))));
        const biggerWithout = await register(specOf(classicWith((v) => v.nodes.push(pg4))));
        const fromMonitoring = changedSince(tree, bigger).filter((n) => !changedSince(without, biggerWithout).includes(n));
        expect(fromMonitoring).toEqual(["pg3:/etc/pgha/prometheus/targets.json", "pg3:prometheus"]);
        // The new node's own exporters come with it.
        expect(bigger.has("pg4:prometheus-node-exporter") && bigger.has("pg4:prometheus-postgres-exporter")).toBe(true);
        // What Prometheus runs then: its reload (the arguments did not change).
        const prom = bigger.get("pg3:prometheus")!;
        expect(String(prom.inputs.update)).toContain("systemctl reload prometheus");
        const body = (r: Registered) => String(r.inputs.update).replace(/# prometheus config [0-9a-f]{16}/, "");
        expect(body(prom)).toBe(body(tree.get("pg3:prometheus")!));
    });

    test("day 2: a new retention rewrites /etc/default/prometheus and restarts Prometheus only; a threshold rewrites the rules and reloads", async () => {
        const longer = await register(specOf(monitored((v) => (v.monitoring.retention = "30d"))));
        expect(changedSince(tree, longer)).toEqual(["pg3:/etc/default/prometheus", "pg3:prometheus", "pgsql:verify"]);
        const stricter = await register(specOf(monitored((v) => (v.monitoring.alerts = { diskFreePercent: 25 }))));
        expect(changedSince(tree, stricter)).toEqual(["pg3:/etc/pgha/prometheus/rules.yml", "pg3:prometheus", "pgsql:verify"]);
    });
});
