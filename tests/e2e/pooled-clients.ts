// Many application clients through a pooled port, each one long-lived psql that asks which server
// answered, once a second, and is started again when its connection breaks: what an
// application's pool does. Used to watch clients reconnect to a new primary after a node is lost.
import { ChildProcessWithoutNullStreams, spawn } from "child_process";

export interface Answer {
    /** Epoch ms when the answer arrived. */
    readonly at: number;
    /** The PostgreSQL server's address (inet_server_addr()), i.e. the member behind the pooler. */
    readonly server: string;
    /** pg_is_in_recovery() of that server. */
    readonly inRecovery: boolean;
}

// Two columns (psql -A separates them with |): a boolean cast to text would be "true"/"false".
const QUERY = "select host(inet_server_addr()), pg_is_in_recovery();\n";
/** A client with no answer this long after a question is taken as broken and started again. */
const STALL_MS = 5000;

class Client {
    readonly answers: Answer[] = [];
    restarts = 0;
    /** Between begin() and stop(): the client keeps one psql going. */
    private running = false;
    private proc?: ChildProcessWithoutNullStreams;
    private askedAt = 0;
    private answeredAt = 0;
    private buf = "";

    constructor(
        private readonly conninfo: string,
        private readonly password: string,
    ) {}

    /** Starts the client for good: from now on a broken psql is started again. */
    begin(): void {
        if (this.running) return;
        this.running = true;
        this.start();
    }

    private start(): void {
        this.stop(false);
        this.buf = "";
        this.askedAt = 0;
        this.answeredAt = 0;
        // Line-buffered, so each answer arrives as it is printed.
        const p = spawn("stdbuf", ["-oL", "psql", this.conninfo, "-AtX"], { env: { ...process.env, PGPASSWORD: this.password } });
        this.proc = p;
        p.stdout.on("data", (d: Buffer) => {
            this.buf += d.toString();
            const lines = this.buf.split("\n");
            this.buf = lines.pop() ?? "";
            for (const line of lines) {
                const m = /^([^|]+)\|(t|f)$/.exec(line.trim());
                if (m) {
                    this.answeredAt = Date.now();
                    this.answers.push({ at: this.answeredAt, server: m[1], inRecovery: m[2] === "t" });
                }
            }
        });
        p.stderr.on("data", () => undefined);
        p.stdin.on("error", () => undefined);
        p.on("exit", () => {
            if (this.proc === p) this.proc = undefined;
        });
    }

    hasProcess(): boolean {
        return this.proc !== undefined && this.proc.exitCode === null && this.proc.signalCode === null;
    }

    /** One tick: ask again, or start again if the last question went unanswered too long or psql exited. */
    tick(now: number): void {
        // Not started yet (starts are staggered): a start here too would leave an orphan psql behind.
        if (!this.running) return;
        if (this.proc === undefined || (this.askedAt > this.answeredAt && now - this.askedAt > STALL_MS)) {
            this.restarts++;
            this.start();
            return;
        }
        if (this.askedAt <= this.answeredAt) {
            this.askedAt = now;
            this.proc.stdin.write(QUERY);
        }
    }

    /** Kills its psql; `forGood` (the default) also ends the client, so no tick starts it again. */
    stop(forGood = true): void {
        if (forGood) this.running = false;
        const p = this.proc;
        this.proc = undefined;
        if (p) {
            p.stdin.end();
            p.kill("SIGKILL");
        }
    }
}

export class PooledClients {
    private readonly clients: Client[];
    private timer?: NodeJS.Timeout;
    private readonly starts: NodeJS.Timeout[] = [];

    constructor(conninfo: string, password: string, count: number) {
        this.clients = [...Array(count)].map(() => new Client(conninfo, password));
    }

    start(): void {
        // Staggered, so 200 TLS + SCRAM logins do not all land in the same second.
        this.clients.forEach((c, i) => this.starts.push(setTimeout(() => c.begin(), i * 10)));
        this.timer = setInterval(() => {
            const now = Date.now();
            for (const c of this.clients) c.tick(now);
        }, 1000);
    }

    stop(): void {
        if (this.timer) clearInterval(this.timer);
        for (const t of this.starts) clearTimeout(t);
        for (const c of this.clients) c.stop();
    }

    /** psql processes still running (0 after stop()). */
    alive(): number {
        return this.clients.filter((c) => c.hasProcess()).length;
    }

    /** How many clients have had an answer matching `ok` at or after `since` (epoch ms). */
    answeredSince(since: number, ok: (a: Answer) => boolean = () => true): number {
        return this.clients.filter((c) => c.answers.some((a) => a.at >= since && ok(a))).length;
    }

    /** Total restarts (broken connections started again). */
    restarts(): number {
        return this.clients.reduce((n, c) => n + c.restarts, 0);
    }

    /** For each client, ms from `since` to its first answer matching `ok`; clients without one are left out. */
    backAfter(since: number, ok: (a: Answer) => boolean): number[] {
        return this.clients.map((c) => c.answers.find((a) => a.at >= since && ok(a))).flatMap((a) => (a ? [a.at - since] : []));
    }
}
