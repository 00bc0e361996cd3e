// The exporters pgha deploys, run here from Debian's packages (scripts/get-monitoring-tools.sh:
// node_exporter and postgres_exporter, unpacked, not installed) with pgha's rendered arguments,
// web config and data-source variables (paths moved into a temp dir, the address to loopback):
// - node_exporter answers over TLS only, and only a client with a certificate of the CA;
//   its textfile collector serves pgha's certificate record;
// - server/pg-monitor-role.py makes pgha_monitor (pg_monitor only) on a real PostgreSQL 15, and
//   postgres_exporter logs in as it over TLS (verify-full) with the password file, as pg_hba's
//   line admits it, and serves the metric names the rules use.
// Skipped without root, PostgreSQL 15, psycopg2 or the exporters (npm test gets them; CI fails a skip).
import { ChildProcess, execFileSync, spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as https from "https";
import * as http from "http";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { CA_CERT_PATH, PROMETHEUS_TLS, caScript, nodeCertScript, parseCaOutput, parseNodeCertOutput } from "../../core/pki";
import {
    CERTIFICATE_METRICS_PATH,
    EXPORTER_WEB_CONFIG_PATH,
    POSTGRES_EXPORTER_PASSWORD_PATH,
    TEXTFILE_DIR,
    renderCertificateMetrics,
    renderExporterWebConfig,
    renderNodeExporterDefaults,
    renderPostgresExporterDefaults,
    renderPostgresExporterPassword,
} from "../../core/render/monitoring-exporters";
import { MONITORING_USER, pgHbaLines } from "../../core/topology";
import { MONITOR_ROLE, SERVER_DIR, SET_PASSWORDS } from "../../components/pgha-tools";
import { classicWith, specOf } from "./fixtures";

const has = (cmd: string, ...args: string[]): boolean => spawnSync(cmd, args, { stdio: "ignore" }).status === 0;
const TOOLS = path.join(process.env.PGHA_CACHE ?? path.join(os.homedir(), ".cache", "pgha"), "monitoring-tools", "bin");
const NODE_EXPORTER = path.join(TOOLS, "prometheus-node-exporter");
const POSTGRES_EXPORTER = path.join(TOOLS, "prometheus-postgres-exporter");
const PG_BIN = "/usr/lib/postgresql/15/bin";
const exporters = has(NODE_EXPORTER, "--version") && has(POSTGRES_EXPORTER, "--version");
const realPg = process.getuid?.() === 0 && fs.existsSync(`${PG_BIN}/initdb`) && has("runuser", "--help") && has("psql", "--version") && has("/usr/bin/python3", "-c", "import psycopg2");

const freePort = () =>
    new Promise<number>((resolve) => {
        const s = net.createServer().listen(0, "127.0.0.1", () => {
            const p = (s.address() as net.AddressInfo).port;
            s.close(() => resolve(p));
        });
    });

/** GET over https with the given TLS material: status and body, or the error's message. */
function get(url: string, tls: { ca?: string; cert?: string; key?: string }): Promise<{ status?: number; body?: string; error?: string }> {
    return new Promise((resolve) => {
        const lib = url.startsWith("https:") ? https : http;
        const req = lib.get(url, { ...tls, timeout: 5000 }, (res) => {
            let body = "";
            res.on("data", (d) => (body += d));
            res.on("end", () => resolve({ status: res.statusCode, body }));
        });
        req.on("error", (e) => resolve({ error: e.message }));
        req.on("timeout", () => req.destroy(new Error("timeout")));
    });
}

async function waitFor(url: string, tls: { ca?: string; cert?: string; key?: string }, log = ""): Promise<void> {
    for (let i = 0; i < 100; i++) {
        const r = await get(url, tls);
        if (r.status === 200) return;
        await new Promise((res) => setTimeout(res, 100));
    }
    throw new Error(`${url} never answered${log !== "" && fs.existsSync(log) ? `:\n${fs.readFileSync(log, "utf8").slice(-2000)}` : ""}`);
}

/** The words of a rendered defaults file's ARGS='...' line. */
const argsOf = (content: string): string[] => /^ARGS='(.*)'$/m.exec(content)![1].split(" ");
/** A rendered defaults file's other variables. */
const varsOf = (content: string): Record<string, string> => Object.fromEntries([...content.matchAll(/^([A-Z_]+)='(.*)'$/gm)].filter((m) => m[1] !== "ARGS").map((m) => [m[1], m[2]]));

(realPg && exporters ? describe : describe.skip)("the exporters with pgha's files (Debian's binaries, PostgreSQL 15)", () => {
    jest.setTimeout(120_000);
    // The punctuation pgha:monitoringPassword allows (no blanks, quotes or backslashes: core/config-secrets.ts).
    const PASSWORD = "MonitorMark$(id);#&|<>{}%=@:/?,.!~^*";
    const spec = specOf(classicWith((v) => (v.monitoring = { prometheusHost: "pg3" })));
    const pg1 = spec.nodes.find((n) => n.name === "pg1")!;
    let dir = "";
    let port = 0;
    const procs: ChildProcess[] = [];
    let tls: { ca: string; cert: string; key: string };
    /** A pgha path, moved into the temp dir. */
    const here = (p: string): string => path.join(dir, p.replace(/\//g, "_"));
    const moved = (text: string): string =>
        [CA_CERT_PATH, PROMETHEUS_TLS.cert, PROMETHEUS_TLS.key, EXPORTER_WEB_CONFIG_PATH, POSTGRES_EXPORTER_PASSWORD_PATH, TEXTFILE_DIR].reduce((t, p) => t.split(p).join(here(p)), text);
    const asPostgres = (cmd: string[], input?: string) => spawnSync("runuser", ["-u", "postgres", "--", ...cmd], { input, encoding: "utf8", cwd: "/" });
    const sql = (q: string) => asPostgres(["psql", "-h", path.join(dir, "sock"), "-p", String(port), "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-AtXc", q]);
    const exporter = (bin: string, args: string[], env: Record<string, string> = {}) => {
        const log = fs.openSync(path.join(dir, `${path.basename(bin)}.log`), "a");
        const p = spawn(bin, args, { env: { ...process.env, ...env }, stdio: ["ignore", log, log] });
        procs.push(p);
        return p;
    };

    beforeAll(async () => {
        port = await freePort();
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgha-exporters-"));
        fs.chmodSync(dir, 0o755);
        fs.mkdirSync(path.join(dir, "sock"));
        fs.mkdirSync(here(TEXTFILE_DIR));
        for (const f of [MONITOR_ROLE, SET_PASSWORDS]) fs.copyFileSync(path.join(SERVER_DIR, path.basename(f.path)), path.join(dir, path.basename(f.path)));
        const ca = parseCaOutput(execFileSync("bash", ["-c", caScript("pgsql")]).toString());
        const node = parseNodeCertOutput(execFileSync("bash", ["-c", nodeCertScript("pg1", { ips: ["127.0.0.1"], dns: ["localhost"] })], { input: ca.key + ca.cert }).toString(), "pg1");
        fs.writeFileSync(here(CA_CERT_PATH), ca.cert);
        fs.writeFileSync(here(PROMETHEUS_TLS.cert), node.cert);
        fs.writeFileSync(here(PROMETHEUS_TLS.key), node.key, { mode: 0o600 });
        fs.writeFileSync(path.join(dir, "postgres.crt"), node.cert);
        fs.writeFileSync(path.join(dir, "postgres.key"), node.key, { mode: 0o600 });
        tls = { ca: ca.cert, cert: node.cert, key: node.key };
        fs.writeFileSync(here(EXPORTER_WEB_CONFIG_PATH), moved(renderExporterWebConfig(spec).content));
        fs.writeFileSync(path.join(here(TEXTFILE_DIR), path.basename(CERTIFICATE_METRICS_PATH)), renderCertificateMetrics(spec, pg1, "2031-01-01T00:00:00.000Z").content);
        fs.writeFileSync(here(POSTGRES_EXPORTER_PASSWORD_PATH), renderPostgresExporterPassword(spec, pg1, PASSWORD).content, { mode: 0o600 });
        spawnSync("chown", ["postgres:postgres", dir, path.join(dir, "sock"), path.join(dir, "postgres.crt"), path.join(dir, "postgres.key")]);
        spawnSync("chmod", ["0644", path.join(dir, path.basename(MONITOR_ROLE.path)), path.join(dir, path.basename(SET_PASSWORDS.path))]);

        const init = asPostgres([`${PG_BIN}/initdb`, "-D", path.join(dir, "data"), "-U", "postgres", "--auth-local=peer", "--auth-host=scram-sha-256"]);
        if (init.status !== 0) throw new Error(init.stderr);
        // pgha's own lines for the superuser over the socket and for the exporter's role, then the final reject.
        const hba = pgHbaLines(spec).filter((l) => l.startsWith("local ") || l.includes(MONITORING_USER) || l.includes("reject"));
        fs.writeFileSync(path.join(dir, "data", "pg_hba.conf"), `${hba.join("\n")}\n`);
        const opts = `-p ${port} -k ${path.join(dir, "sock")} -c listen_addresses=127.0.0.1 -c password_encryption=scram-sha-256 -c ssl=on -c ssl_cert_file=${path.join(dir, "postgres.crt")} -c ssl_key_file=${path.join(dir, "postgres.key")}`;
        const start = asPostgres([`${PG_BIN}/pg_ctl`, "-D", path.join(dir, "data"), "-l", path.join(dir, "server.log"), "-w", "-o", opts, "start"]);
        if (start.status !== 0) throw new Error(start.stderr + start.stdout);
    });

    afterAll(() => {
        for (const p of procs) p.kill("SIGTERM");
        if (dir === "") return;
        asPostgres([`${PG_BIN}/pg_ctl`, "-D", path.join(dir, "data"), "-m", "fast", "-w", "stop"]);
        fs.rmSync(dir, { recursive: true, force: true });
    });

    test("node_exporter: TLS only, only a client with a certificate of the CA; pgha's certificate record through the textfile collector", async () => {
        const p = await freePort();
        const args = argsOf(moved(renderNodeExporterDefaults(spec, pg1).content)).map((a) => a.replace(`${pg1.address}:9100`, `127.0.0.1:${p}`));
        exporter(NODE_EXPORTER, args);
        const url = `https://127.0.0.1:${p}/metrics`;
        await waitFor(url, tls);
        const ok = await get(url, tls);
        expect(ok.status).toBe(200);
        expect(ok.body).toContain('pgha_certificate_not_after_seconds{node="pg1"} 1.924992e+09');
        expect(ok.body).toMatch(/^node_filesystem_avail_bytes\{/m);
        // No client certificate: the handshake fails; plain HTTP: no metrics.
        expect((await get(url, { ca: tls.ca })).status).toBeUndefined();
        expect((await get(`http://127.0.0.1:${p}/metrics`, {})).status).not.toBe(200);
    });

    test("pg-monitor-role.py: pgha_monitor, in pg_monitor and nothing more; a second run changes nothing; --disable takes the login away", () => {
        const run = (...extra: string[]) =>
            asPostgres(["/usr/bin/python3", path.join(dir, "pg-monitor-role.py"), path.join(dir, "sock"), String(port), ...extra], JSON.stringify({ password: PASSWORD }));
        const first = run();
        expect([first.status, first.stderr, first.stdout.trim()]).toEqual([0, "", "pgha: the monitoring role pgha_monitor created (member of pg_monitor)"]);
        expect(
            sql(
                "select rolcanlogin, rolsuper, rolreplication, rolcreaterole, rolinherit, rolconnlimit, rolpassword like 'SCRAM-SHA-256$4096:%' from pg_authid where rolname = 'pgha_monitor'",
            ).stdout.trim(),
        ).toBe("t|f|f|f|t|5|t");
        expect(
            sql("select string_agg(b.rolname, ',') from pg_auth_members m join pg_roles b on b.oid = m.roleid join pg_roles u on u.oid = m.member where u.rolname = 'pgha_monitor'").stdout.trim(),
        ).toBe("pg_monitor");
        expect(run().stdout.trim()).toBe("pgha: the monitoring role pgha_monitor unchanged (member of pg_monitor)");
    });

    test("postgres_exporter logs in as pgha_monitor over TLS with the password file, and serves the metrics the rules use", async () => {
        const p = await freePort();
        const defaults = moved(renderPostgresExporterDefaults(spec, pg1).content).replace("127.0.0.1:5432/", `127.0.0.1:${port}/`);
        const args = argsOf(defaults).map((a) => a.replace(`${pg1.address}:9187`, `127.0.0.1:${p}`));
        exporter(POSTGRES_EXPORTER, args, varsOf(defaults));
        const url = `https://127.0.0.1:${p}/metrics`;
        await waitFor(url, tls, path.join(dir, "prometheus-postgres-exporter.log"));
        const body = (await get(url, tls)).body ?? "";
        expect(body).toMatch(/^pg_up 1$/m);
        expect(body).toMatch(/^pg_stat_archiver_failed_count\{/m);
        expect((await get(url, { ca: tls.ca })).status).toBeUndefined();
        // The password never reached the server's log.
        expect(fs.readFileSync(path.join(dir, "server.log"), "utf8")).not.toContain("MonitorMark");
    });

    test("--disable: the role can no longer log in", () => {
        const r = asPostgres(["/usr/bin/python3", path.join(dir, "pg-monitor-role.py"), path.join(dir, "sock"), String(port), "--disable"], "{}");
        expect([r.status, r.stdout.trim()]).toEqual([0, "pgha: the monitoring role pgha_monitor can no longer log in"]);
        expect(sql("select rolcanlogin, rolpassword is null from pg_authid where rolname = 'pgha_monitor'").stdout.trim()).toBe("f|t");
    });
});
