// Issue 18's client-facing services, checked on the drill suite's deployment (three all-role
// Debian 13 hosts) so that no extra lab is booted: PgBouncer, the 5000-5003 ports, declared
// databases and roles, and the vip-manager mode. Helpers only; the steps are in
// drill.e2e.test.ts.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { RunResult, pulumi, run, ssh } from "./harness";

export const APP_PASSWORD = "App-e2e-pw-7f3a";

/** The stack edit that turns them on: a role with a secret password, a database, PgBouncer, pooled ports. */
export function enableClientServices(stack: string): void {
    const set = (keyPath: string, value: string) => pulumi(["config", "set", "--path", keyPath, value, "--stack", stack], { echo: false });
    set("pgha:roles[0].name", "app");
    set("pgha:roles[0].login", "true");
    set("pgha:roles[0].connectionLimit", "500");
    // A secret travels on stdin, never on the command line.
    pulumi(["config", "set", "--secret", "--path", "pgha:roles[0].password", "--stack", stack], { echo: false, input: APP_PASSWORD });
    set("pgha:databases[0].name", "appdb");
    set("pgha:databases[0].owner", "app");
    set("pgha:databases[0].extensions[0]", "pgcrypto");
    set("pgha:pgbouncer.maxClientConn", "1000");
    set("pgha:pgbouncer.defaultPoolSize", "20");
    set("pgha:haproxy.pooled[0]", "primary");
    set("pgha:haproxy.pooled[1]", "syncReplica");
}

/** The cluster CA, saved where libpq reads it (sslmode=verify-full). */
export function caFile(stack: string): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgha-e2e-ca-"));
    const file = path.join(dir, "ca.crt");
    fs.writeFileSync(file, pulumi(["stack", "output", "caCertificate", "--stack", stack], { echo: false }).stdout);
    return file;
}

/** psql as a client of `host:port`, SCRAM over TLS with the server verified against the CA. */
export function clientPsql(host: string, port: number, user: string, password: string, db: string, sql: string, ca: string): RunResult {
    return run("psql", [`host=${host} port=${port} user=${user} dbname=${db} connect_timeout=5 sslmode=verify-full sslrootcert=${ca}`, "-AtX", "-v", "ON_ERROR_STOP=1", "-c", sql], {
        env: { PGPASSWORD: password },
        timeoutSec: 30,
        allowFail: true,
        echo: false,
    });
}

/** pgbench of the machine's PostgreSQL client packages (scripts/test-all.sh installs postgresql-15). */
export function pgbenchPath(): string {
    const found = fs
        .readdirSync("/usr/lib/postgresql")
        .map((v) => `/usr/lib/postgresql/${v}/bin/pgbench`)
        .filter((p) => fs.existsSync(p));
    if (found.length === 0) throw new Error("no pgbench under /usr/lib/postgresql/*/bin (package postgresql-15)");
    return found[found.length - 1];
}

/**
 * `clients` connections held open at once for `seconds`, each running `select 1` in a loop, through
 * host:port as app. Returns pgbench's report: clients, transactions processed, aborted clients.
 */
export function holdClients(host: string, port: number, db: string, clients: number, seconds: number, ca: string): { clients: number; transactions: number; failed: number; out: string } {
    const script = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "pgha-e2e-bench-")), "select1.sql");
    fs.writeFileSync(script, "select 1;\n");
    const r = run(
        pgbenchPath(),
        ["-n", "-c", String(clients), "-j", "4", "-T", String(seconds), "-f", script, `host=${host} port=${port} user=app dbname=${db} sslmode=verify-full sslrootcert=${ca} connect_timeout=10`],
        { env: { PGPASSWORD: APP_PASSWORD }, timeoutSec: seconds + 120, allowFail: true, echo: false },
    );
    const out = r.stdout + r.stderr;
    const num = (re: RegExp) => Number(re.exec(out)?.[1] ?? "-1");
    return {
        clients: num(/number of clients: (\d+)/),
        transactions: num(/number of transactions actually processed: (\d+)/),
        failed: r.status === 0 ? num(/number of failed transactions: (\d+)/) : -1,
        out,
    };
}

/** Postmaster start time of every member, read over the local socket: equal before and after means no restart. */
export function postmasterStarts(hosts: readonly string[]): Record<string, string> {
    return Object.fromEntries(hosts.map((h) => [h, ssh(h, `runuser -u postgres -- psql -h /var/run/postgresql -AtXc 'select pg_postmaster_start_time()'`).stdout.trim()]));
}

/** PgBouncer's main PID on every host. */
export function pgbouncerPids(hosts: readonly string[]): Record<string, string> {
    return Object.fromEntries(hosts.map((h) => [h, ssh(h, "systemctl show -p MainPID --value pgbouncer").stdout.trim()]));
}
