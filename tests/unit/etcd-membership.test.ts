// etcd runtime reconfiguration with real etcd 3.4 processes on loopback addresses
// (127.0.0.11 … 127.0.0.15, nothing else), driven through pgha's own helper
// (server/etcd-member.py) exactly as the Pulumi resources call it,
// with configs rendered by core/render/etcd.ts. etcd runs as plain background
// processes (PGHA_ETCD_SUPERVISOR=process) instead of through systemd.
//
// Bootstrap 3 in parallel → join a 4th and 5th one at a time → remove the 5th (the
// etcd leader) and the 4th one at a time, quorum kept throughout → their data dirs moved
// aside → re-add the 4th → every step again (no-op) → a half-done join and a removed
// member's stale data dir converge → a rolling restart → destroy keeps all data.
// Skipped when etcd, etcdctl or python3 is missing (Debian: etcd-server, etcd-client).

import { ChildProcess, execFileSync, spawn, spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ETCD_MEMBER } from "../../components/pgha-tools";
import { CA_CERT_PATH, ETCD_TLS, caScript, nodeCertScript, nodeSubjectAltNames, parseCaOutput, parseNodeCertOutput } from "../../core/pki";
import { etcdConfigObject, etcdRestartFingerprint, renderEtcdConfig } from "../../core/render/etcd";
import { ClusterSpec, NodeSpec } from "../../core/spec";
import { classicWith, specOf } from "./fixtures";

const TOOL = path.join(__dirname, "../../server", path.basename(ETCD_MEMBER.path));
const has = (cmd: string, ...args: string[]): boolean => spawnSync(cmd, args, { stdio: "ignore" }).status === 0;
const available = fs.existsSync("/usr/bin/etcd") && has("etcdctl", "version") && has("python3", "--version");
if (!available) {
    console.warn("etcd-membership.test.ts skipped: needs /usr/bin/etcd, etcdctl and python3 (Debian: apt-get install etcd-server etcd-client python3)");
}

const CLIENT_PORT = 22379;
const PEER_PORT = 22380;
const NAMES = ["pg1", "pg2", "pg3", "pg4", "pg5"];
const ADDRESS: Record<string, string> = Object.fromEntries(NAMES.map((n, i) => [n, `127.0.0.${11 + i}`]));
const clientUrl = (n: string) => `https://${ADDRESS[n]}:${CLIENT_PORT}`;
const peerUrl = (n: string) => `https://${ADDRESS[n]}:${PEER_PORT}`;

let root = "";
const dirOf = (n: string) => path.join(root, n);
const configOf = (n: string) => path.join(dirOf(n), "pgha-etcd.yml");
const dataOf = (n: string) => path.join(dirOf(n), "data");

/** The stack's spec with exactly `members` as etcd nodes, on loopback, with this member's data dir. */
function specFor(members: readonly string[], self: string): { spec: ClusterSpec; node: NodeSpec } {
    const base = specOf(
        classicWith((v) => {
            v.nodes.push({ name: "pg4", address: "172.51.216.84", roles: ["etcd"] }, { name: "pg5", address: "172.51.216.85", roles: ["etcd"] });
            v.etcd = { clientPort: CLIENT_PORT, peerPort: PEER_PORT };
        }),
    );
    const nodes = base.nodes.filter((n) => members.includes(n.name)).map((n) => ({ ...n, address: ADDRESS[n.name] }));
    const spec: ClusterSpec = { ...base, nodes, etcd: { ...base.etcd, dataDir: dataOf(self) } };
    return { spec, node: nodes.find((n) => n.name === self)! };
}

// TLS as deployed: one CA (pgha's own openssl script), a certificate per member (its SANs).
let caPem = "";
const caFile = () => path.join(root, "ca.crt");
function issueCertificate(n: string, spec: ClusterSpec, node: NodeSpec): void {
    if (!caPem) {
        const ca = parseCaOutput(execFileSync("bash", ["-c", caScript("pgsql")]).toString());
        caPem = ca.key + ca.cert;
        fs.writeFileSync(caFile(), ca.cert);
    }
    if (fs.existsSync(path.join(dirOf(n), "etcd.crt"))) return;
    const c = parseNodeCertOutput(execFileSync("bash", ["-c", nodeCertScript(n, nodeSubjectAltNames(spec, node))], { input: caPem }).toString(), n);
    fs.writeFileSync(path.join(dirOf(n), "etcd.crt"), c.cert);
    fs.writeFileSync(path.join(dirOf(n), "etcd.key"), c.key, { mode: 0o600 });
}
/** etcdctl's TLS flags: pg1's certificate (any member's is a valid client certificate). */
const ctlTls = () => [`--cacert=${caFile()}`, `--cert=${path.join(dirOf("pg1"), "etcd.crt")}`, `--key=${path.join(dirOf("pg1"), "etcd.key")}`];

/** What `pulumi up` does to the members' config files for a stack listing `members`; returns their fingerprints. */
function writeConfigs(members: readonly string[]): Record<string, string> {
    const fingerprints: Record<string, string> = {};
    for (const n of members) {
        const { spec, node } = specFor(members, n);
        fs.mkdirSync(dirOf(n), { recursive: true });
        // All members share this machine: drop the shared 127.0.0.1 client listener.
        issueCertificate(n, spec, node);
        const text = renderEtcdConfig(spec, node)
            .content.replace(`,https://127.0.0.1:${CLIENT_PORT}`, "")
            .split(CA_CERT_PATH)
            .join(caFile())
            .split(ETCD_TLS.cert)
            .join(path.join(dirOf(n), "etcd.crt"))
            .split(ETCD_TLS.key)
            .join(path.join(dirOf(n), "etcd.key"));
        expect(text).toContain(`"listen-client-urls": "${clientUrl(n)}",\n`);
        fs.writeFileSync(configOf(n), text);
        fingerprints[n] = crypto
            .createHash("sha256")
            .update(etcdRestartFingerprint(etcdConfigObject(spec, node)))
            .digest("hex")
            .slice(0, 16);
    }
    return fingerprints;
}

interface Run {
    code: number | null;
    out: string;
}

const children = new Set<ChildProcess>();
function tool(args: string[]): Promise<Run> {
    return new Promise((resolve) => {
        const env = { ...process.env, PGHA_ETCD_SUPERVISOR: "process", PGHA_ETCD_BIN: "/usr/bin/etcd" };
        const p = spawn("python3", [TOOL, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
        children.add(p);
        let out = "";
        p.stdout.on("data", (d) => (out += d));
        p.stderr.on("data", (d) => (out += d));
        p.on("close", (code) => {
            children.delete(p);
            resolve({ code, out });
        });
    });
}

async function ok(args: string[]): Promise<string> {
    const r = await tool(args);
    if (r.code !== 0) throw new Error(`etcd-member.py ${args.join(" ")} exited ${r.code}:\n${r.out}`);
    return r.out;
}

const start = (n: string, fp: string) => ok(["start", "--config", configOf(n), "--fingerprint", fp, "--wait", "30"]);
const stop = (n: string) => ok(["stop", "--config", configOf(n)]);
const membership = (members: readonly string[]) => ok(["membership", "--config", configOf(members[0]), "--wait", "30", ...members.flatMap((n) => ["--member", n, peerUrl(n), clientUrl(n)])]);

function ctl(endpoints: readonly string[], ...args: string[]) {
    const r = spawnSync("etcdctl", [`--endpoints=${endpoints.map(clientUrl).join(",")}`, ...ctlTls(), "--dial-timeout=2s", "--command-timeout=3s", ...args], {
        env: { ...process.env, ETCDCTL_API: "3" },
        encoding: "utf8",
        timeout: 20000,
    });
    return { code: r.status, out: (r.stdout ?? "") + (r.stderr ?? "") };
}

interface ListedMember {
    ID: number;
    name?: string;
    peerURLs: string[];
    clientURLs?: string[];
}

/** `member list` (JSON; IDs as text, they exceed 2^53) as [name, hex id] sorted by name, unstarted members as "". */
function memberList(through: readonly string[]): { name: string; id: string }[] {
    const r = ctl(through, "member", "list", "-w", "json");
    expect(r.code).toBe(0);
    const json = JSON.parse(r.out.replace(/"ID":(\d+)/g, '"ID":"$1"'));
    return (json.members as ListedMember[]).map((m) => ({ name: m.name ?? "", id: BigInt(m.ID).toString(16) })).sort((a, b) => a.name.localeCompare(b.name));
}

/** The cluster as etcdctl sees it: exactly `members`, all started, `endpoint health --cluster` all healthy. */
function expectCluster(members: readonly string[]) {
    expect(memberList(members).map((m) => m.name)).toEqual([...members].sort());
    const health = ctl(members, "endpoint", "health", "--cluster");
    expect(health.code).toBe(0);
    for (const n of members) expect(health.out).toContain(`${clientUrl(n)} is healthy`);
    expect(health.out.match(/is healthy/g)!.length).toBe(members.length);
}

const pid = (n: string) => Number(fs.readFileSync(`${configOf(n)}.pid`, "utf8"));
const pids = (members: readonly string[]) => members.map(pid);
const movedAside = (n: string) => fs.readdirSync(dirOf(n)).filter((f) => /^data\.removed-\d{8}T\d{6}Z$/.test(f));

const watchers = new Set<() => void>();

/** Polls `endpoint health` of `members` until stopped: counts polls where none answered healthy (no quorum). */
function quorumWatch(members: readonly string[]) {
    let polls = 0;
    let lost = 0;
    let running = true;
    const halt = () => (running = false);
    watchers.add(halt);
    const loop = (async () => {
        while (running) {
            const r = await new Promise<string>((resolve) => {
                const p = spawn("etcdctl", [`--endpoints=${members.map(clientUrl).join(",")}`, ...ctlTls(), "--dial-timeout=2s", "--command-timeout=3s", "endpoint", "health", "-w", "json"], {
                    env: { ...process.env, ETCDCTL_API: "3" },
                });
                children.add(p);
                let out = "";
                p.stdout.on("data", (d) => (out += d));
                p.on("close", () => (children.delete(p), resolve(out)));
            });
            polls++;
            try {
                if (!(JSON.parse(r) as { health: boolean }[]).some((h) => h.health)) lost++;
            } catch {
                lost++;
            }
            await new Promise((res) => setTimeout(res, 150));
        }
    })();
    return async () => {
        halt();
        watchers.delete(halt);
        await loop;
        return { polls, lost };
    };
}

/** Every etcd process this test started: by pid file, and by command line naming this test's directory. */
function ourEtcdPids(): number[] {
    const found = new Set<number>();
    for (const n of NAMES) {
        try {
            found.add(pid(n));
        } catch {
            /* no pid file */
        }
    }
    for (const entry of fs.readdirSync("/proc")) {
        if (!/^\d+$/.test(entry)) continue;
        try {
            const cmd = fs.readFileSync(`/proc/${entry}/cmdline`, "utf8");
            if (root && cmd.startsWith("/usr/bin/etcd\0") && cmd.includes(root)) found.add(Number(entry));
        } catch {
            /* gone */
        }
    }
    return [...found].filter((p) => {
        try {
            return fs.readFileSync(`/proc/${p}/cmdline`, "utf8").includes(root);
        } catch {
            return false;
        }
    });
}

(available ? describe : describe.skip)("etcd membership with real etcd on 127.0.0.11-15 (etcd-member.py)", () => {
    beforeAll(() => {
        root = fs.mkdtempSync(path.join(os.tmpdir(), "pgha-etcd-"));
    });

    afterAll(() => {
        for (const halt of watchers) halt();
        for (const p of children) p.kill("SIGKILL");
        for (const p of ourEtcdPids()) {
            try {
                process.kill(p, "SIGKILL");
            } catch {
                /* already gone */
            }
        }
        if (root) fs.rmSync(root, { recursive: true, force: true });
    });

    test("3 → 5 → 3 → 4, one member at a time, quorum kept, data moved aside only for removed members", async () => {
        const t0 = Date.now();
        const three = ["pg1", "pg2", "pg3"];
        const five = [...three, "pg4", "pg5"];

        // Bootstrap: the three start in parallel; none waits for the others.
        let fp = writeConfigs(three);
        const boot = await Promise.all(three.map((n) => start(n, fp[n])));
        expect(boot.join("")).toMatch(/bootstrapping a new cluster/);
        expect(await membership(three)).toContain("etcd healthy: 3 members (pg1, pg2, pg3)");
        expectCluster(three);
        const firstPids = pids(three);

        // Scale out: every config file is rewritten, but no existing member's fingerprint changes.
        const fp5 = writeConfigs(five);
        for (const n of three) expect(fp5[n]).toBe(fp[n]);
        fp = fp5;
        const join4 = await start("pg4", fp.pg4);
        expect(join4).toContain("added etcd member pg4");
        expect(join4).toMatch(/etcd member pg4 \([0-9a-f]+\) joined and is healthy/);
        // etcd-member.py wrote the join into pg4's file (JSON still: etcd read it to join).
        const joined = fs.readFileSync(configOf("pg4"), "utf8");
        expect(joined).toContain(`\n  "initial-cluster-state": "existing"\n}\n`);
        expect(joined).toMatch(/^# initial-cluster and initial-cluster-state set by pgha's etcd-member\.py/m);
        expectCluster([...three, "pg4"]);
        // etcd refuses the next add until every member has been connected for 5 s: start retries.
        const join5 = await start("pg5", fp.pg5);
        expect(join5).toContain("added etcd member pg5");
        expect(await membership(five)).toContain("etcd healthy: 5 members");
        expectCluster(five);
        expect(pids(three)).toEqual(firstPids);

        // Scale in, with pg5 leading: the membership step removes pg5 (leadership handed to a
        // staying member first), then pg4, each only while the rest keep a healthy quorum.
        const ids = Object.fromEntries(memberList(five).map((m) => [m.name, m.id]));
        expect(ctl(five, "move-leader", ids.pg5).code).toBe(0);
        fp = writeConfigs(three);
        for (const n of three) expect(fp[n]).toBe(fp5[n]);
        const watch = quorumWatch(three);
        const shrink = await membership(three);
        const seen = await watch();
        expect(shrink).toMatch(/moved etcd leadership from pg5 to pg\d\n/);
        expect(shrink.indexOf("removed etcd member pg5")).toBeGreaterThan(-1);
        expect(shrink.indexOf("removed etcd member pg5")).toBeLessThan(shrink.indexOf("removed etcd member pg4"));
        expect(seen.polls).toBeGreaterThan(0);
        expect(seen.lost).toBe(0);
        expectCluster(three);
        // Pulumi's deletes at the end of the run: stop, and the data dir of a removed member moves aside.
        for (const n of ["pg5", "pg4"]) {
            expect(await stop(n)).toMatch(new RegExp(`${n} is no longer a member of the cluster: its data dir moved aside`));
            expect(fs.existsSync(dataOf(n))).toBe(false);
            expect(movedAside(n)).toHaveLength(1);
            // A retried delete finds nothing left to do.
            expect(await stop(n)).toContain(`no etcd data in ${dataOf(n)}`);
            fs.rmSync(configOf(n));
        }
        expect(pids(three)).toEqual(firstPids);

        // Re-add pg4: it starts clean and joins.
        const four = [...three, "pg4"];
        fp = writeConfigs(four);
        expect(await start("pg4", fp.pg4)).toContain("added etcd member pg4");
        expect(await membership(four)).toContain("etcd healthy: 4 members");
        expectCluster(four);

        // Every step again: nothing restarts, nothing is added or removed, data stays.
        const before = pids(four);
        for (const n of four) expect(await start(n, fp[n])).toMatch(new RegExp(`etcd member ${n} \\([0-9a-f]+\\) is healthy\\n`));
        expect(await membership(four)).not.toContain("removed");
        expect(pids(four)).toEqual(before);
        expect(movedAside("pg4")).toHaveLength(1);
        expectCluster(four);
        console.log(`etcd membership: scale out/in/re-add and re-runs in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    }, 90_000);

    test("a half-done join and a removed member's stale data dir both converge on re-run", async () => {
        const four = ["pg1", "pg2", "pg3", "pg4"];
        const five = [...four, "pg5"];
        const fp = writeConfigs(five);
        // An earlier attempt added pg5 and failed before starting it: it is listed, unstarted.
        // (etcd refuses an add until every member has been connected for 5 s.)
        let add = ctl(four, "member", "add", "pg5", `--peer-urls=${peerUrl("pg5")}`);
        for (let i = 0; i < 20 && add.code !== 0; i++) {
            await new Promise((res) => setTimeout(res, 1000));
            add = ctl(four, "member", "add", "pg5", `--peer-urls=${peerUrl("pg5")}`);
        }
        expect(add.code).toBe(0);
        expect(memberList(four).map((m) => m.name)).toEqual(["", "pg1", "pg2", "pg3", "pg4"]);
        const rejoin = await start("pg5", fp.pg5);
        expect(rejoin).toContain("pg5 is already listed");
        expect(rejoin).toMatch(/pg5 \([0-9a-f]+\) joined and is healthy/);
        expect(await membership(five)).toContain("etcd healthy: 5 members");

        // pg5 removed while its data dir stayed (its delete never ran): re-adding moves it aside and joins.
        expect(await membership(four)).toContain("removed etcd member pg5");
        expect(fs.existsSync(path.join(dataOf("pg5"), "member"))).toBe(true);
        const again = await start("pg5", fp.pg5);
        expect(again).toContain("pg5's data dir belonged to a member the cluster no longer lists: moved aside");
        expect(again).toContain("added etcd member pg5");
        expect(await membership(five)).toContain("etcd healthy: 5 members");
        expectCluster(five);
    }, 60_000);

    test("a new restart fingerprint restarts the members one at a time, quorum kept", async () => {
        const five = ["pg1", "pg2", "pg3", "pg4", "pg5"];
        const before = pids(five);
        const watch = quorumWatch(five);
        for (const n of five) expect(await start(n, "0123456789abcdef")).toMatch(new RegExp(`etcd member ${n} \\([0-9a-f]+\\) is healthy, restarted`));
        const seen = await watch();
        expect(seen.lost).toBe(0);
        pids(five).forEach((p, i) => expect(p).not.toBe(before[i]));
        expectCluster(five);
    }, 60_000);

    test("destroy (members stopped in reverse order) keeps every data dir as it is", async () => {
        const five = ["pg1", "pg2", "pg3", "pg4", "pg5"];
        const outs: string[] = [];
        for (const n of [...five].reverse()) outs.push(await stop(n));
        for (const n of five) expect(fs.existsSync(path.join(dataOf(n), "member"))).toBe(true);
        expect(outs.join("")).not.toContain("moved aside");
        expect(outs.join("")).toContain("pg5 is still a member of the cluster");
        expect(ourEtcdPids()).toEqual([]);
        // A member whose config was set to join (pg5, by its last join) and whose data is gone,
        // with no other member running, refuses to bootstrap a cluster of its own.
        fs.renameSync(dataOf("pg5"), `${dataOf("pg5")}.test-aside`);
        const lonely = await tool(["start", "--config", configOf("pg5"), "--fingerprint", "0123456789abcdef", "--wait", "5"]);
        expect(lonely.code).toBe(1);
        expect(lonely.out).toMatch(/^pgha: pg5 has no data, no other member answers, and .* is set to join an existing cluster/m);
        expect(fs.existsSync(dataOf("pg5"))).toBe(false);
        // pgha:destroy.deleteData: the data dir is deleted.
        expect(await ok(["stop", "--config", configOf("pg1"), "--delete-data"])).toContain(`deleted etcd data in ${dataOf("pg1")}`);
        expect(fs.existsSync(dataOf("pg1"))).toBe(false);
    }, 60_000);
});
