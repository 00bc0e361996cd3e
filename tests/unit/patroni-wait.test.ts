// patroni-wait.py, the wait after pgha (re)starts Patroni: which REST answers count as the
// leader or a streaming replica, when a running Patroni is busy creating the member, the
// progress lines and the stall bound (pgha_progress.py; python3 runs the scripts' own
// functions), and whole runs as components/patroni-node.ts calls it, against a stand-in
// REST API over HTTPS with a certificate from pgha's own openssl scripts (skipped without
// OpenSSL 3), with stand-ins for systemctl, journalctl and psql.
import { execFileSync, spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as https from "https";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { patroniWaitScript } from "../../components/patroni-node";
import { PATRONI_WAIT, SERVER_DIR } from "../../components/pgha-tools";
import { CA_CERT_PATH, caScript, nodeCertScript, parseCaOutput, parseNodeCertOutput } from "../../core/pki";
import { hasPython3, pyOk, withProgram } from "./server-python";
import { specOf } from "./fixtures";

const TOOL = path.basename(PATRONI_WAIT.path);
const ready = (role: string, state: string) => pyOk(TOOL, "ready", role, state);
const LIB = "pgha_progress.py";
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

(hasPython3 ? describe : describe.skip)("pgha_progress.py: progress lines and the stall bound (python3)", () => {
    test("bytes as people read them: one decimal below 10, whole numbers above", () => {
        expect([0, 512, 1023, 1024, 1536, 10 * 1024, 38 * 1024 ** 2 + 5, 1.2 * 1024 ** 3, 5 * 1024 ** 3, 3 * 1024 ** 4, -5].map((n) => pyOk(LIB, "human", n))).toEqual([
            "0 B",
            "512 B",
            "1023 B",
            "1.0 KiB",
            "1.5 KiB",
            "10 KiB",
            "38 MiB",
            "1.2 GiB",
            "5.0 GiB",
            "3.0 TiB",
            "0 B",
        ]);
    });
    test("an amount: of the total with its percent (below 100 until the step ends), and the rate; without a total, bytes and rate only", () => {
        const GiB = 1024 ** 3;
        expect(pyOk(LIB, "amount", 1.2 * GiB, 5 * GiB, 38 * 1024 ** 2)).toBe("1.2 GiB of 5.0 GiB (24%), 38 MiB/s");
        expect(pyOk(LIB, "amount", 6 * GiB, 5 * GiB, 0)).toBe("6.0 GiB of 5.0 GiB (99%), 0 B/s");
        expect(pyOk(LIB, "amount", 1.2 * GiB, null, 38 * 1024 ** 2)).toBe("1.2 GiB, 38 MiB/s");
        expect(pyOk(LIB, "amount", 1.2 * GiB, 0, null)).toBe("1.2 GiB");
    });
    test("the stall bound: only bytes moving by 1 MiB or more, or a position changing, count; the first sample is the baseline", () => {
        // Samples at the given seconds; prints whether each moved and whether the step has stalled then (stall bound 10 s).
        const out = withProgram(
            LIB,
            `w = m.Watch(10, 0)
MiB = 1 << 20
for t, marks in [(0, {"data": 0, "io": None}), (4, {"data": 512 * 1024, "io": None}), (9, {"data": 1024 * 1024 + 512 * 1024, "io": 5}),
                 (12, {"data": 1024 * 1024 + 512 * 1024, "io": 5 + MiB - 1}), (19, {"data": 1536 * 1024, "io": 5 + MiB - 1}),
                 (20, {"data": 1536 * 1024, "io": 5 + MiB}), (31, {"data": 1536 * 1024, "io": 5 + MiB, "lsn": "0/3000000"}),
                 (35, {"data": 1536 * 1024, "io": 5 + MiB, "lsn": "0/3000060"}), (45, {"data": 1536 * 1024, "io": 5 + MiB, "lsn": "0/3000060"})]:
    print(t, w.see(t, marks, "at %d" % t), w.stalled(t), w.last_seen)`,
        );
        expect(out.trim().split("\n")).toEqual([
            "0 False False at 0",
            // 512 KiB more: not yet progress.
            "4 False False at 4",
            // 1.5 MiB since the baseline: progress; io's first value is its baseline.
            "9 True False at 9",
            "12 False False at 12",
            // 10 s since the last move.
            "19 False True at 19",
            // io moved 1 MiB since it last moved.
            "20 True False at 20",
            // a new position: its first value is a baseline, so still stalled.
            "31 False True at 31",
            "35 True False at 35",
            "45 False True at 45",
        ]);
    });
    test("a report every report_sec at most, with the rate since the previous one", () => {
        const out = withProgram(
            LIB,
            `w = m.Watch(300, 0, report_sec=15)
for t, done in [(5, 100), (15, 0), (20, 10), (30, 15 * 1024), (45, 45 * 1024), (60, None), (75, 1)]:
    print(t, w.due(t, done))`,
        );
        expect(out.trim().split("\n")).toEqual(["5 (False, None)", "15 (True, None)", "20 (False, None)", "30 (True, 1024.0)", "45 (True, 2048.0)", "60 (True, None)", "75 (True, None)"]);
    });
});

(hasPython3 ? describe : describe.skip)("patroni-wait.py: a running Patroni busy creating the member is followed, not restarted (python3)", () => {
    const busy = (active: boolean, answer: unknown, clone: boolean) => pyOk(TOOL, "busy", active, answer, clone);
    test("busy: Patroni active, and the member's state is one that creates its data, or a clone process runs", () => {
        expect(["creating replica", "running custom bootstrap script", "starting after custom bootstrap", "initializing new cluster"].map((st) => busy(true, { state: st }, false))).toEqual([
            true,
            true,
            true,
            true,
        ]);
        expect(busy(true, "URLError refused", true)).toBe(true);
        expect(busy(true, { state: "creating replica" }, true)).toBe(true);
    });
    test("not busy: Patroni stopped (whatever it said), or running, starting, stopped, crashed, unreachable without a clone process", () => {
        expect(busy(false, { state: "creating replica" }, true)).toBe(false);
        expect(["running", "starting", "stopped", "crashed", "start failed", "restarting"].map((st) => busy(true, { state: st }, false))).toEqual([false, false, false, false, false, false]);
        expect(busy(true, "URLError refused", false)).toBe(false);
        expect(busy(true, null, false)).toBe(false);
    });
    test("a clone process: pg_basebackup, or a pgBackRest restore (its local processes too), not a backup nor PostgreSQL", () => {
        const cloning = (...procs: string[][]) =>
            pyOk(
                TOOL,
                "cloning",
                procs.map((argv, i) => [100 + i, argv]),
            );
        expect(cloning(["/usr/lib/postgresql/17/bin/pg_basebackup", "--pgdata=/x", "-X", "stream"])).toBe(true);
        expect(cloning(["postgres: pgsql: checkpointer"], ["/usr/bin/pgbackrest", "--stanza=pgsql", "--delta", "restore"])).toBe(true);
        expect(cloning(["/usr/bin/pgbackrest", "--process=1", "--stanza=pgsql", "restore:local"])).toBe(true);
        expect(cloning(["/usr/bin/pgbackrest", "--stanza=pgsql", "archive-get", "000000010000000000000003", "pg_wal/RECOVERYXLOG"])).toBe(false);
        expect(cloning(["/usr/bin/pgbackrest", "--stanza=pgsql", "--type=full", "backup"], ["/usr/lib/postgresql/17/bin/postgres", "-D", "/var/lib/postgresql/17/pgsql"], [])).toBe(false);
        expect(cloning()).toBe(false);
    });
    test("Patroni's children from its cgroup (Patroni itself left out), and the disk bytes they read and wrote", () => {
        const root = fs.mkdtempSync(path.join(os.tmpdir(), "pgha-cgroup-"));
        try {
            fs.mkdirSync(path.join(root, "cg", "system.slice", "patroni.service"), { recursive: true });
            fs.writeFileSync(path.join(root, "cg", "system.slice", "patroni.service", "cgroup.procs"), "10\n11\n12\n13\n");
            const proc = (pid: number, argv: string[], io?: string) => {
                fs.mkdirSync(path.join(root, "proc", String(pid)), { recursive: true });
                fs.writeFileSync(path.join(root, "proc", String(pid), "cmdline"), argv.join("\0") + "\0");
                if (io !== undefined) fs.writeFileSync(path.join(root, "proc", String(pid), "io"), io);
            };
            proc(10, ["/usr/bin/python3", "/usr/bin/patroni", "/etc/patroni/config.yml"], "read_bytes: 999999\nwrite_bytes: 999999\n");
            proc(11, ["/usr/lib/postgresql/17/bin/pg_basebackup", "--pgdata=/d"], "rchar: 5\nread_bytes: 4096\nwrite_bytes: 1048576\n");
            proc(12, ["postgres: pgsql: startup"], "read_bytes: 0\nwrite_bytes: 8192\n");
            // 13 exited meanwhile: no /proc entry.
            const out = withProgram(
                TOOL,
                `svc = {"restarts": 0, "pid": 10, "cgroup": "/system.slice/patroni.service"}
procs = m.children(svc, sys.argv[1] + "/cg", sys.argv[1] + "/proc")
print([p for p, _ in procs], m.cloning(procs), m.io_bytes(procs, sys.argv[1] + "/proc"))
print(m.children({"restarts": None, "pid": None, "cgroup": None}), m.io_bytes([], sys.argv[1] + "/proc"))`,
                [root],
            );
            expect(out).toBe("[11, 12] True 1060864\n[] None\n");
        } finally {
            fs.rmSync(root, { recursive: true, force: true });
        }
    });
    test("the leader's address in GET /cluster's answer", () => {
        expect(
            pyOk(TOOL, "leader_address", {
                members: [
                    { name: "pg2", role: "replica", host: "10.0.0.2", port: 5432 },
                    { name: "pg1", role: "leader", host: "10.0.0.1", port: 5433 },
                ],
            }),
        ).toEqual(["10.0.0.1", 5433]);
        expect(pyOk(TOOL, "leader_address", { members: [{ name: "pg1", role: "standby_leader", host: "10.0.0.1" }] })).toEqual(["10.0.0.1", 5432]);
        expect(pyOk(TOOL, "leader_address", { members: [{ name: "pg2", role: "replica", host: "10.0.0.2" }] })).toBeNull();
    });
});

(hasPython3 && openssl3 ? describe : describe.skip)("patroni-wait.py: whole runs against a REST API stand-in (HTTPS)", () => {
    jest.setTimeout(30_000);
    let dir = "";
    let server: https.Server | undefined;
    let port = 0;
    let answer = "";
    let cluster = "";

    beforeAll(async () => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgha-patroni-wait-"));
        const ca = parseCaOutput(execFileSync("bash", ["-c", caScript("wait")]).toString());
        fs.writeFileSync(path.join(dir, "ca.crt"), ca.cert);
        const cert = parseNodeCertOutput(execFileSync("bash", ["-c", nodeCertScript("pg1", { ips: ["127.0.0.1"], dns: [] })], { input: ca.key + ca.cert }).toString(), "pg1");
        fs.mkdirSync(path.join(dir, "bin"));
        fs.writeFileSync(path.join(dir, "bin", "journalctl"), `#!/bin/sh\necho "journalctl $*"\n`, { mode: 0o755 });
        server = https.createServer({ key: cert.key, cert: cert.cert }, (req, res) => {
            res.writeHead(req.url === "/patroni" || req.url === "/cluster" ? 200 : 404, { "Content-Type": "application/json" });
            res.end(req.url === "/cluster" ? cluster : answer);
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
            const env = { ...process.env, PATH: `${path.join(dir, "bin")}:${process.env.PATH}`, PYTHONDONTWRITEBYTECODE: "1", PGHA_STALLED_MARK: path.join(dir, "stalled") };
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
    /** The tool run asynchronously (the stand-in API answers from this same process), with extra argv; bin first in PATH. */
    const runAsync = (argv: string[], binDir: string, role = "leader") =>
        new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
            const env = { ...process.env, PATH: `${binDir}:${process.env.PATH}`, PYTHONDONTWRITEBYTECODE: "1", PGHA_STALLED_MARK: path.join(dir, "stalled") };
            const c = spawn("python3", [path.join(SERVER_DIR, TOOL), "--member", "pg1", "--role", role, "--cacert", path.join(dir, "ca.crt"), ...argv, `https://127.0.0.1:${port}/patroni`], {
                env,
                stdio: ["ignore", "pipe", "pipe"],
            });
            let stdout = "";
            let stderr = "";
            c.stdout.on("data", (d) => (stdout += d));
            c.stderr.on("data", (d) => (stderr += d));
            c.on("close", (status) => resolve({ status, stdout, stderr }));
        });
    const run = (argv: string[], restartsFile: string, waitSec: number) => {
        const bin = path.join(dir, "bin2");
        fs.mkdirSync(bin, { recursive: true });
        // Each call of `systemctl show` says one more restart: a Patroni that keeps crashing.
        fs.writeFileSync(path.join(bin, "systemctl"), `#!/bin/sh\nn=$(cat ${restartsFile}); echo $((n+1)) >${restartsFile}; echo NRestarts=$n\n`, { mode: 0o755 });
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

    test("--progress-dir: the wait fails after --stall seconds without its size moving, saying what it last saw", async () => {
        answer = JSON.stringify({ role: "uninitialized", state: "creating replica" });
        const data = fs.mkdtempSync(path.join(dir, "data-"));
        const t0 = Date.now();
        // bin: the journalctl stand-in only; systemctl there is absent, so restarts are unknown.
        const r = await runAsync(["--timeout", "60", "--progress-dir", data, "--stall", "3"], path.join(dir, "bin"));
        expect(Date.now() - t0).toBeGreaterThanOrEqual(3000);
        expect(Date.now() - t0).toBeLessThan(15_000);
        expect(r.status).toBe(1);
        expect(fs.readFileSync(path.join(dir, "stalled"), "utf8")).toMatch(/^state uninitialized creating replica -; /);
        fs.rmSync(path.join(dir, "stalled"));
        expect(r.stderr).toMatch(/^pgha: pg1 is not the leader: no progress for 3 s \(last seen: state uninitialized creating replica -; .*\/data-\w+ holds 0 B \(0 bytes\)\)\n/);
    });

    /** A systemctl stand-in: logs its arguments; is-active answers from the file `active` (0 active, 3 not); show: no restarts, no cgroup. */
    const systemctlBin = (name: string, active: number) => {
        const bin = path.join(dir, name);
        fs.mkdirSync(bin, { recursive: true });
        fs.writeFileSync(path.join(bin, "active"), String(active));
        fs.writeFileSync(
            path.join(bin, "systemctl"),
            `#!/bin/sh\necho "$*" >>${bin}/log\ncase "$1" in\n  is-active) exit $(cat ${bin}/active);;\n  show) echo NRestarts=0; echo MainPID=1; echo ControlGroup=;;\nesac\nexit 0\n`,
            { mode: 0o755 },
        );
        fs.copyFileSync(path.join(dir, "bin", "journalctl"), path.join(bin, "journalctl"));
        return { bin, log: () => (fs.existsSync(path.join(bin, "log")) ? fs.readFileSync(path.join(bin, "log"), "utf8") : "") };
    };
    /** The answer becomes `after` once `ms` passed. */
    const answerLater = (first: object, after: object, ms: number) => {
        answer = JSON.stringify(first);
        return setTimeout(() => (answer = JSON.stringify(after)), ms);
    };
    const STREAMING = { role: "replica", state: "running", replication_state: "streaming" };
    const CREATING = { role: "uninitialized", state: "creating replica" };

    test("a clone: a line per report with the bytes, the leader's total and the rate; the superuser's password only in psql's environment", async () => {
        const data = fs.mkdtempSync(path.join(dir, "clone-"));
        const pgbin = fs.mkdtempSync(path.join(dir, "pgbin-"));
        // psql stand-in: records its argv and environment, answers the leader's 5 GiB.
        fs.writeFileSync(path.join(pgbin, "psql"), `#!/bin/sh\necho "argv: $*" >>${pgbin}/log\necho "env: $PGPASSWORD|$PGSSLMODE|$PGSSLROOTCERT|$PGAPPNAME" >>${pgbin}/log\necho 5368709120\n`, {
            mode: 0o755,
        });
        const config = path.join(dir, "config.yml");
        fs.writeFileSync(
            config,
            `postgresql:\n  bin_dir: ${pgbin}\n  authentication:\n    superuser: {username: postgres, password: "s3cret pw", sslmode: verify-full, sslrootcert: /etc/pgha/ca.crt}\n`,
        );
        cluster = JSON.stringify({
            members: [
                { name: "pg2", role: "leader", host: "127.0.0.1", port: 5433 },
                { name: "pg1", role: "replica", state: "creating replica", host: "127.0.0.2", port: 5432 },
            ],
        });
        // The clone grows by 3 MiB every 250 ms.
        let n = 0;
        const grow = setInterval(() => fs.writeFileSync(path.join(data, `f${n++}`), Buffer.alloc(3 << 20)), 250);
        const done = answerLater(CREATING, STREAMING, 5500);
        const { bin } = systemctlBin("bin-clone", 0);
        try {
            const r = await runAsync(["--timeout", "60", "--progress-dir", data, "--stall", "30", "--report-sec", "1", "--config", config], bin, "replica");
            expect([r.status, r.stderr]).toEqual([0, ""]);
            const lines = r.stdout.trim().split("\n");
            expect(lines.length).toBeGreaterThanOrEqual(3);
            expect(lines[lines.length - 1]).toBe("pgha: pg1 is a streaming replica (replica running streaming)");
            const progress = lines.slice(0, -1);
            // The first report has no rate yet; the others do.
            expect(progress[0]).toMatch(/^pgha: pg1 creating replica: [0-9.]+ MiB of 5\.0 GiB \([0-9]%\)$/);
            for (const l of progress.slice(1)) expect(l).toMatch(/^pgha: pg1 creating replica: [0-9.]+ MiB of 5\.0 GiB \([0-9]%\), [0-9.]+ MiB\/s$/);
            // Asked once, of the leader, as the superuser; the password only in the environment.
            const log = fs.readFileSync(path.join(pgbin, "log"), "utf8");
            expect(log).toBe(
                "argv: -X -At -h 127.0.0.1 -p 5433 -U postgres -d postgres -c select coalesce((select max(backup_total) from pg_stat_progress_basebackup), (select sum(pg_database_size(oid)) from pg_database))\n" +
                    "env: s3cret pw|verify-full|/etc/pgha/ca.crt|pgha-progress\n",
            );
        } finally {
            clearInterval(grow);
            clearTimeout(done);
        }
    });

    test("without a config.yml to ask the leader with: bytes and rate, no total", async () => {
        const data = fs.mkdtempSync(path.join(dir, "clone-"));
        fs.writeFileSync(path.join(data, "f"), Buffer.alloc(5 << 20));
        const done = answerLater(CREATING, STREAMING, 5500);
        const { bin } = systemctlBin("bin-nototal", 0);
        try {
            const r = await runAsync(["--timeout", "60", "--progress-dir", data, "--stall", "30", "--report-sec", "1", "--config", path.join(dir, "absent.yml")], bin, "replica");
            expect(r.status).toBe(0);
            expect(r.stdout.split("\n")[0]).toBe("pgha: pg1 creating replica: 5.0 MiB");
            expect(r.stdout).toMatch(/\npgha: pg1 creating replica: 5\.0 MiB, 0 B\/s\n/);
        } finally {
            clearTimeout(done);
        }
    });

    test("--start: a Patroni already creating the member is followed, not restarted, and reloaded once the member is ready", async () => {
        const { bin, log } = systemctlBin("bin-busy", 0);
        const done = answerLater(CREATING, STREAMING, 2500);
        try {
            const r = await runAsync(["--start", "--timeout", "60"], bin, "replica");
            expect([r.status, r.stderr]).toEqual([0, ""]);
            expect(r.stdout.split("\n")[0]).toBe("pgha: pg1: Patroni is already creating this member (uninitialized creating replica -; an earlier run started it): following it, not restarting");
            expect(
                log()
                    .split("\n")
                    .filter((l) => !l.startsWith("show ")),
            ).toEqual(["is-active --quiet patroni", "reload patroni", ""]);
        } finally {
            clearTimeout(done);
        }
    });

    test("--start: a Patroni running as usual, or stopped, is restarted (and not reloaded)", async () => {
        answer = JSON.stringify(STREAMING);
        for (const [name, active] of [
            ["bin-running", 0],
            ["bin-stopped", 3],
        ] as const) {
            const { bin, log } = systemctlBin(name, active);
            const r = await runAsync(["--start", "--timeout", "60"], bin, "replica");
            expect([r.status, r.stdout, r.stderr]).toEqual([0, "pgha: pg1 is a streaming replica (replica running streaming)\n", ""]);
            expect(
                log()
                    .split("\n")
                    .filter((l) => !l.startsWith("show ")),
            ).toEqual(["is-active --quiet patroni", "restart patroni", ""]);
        }
    });

    test("--start after a wait that stalled: Patroni is restarted even while it says it creates the member; the mark is gone", async () => {
        const { bin, log } = systemctlBin("bin-stalled", 0);
        fs.writeFileSync(path.join(dir, "stalled"), "state uninitialized creating replica -\n");
        const done = answerLater(CREATING, STREAMING, 1000);
        try {
            const r = await runAsync(["--start", "--timeout", "60"], bin, "replica");
            expect(r.status).toBe(0);
            expect(r.stdout.split("\n")[0]).toBe("pgha: pg1: the last wait saw no progress: restarting Patroni");
            expect(
                log()
                    .split("\n")
                    .filter((l) => !l.startsWith("show ")),
            ).toEqual(["restart patroni", ""]);
            expect(fs.existsSync(path.join(dir, "stalled"))).toBe(false);
        } finally {
            clearTimeout(done);
        }
    });
});
