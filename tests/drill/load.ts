// The write load of a drill: one INSERT of a unique, increasing id at a time
// through the front door (VIP:5000), each with a fresh psql connection, as a
// reconnecting client does. A write counts as acknowledged only when psql
// exits 0 after COMMIT; everything else (refused, timed out, cut) is a failure.
import { ChildProcess, spawn } from "child_process";

export interface WriteAttempt {
    readonly id: number;
    /** Epoch ms when the client started the attempt and when it ended. */
    readonly start: number;
    readonly end: number;
    readonly ok: boolean;
}

export interface LoadTarget {
    readonly host: string;
    readonly port: number;
    readonly password: string;
    /** Gap between the end of one attempt and the start of the next (ms). */
    readonly intervalMs?: number;
    /** An attempt that takes longer is abandoned and counted as failed (ms). */
    readonly attemptTimeoutMs?: number;
}

export const DRILL_TABLE = "pgha_drill";

export function conninfo(host: string, port: number): string {
    return `host=${host} port=${port} user=postgres dbname=postgres connect_timeout=2 sslmode=prefer`;
}

/** Runs one SQL statement with psql; resolves true when psql exits 0 within the timeout. */
export function psqlOnce(conn: string, sql: string, password: string, timeoutMs: number, wrap: string[] = []): Promise<{ ok: boolean; out: string }> {
    return new Promise((resolve) => {
        const argv = [...wrap, "psql", conn, "-AtX", "-v", "ON_ERROR_STOP=1", "-c", sql];
        const child: ChildProcess = spawn(argv[0], argv.slice(1), { env: { ...process.env, PGPASSWORD: password }, stdio: ["ignore", "pipe", "pipe"] });
        let out = "";
        child.stdout?.on("data", (d) => (out += d));
        child.stderr?.on("data", (d) => (out += d));
        const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
        child.on("close", (code) => {
            clearTimeout(timer);
            resolve({ ok: code === 0, out });
        });
        child.on("error", () => {
            clearTimeout(timer);
            resolve({ ok: false, out });
        });
    });
}

export class WriteLoad {
    readonly runId = Date.now();
    readonly attempts: WriteAttempt[] = [];
    private stopping = false;
    private done?: Promise<void>;

    constructor(private readonly target: LoadTarget) {}

    async createTable(): Promise<void> {
        const ddl = `create table if not exists ${DRILL_TABLE} (run bigint, id int, at timestamptz default clock_timestamp(), primary key (run, id))`;
        for (let i = 0; i < 60; i++) {
            if ((await psqlOnce(conninfo(this.target.host, this.target.port), ddl, this.target.password, 5000)).ok) return;
            await sleep(1000);
        }
        throw new Error(`drill: cannot create ${DRILL_TABLE} through ${this.target.host}:${this.target.port}`);
    }

    start(): void {
        const conn = conninfo(this.target.host, this.target.port);
        const interval = this.target.intervalMs ?? 100;
        const timeout = this.target.attemptTimeoutMs ?? 3000;
        this.done = (async () => {
            for (let id = 1; !this.stopping; id++) {
                const start = Date.now();
                const r = await psqlOnce(conn, `insert into ${DRILL_TABLE} (run, id) values (${this.runId}, ${id})`, this.target.password, timeout);
                this.attempts.push({ id, start, end: Date.now(), ok: r.ok });
                await sleep(interval);
            }
        })();
    }

    async stop(): Promise<void> {
        this.stopping = true;
        await this.done;
    }

    acknowledgedIds(): number[] {
        return this.attempts.filter((a) => a.ok).map((a) => a.id);
    }

    /** Resolves at the first acknowledged write that started at or after `since` (epoch ms). */
    async firstAckAfter(since: number, timeoutSec: number): Promise<WriteAttempt> {
        const deadline = Date.now() + timeoutSec * 1000;
        for (;;) {
            const a = this.attempts.find((x) => x.ok && x.start >= since);
            if (a) return a;
            if (Date.now() > deadline) throw new Error(`drill: no write acknowledged within ${timeoutSec} s after the fault`);
            await sleep(50);
        }
    }

    /** Ids read back from the current leader through the front door. */
    async idsOnLeader(): Promise<Set<number>> {
        for (let i = 0; i < 60; i++) {
            const r = await psqlOnce(conninfo(this.target.host, this.target.port), `select id from ${DRILL_TABLE} where run = ${this.runId} order by id`, this.target.password, 10000);
            if (r.ok)
                return new Set(
                    r.out
                        .split("\n")
                        .filter((l) => /^\d+$/.test(l))
                        .map(Number),
                );
            await sleep(1000);
        }
        throw new Error("drill: cannot read the written ids back from the leader");
    }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
