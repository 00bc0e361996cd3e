// server/pgbouncer-auth.py (PgBouncer's lookup role and function) against a real PostgreSQL 15
// (this machine's, as Debian 12 ships), and, where a pgbouncer binary is found (PGHA_PGBOUNCER, or
// /usr/sbin/pgbouncer: 1.18 on Debian 12), pgha's rendered pgbouncer.ini in front of it: SCRAM over
// TLS end to end through auth_query, superusers and replication roles refused. Skipped without
// root, PostgreSQL 15 or psycopg2 (as pg-set-passwords.test.ts).
import { ChildProcess, execFileSync, spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { CA_CERT_PATH, POSTGRES_TLS, caScript, nodeCertScript, parseCaOutput, parseNodeCertOutput } from "../../core/pki";
import { PGBOUNCER_AUTH_FILE_PATH, PGBOUNCER_HBA_PATH, renderPgbouncerAuthFile, renderPgbouncerIni } from "../../core/render/pgbouncer";
import { PGBOUNCER_AUTH, SET_PASSWORDS } from "../../components/pgha-tools";
import { SERVER_DIR } from "../../components/pgha-tools";
import { classicWith, specOf } from "./fixtures";

const has = (cmd: string, ...args: string[]): boolean => spawnSync(cmd, args, { stdio: "ignore" }).status === 0;
const PG_BIN = "/usr/lib/postgresql/15/bin";
const realPg = process.getuid?.() === 0 && fs.existsSync(`${PG_BIN}/initdb`) && has("runuser", "--help") && has("psql", "--version") && has("/usr/bin/python3", "-c", "import psycopg2");
const PGBOUNCER = [process.env.PGHA_PGBOUNCER, "/usr/sbin/pgbouncer"].find((p): p is string => p !== undefined && fs.existsSync(p));

const freePort = () =>
    new Promise<number>((resolve) => {
        const s = net.createServer().listen(0, "127.0.0.1", () => {
            const p = (s.address() as net.AddressInfo).port;
            s.close(() => resolve(p));
        });
    });

(realPg ? describe : describe.skip)("pgbouncer-auth.py against PostgreSQL 15", () => {
    jest.setTimeout(120_000);
    const PASSWORD = `LookupMark "q" 'x' ü $(id)`;
    const USERS = { app: "App-Mark-pw", su2: "Su2-Mark-pw", repl2: "Repl2-Mark-pw", nolog: "Nolog-Mark-pw", old: "Old-Mark-pw" };
    let dir = "";
    let port = 0;
    const asPostgres = (cmd: string[], input?: string) => spawnSync("runuser", ["-u", "postgres", "--", ...cmd], { input, encoding: "utf8", cwd: "/" });
    const sql = (db: string, q: string) => asPostgres(["psql", "-h", path.join(dir, "sock"), "-p", String(port), "-U", "postgres", "-d", db, "-v", "ON_ERROR_STOP=1", "-AtXc", q]);
    const runScript = (...extra: string[]) =>
        asPostgres(["/usr/bin/python3", path.join(dir, "pgbouncer-auth.py"), path.join(dir, "sock"), String(port), ...extra], JSON.stringify({ password: PASSWORD }));
    const tcp = (p: number, user: string, password: string, db: string, q: string, extra = "") =>
        spawnSync("psql", [`host=127.0.0.1 port=${p} user=${user} dbname=${db} sslmode=verify-full sslrootcert=${path.join(dir, "ca.crt")} connect_timeout=5 ${extra}`, "-AtXc", q], {
            encoding: "utf8",
            env: { ...process.env, PGPASSWORD: password },
        });
    const serverLog = () => fs.readFileSync(path.join(dir, "server.log"), "utf8");

    beforeAll(async () => {
        port = await freePort();
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgha-pgb-"));
        fs.chmodSync(dir, 0o755);
        fs.mkdirSync(path.join(dir, "sock"));
        // The program loads pg-set-passwords.py from its own directory, as on the servers.
        for (const f of [PGBOUNCER_AUTH, SET_PASSWORDS]) fs.copyFileSync(path.join(SERVER_DIR, path.basename(f.path)), path.join(dir, path.basename(f.path)));
        const ca = parseCaOutput(execFileSync("bash", ["-c", caScript("pgsql")]).toString());
        const node = parseNodeCertOutput(execFileSync("bash", ["-c", nodeCertScript("pg1", { ips: ["127.0.0.1"], dns: ["localhost"] })], { input: ca.key + ca.cert }).toString(), "pg1");
        fs.writeFileSync(path.join(dir, "ca.crt"), ca.cert);
        fs.writeFileSync(path.join(dir, "node.crt"), node.cert);
        fs.writeFileSync(path.join(dir, "node.key"), node.key, { mode: 0o600 });
        spawnSync("chown", ["-R", "postgres:postgres", dir]);
        const init = asPostgres([`${PG_BIN}/initdb`, "-D", path.join(dir, "data"), "-U", "postgres", "--auth-local=peer", "--auth-host=scram-sha-256"]);
        if (init.status !== 0) throw new Error(init.stderr);
        fs.writeFileSync(path.join(dir, "data", "pg_hba.conf"), "local all postgres peer\nhostssl all all 127.0.0.1/32 scram-sha-256\n");
        const opts = `-p ${port} -k ${path.join(dir, "sock")} -c listen_addresses=127.0.0.1 -c log_statement=all -c password_encryption=scram-sha-256 -c ssl=on -c ssl_cert_file=${path.join(dir, "node.crt")} -c ssl_key_file=${path.join(dir, "node.key")}`;
        const start = asPostgres([`${PG_BIN}/pg_ctl`, "-D", path.join(dir, "data"), "-l", path.join(dir, "server.log"), "-w", "-o", opts, "start"]);
        if (start.status !== 0) throw new Error(start.stderr + start.stdout);
        const setup = [
            `CREATE ROLE app LOGIN PASSWORD '${USERS.app}'`,
            `CREATE ROLE su2 SUPERUSER LOGIN PASSWORD '${USERS.su2}'`,
            `CREATE ROLE repl2 REPLICATION LOGIN PASSWORD '${USERS.repl2}'`,
            `CREATE ROLE nolog NOLOGIN PASSWORD '${USERS.nolog}'`,
            `CREATE ROLE old LOGIN PASSWORD '${USERS.old}' VALID UNTIL '2000-01-01'`,
            `CREATE DATABASE appdb OWNER app`,
        ];
        for (const q of setup) {
            const r = sql("postgres", q);
            if (r.status !== 0) throw new Error(r.stderr);
        }
    });

    afterAll(() => {
        if (dir === "") return;
        asPostgres([`${PG_BIN}/pg_ctl`, "-D", path.join(dir, "data"), "-m", "fast", "-w", "stop"]);
        fs.rmSync(dir, { recursive: true, force: true });
    });

    test("makes the lookup role (a verifier, never the password) and the function in every database; a second run changes nothing", () => {
        const first = runScript();
        expect([first.status, first.stderr]).toEqual([0, ""]);
        expect(first.stdout.trim()).toBe("pgha: PgBouncer's lookup role pgha_pgbouncer created; pgha_pgbouncer.lookup() in appdb, postgres, template1");
        expect(sql("postgres", "select rolcanlogin, rolsuper, rolreplication, rolinherit, rolpassword like 'SCRAM-SHA-256$4096:%' from pg_authid where rolname = 'pgha_pgbouncer'").stdout.trim()).toBe(
            "t|f|f|f|t",
        );
        const second = runScript();
        expect(second.stdout.trim()).toBe("pgha: PgBouncer's lookup role pgha_pgbouncer unchanged; pgha_pgbouncer.lookup() in appdb, postgres, template1");
        for (const marker of ["LookupMark", "$(id)"]) expect([marker, serverLog().includes(marker)]).toEqual([marker, false]);
    });

    test("the function returns an application role's verifier, and nothing for superusers, replication roles, NOLOGIN, expired roles or itself", () => {
        const lookup = (who: string, db = "postgres") => tcp(port, "pgha_pgbouncer", PASSWORD, db, `select p_username, left(p_password, 14) from pgha_pgbouncer.lookup('${who}')`);
        expect(lookup("app").stdout.trim()).toBe("app|SCRAM-SHA-256$");
        expect(lookup("app", "appdb").stdout.trim()).toBe("app|SCRAM-SHA-256$");
        for (const who of ["postgres", "su2", "repl2", "nolog", "old", "pgha_pgbouncer", "nobody"]) {
            const r = lookup(who);
            expect([who, r.status, r.stdout.trim()]).toEqual([who, 0, ""]);
        }
        // SECURITY DEFINER with a pinned search_path, in a schema only the lookup role may use.
        expect(sql("postgres", "select prosecdef, proconfig from pg_proc where proname = 'lookup'").stdout.trim()).toBe('t|{"search_path=pg_catalog, pg_temp"}');
        expect(sql("postgres", "select has_schema_privilege('app', 'pgha_pgbouncer', 'USAGE'), has_schema_privilege('pgha_pgbouncer', 'pgha_pgbouncer', 'USAGE')").stdout.trim()).toBe("f|t");
        const denied = tcp(port, "app", USERS.app, "postgres", "select * from pgha_pgbouncer.lookup('app')");
        expect(denied.stderr).toContain("permission denied for schema pgha_pgbouncer");
    });

    test("a database made later from template1 inherits the function", () => {
        expect(sql("postgres", "CREATE DATABASE later").status).toBe(0);
        expect(tcp(port, "pgha_pgbouncer", PASSWORD, "later", "select p_username from pgha_pgbouncer.lookup('app')").stdout.trim()).toBe("app");
    });

    (PGBOUNCER ? describe : describe.skip)(`pgha's pgbouncer.ini with ${PGBOUNCER ?? "pgbouncer"}`, () => {
        let bouncer: ChildProcess | undefined;
        let bport = 0;
        beforeAll(async () => {
            bport = await freePort();
            // pgha's rendering for a node, pointed at this machine: 127.0.0.1 and the test's ports and files.
            const spec = specOf(classicWith((v) => ((v.pgbouncer = { port: 6432, databases: { appdb: { poolMode: "session", poolSize: 2 } } }), (v.postgres.port = 5432))));
            const node = spec.nodes[0];
            const swap = (s: string) =>
                s
                    .split(node.address)
                    .join("127.0.0.1")
                    .replace(/port=5432/g, `port=${port}`)
                    .replace("listen_port = 6432", `listen_port = ${bport}`)
                    .replace(PGBOUNCER_HBA_PATH, path.join(dir, "hba.conf"))
                    .replace(PGBOUNCER_AUTH_FILE_PATH, path.join(dir, "userlist.txt"))
                    .replace(POSTGRES_TLS.cert, path.join(dir, "node.crt"))
                    .replace(POSTGRES_TLS.key, path.join(dir, "node.key"))
                    .replace(CA_CERT_PATH, path.join(dir, "ca.crt"));
            fs.writeFileSync(path.join(dir, "pgbouncer.ini"), swap(renderPgbouncerIni(spec, node).content));
            fs.writeFileSync(path.join(dir, "hba.conf"), "hostssl all all 127.0.0.1/32 scram-sha-256\n");
            fs.writeFileSync(path.join(dir, "userlist.txt"), renderPgbouncerAuthFile(spec, node, PASSWORD).content, { mode: 0o600 });
            spawnSync("chown", ["-R", "postgres:postgres", dir]);
            const log = fs.openSync(path.join(dir, "pgbouncer.log"), "w");
            const id = (flag: string) => Number(execFileSync("id", [flag, "postgres"]).toString().trim());
            // As postgres, as Debian's unit runs it; the child is PgBouncer itself (signals reach it).
            bouncer = spawn(PGBOUNCER!, [path.join(dir, "pgbouncer.ini")], { uid: id("-u"), gid: id("-g"), cwd: "/", stdio: ["ignore", log, log] });
            fs.closeSync(log);
            for (let i = 0; i < 50 && tcp(bport, "app", USERS.app, "appdb", "select 1").status !== 0; i++) await new Promise((r) => setTimeout(r, 200));
        });
        afterAll(async () => {
            // SIGQUIT: PgBouncer's immediate exit.
            if (bouncer !== undefined && bouncer.exitCode === null) await new Promise((r) => (bouncer!.once("exit", r), bouncer!.kill("SIGQUIT")));
        });

        test("an application role logs in with SCRAM over TLS; PgBouncer reaches PostgreSQL over verified TLS", () => {
            const r = tcp(bport, "app", USERS.app, "appdb", "select current_user, (select ssl from pg_stat_ssl where pid = pg_backend_pid())");
            expect([r.status, r.stdout.trim(), r.stderr]).toEqual([0, "app|t", ""]);
            expect(tcp(bport, "app", USERS.app, "postgres", "select current_database()").stdout.trim()).toBe("postgres");
        });

        test("refused: a superuser, a replication role, an expired role, a wrong password, a client without TLS", () => {
            for (const [user, pw] of [
                ["postgres", USERS.su2],
                ["su2", USERS.su2],
                ["repl2", USERS.repl2],
                ["old", USERS.old],
                ["app", "wrong"],
            ]) {
                const r = tcp(bport, user, pw, "postgres", "select 1");
                expect([user, r.status]).toEqual([user, 2]);
            }
            expect(tcp(bport, "app", USERS.app, "appdb", "select 1", "sslmode=disable").stderr).toContain("SSL required");
        });

        test("a reload (SIGHUP) re-reads pgbouncer.ini: the process stays and clients still log in", () => {
            const file = path.join(dir, "pgbouncer.ini");
            fs.writeFileSync(file, fs.readFileSync(file, "utf8").replace(/default_pool_size = \d+/, "default_pool_size = 7"));
            const pid = bouncer!.pid!;
            bouncer!.kill("SIGHUP");
            spawnSync("sleep", ["0.5"]);
            expect(tcp(bport, "app", USERS.app, "appdb", "select 1").stdout.trim()).toBe("1");
            expect(fs.readFileSync(path.join(dir, "pgbouncer.log"), "utf8")).toContain("got SIGHUP, re-reading config");
            expect([bouncer!.pid, bouncer!.exitCode]).toEqual([pid, null]);
        });
    });

    test("--disable: the lookup role can no longer log in", () => {
        const r = runScript("--disable");
        expect([r.status, r.stdout.trim()]).toEqual([0, "pgha: PgBouncer's lookup role pgha_pgbouncer can no longer log in"]);
        expect(sql("postgres", "select rolcanlogin, rolpassword is null from pg_authid where rolname = 'pgha_pgbouncer'").stdout.trim()).toBe("f|t");
    });
});
