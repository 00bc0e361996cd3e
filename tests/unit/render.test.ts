import { needsLeaderAway, renderLeaderAwayUnit } from "../../core/render/etcd-leader-away";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { parse as parseYaml } from "yaml";
import { FAKE_SECRETS, classicWith, specOf } from "./fixtures";
import { ETCD_BOOTSTRAP_ONLY_KEYS, etcdConfigObject, etcdRestartFingerprint, etcdRestartRelevant, renderEtcdConfig } from "../../core/render/etcd";
import { patroniConfigObject, patroniDynamicConfig, renderPatroniConfig, renderPatroniConfigRedacted } from "../../core/render/patroni";
import { renderHaproxyConfig } from "../../core/render/haproxy";
import { renderKeepalivedConfig, renderKeepalivedConfigRedacted } from "../../core/render/keepalived";
import { renderNodeFiles } from "../../core/render/node";
import { PLACEHOLDER_SECRETS, RenderedFile, toYaml11 } from "../../core/render/file";
import { renderTemplate } from "../../core/render/templates";

const GOLDEN_DIR = path.join(__dirname, "golden");
const UPDATE = process.env.UPDATE_GOLDEN === "1";
const classic = specOf();

/** tests/unit/golden/<node><path with / as _>.golden */
function goldenName(node: string, file: RenderedFile): string {
    return `${node}${file.path.replace(/\//g, "_")}.golden`;
}

function checkGolden(name: string, content: string): void {
    const p = path.join(GOLDEN_DIR, name);
    if (UPDATE) {
        fs.mkdirSync(GOLDEN_DIR, { recursive: true });
        fs.writeFileSync(p, content);
        return;
    }
    if (!fs.existsSync(p)) throw new Error(`missing golden file ${name}: run UPDATE_GOLDEN=1 npm run test:unit`);
    expect(content).toBe(fs.readFileSync(p, "utf8"));
}

describe("golden files of the classic example", () => {
    const all = classic.nodes.flatMap((n) => renderNodeFiles(classic, n, FAKE_SECRETS).map((f) => ({ node: n.name, file: f })));

    test.each(all.map(({ node, file }) => [goldenName(node, file), node, file] as const))("%s", (name, _node, file) => {
        checkGolden(name, file.content);
    });

    test("manifest: which files go where, with mode and owner", () => {
        const manifest = all.map(({ node, file: f }) => `${node} ${f.path} ${f.mode} ${f.owner}:${f.group}`).join("\n") + "\n";
        checkGolden("manifest.golden", manifest);
    });

    test("no stale golden files", () => {
        if (UPDATE) return;
        const expected = new Set([...all.map(({ node, file }) => goldenName(node, file)), "manifest.golden"]);
        expect(fs.readdirSync(GOLDEN_DIR).filter((f) => !expected.has(f))).toEqual([]);
    });
});

describe("Patroni YAML", () => {
    const pg1 = classic.nodes[0];

    test("parses back to the object it was built from", () => {
        const file = renderPatroniConfig(classic, pg1, FAKE_SECRETS);
        expect(parseYaml(file.content, { version: "1.1" })).toEqual(patroniConfigObject(classic, pg1, FAKE_SECRETS));
        expect(file).toMatchObject({ path: "/etc/patroni/config.yml", mode: "0600", owner: "postgres", group: "postgres" });
    });

    const awkward = [
        `it's "quoted": yes # not a comment`,
        "on",
        "off",
        "yes",
        "no",
        "null",
        "~",
        "0123",
        "1:30",
        "1e3",
        "0x1F",
        "- dash",
        "? q",
        "& anchor * alias ! tag | pipe > fold % pct @ at ` tick",
        "  leading and trailing spaces  ",
        "{flow: map}, [seq]",
        "back\\slash",
        "ünïcødé ✓",
    ];
    test.each(awkward)("password %j round-trips through YAML 1.1 and 1.2 readers", (pw) => {
        const secrets = { ...FAKE_SECRETS, superuserPassword: pw, replicationPassword: `r${pw}` };
        const text = renderPatroniConfig(classic, pg1, secrets).content;
        for (const version of ["1.1", "1.2"] as const) {
            const back = parseYaml(text, { version });
            expect(back.postgresql.authentication.superuser.password).toBe(pw);
            expect(back.postgresql.authentication.replication.password).toBe(`r${pw}`);
            expect(back.postgresql.authentication.rewind.password).toBe(pw);
        }
        expect(text).not.toContain("&a");
    });

    test("strings that YAML 1.1 would read as booleans stay strings", () => {
        const spec = specOf(classicWith((v) => (v.postgres.parameters = { jit: "off", log_checkpoints: true, search_path: "yes" })));
        const back = parseYaml(toYaml11(patroniDynamicConfig(spec)), { version: "1.1" });
        expect(back.postgresql.parameters).toMatchObject({ jit: "off", log_checkpoints: true, search_path: "yes", hot_standby: "on" });
        const file = parseYaml(renderPatroniConfig(spec, pg1, FAKE_SECRETS).content, { version: "1.1" });
        expect(file.bootstrap.dcs.postgresql.parameters.hot_standby).toBe("on");
        expect(file.watchdog.mode).toBe("off");
    });

    test("user settings live only in the dynamic config, so changing them rewrites no config.yml", () => {
        const spec = specOf(classicWith((v) => (v.postgres.parameters = { max_wal_senders: 20, work_mem: "8MB" })));
        const other = specOf(classicWith((v) => ((v.postgres.parameters = { work_mem: "64MB" }), (v.patroni.ttl = 40), (v.patroni.synchronousMode = true))));
        expect(renderPatroniConfig(spec, pg1, FAKE_SECRETS).content).toBe(renderPatroniConfig(other, pg1, FAKE_SECRETS).content);
        const dcs = patroniDynamicConfig(spec);
        expect(patroniConfigObject(spec, pg1, FAKE_SECRETS).bootstrap).toMatchObject({ dcs: { postgresql: { use_pg_rewind: true, use_slots: true } } });
        expect(dcs).toMatchObject({
            ttl: 30,
            loop_wait: 10,
            retry_timeout: 10,
            maximum_lag_on_failover: 1048576,
            synchronous_mode: false,
            synchronous_mode_strict: false,
            postgresql: { use_pg_rewind: true, use_slots: true, parameters: { max_wal_senders: 20, work_mem: "8MB", wal_level: "replica" } },
        });
    });

    test("WAL senders and slots are sized by the member count; config.yml's bootstrap keeps 10", () => {
        const many = (n: number) =>
            specOf(
                classicWith((v) => {
                    for (let i = 4; i <= n; i++) v.nodes.push({ name: `pg${i}`, address: `172.51.216.${100 + i}`, roles: ["postgres"] });
                }),
            );
        const params = (spec: ReturnType<typeof specOf>) => (patroniDynamicConfig(spec).postgresql as { parameters: Record<string, unknown> }).parameters;
        // members: 2 (classic) and 3 keep PostgreSQL's 10; 15 members, where 10 left replicas unable to clone on the lab, get 40.
        for (const [n, members, senders] of [
            [3, 2, 10],
            [4, 3, 10],
            [6, 5, 20],
            [10, 9, 20],
            [11, 10, 30],
            [16, 15, 40],
        ]) {
            const spec = many(n);
            expect(spec.nodes.filter((x) => x.roles.includes("postgres"))).toHaveLength(members);
            expect(params(spec)).toMatchObject({ max_wal_senders: senders, max_replication_slots: senders });
            expect(senders).toBeGreaterThanOrEqual(2 * members + 2 - 0); // every replica cloning at once, and two to spare
            expect((patroniConfigObject(spec, pg1, FAKE_SECRETS).bootstrap as any).dcs.postgresql.parameters.max_wal_senders).toBe(10);
        }
        // The stack's own value wins.
        const set = specOf(classicWith((v) => (v.postgres.parameters = { max_wal_senders: 16, max_replication_slots: 12 })));
        expect(params(set)).toMatchObject({ max_wal_senders: 16, max_replication_slots: 12 });
    });

    test("PostgreSQL 12 keeps wal_keep_segments", () => {
        const params = (patroniDynamicConfig(specOf(classicWith((v) => (v.postgres.version = 12)))) as any).postgresql.parameters;
        expect(params).toHaveProperty("wal_keep_segments");
        expect(params).not.toHaveProperty("wal_keep_size");
    });

    test("the redacted rendering holds no secret and is stable", () => {
        const redacted = renderPatroniConfigRedacted(classic, pg1).content;
        expect(redacted).toBe(renderPatroniConfig(classic, pg1, PLACEHOLDER_SECRETS).content);
        for (const s of Object.values(FAKE_SECRETS)) expect(redacted).not.toContain(s);
    });

    test("a bad secret is refused without showing it", () => {
        expect(() => renderPatroniConfig(classic, pg1, { ...FAKE_SECRETS, superuserPassword: "Hidden\nValue" })).toThrow(/superuserPassword contains a control character/);
        try {
            renderPatroniConfig(classic, pg1, { ...FAKE_SECRETS, superuserPassword: "Hidden\nValue" });
        } catch (e) {
            expect((e as Error).message).not.toContain("Hidden");
        }
    });
});

describe("etcd", () => {
    test("bootstrap-only keys are separable: adding members does not touch restart-relevant settings", () => {
        const five = specOf(
            classicWith((v) => {
                v.nodes.push({ name: "pg4", address: "172.51.216.84", roles: ["etcd"] });
                v.nodes.push({ name: "pg5", address: "172.51.216.85", roles: ["etcd"] });
            }),
        );
        const before = etcdConfigObject(classic, classic.nodes[0]);
        const after = etcdConfigObject(five, five.nodes[0]);
        expect(after["initial-cluster"]).not.toEqual(before["initial-cluster"]);
        expect(etcdRestartFingerprint(after)).toBe(etcdRestartFingerprint(before));
        for (const k of ETCD_BOOTSTRAP_ONLY_KEYS) expect(etcdRestartRelevant(after)).not.toHaveProperty(k);
        expect(etcdRestartRelevant(after)).toHaveProperty("listen-client-urls");
    });

    test("initial-cluster-state is left to etcd-member.py (etcd reads its default, new, when a member bootstraps)", () => {
        expect(etcdConfigObject(classic, classic.nodes[2])).not.toHaveProperty("initial-cluster-state");
        expect(renderEtcdConfig(classic, classic.nodes[2]).content).not.toMatch(/"initial-cluster-state"/);
    });

    test("the file is comment lines, then JSON; YAML readers read the same object; the retention stays a string (etcd's field is one)", () => {
        const text = renderEtcdConfig(classic, classic.nodes[0]).content;
        const body = text.replace(/^(#.*\n)+/, "");
        expect(body.startsWith("{\n")).toBe(true);
        expect(JSON.parse(body)).toEqual(etcdConfigObject(classic, classic.nodes[0]));
        const back = parseYaml(text, { version: "1.1" });
        expect(back).toEqual(etcdConfigObject(classic, classic.nodes[0]));
        expect(back["auto-compaction-retention"]).toBe("1");
    });
});

describe("names a YAML 1.1 reader would take for a number, boolean or date are quoted", () => {
    // PyYAML (Patroni) and go-yaml (etcd: `name: 0o17` would be member 15) each resolve more plain
    // scalars than strings; every such value is written double-quoted.
    const READ_SPECIALLY = ["0o17", "1e3", "0x1f", "0b101", "015", "08", "1_000", "+1", "-0o7", ".5", "yes", "no", "on", "off", "y", "n", "true", "false", "null", "~", "2001-12-14", "2001-1-2"];
    test.each(READ_SPECIALLY)("%j", (v) => {
        expect(toYaml11({ k: v })).toBe(`k: "${v}"\n`);
    });
    test("ordinary values stay plain", () => {
        for (const v of ["pg1", "128MB", "10.0.0.1", "1-2", "a1", "10-0-0-2", "1000ms", "https://10.0.0.1:2379"]) expect(toYaml11({ k: v })).toBe(`k: ${v}\n`);
    });

    const odd = specOf(classicWith((v) => ((v.clusterName = "0o17"), (v.nodes[0].name = "1e3"), (v.nodes[1].name = "0x1f"), (v.nodes[2].name = "2001-1-2"))));
    test("etcd's name and cluster token, Patroni's scope and name", () => {
        for (const n of odd.nodes) {
            // JSON: every string is quoted.
            const etcd = renderEtcdConfig(odd, n).content;
            expect(etcd).toContain(`\n  "name": "${n.name}",\n`);
            expect(etcd).toContain(`\n  "initial-cluster-token": "0o17",\n`);
            if (!n.roles.includes("postgres")) continue;
            const patroni = renderPatroniConfig(odd, n, FAKE_SECRETS).content;
            expect(patroni).toContain(`\nscope: "0o17"\n`);
            expect(patroni).toContain(`\nname: "${n.name}"\n`);
        }
    });

    (spawnSync("python3", ["-c", "import yaml"]).status === 0 ? test : test.skip)("PyYAML reads them back as the same strings", () => {
        const docs = odd.nodes.flatMap((n) => [renderEtcdConfig(odd, n).content, ...(n.roles.includes("postgres") ? [renderPatroniConfig(odd, n, FAKE_SECRETS).content] : [])]);
        const script = "import json, sys, yaml\nprint(json.dumps([(lambda d: [d.get('name'), d.get('scope', d.get('initial-cluster-token'))])(yaml.safe_load(t)) for t in json.load(sys.stdin)]))";
        const r = spawnSync("python3", ["-c", script], { input: JSON.stringify(docs) });
        expect(r.status).toBe(0);
        const expected = odd.nodes.flatMap((n) => [[n.name, "0o17"], ...(n.roles.includes("postgres") ? [[n.name, "0o17"]] : [])]);
        expect(JSON.parse(r.stdout.toString())).toEqual(expected);
    });
});

describe("HAProxy and keepalived", () => {
    test("HAProxy lists every postgres node in each listener (no synchronous one without synchronous mode)", () => {
        const cfg = renderHaproxyConfig(classic).content;
        // The classic stack sets max_connections 200: each direct server line admits as many.
        expect(cfg.match(/^ {4}server pg1 172\.51\.216\.81:5432 maxconn 200 check port 8008 check-ssl verify required ca-file \/etc\/pgha\/tls\/ca\.crt verifyhost pg1$/gm)).toHaveLength(3);
        expect(cfg.match(/^listen /gm)).toEqual(["listen ", "listen ", "listen ", "listen "]);
        expect(cfg).toMatch(/^listen primary\n {4}bind \*:5000\n/m);
        expect(cfg).toMatch(/^listen replicas\n {4}bind \*:5001\n/m);
        expect(cfg).toMatch(/^listen async_replicas\n {4}bind \*:5003\n/m);
        expect(cfg).not.toMatch(/\bsync_replicas|:5002|OPTIONS \/sync\n/);
        // Only the allowed client networks, loopback and the postgres nodes reach the PostgreSQL ports.
        expect(cfg.match(/^ {4}acl pgha_allowed_client src 127\.0\.0\.1 172\.51\.216\.0\/24 172\.51\.216\.81 172\.51\.216\.82$/gm)).toHaveLength(3);
        expect(cfg.match(/^ {4}tcp-request connection reject if !pgha_allowed_client$/gm)).toHaveLength(3);
        expect(cfg.match(/^ {4}server pg2 /gm)).toHaveLength(3);
        expect(cfg).not.toMatch(/pg3/);
    });

    test("keepalived uses the first 8 characters of the password; the redacted variant none", () => {
        const cfg = renderKeepalivedConfig(classic, classic.nodes[0], FAKE_SECRETS).content;
        expect(cfg).toContain("auth_pass fakevrrp\n");
        expect(cfg).not.toContain(FAKE_SECRETS.keepalivedPassword);
        expect(renderKeepalivedConfigRedacted(classic, classic.nodes[0]).content).not.toContain("fakevrrp");
    });

    test("keepalived refuses a password its parser cannot hold", () => {
        expect(() => renderKeepalivedConfig(classic, classic.nodes[0], { keepalivedPassword: "a#b" })).toThrow(/keepalivedPassword must be printable ASCII/);
    });

    test("renderers refuse nodes without the role", () => {
        const pg3 = classic.nodes[2];
        expect(() => renderPatroniConfig(classic, pg3, FAKE_SECRETS)).toThrow(/lacks the postgres role/);
        expect(() => renderHaproxyConfig(classic, pg3)).toThrow(/lacks the haproxy role/);
        expect(() => renderKeepalivedConfig(classic, pg3, FAKE_SECRETS)).toThrow(/lacks the keepalived role/);
        expect(() => etcdConfigObject(classic, specOf(classicWith((v) => (v.nodes[2].roles = ["etcd"]))).nodes[2])).not.toThrow();
    });
});

describe("templates", () => {
    test("a missing variable throws instead of rendering empty", () => {
        expect(() => renderTemplate("haproxy.cfg.hbs", {})).toThrow(/not defined/);
        expect(() => renderTemplate("keepalived.conf.hbs", { clusterName: "x", routerId: "a", scriptUser: "u", checkScript: "/c" })).toThrow(/not defined/);
        expect(() => renderTemplate("check-haproxy.sh.hbs", { clusterName: "x", statsPort: 7000 })).toThrow(/"primaryPort" not defined/);
        expect(() => renderTemplate("etcd-dropin.conf.hbs", { clusterName: "x" })).toThrow(/not defined/);
    });

    test("toYaml11 writes no anchors for repeated objects", () => {
        const shared = { a: 1 };
        expect(toYaml11({ x: shared, z: shared })).toBe("x:\n  a: 1\nz:\n  a: 1\n");
        // and quotes what a YAML 1.1 reader would take for a boolean
        expect(toYaml11({ y: "on" })).toBe('"y": "on"\n');
    });
});

describe("tuning profiles reach HAProxy and keepalived", () => {
    test("fast: sub-second HAProxy checks and a 1 s keepalived check; default keeps 2 s", () => {
        const fast = specOf(classicWith((v) => (v.patroni = { profile: "fast" })));
        const node = fast.nodes.find((n) => n.roles.includes("keepalived"))!;
        expect(renderHaproxyConfig(fast).content).toContain("default-server inter 500ms fastinter 250ms downinter 250ms fall 2 rise 1");
        expect(renderKeepalivedConfigRedacted(fast, node).content).toMatch(/interval 1\n\s+fall 2\n\s+rise 1/);
        const dflt = specOf();
        expect(renderHaproxyConfig(dflt).content).toContain("default-server inter 1s fastinter 500ms downinter 500ms fall 2 rise 1");
        expect(renderKeepalivedConfigRedacted(dflt, node).content).toMatch(/interval 2\n\s+fall 2\n\s+rise 2/);
        // The VIP holder's periodic gratuitous ARP: 2 s by default, 1 s fast.
        expect(renderKeepalivedConfigRedacted(dflt, node).content).toMatch(/\n\s+garp_master_refresh 2\n\s+garp_master_refresh_repeat 1\n/);
        expect(renderKeepalivedConfigRedacted(fast, node).content).toMatch(/\n\s+garp_master_refresh 1\n/);
    });
});

describe("an isolated leader's demotion ends before ttl", () => {
    test.each([
        [{}, "8s"],
        [{ profile: "fast" }, "5s"],
        [{ ttl: 20, loopWait: 5, retryTimeout: 5 }, "5s"],
    ])("patroni %j: wal_sender_timeout %s, and retry_timeout + loop_wait + it < ttl", (patroni, expected) => {
        const spec = specOf(classicWith((v) => (v.patroni = patroni)));
        const params = (patroniDynamicConfig(spec).postgresql as { parameters: Record<string, unknown> }).parameters;
        expect(params.wal_sender_timeout).toBe(expected);
        expect(spec.patroni.retryTimeout + spec.patroni.loopWait + parseInt(expected, 10)).toBeLessThan(spec.patroni.ttl);
    });
});

test.each([
    [{}, "1000ms"],
    [{ profile: "fast" }, "500ms"],
])("patroni %j: a re-pointed replica retries for WAL after wal_retrieve_retry_interval %s, not PostgreSQL's 5 s", (patroni, expected) => {
    const params = (patroniDynamicConfig(specOf(classicWith((v) => (v.patroni = patroni)))).postgresql as { parameters: Record<string, unknown> }).parameters;
    expect(params.wal_retrieve_retry_interval).toBe(expected);
});

describe("etcd-leader-away unit", () => {
    const spec = specOf();
    const node = (n: string) => spec.nodes.find((x) => x.name === n)!;
    test("only on hosts with both etcd and postgres, and only with another etcd member to lead", () => {
        expect(needsLeaderAway(spec, node("pg1"))).toBe(true);
        expect(needsLeaderAway(spec, node("pg3"))).toBe(false);
        const single = { ...spec, nodes: spec.nodes.map((n) => (n.name === "pg1" ? n : { ...n, roles: n.roles.filter((r) => r !== "etcd") })) };
        expect(needsLeaderAway(single, single.nodes[0])).toBe(false);
    });
    test("runs as etcd against this host's own etcd member and Patroni API; a new helper version changes the unit", () => {
        const u = renderLeaderAwayUnit(spec, node("pg1"), "/usr/local/libexec/pgha/etcd-leader-away.py", "abc");
        expect(u.path).toBe("/etc/systemd/system/pgha-etcd-leader-away.service");
        expect(u.content).toContain("User=etcd\n");
        expect(u.content).toContain(`--etcd https://${node("pg1").address}:${spec.etcd.clientPort} --patroni https://${node("pg1").address}:`);
        expect(u.content).toContain("--cert /etc/pgha/tls/etcd.crt --key /etc/pgha/tls/etcd.key");
        expect(renderLeaderAwayUnit(spec, node("pg1"), "/x", "def").content).not.toBe(renderLeaderAwayUnit(spec, node("pg1"), "/x", "abc").content);
    });
});
