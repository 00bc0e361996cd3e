// patroni-wait.py, the wait after pgha (re)starts Patroni: which REST answers count as the
// leader or a streaming replica (python3 runs the script's own function), and whole runs
// as components/patroni-node.ts calls it, against a stand-in REST API over HTTPS with a
// certificate from pgha's own openssl scripts (skipped without OpenSSL 3).
import { execFileSync, spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as https from "https";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { patroniWaitScript } from "../../components/patroni-node";
import { PATRONI_WAIT, SERVER_DIR } from "../../components/pgha-tools";
import { CA_CERT_PATH, caScript, nodeCertScript, parseCaOutput, parseNodeCertOutput } from "../../core/pki";
import { hasPython3, pyOk } from "./server-python";
import { specOf } from "./fixtures";

const TOOL = path.basename(PATRONI_WAIT.path);
const ready = (role: string, state: string) => pyOk(TOOL, "ready", role, state);
const openssl3 = (spawnSync("openssl", ["version"], { encoding: "utf8" }).stdout ?? "").startsWith("OpenSSL 3");

(hasPython3 ? describe : describe.skip)("patroni-wait.py: what counts as the role (python3)", () => {
    test("leader: master or primary, running", () => {
        expect(["primary running -", "master running -", "primary running streaming"].map((s) => ready("leader", s))).toEqual([true, true, true]);
        expect(["primary starting -", "replica running streaming", "unreachable URLError refused", "", "primary"].map((s) => ready("leader", s))).toEqual([false, false, false, false, false]);
    });
    test("replica: replica, running, and streaming or no replication state yet", () => {
        expect(["replica running streaming", "replica running -"].map((s) => ready("replica", s))).toEqual([true, true]);
        expect(
            ["replica running None", "replica running in archive recovery", "replica starting -", "primary running -", "replica running", "unreachable ConnectionRefusedError x"].map((s) =>
                ready("replica", s),
            ),
        ).toEqual([false, false, false, false, false, false]);
    });
});

(hasPython3 && openssl3 ? describe : describe.skip)("patroni-wait.py: whole runs against a REST API stand-in (HTTPS)", () => {
    jest.setTimeout(30_000);
    let dir = "";
    let server: https.Server | undefined;
    let port = 0;
    let answer = "";

    beforeAll(async () => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgha-patroni-wait-"));
        const ca = parseCaOutput(execFileSync("bash", ["-c", caScript("wait")]).toString());
        fs.writeFileSync(path.join(dir, "ca.crt"), ca.cert);
        const cert = parseNodeCertOutput(execFileSync("bash", ["-c", nodeCertScript("pg1", { ips: ["127.0.0.1"], dns: [] })], { input: ca.key + ca.cert }).toString(), "pg1");
        fs.mkdirSync(path.join(dir, "bin"));
        fs.writeFileSync(path.join(dir, "bin", "journalctl"), `#!/bin/sh\necho "journalctl $*"\n`, { mode: 0o755 });
        server = https.createServer({ key: cert.key, cert: cert.cert }, (req, res) => {
            res.writeHead(req.url === "/patroni" ? 200 : 404, { "Content-Type": "application/json" });
            res.end(answer);
        });
        await new Promise<void>((r) => server!.listen(0, "127.0.0.1", r));
        port = (server.address() as net.AddressInfo).port;
    });
    afterAll(() => {
        server?.close();
        if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    /** The start step's wait line for pg1 (bootstrap: leader) moved to 127.0.0.1, run by bash with the tool from server/. */
    const wait = (bootstrap: boolean, timeoutSec: number, apiPort = port) => {
        const base = specOf();
        const spec = { ...base, nodes: base.nodes.map((n) => ({ ...n, address: "127.0.0.1" })), patroni: { ...base.patroni, restApiPort: apiPort } };
        const text = patroniWaitScript(spec, spec.nodes[0], bootstrap, timeoutSec).split(PATRONI_WAIT.path).join(path.join(SERVER_DIR, TOOL)).split(CA_CERT_PATH).join(path.join(dir, "ca.crt"));
        return new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
            const env = { ...process.env, PATH: `${path.join(dir, "bin")}:${process.env.PATH}`, PYTHONDONTWRITEBYTECODE: "1" };
            const c = spawn("bash", ["-c", `set -euo pipefail\n${text}`], { env, stdio: ["ignore", "pipe", "pipe"] });
            let stdout = "";
            let stderr = "";
            c.stdout.on("data", (d) => (stdout += d));
            c.stderr.on("data", (d) => (stderr += d));
            c.on("close", (status) => resolve({ status, stdout, stderr }));
        });
    };

    test("the bootstrap member: done once it leads", async () => {
        answer = JSON.stringify({ role: "primary", state: "running", patroni: { name: "pg1" } });
        expect(await wait(true, 5)).toEqual({ status: 0, stdout: "pgha: pg1 is the leader (primary running -)\n", stderr: "" });
    });

    test("a replica: done once it streams", async () => {
        answer = JSON.stringify({ role: "replica", state: "running", replication_state: "streaming" });
        expect(await wait(false, 5)).toEqual({ status: 0, stdout: "pgha: pg1 is a streaming replica (replica running streaming)\n", stderr: "" });
    });

    test("not there by the deadline: the last state and Patroni's log on stderr, exit 1; retried every 2 s until then", async () => {
        answer = JSON.stringify({ role: "replica", state: "running", replication_state: "streaming" });
        const t0 = Date.now();
        const r = await wait(true, 3);
        expect(Date.now() - t0).toBeGreaterThanOrEqual(3000);
        expect(r).toEqual({
            status: 1,
            stdout: "",
            stderr: "pgha: pg1 is not the leader after 3 s: role/state/replication: replica running streaming\nPatroni's log (last 15 lines):\njournalctl -u patroni -n 400 --no-pager\n",
        });
    });

    test("an API that does not answer: unreachable, with the error", async () => {
        const closed = await new Promise<number>((resolve) => {
            const s = net.createServer();
            s.listen(0, "127.0.0.1", () => {
                const p = (s.address() as net.AddressInfo).port;
                s.close(() => resolve(p));
            });
        });
        const r = await wait(false, 0, closed);
        expect(r.status).toBe(1);
        expect(r.stderr).toMatch(
            /^pgha: pg1 is not a streaming replica after 0 s: role\/state\/replication: unreachable URLError <urlopen error \[Errno 111\] Connection refused>\nPatroni's log \(last 15 lines\):\njournalctl -u patroni/,
        );
    });
    /** A run of the tool itself with extra argv, and stand-ins for systemctl (NRestarts from a counter file) and journalctl (FATAL lines). */
    /** The tool run asynchronously (the stand-in API answers from this same process). */
    const runAsync = (argv: string[], binDir: string) =>
        new Promise<{ status: number | null; stderr: string }>((resolve) => {
            const env = { ...process.env, PATH: `${binDir}:${process.env.PATH}`, PYTHONDONTWRITEBYTECODE: "1" };
            const c = spawn("python3", [path.join(SERVER_DIR, TOOL), "--member", "pg1", "--role", "leader", "--cacert", path.join(dir, "ca.crt"), ...argv, `https://127.0.0.1:${port}/patroni`], {
                env,
                stdio: ["ignore", "ignore", "pipe"],
            });
            let stderr = "";
            c.stderr.on("data", (d) => (stderr += d));
            c.on("close", (status) => resolve({ status, stderr }));
        });
    const run = (argv: string[], restartsFile: string, waitSec: number) => {
        const bin = path.join(dir, "bin2");
        fs.mkdirSync(bin, { recursive: true });
        // Each call of `systemctl show -p NRestarts` says one more restart: a Patroni that keeps crashing.
        fs.writeFileSync(path.join(bin, "systemctl"), `#!/bin/sh\nn=$(cat ${restartsFile}); echo $((n+1)) >${restartsFile}; echo $n\n`, { mode: 0o755 });
        fs.writeFileSync(
            path.join(bin, "journalctl"),
            `#!/bin/sh\necho "INFO: trying to bootstrap"\necho "FATAL:  recovery ended before configured recovery target was reached"\necho "INFO: removing initialize key"\n`,
            {
                mode: 0o755,
            },
        );
        return runAsync(["--timeout", String(waitSec), ...argv], bin);
    };

    test("a Patroni that systemd keeps restarting ends the wait at once, with the FATAL lines of its log", async () => {
        answer = JSON.stringify({ role: "uninitialized", state: "stopped" });
        const counter = path.join(dir, "restarts");
        fs.writeFileSync(counter, "5");
        const t0 = Date.now();
        const r = await run([], counter, 60);
        expect(Date.now() - t0).toBeLessThan(15_000);
        expect(r.status).toBe(1);
        expect(r.stderr).toMatch(/^pgha: pg1: Patroni exited and was restarted 3 times while pgha waited for it to be the leader; last state: uninitialized stopped -\n/);
        expect(r.stderr).toContain("errors in Patroni's log (last 1):\nFATAL:  recovery ended before configured recovery target was reached\n");
    });

    test("--progress-dir: the wait fails after --stall seconds without a change of state or size", async () => {
        answer = JSON.stringify({ role: "uninitialized", state: "creating replica" });
        const data = fs.mkdtempSync(path.join(dir, "data-"));
        const t0 = Date.now();
        // bin: the journalctl stand-in only; systemctl there is absent, so restarts are unknown.
        const r = await runAsync(["--timeout", "60", "--progress-dir", data, "--stall", "3"], path.join(dir, "bin"));
        expect(Date.now() - t0).toBeGreaterThanOrEqual(3000);
        expect(Date.now() - t0).toBeLessThan(15_000);
        expect(r.status).toBe(1);
        expect(r.stderr).toMatch(/^pgha: pg1 is not the leader: no progress for 3 s \(state: uninitialized creating replica -; .* holds 0 bytes\)\n/);
    });
});
