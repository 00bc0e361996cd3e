// pgha's etcd-leader-away helper against a real 3-member etcd 3.4 cluster with TLS
// (client certificates, pgha's own openssl scripts) on 127.0.0.41-43, and a stand-in
// for Patroni's REST API (HTTPS, /primary answers 200 or 503): it moves etcd's
// leadership only when this host's member leads and this host's Patroni is primary.
// Skipped without etcd, python3 or OpenSSL 3.

import { ChildProcess, execFileSync, spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as https from "https";
import * as os from "os";
import * as path from "path";
import { LEADER_AWAY } from "../../components/pgha-tools";
import { caScript, nodeCertScript, parseCaOutput, parseNodeCertOutput } from "../../core/pki";

const has = (cmd: string, ...args: string[]): boolean => spawnSync(cmd, args, { stdio: "ignore" }).status === 0;
const available = fs.existsSync("/usr/bin/etcd") && has("python3", "--version") && (spawnSync("openssl", ["version"], { encoding: "utf8" }).stdout ?? "").startsWith("OpenSSL 3");

const TOOL = path.join(__dirname, "../../server", path.basename(LEADER_AWAY.path));
const NAMES = ["a", "b", "c"];
const ADDRESS: Record<string, string> = { a: "127.0.0.41", b: "127.0.0.42", c: "127.0.0.43" };
const CLIENT = 24379;
const PEER = 24380;
const PATRONI = 24008;
const clientUrl = (n: string) => `https://${ADDRESS[n]}:${CLIENT}`;

(available ? describe : describe.skip)("etcd-leader-away.py (real etcd cluster)", () => {
    jest.setTimeout(60_000);
    let dir = "";
    const p = (name: string) => path.join(dir, name);
    const procs: ChildProcess[] = [];
    let primaryStatus = 200;
    let patroni: https.Server | undefined;

    /** JSON gateway call with the node certificate, through the same python the helper uses (no extra tooling). */
    const status = (n: string): { leader: string; self: string } => {
        const out = execFileSync(
            "python3",
            [
                "-c",
                `import json,ssl,sys,urllib.request
c=ssl.create_default_context(cafile=sys.argv[2]); c.load_cert_chain(sys.argv[3], sys.argv[4])
r=urllib.request.urlopen(urllib.request.Request(sys.argv[1]+"/v3/maintenance/status", data=b"{}", method="POST"), timeout=3, context=c)
d=json.load(r); print(d["leader"], d["header"]["member_id"])`,
                clientUrl(n),
                p("ca.crt"),
                p("node.crt"),
                p("node.key"),
            ],
            { encoding: "utf8" },
        );
        const [leader, self] = out.trim().split(" ");
        return { leader, self };
    };
    const leaderName = (): string => {
        const ids = Object.fromEntries(NAMES.map((n) => [status(n).self, n]));
        return ids[status("a").leader];
    };
    // Asynchronous: the REST stand-in answers from this process's event loop.
    const helper = (n: string) =>
        new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
            const args = [TOOL, "--once", "--etcd", clientUrl(n), "--patroni", `https://127.0.0.1:${PATRONI}`, "--cacert", p("ca.crt"), "--cert", p("node.crt"), "--key", p("node.key")];
            const c = spawn("python3", args, { stdio: ["ignore", "pipe", "pipe"] });
            let stdout = "";
            let stderr = "";
            c.stdout.on("data", (d) => (stdout += d));
            c.stderr.on("data", (d) => (stderr += d));
            c.on("close", (status) => resolve({ status, stdout, stderr }));
        });

    beforeAll(async () => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgha-leader-away-"));
        const ca = parseCaOutput(execFileSync("bash", ["-c", caScript("away")]).toString());
        fs.writeFileSync(p("ca.crt"), ca.cert);
        // One certificate for every member and the REST stand-in: all their addresses as SANs.
        const cert = parseNodeCertOutput(
            execFileSync("bash", ["-c", nodeCertScript("node", { ips: [...Object.values(ADDRESS), "127.0.0.1"], dns: ["localhost"] })], { input: ca.key + ca.cert }).toString(),
            "node",
        );
        fs.writeFileSync(p("node.crt"), cert.cert);
        fs.writeFileSync(p("node.key"), cert.key, { mode: 0o600 });

        const cluster = NAMES.map((n) => `${n}=https://${ADDRESS[n]}:${PEER}`).join(",");
        const tls = (prefix: string) => [`--${prefix}cert-file=${p("node.crt")}`, `--${prefix}key-file=${p("node.key")}`, `--${prefix}trusted-ca-file=${p("ca.crt")}`, `--${prefix}client-cert-auth`];
        const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("ETCD")));
        for (const n of NAMES) {
            const log = fs.openSync(p(`${n}.log`), "a");
            const args = [
                `--name=${n}`,
                `--data-dir=${p(n)}`,
                `--listen-client-urls=${clientUrl(n)}`,
                `--advertise-client-urls=${clientUrl(n)}`,
                `--listen-peer-urls=https://${ADDRESS[n]}:${PEER}`,
                `--initial-advertise-peer-urls=https://${ADDRESS[n]}:${PEER}`,
                `--initial-cluster=${cluster}`,
                `--initial-cluster-state=new`,
                ...tls(""),
                ...tls("peer-"),
            ];
            procs.push(spawn("/usr/bin/etcd", args, { env, stdio: ["ignore", log, log] }));
        }
        patroni = https.createServer({ key: cert.key, cert: cert.cert }, (req, res) => {
            res.writeHead(req.url === "/primary" ? primaryStatus : 404);
            res.end();
        });
        await new Promise<void>((r) => patroni!.listen(PATRONI, "127.0.0.1", r));
        const deadline = Date.now() + 30_000;
        for (;;) {
            try {
                if (leaderName()) break;
            } catch {
                // not up yet
            }
            if (Date.now() > deadline) throw new Error(`etcd cluster not up:\n${fs.readFileSync(p("a.log"), "utf8").slice(-1500)}`);
            await new Promise((r) => setTimeout(r, 300));
        }
    });

    afterAll(() => {
        for (const c of procs) c.kill("SIGKILL");
        patroni?.close();
        if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    test("a member that does not lead: nothing happens", async () => {
        primaryStatus = 200;
        const before = leaderName();
        const r = await helper(NAMES.find((n) => n !== before)!);
        expect(r.status).toBe(0);
        expect(r.stdout).toBe("");
        expect(leaderName()).toBe(before);
    });

    test("the leader's host runs a replica (503 on /primary): nothing happens", async () => {
        primaryStatus = 503;
        const before = leaderName();
        const r = await helper(before);
        expect(r.status).toBe(0);
        expect(r.stdout).toBe("");
        expect(leaderName()).toBe(before);
    });

    test("the leader's host runs the primary: leadership moves to another member", async () => {
        primaryStatus = 200;
        const before = leaderName();
        const r = await helper(before);
        expect(r.stderr).toBe("");
        expect(r.status).toBe(0);
        expect(r.stdout).toMatch(new RegExp(`^pgha: moved etcd leadership from ${before} to [abc]: the PostgreSQL primary runs here\\n$`));
        const after = leaderName();
        expect(after).not.toBe(before);
        expect(r.stdout).toContain(` to ${after}:`);
    });
});
