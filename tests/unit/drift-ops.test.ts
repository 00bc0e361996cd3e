// npm run drift (scripts/ops/drift.ts, drift-report.ts, server/pgha-drift.py, components/
// managed-manifest.ts) and pgha:repair: the manifest is exactly what placeFile and serviceUnit
// were given (checked against the registered tree, secrets kept out of the public output), the
// node program finds each kind of difference on real files (and never prints a secret file's
// hashes), the stdin split of program and manifest works in bash, and a repair key changes
// exactly the resources it names, plus the service reading them and the final verification.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { PostgresHaCluster } from "../../components/postgres-ha-cluster";
import { ByNode, ManagedFile, ManagedUnit } from "../../components/managed-manifest";
import { SERVER_DIR } from "../../components/pgha-tools";
import { sha256 } from "../../components/ssh";
import { driftBody, manifestOf, parseDriftArgs } from "../../scripts/ops/drift";
import { NodeDrift, nodePayload, renderDrift, repairCommandText, repairConfigArgs, repairKeys, repairToken } from "../../scripts/ops/drift-report";
import { FAKE_SECRETS, HOME, classicValues, classicWith, errorsOf, specOf } from "./fixtures";
import { parseClusterConfig, readRawConfig } from "../../core/config";
import { MOCK_SSH_KEY, Registered, changedSince, registerCluster, registerTree } from "./mock-cluster";
import { hasPython3, withProgram } from "./server-python";

jest.setTimeout(60_000);

describe("the manifest (mocks)", () => {
    let tree: Map<string, Registered>;
    let files: ByNode<ManagedFile>;
    let units: ByNode<ManagedUnit>;
    let secrets: Record<string, Record<string, string>>;
    let secretFlag: boolean;
    beforeAll(async () => {
        let cluster: PostgresHaCluster | undefined;
        const spec = specOf();
        tree = await registerTree(() => {
            cluster = new PostgresHaCluster(spec.clusterName, { spec, secrets: pulumi.secret(pulumi.output(FAKE_SECRETS)), sshPrivateKey: pulumi.secret(MOCK_SSH_KEY) });
            return cluster;
        });
        const read = <T>(o: pulumi.Output<T>): Promise<T> => new Promise((r) => o.apply((v) => r(v)));
        files = await read(cluster!.managedFiles);
        units = await read(cluster!.managedUnits);
        secrets = await read(cluster!.managedFileSecrets);
        secretFlag = await (cluster!.managedFileSecrets as unknown as { isSecret: Promise<boolean> }).isSecret;
    });

    test("every file resource (node:/path) is in managedFiles, and nothing else", () => {
        const placed = [...tree.keys()].filter((n) => /^[a-z0-9-]+:\//.test(n)).sort();
        const listed = Object.entries(files)
            .flatMap(([node, fs_]) => fs_.map((f) => `${node}:${f.path}`))
            .sort();
        expect(listed).toEqual(placed);
    });

    test("a plain file's sha256 is of the content placeFile sent; the stdin of its resource hashes to it", () => {
        const cfg = files.pg1.find((f) => f.path === "/etc/haproxy/haproxy.cfg")!;
        expect(cfg).toMatchObject({ owner: "root", group: "root", mode: "0644" });
        expect(cfg.sha256).toBe(sha256(String(tree.get("pg1:/etc/haproxy/haproxy.cfg")!.inputs.stdin)));
    });

    test("files holding secrets: 'secret' in the public output, their real hashes only in the secret one", () => {
        const key = files.pg1.find((f) => f.path === "/etc/pgha/tls/postgres.key")!;
        expect(key).toMatchObject({ sha256: "secret", owner: "postgres", mode: "0600" });
        expect(files.pg1.find((f) => f.path === "/etc/patroni/config.yml")!.sha256).toBe("secret");
        expect(secrets.pg1["/etc/patroni/config.yml"]).toMatch(/^[0-9a-f]{64}$/);
        expect(secretFlag).toBe(true);
        expect(JSON.stringify(files)).not.toContain(FAKE_SECRETS.superuserPassword);
    });

    test("etcd's config, which etcd-member.py rewrites on a joining member: mode and owner only", () => {
        expect(files.pg3.find((f) => f.path === "/etc/etcd/pgha-etcd.yml")!.sha256).toBe("unchecked");
    });

    test("the units each node runs, enabled and active", () => {
        expect(units.pg1.map((u) => u.unit)).toEqual(["etcd", "haproxy", "keepalived", "patroni", "pgha-etcd-leader-away"]);
        expect(units.pg3).toEqual([{ unit: "etcd", enabled: true, active: true }]);
    });
});

describe("pgha:repair (mocks)", () => {
    let base: Map<string, Registered>;
    beforeAll(async () => {
        base = await registerCluster(specOf());
    });
    const withRepair = (repair: Record<string, string>) => registerCluster(specOf(classicWith((v) => (v.repair = repair))));

    test("a file's token rewrites that file and reloads the service reading it; the verification runs again; nothing else", async () => {
        const next = await withRepair({ "pg1:/etc/haproxy/haproxy.cfg": "drift-20261130T112003Z" });
        expect(changedSince(base, next)).toEqual(["pg1:/etc/haproxy/haproxy.cfg", "pg1:haproxy", "pgsql:verify"]);
        expect(String(next.get("pg1:/etc/haproxy/haproxy.cfg")!.inputs.update)).toContain("# repair drift-20261130T112003Z");
        // The service's update is its usual apply (a reload), under a new digest.
        expect(String(next.get("pg1:haproxy")!.inputs.update)).not.toContain("repair: starting");
        expect([...next.keys()].sort()).toEqual([...base.keys()].sort());
    });

    test("a unit's token: enabled again and started when not active, else the usual apply; only that service", async () => {
        const next = await withRepair({ "pg2:patroni": "drift-20261130T112003Z" });
        expect(changedSince(base, next)).toEqual(["pg2:patroni", "pgsql:verify"]);
        const update = String(next.get("pg2:patroni")!.inputs.update);
        expect(update).toContain('systemctl is-active --quiet "$u" || all_active=false');
        expect(update).toContain("python3 /usr/local/libexec/pgha/patroni-wait.py --start ");
    });

    test("a secret file's token (a TLS key): that file and the services reading it", async () => {
        const next = await withRepair({ "pg1:/etc/pgha/tls/postgres.key": "7" });
        expect(changedSince(base, next)).toEqual(["pg1:/etc/pgha/tls/postgres.key", "pg1:patroni", "pgsql:verify"]);
    });

    test("the same token again changes nothing more: the key stays, later runs are no-ops", async () => {
        const a = await withRepair({ "pg1:/etc/haproxy/haproxy.cfg": "1" });
        const b = await withRepair({ "pg1:/etc/haproxy/haproxy.cfg": "1" });
        expect(changedSince(a, b)).toEqual([]);
    });

    test("keys naming an unknown node, or no path or unit, and tokens a shell would read, are refused", () => {
        const errs = errorsOf(classicWith((v) => (v.repair = { "pg9:/etc/x": "1", "pg1:": "1", "pg1:/etc/y": "a b;c" })));
        expect(errs).toEqual(
            expect.arrayContaining([
                expect.stringContaining(`pgha:repair["pg9:/etc/x"]: names pg9, which is not in pgha:nodes`),
                expect.stringContaining(`pgha:repair["pg1:"]`),
                expect.stringContaining("is not a repair token"),
            ]),
        );
    });

    test("as `pulumi config set --path 'pgha:repair[\"lab1:/etc/x\"]'` stores it (JSON text of the key), read by readRawConfig", () => {
        const values: Record<string, unknown> = { ...classicValues(), repair: { "pg1:/etc/haproxy/haproxy.cfg": "drift-20261130T112003Z", "pg2:keepalived": 2 } };
        const get = (k: string): string | undefined => {
            const v = values[k.slice("pgha:".length)];
            return v === undefined ? undefined : typeof v === "object" ? JSON.stringify(v) : String(v);
        };
        const raw = readRawConfig(
            Object.keys(values).map((k) => `pgha:${k}`),
            get,
            HOME,
        );
        const parsed = parseClusterConfig({ ...raw, secrets: { ...FAKE_SECRETS } });
        expect(parsed.ok && parsed.spec.repair).toEqual({ pg1: { "/etc/haproxy/haproxy.cfg": "drift-20261130T112003Z" }, pg2: { keepalived: "2" } });
    });

    test("absent or {}: the spec has no repair (the pinned trees stay as they are)", () => {
        expect(specOf().repair).toBeUndefined();
        expect(specOf({ ...classicValues(), repair: {} }).repair).toBeUndefined();
        expect(specOf(classicWith((v) => (v.repair = { "pg1:haproxy": 3 }))).repair).toEqual({ pg1: { haproxy: "3" } });
    });
});

describe("drift: the report and the repair keys", () => {
    const results: NodeDrift[] = [
        {
            node: "lab1",
            differences: [
                { path: "/etc/haproxy/haproxy.cfg", what: "content", expected: "sha256 aa", found: "sha256 bb" },
                { path: "/etc/haproxy/haproxy.cfg", what: "mode", expected: "0644", found: "0666" },
                { path: "/etc/patroni/config.yml", what: "content", expected: null, found: null },
                { unit: "keepalived", what: "active", expected: "active", found: "inactive" },
            ],
        },
        { node: "lab2", differences: [] },
        { node: "lab3", problem: "unreachable (ssh: connect to host 198.18.0.13 port 22: Connection timed out)" },
    ];

    test("each difference by node and path or unit; a secret file's hashes never shown", () => {
        expect(renderDrift("lab", results)).toBe(
            [
                "lab1  /etc/haproxy/haproxy.cfg  content differs: sha256 bb, the stack placed sha256 aa",
                "lab1  /etc/haproxy/haproxy.cfg  mode: 0666, the stack says 0644",
                "lab1  /etc/patroni/config.yml  content differs (a file holding secrets: hashes not shown)",
                "lab1  keepalived  active: inactive, the stack says active",
                "lab3  not checked: unreachable (ssh: connect to host 198.18.0.13 port 22: Connection timed out)",
                "stack lab: 4 differences, 1 node not checked",
                "",
            ].join("\n"),
        );
        expect(renderDrift("lab", [{ node: "lab1", differences: [] }])).toBe("stack lab: no drift on 1 node\n");
    });

    test("one repair key per drifted thing; the commands", () => {
        expect(repairKeys(results)).toEqual(["lab1:/etc/haproxy/haproxy.cfg", "lab1:/etc/patroni/config.yml", "lab1:keepalived"]);
        const token = repairToken(new Date("2026-11-30T11:20:03.456Z"));
        expect(token).toBe("drift-20261130T112003Z");
        expect(repairConfigArgs("lab", "lab1:/etc/x.cfg", token)).toEqual(["config", "set", "--path", 'pgha:repair["lab1:/etc/x.cfg"]', token, "--stack", "lab"]);
        expect(repairCommandText("lab", "lab1:keepalived", token)).toBe(`pulumi config set --path 'pgha:repair["lab1:keepalived"]' drift-20261130T112003Z --stack lab`);
    });

    test("each node's payload: secret hashes filled in and flagged, rewritten files not compared", () => {
        const files: ManagedFile[] = [
            { path: "/a", sha256: "11", owner: "root", group: "root", mode: "0644" },
            { path: "/s", sha256: "secret", owner: "postgres", group: "postgres", mode: "0600" },
            { path: "/e", sha256: "unchecked", owner: "etcd", group: "etcd", mode: "0640" },
        ];
        expect(nodePayload("lab1", files, { "/s": "22" }, []).files.map((f) => [f.path, f.sha256, f.secret])).toEqual([
            ["/a", "11", false],
            ["/s", "22", true],
            ["/e", null, false],
        ]);
        expect(() => nodePayload("lab1", files, {}, [])).toThrow("managedFileSecrets has no hash for lab1:/s");
    });

    test("arguments; a stack deployed before the manifest existed", () => {
        expect(parseDriftArgs(["--stack", "lab", "--fix"])).toEqual({ ok: true, stack: "lab", fix: true });
        expect(parseDriftArgs(["--stack", "lab", "--json"])).toMatchObject({ ok: false, message: "unknown argument --json" });
        expect(() => manifestOf("old", { clusterShape: {} })).toThrow("no stack outputs managedFiles and managedUnits");
    });
});

(hasPython3 ? describe : describe.skip)("pgha-drift.py on real files (python3)", () => {
    let dir: string;
    const me = os.userInfo().username;
    const myGroup = spawnSync("id", ["-gn"], { encoding: "utf8" }).stdout.trim();
    const want = (p: string, content: string, extra: Record<string, unknown> = {}) => ({ path: path.join(dir, p), sha256: sha256(content), owner: me, group: myGroup, mode: "0640", ...extra });
    beforeAll(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgha-drift-"));
        for (const [f, c] of [
            ["same", "a\n"],
            ["edited", "b-edited\n"],
            ["secret", "password=x\n"],
            ["loose", "c\n"],
        ]) {
            fs.writeFileSync(path.join(dir, f), c, { mode: 0o640 });
            fs.chmodSync(path.join(dir, f), 0o640);
        }
        fs.chmodSync(path.join(dir, "loose"), 0o666);
        fs.symlinkSync("/etc/hostname", path.join(dir, "link"));
    });
    afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

    const run = (manifest: unknown): { differences: { path?: string; unit?: string; what: string; expected: unknown; found: unknown }[] } => {
        const program = fs.readFileSync(path.join(SERVER_DIR, "pgha-drift.py"), "utf8");
        // As drift.ts runs it: the program and then the manifest on one stdin.
        const r = spawnSync("bash", ["-c", `set -euo pipefail\n${driftBody(Buffer.byteLength(program))}`], {
            input: program + JSON.stringify(manifest),
            encoding: "utf8",
            env: { ...process.env, PYTHONDONTWRITEBYTECODE: "1" },
        });
        expect(r.stderr).toBe("");
        return JSON.parse(r.stdout);
    };

    test("each kind of difference; an unchanged file has none; a secret file's hashes are not in the output", () => {
        const out = run({
            files: [
                want("same", "a\n"),
                want("edited", "b\n"),
                want("secret", "password=y\n", { secret: true }),
                want("loose", "c\n"),
                want("gone", "d\n"),
                want("link", "e\n"),
                want("same", "ignored: not compared\n", { sha256: null, owner: "nobody-such-user" }),
            ],
            units: [],
        });
        const p = (f: string) => path.join(dir, f);
        expect(out.differences).toEqual([
            { path: p("edited"), what: "content", expected: `sha256 ${sha256("b\n")}`, found: `sha256 ${sha256("b-edited\n")}` },
            { path: p("secret"), what: "content", expected: null, found: null },
            { path: p("loose"), what: "mode", expected: "0640", found: "0666" },
            { path: p("gone"), what: "missing", expected: "a file", found: "nothing" },
            { path: p("link"), what: "type", expected: "a regular file", found: "a symbolic link" },
            { path: p("same"), what: "owner", expected: "nobody-such-user", found: me },
        ]);
        expect(JSON.stringify(out)).not.toContain(sha256("password=y\n"));
    });

    test("units: is-enabled and is-active as systemctl answers them (a stand-in)", () => {
        const code = `import json
answers = {("is-enabled", "patroni"): "enabled", ("is-active", "patroni"): "active", ("is-enabled", "keepalived"): "disabled", ("is-active", "keepalived"): "inactive"}
print(json.dumps(m.differences({"units": [{"unit": "patroni", "enabled": True, "active": True}, {"unit": "keepalived", "enabled": True, "active": True}]}, ask=lambda v, u: answers[(v, u)])))`;
        expect(JSON.parse(withProgram("pgha-drift.py", code))).toEqual([
            { unit: "keepalived", what: "enabled", expected: "enabled", found: "disabled" },
            { unit: "keepalived", what: "active", expected: "active", found: "inactive" },
        ]);
    });
});
