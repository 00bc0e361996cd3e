// pg-databases-roles.py (pgha:databases and pgha:roles on the leader), against a real
// PostgreSQL 15 and a streaming replica of it, where this machine has them (root, initdb,
// psycopg2 for /usr/bin/python3): the program runs as the postgres OS user over the socket,
// as on the servers, with log_statement = all, so the log shows every statement it sent.

import { spawnSync } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { DATABASES_ROLES, SET_PASSWORDS } from "../../components/pgha-tools";

const SERVER = path.join(__dirname, "../../server");
const PG_BIN = "/usr/lib/postgresql/15/bin";
const has = (cmd: string, ...args: string[]): boolean => spawnSync(cmd, args, { stdio: "ignore" }).status === 0;
const realPg = process.getuid?.() === 0 && fs.existsSync(`${PG_BIN}/initdb`) && has("runuser", "--help") && has("psql", "--version") && has("/usr/bin/python3", "-c", "import psycopg2");

const freePort = (): Promise<number> =>
    new Promise((resolve) => {
        const s = net.createServer().listen(0, "127.0.0.1", () => {
            const p = (s.address() as net.AddressInfo).port;
            s.close(() => resolve(p));
        });
    });

interface Want {
    roles?: { name: string; login?: boolean; connectionLimit?: number; memberOf?: string[]; password?: string }[];
    databases?: { name: string; owner: string; encoding?: string; locale?: string; extensions?: string[] }[];
}

const APP_PW = `AppPwMark it's "q" ｐａｓｓ 🔑 $(id)`;
const APP_PW_2 = "AppPwMarkTwo-rotated";
const RO_PW = "RoPwMark\\x";

(realPg ? describe : describe.skip)("pg-databases-roles.py against PostgreSQL 15 and a streaming replica (log_statement = all)", () => {
    jest.setTimeout(120_000);
    let dir = "";
    let port = 0;
    let replicaPort = 0;
    const sock = () => path.join(dir, "sock");
    const asPostgres = (cmd: string[], input?: string) => spawnSync("runuser", ["-u", "postgres", "--", ...cmd], { input, encoding: "utf8", cwd: "/" });
    /** The program as the step runs it (a copy beside pg-set-passwords.py, as installed). */
    const run = (want: Want, p = port, wait?: number) =>
        asPostgres(["/usr/bin/python3", path.join(dir, "bin", path.basename(DATABASES_ROLES.path)), sock(), String(p), ...(wait !== undefined ? [String(wait)] : [])], JSON.stringify(want));
    const sql = (q: string, db = "postgres", p = port) => {
        const r = asPostgres(["psql", "-h", sock(), "-p", String(p), "-U", "postgres", "-d", db, "-AtXc", q]);
        if (r.status !== 0) throw new Error(r.stderr);
        return r.stdout.trim();
    };
    const login = (user: string, password: string, db = "postgres") =>
        spawnSync("psql", [`host=127.0.0.1 port=${port} user=${user} dbname=${db} sslmode=disable connect_timeout=5`, "-AtXc", "select current_user"], {
            encoding: "utf8",
            env: { ...process.env, PGPASSWORD: password },
        });
    const serverLog = () => fs.readFileSync(path.join(dir, "server.log"), "utf8");
    const ddlCount = () =>
        serverLog()
            .split("\n")
            .filter((l) => /statement: (CREATE|ALTER|GRANT|REVOKE|INSERT|DELETE)/.test(l)).length;
    const pgCtl = (data: string, p: number, log: string, extra = "") =>
        asPostgres([
            `${PG_BIN}/pg_ctl`,
            "-D",
            path.join(dir, data),
            "-l",
            path.join(dir, log),
            "-w",
            "-o",
            `-p ${p} -k ${sock()} -c listen_addresses=127.0.0.1 -c log_statement=all -c password_encryption=scram-sha-256 ${extra}`,
            "start",
        ]);

    const FIRST: Want = {
        roles: [
            { name: "readers", login: false },
            { name: "app", login: true, connectionLimit: 5, memberOf: ["readers", "pg_read_all_data"], password: APP_PW },
            { name: "ro", login: true, password: RO_PW },
        ],
        databases: [
            { name: "appdb", owner: "app", extensions: ["pgcrypto", "uuid-ossp"] },
            { name: "latin", owner: "postgres", encoding: "LATIN1", locale: "C", extensions: [] },
        ],
    };

    beforeAll(async () => {
        port = await freePort();
        replicaPort = await freePort();
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgha-dbroles-"));
        fs.chmodSync(dir, 0o755);
        fs.mkdirSync(path.join(dir, "sock"));
        fs.mkdirSync(path.join(dir, "bin"));
        for (const t of [DATABASES_ROLES, SET_PASSWORDS]) fs.copyFileSync(path.join(SERVER, path.basename(t.path)), path.join(dir, "bin", path.basename(t.path)));
        spawnSync("chown", ["-R", "postgres:postgres", dir]);
        // As Patroni's bootstrap does: UTF8 (pgha's initdb), here with the C.UTF-8 locale every Debian has.
        const init = asPostgres([`${PG_BIN}/initdb`, "-D", path.join(dir, "data"), "-U", "postgres", "--auth-local=peer", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8"]);
        if (init.status !== 0) throw new Error(init.stderr);
        const start = pgCtl("data", port, "server.log");
        if (start.status !== 0) throw new Error(start.stderr + start.stdout);
        const base = asPostgres([`${PG_BIN}/pg_basebackup`, "-h", sock(), "-p", String(port), "-U", "postgres", "-D", path.join(dir, "replica"), "-R", "-X", "stream"]);
        if (base.status !== 0) throw new Error(base.stderr);
        const replica = pgCtl("replica", replicaPort, "replica.log");
        if (replica.status !== 0) throw new Error(replica.stderr + replica.stdout);
    });

    afterAll(() => {
        if (dir === "") return;
        for (const d of ["replica", "data"]) asPostgres([`${PG_BIN}/pg_ctl`, "-D", path.join(dir, d), "-m", "fast", "-w", "stop"]);
        fs.rmSync(dir, { recursive: true, force: true });
    });

    test("refused before anything changes: an extension without its package, a missing owner", () => {
        const r = run({ ...FIRST, databases: [{ name: "appdb", owner: "app", extensions: ["no_such_extension"] }] });
        expect(r.status).toBe(1);
        expect(r.stderr).toContain("database appdb: the extension no_such_extension is not available on this server");
        expect(r.stderr).toContain("nothing was changed");
        expect(sql("select count(*) from pg_roles where rolname in ('app', 'ro', 'readers')")).toBe("0");
        const owner = run({ databases: [{ name: "x", owner: "ghost" }] });
        expect([owner.status, owner.stderr]).toEqual([1, expect.stringContaining("database x: its owner ghost does not exist on this server")]);
    });

    test("a replica before the leader acted: waits, then fails naming what is missing", () => {
        const r = run(FIRST, replicaPort, 2);
        expect(r.status).toBe(1);
        expect(r.stderr).toContain("a replica: after 2s the leader's databases and roles are still not here (role readers created");
    });

    test("creates roles, memberships, databases and extensions; the passwords log in; the log holds verifiers only", () => {
        const r = run(FIRST);
        expect([r.status, r.stderr]).toEqual([0, ""]);
        expect(r.stdout.split("\n").filter((l) => l !== "")).toEqual([
            "pgha: role readers created (NOLOGIN)",
            "pgha: role app created (LOGIN)",
            "pgha: role ro created (LOGIN)",
            "pgha: role app: granted readers",
            "pgha: role app: granted pg_read_all_data",
            "pgha: database appdb created (owner app)",
            "pgha: database appdb: extension pgcrypto created",
            "pgha: database appdb: extension uuid-ossp created",
            "pgha: database latin created (owner postgres)",
        ]);
        expect(login("app", APP_PW, "appdb").stdout.trim()).toBe("app");
        expect(login("ro", RO_PW).stdout.trim()).toBe("ro");
        expect(login("app", RO_PW).status).not.toBe(0);
        expect(sql("select rolcanlogin, rolconnlimit from pg_roles where rolname = 'app'")).toBe("t|5");
        expect(sql("select rolcanlogin from pg_roles where rolname = 'readers'")).toBe("f");
        expect(sql("select string_agg(r.rolname, ',' order by r.rolname) from pg_auth_members a join pg_roles r on r.oid = a.roleid join pg_roles m on m.oid = a.member where m.rolname = 'app'")).toBe(
            "pg_read_all_data,readers",
        );
        expect(sql("select datname, pg_get_userbyid(datdba), pg_encoding_to_char(encoding), datcollate from pg_database where datname in ('appdb', 'latin') order by 1")).toBe(
            "appdb|app|UTF8|C.UTF-8\nlatin|postgres|LATIN1|C",
        );
        expect(sql("select string_agg(extname, ',' order by extname) from pg_extension", "appdb")).toBe("pgcrypto,plpgsql,uuid-ossp");
        // latin needed template0 (another encoding and locale); appdb did not.
        expect(serverLog()).toContain("CREATE DATABASE \"latin\" OWNER \"postgres\" TEMPLATE template0 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C'");
        expect(serverLog()).toContain('CREATE DATABASE "appdb" OWNER "app"\n');
        expect(serverLog()).toMatch(/CREATE ROLE "app" LOGIN CONNECTION LIMIT 5 PASSWORD 'SCRAM-SHA-256\$4096:/);
        for (const marker of ["AppPwMark", "RoPwMark", "ｐａｓｓ", "🔑"]) expect([marker, serverLog().includes(marker)]).toEqual([marker, false]);
    });

    test("the replica then sees it all, and says so", () => {
        const r = run(FIRST, replicaPort, 30);
        expect([r.status, r.stderr, r.stdout.trim()]).toEqual([0, "", "pgha: a replica: the leader's databases and roles are here"]);
    });

    test("a second run changes nothing and sends no statement that changes anything", () => {
        const before = ddlCount();
        const r = run(FIRST);
        expect([r.status, r.stderr, r.stdout.trim()]).toEqual([0, "", "pgha: databases and roles on the leader: no change"]);
        expect(ddlCount()).toBe(before);
    });

    test("alters: login, connection limit, password, owner, memberships; revokes only the grants pgha made", () => {
        // A grant pgha did not make: kept even though the stack does not list it.
        sql("GRANT readers TO ro");
        const next: Want = {
            roles: [
                { name: "readers", login: false },
                { name: "app", login: true, connectionLimit: 10, memberOf: ["pg_read_all_data"], password: APP_PW_2 },
                { name: "ro", login: false, password: RO_PW },
            ],
            databases: [
                { name: "appdb", owner: "readers", extensions: ["pgcrypto", "uuid-ossp", "hstore"] },
                { name: "latin", owner: "postgres", encoding: "LATIN1", locale: "C" },
            ],
        };
        const r = run(next);
        expect([r.status, r.stderr]).toEqual([0, ""]);
        expect(r.stdout.split("\n").filter((l) => l !== "")).toEqual([
            "pgha: role app: LOGIN, connection limit 10",
            "pgha: role app: password set",
            "pgha: role ro: NOLOGIN, connection limit -1",
            "pgha: role app: revoked readers (granted by pgha, no longer listed)",
            "pgha: database appdb: owner readers (was app)",
            "pgha: database appdb: extension hstore created",
        ]);
        expect(login("app", APP_PW_2).stdout.trim()).toBe("app");
        expect(login("app", APP_PW).status).not.toBe(0);
        expect(sql("select pg_has_role('app', 'readers', 'member'), pg_has_role('ro', 'readers', 'member')")).toBe("f|t");
        expect(sql("select pg_get_userbyid(datdba) from pg_database where datname = 'appdb'")).toBe("readers");
        expect(run(next).stdout.trim()).toBe("pgha: databases and roles on the leader: no change");
        // Extensions are kept too: hstore no longer listed stays, and is reported.
        const fewer = run({ ...next, databases: [{ name: "appdb", owner: "readers", extensions: ["pgcrypto", "uuid-ossp"] }, next.databases![1]] });
        expect(fewer.stdout).toContain("pgha: kept, no longer in the stack (pgha never drops one): extension hstore in database appdb");
        expect(sql("select count(*) from pg_extension where extname = 'hstore'", "appdb")).toBe("1");
    });

    test("a database or role the stack no longer lists is kept, and reported", () => {
        const r = run({ roles: [{ name: "readers" }, { name: "app", login: true, connectionLimit: 10, memberOf: ["pg_read_all_data"], password: APP_PW_2 }], databases: [] });
        expect([r.status, r.stderr]).toEqual([0, ""]);
        expect(r.stdout).toContain("pgha: databases and roles on the leader: no change");
        expect(r.stdout).toContain("pgha: kept, no longer in the stack (pgha never drops one): database appdb, database latin, role ro");
        expect(sql("select count(*) from pg_database where datname in ('appdb', 'latin')")).toBe("2");
        expect(sql("select count(*) from pg_roles where rolname = 'ro'")).toBe("1");
    });

    test("an existing database of another encoding or locale is refused, naming both, and nothing changes", () => {
        const before = ddlCount();
        const r = run({ roles: [{ name: "newrole" }], databases: [{ name: "latin", owner: "postgres", encoding: "UTF8" }] });
        expect(r.status).toBe(1);
        expect(r.stderr).toContain("database latin: its encoding is LATIN1 and the stack says UTF8; PostgreSQL cannot change a database's encoding");
        expect(sql("select count(*) from pg_roles where rolname = 'newrole'")).toBe("0");
        expect(ddlCount()).toBe(before);
    });

    test("a server not running: nothing to do here", () => {
        const r = asPostgres(["/usr/bin/python3", path.join(dir, "bin", path.basename(DATABASES_ROLES.path)), path.join(dir, "nowhere"), String(port)], JSON.stringify(FIRST));
        expect([r.status, r.stdout.trim()]).toEqual([0, "pgha: PostgreSQL is not running here: the leader creates the databases and roles"]);
    });
});
