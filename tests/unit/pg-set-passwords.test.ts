// pg-set-passwords.py (the leader's password rotation), run by python3:
// - its SCRAM-SHA-256 verifier against verifiers PostgreSQL itself made;
// - the whole script against a stand-in psycopg2 that records every statement and
//   parameter it is given: no password may be among them;
// - where this machine has PostgreSQL 15, root and psycopg2: against a real server
//   with log_statement = all (logins with the passwords work; the log holds none).

import { spawnSync } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { SET_PASSWORDS } from "../../components/pgha-tools";

const SCRIPT = path.join(__dirname, "../../server", path.basename(SET_PASSWORDS.path));
const has = (cmd: string, ...args: string[]): boolean => spawnSync(cmd, args, { stdio: "ignore" }).status === 0;

/**
 * Made by PostgreSQL 15.18 (`CREATE ROLE … PASSWORD :'pw'` with password_encryption =
 * scram-sha-256, read back from pg_authid.rolpassword): SASLprep's mapping (non-ASCII
 * spaces, characters mapped to nothing), NFKC, and the fall-back to the raw bytes
 * (prohibited or unassigned characters, bidi rules, nothing left after mapping).
 */
const PG_VERIFIERS: readonly { password: string; verifier: string }[] = [
    { password: "fake-superuser-pw", verifier: "SCRAM-SHA-256$4096:PAtz10iVgkKv4Wc6lDZsBA==$CiMgcGd2Cw2sBNxWnYGKf/5VkzrUlnmO+dO6gaLnTCs=:+SS9idwXTWsU177eQibT1BQEX/NWty7HewYHc6jjWq4=" },
    {
        password: `SuperMarkQ it's "q" \\ $(touch /tmp/pgha-pwned) \`id\`; a && b || c # : {{#each nodes}} %s ü 🔑 `,
        verifier: "SCRAM-SHA-256$4096:MTC8xpnbsV5MEdZL9H9uwg==$B8tizQOkhkiUg0Bj6VMjLkjhi0NsqDE8xDsnlD23SFw=:474pNMyOui7rmfuO9/dJbsPaeM/Z9zKTLpXHgkE7eK8=",
    },
    { password: "ｐａｓｓｗｏｒｄ", verifier: "SCRAM-SHA-256$4096:zFI1Attusw0nMKuwxmwpRQ==$2JN0G6YUSEQD9ohKAfGxwUZhrwcusceQR7p186qYw6o=:uYks7T8Hk3bou+QiMatNOEiTEEtWULP8mjexzSypV8k=" },
    { password: "ﬁ\u00a0x", verifier: "SCRAM-SHA-256$4096:D9cDvvYA7C80y8YKx1/opQ==$q404I9+WoGDmDK7B9AsU/62AvcguE1HXfjLCpJeAMXg=:aMVoQ4xzuhSqA6mY90KewgbOeX2OBvQK2UWRKz/DD+E=" },
    { password: "pass\u00adword", verifier: "SCRAM-SHA-256$4096:AsTSNry8ZaedH+0+VJygnA==$qWV6jManieKGbixoVPutWXqdHcQCFj1w70mJxoVzzzw=:SRgzo66e9WNdIvU9+ssEBX+DGe2I+xlnggxESqW6p7M=" },
    { password: "e\u0301té", verifier: "SCRAM-SHA-256$4096:V6uXGXFiNdYX77StWHje3A==$UWGV5416XybW1wN9C8oIwtI//FsH0qsuRrq73hmGIH0=:Cmp90Ifg/nFmKLhpWtssSk/YqYFzp7lEZ5nO66C096A=" },
    { password: "\u05d0\u05d1", verifier: "SCRAM-SHA-256$4096:iL6xSQKL6nOtVZqxJ7NYYw==$YLYwdojlejC6rzYpMZPJQC+dcxWgXSXKIiaDtyneTbA=:h1gayleB9sSbPqwrUyy+NdseYrWzaegZTDonp8g5+4k=" },
    { password: "a\u05d0", verifier: "SCRAM-SHA-256$4096:zBok7yEWk7gejoo7o75crg==$yEkH1OOZyYBJ69KWMyg1ZxdKcJRmZ5SQWYRaH86DCQw=:BQ5DLfBhB/f88zb1UCO+Y0dYcbuCieWbT5Zjq/lO4K4=" },
    { password: "\u0001ctl", verifier: "SCRAM-SHA-256$4096:L4HjdKdTfb6Q/kOITJZqTg==$cEIeOn14tbr5mLWcKVs3b3ZIkKReLC6iedPNE+OhPrw=:Eh7fAPa+rkdT8Yn1vyoVl71xTyG8d8u4LX6ZGCbUcmk=" },
    { password: "ü\u0001", verifier: "SCRAM-SHA-256$4096:ACN3T1WDz4BKQ4dI8FESjg==$ws6oLth+QZ8Og739npydc4W04jN+0S4yw9pLVyQif20=:JNN4g6Y6UlTHf7NWMj7HBWrX1buIM7nBvTWSfkjxp8I=" },
    { password: "Ⅸ", verifier: "SCRAM-SHA-256$4096:BuKEElzvLJ5BW1g1Qv1+Yw==$1mjWEROIB4hEG2AQExsRg8bb/a+iSYr6L0rZbwBNvpc=:5/8OAW0B9/+afD28NpdtsWnT96RJnAl/z3RTuQfZtKU=" },
    { password: "\u00a0", verifier: "SCRAM-SHA-256$4096:OGj28yqJxbnUDFf9bmnKYg==$fwRPCYMVpNN/ADQpk7AId+G54BaY6wIj35YAE2T1gKE=:lzyCFJSM0ETv208BdGVHdsZnvssUcsObd2MxL5DUgvo=" },
    { password: "\u00ad", verifier: "SCRAM-SHA-256$4096:Ff6TQ1rr+nNAm0nvo/vPGQ==$eE1F/2+ERrZifFm3Z4inDWhJdSMJo7wns/d0+zuEc0w=:YoNPWRN2AmkiwUt5sHukxIdi3yFfrS/a6jbc0W7ONsE=" },
    { password: "äöü", verifier: "SCRAM-SHA-256$4096:6E7Il/xIeNeTA9S41xBDhw==$/ukFlyJ0zH7FPE0nyKF9fRSKQ0sEbQ8g9IY5sNDU1QE=:sRdiip6Mw+6Ejfoz9NVOAWl7GV3FQSBUUg2NNDjLIdM=" },
];

/** Calls the script's own functions (the module loaded by path, main() not run). */
function py(code: string, input: unknown): any {
    const prelude = `import base64, importlib.util, json, sys
spec = importlib.util.spec_from_file_location("pgsp", ${JSON.stringify(SCRIPT)})
m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
data = json.loads(sys.stdin.read())
`;
    const r = spawnSync("python3", ["-c", prelude + code], { input: JSON.stringify(input), encoding: "utf8" });
    if (r.status !== 0) throw new Error(r.stderr);
    return JSON.parse(r.stdout);
}

const matches = (pairs: { password: string; verifier: string }[]): boolean[] => py(`print(json.dumps([m.verifier_matches(p["verifier"], p["password"]) for p in data]))`, pairs);

/** A stand-in psycopg2: answers from PGHA_FAKE_PG, records every statement and its parameters in PGHA_FAKE_LOG. */
const FAKE_PSYCOPG2 = `import json, os
class OperationalError(Exception):
    pass
_state = json.load(open(os.environ["PGHA_FAKE_PG"]))
def _record(sql, params):
    with open(os.environ["PGHA_FAKE_LOG"], "a") as f:
        f.write(json.dumps([sql, list(params) if params is not None else None]) + "\\n")
class _Cursor:
    _row = None
    def __enter__(self):
        return self
    def __exit__(self, *exc):
        return False
    def execute(self, sql, params=None):
        _record(sql, params)
        s = sql.lower()
        if "pg_is_in_recovery" in s:
            self._row = (_state["recovery"],)
        elif "pg_authid" in s or "pg_roles" in s:
            name = params[0] if params else ("replicator" if "replicator" in s else "postgres")
            self._row = (_state["roles"][name],) if name in _state["roles"] else None
        else:
            self._row = None
    def fetchone(self):
        return self._row
class _Conn:
    autocommit = False
    def cursor(self):
        return _Cursor()
def connect(**kwargs):
    if _state.get("down"):
        raise OperationalError("could not connect")
    return _Conn()
`;

(has("python3", "--version") ? describe : describe.skip)("pg-set-passwords.py", () => {
    test("computes PostgreSQL's own SCRAM-SHA-256 verifiers, SASLprep included, and recognises them", () => {
        const again: string[] = py(
            `out = []
for p in data:
    it, salt = p["verifier"].split("$")[1].split(":")
    out.append(m.scram_sha256_verifier(p["password"], base64.b64decode(salt), int(it)))
print(json.dumps(out))`,
            PG_VERIFIERS,
        );
        expect(again).toEqual(PG_VERIFIERS.map((p) => p.verifier));
        expect(matches([...PG_VERIFIERS])).toEqual(PG_VERIFIERS.map(() => true));
        // Not another password's, not a mangled verifier, not md5 or nothing.
        const wrong = PG_VERIFIERS.map((p, i) => ({ password: p.password, verifier: PG_VERIFIERS[(i + 1) % PG_VERIFIERS.length].verifier }));
        expect(matches(wrong)).toEqual(PG_VERIFIERS.map(() => false));
        const v = PG_VERIFIERS[0].verifier;
        const odd = ["md5" + "0".repeat(32), v.replace("$4096:", "$4097:"), v.replace("SCRAM-SHA-256$", "SCRAM-SHA-1$"), v.slice(0, v.lastIndexOf(":")), "", "SCRAM-SHA-256$x:y$z"];
        expect(matches(odd.map((verifier) => ({ password: PG_VERIFIERS[0].password, verifier })))).toEqual(odd.map(() => false));
    });

    test("a new verifier: a random 16-byte salt, 4096 iterations, and only its password matches", () => {
        const made: string[] = py(`print(json.dumps([m.scram_sha256_verifier(data), m.scram_sha256_verifier(data)]))`, "pw-1");
        for (const v of made) expect(v).toMatch(/^SCRAM-SHA-256\$4096:[A-Za-z0-9+/]{22}==\$[A-Za-z0-9+/]{43}=:[A-Za-z0-9+/]{43}=$/);
        expect(made[0]).not.toBe(made[1]);
        expect(
            matches([
                { password: "pw-1", verifier: made[0] },
                { password: "pw-2", verifier: made[1] },
            ]),
        ).toEqual([true, false]);
    });

    describe("the script, against a stand-in psycopg2", () => {
        let dir = "";
        beforeEach(() => {
            dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgha-setpw-"));
            fs.mkdirSync(path.join(dir, "psycopg2"));
            fs.writeFileSync(path.join(dir, "psycopg2", "__init__.py"), FAKE_PSYCOPG2);
        });
        afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

        const SECRETS = { superuser: "SuperPwMark ü ｐａｓｓ", replication: "ReplPwMark 🔑 $(id)" };
        const run = (state: object) => {
            fs.writeFileSync(path.join(dir, "state.json"), JSON.stringify(state));
            fs.rmSync(path.join(dir, "log"), { force: true });
            const r = spawnSync("python3", [SCRIPT, "/var/run/postgresql", "5432"], {
                input: JSON.stringify(SECRETS),
                encoding: "utf8",
                env: { ...process.env, PYTHONPATH: dir, PGHA_FAKE_PG: path.join(dir, "state.json"), PGHA_FAKE_LOG: path.join(dir, "log") },
            });
            const log = fs.existsSync(path.join(dir, "log")) ? fs.readFileSync(path.join(dir, "log"), "utf8") : "";
            return {
                ...r,
                statements: log
                    .split("\n")
                    .filter((l) => l !== "")
                    .map((l) => JSON.parse(l) as [string, string[] | null]),
            };
        };
        const alters = (s: [string, string[] | null][]) => s.filter(([sql]) => /^alter role/i.test(sql));

        test("no password reaches PostgreSQL: ALTER ROLE gets a SCRAM verifier of it", () => {
            const r = run({ recovery: false, roles: { postgres: "md5" + "0".repeat(32), replicator: null } });
            expect([r.status, r.stderr]).toEqual([0, ""]);
            const sent = JSON.stringify(r.statements);
            for (const marker of ["SuperPwMark", "ReplPwMark", "ｐａｓｓ", "🔑"]) expect([marker, sent.includes(marker)]).toEqual([marker, false]);
            const set = alters(r.statements);
            expect(set.map(([sql]) => sql)).toEqual(["ALTER ROLE postgres PASSWORD %s", "ALTER ROLE replicator PASSWORD %s"]);
            expect(
                matches([
                    { password: SECRETS.superuser, verifier: set[0][1]![0] },
                    { password: SECRETS.replication, verifier: set[1][1]![0] },
                ]),
            ).toEqual([true, true]);
            expect(r.stdout).toContain("postgres set, replicator set");
        });

        test("idempotent: a role whose verifier already matches is left alone", () => {
            const [superV, replV]: string[] = py(`print(json.dumps([m.scram_sha256_verifier(data["superuser"]), m.scram_sha256_verifier(data["replication"])]))`, SECRETS);
            const same = run({ recovery: false, roles: { postgres: superV, replicator: replV } });
            expect([same.status, same.stderr]).toEqual([0, ""]);
            expect(alters(same.statements)).toEqual([]);
            expect(same.stdout).toContain("postgres unchanged, replicator unchanged");
            // One rotated: only that one is set.
            const one = run({ recovery: false, roles: { postgres: superV, replicator: PG_VERIFIERS[0].verifier } });
            expect(alters(one.statements).map(([sql]) => sql)).toEqual(["ALTER ROLE replicator PASSWORD %s"]);
        });

        test("a replica, a member without a replicator yet, a PostgreSQL not running: nothing to do", () => {
            const replica = run({ recovery: true, roles: { postgres: null } });
            expect([replica.status, alters(replica.statements)]).toEqual([0, []]);
            expect(replica.stdout).toContain("a replica");
            const fresh = run({ recovery: false, roles: { postgres: null } });
            expect(alters(fresh.statements).map(([sql]) => sql)).toEqual(["ALTER ROLE postgres PASSWORD %s"]);
            const down = run({ down: true, recovery: false, roles: {} });
            expect([down.status, down.statements]).toEqual([0, []]);
            expect(down.stdout).toContain("not running here yet");
        });
    });
});

// A real server: initdb and postgres run as the postgres OS user (runuser, so root), the
// script with the system python3 and its psycopg2 (python3-psycopg2), as on the servers.
const PG_BIN = "/usr/lib/postgresql/15/bin";
const realPg = process.getuid?.() === 0 && fs.existsSync(`${PG_BIN}/initdb`) && has("runuser", "--help") && has("psql", "--version") && has("/usr/bin/python3", "-c", "import psycopg2");

(realPg ? describe : describe.skip)("pg-set-passwords.py against PostgreSQL 15 (log_statement = all)", () => {
    jest.setTimeout(90_000);
    let dir = "";
    let port = 0;
    const asPostgres = (cmd: string[], input?: string) => spawnSync("runuser", ["-u", "postgres", "--", ...cmd], { input, encoding: "utf8", cwd: "/" });
    const SECRETS = { superuser: `SuperRealMark it's "q" ｐａｓｓ ﬁ\u00a0é`, replication: "ReplRealMark 🔑 $(id)" };
    // The postgres user runs a copy in the test's own directory: the checkout may sit where it cannot read (a 0700 temp dir).
    const runScript = () => asPostgres(["/usr/bin/python3", path.join(dir, "pg-set-passwords.py"), path.join(dir, "sock"), String(port)], JSON.stringify(SECRETS));
    const login = (user: string, password: string) =>
        spawnSync("psql", [`host=127.0.0.1 port=${port} user=${user} dbname=postgres sslmode=disable connect_timeout=5`, "-AtXc", "select current_user"], {
            encoding: "utf8",
            env: { ...process.env, PGPASSWORD: password },
        });
    const serverLog = () => fs.readFileSync(path.join(dir, "server.log"), "utf8");

    beforeAll(async () => {
        port = await new Promise<number>((resolve) => {
            const s = net.createServer().listen(0, "127.0.0.1", () => {
                const p = (s.address() as net.AddressInfo).port;
                s.close(() => resolve(p));
            });
        });
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgha-pg-"));
        fs.chmodSync(dir, 0o755);
        fs.mkdirSync(path.join(dir, "sock"));
        fs.copyFileSync(SCRIPT, path.join(dir, "pg-set-passwords.py"));
        spawnSync("chown", ["-R", "postgres:postgres", dir]);
        const init = asPostgres([`${PG_BIN}/initdb`, "-D", path.join(dir, "data"), "-U", "postgres", "--auth-local=peer", "--auth-host=scram-sha-256"]);
        if (init.status !== 0) throw new Error(init.stderr);
        const start = asPostgres([
            `${PG_BIN}/pg_ctl`,
            "-D",
            path.join(dir, "data"),
            "-l",
            path.join(dir, "server.log"),
            "-w",
            "-o",
            `-p ${port} -k ${path.join(dir, "sock")} -c listen_addresses=127.0.0.1 -c log_statement=all -c password_encryption=scram-sha-256`,
            "start",
        ]);
        if (start.status !== 0) throw new Error(start.stderr + start.stdout);
        const role = asPostgres(["psql", "-h", path.join(dir, "sock"), "-p", String(port), "-U", "postgres", "-AtXc", "CREATE ROLE replicator LOGIN REPLICATION"]);
        if (role.status !== 0) throw new Error(role.stderr);
    });

    afterAll(() => {
        if (dir === "") return;
        asPostgres([`${PG_BIN}/pg_ctl`, "-D", path.join(dir, "data"), "-m", "fast", "-w", "stop"]);
        fs.rmSync(dir, { recursive: true, force: true });
    });

    test("sets verifiers the passwords log in with; the log holds the verifiers, never a password; a second run changes nothing", () => {
        const first = runScript();
        expect([first.status, first.stderr]).toEqual([0, ""]);
        expect(first.stdout).toContain("postgres set, replicator set");
        expect(login("postgres", SECRETS.superuser).stdout.trim()).toBe("postgres");
        expect(login("replicator", SECRETS.replication).stdout.trim()).toBe("replicator");
        expect(login("postgres", SECRETS.replication).status).not.toBe(0);
        const log = serverLog();
        expect(log).toContain("ALTER ROLE postgres PASSWORD 'SCRAM-SHA-256$4096:");
        for (const marker of ["SuperRealMark", "ReplRealMark", "ｐａｓｓ", "🔑"]) expect([marker, log.includes(marker)]).toEqual([marker, false]);

        const second = runScript();
        expect([second.status, second.stdout.trim()]).toEqual([0, "pgha: passwords on the leader: postgres unchanged, replicator unchanged"]);
        expect(serverLog().split("ALTER ROLE").length).toBe(log.split("ALTER ROLE").length);
    });
});
