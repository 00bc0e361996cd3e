// The split-brain sampler: every 250 ms asks each member, on its own port and
// from inside its own network namespace (so a partition does not hide it),
// whether it is a primary. One long-lived psql per member keeps the sampling
// cheap; a lost connection is re-opened at the next tick.
import { ChildProcess, spawn } from "child_process";
import { RoleSample } from "./measures";

export interface SampledMember {
    readonly name: string;
    /** Network namespace of the member (the lab's host name). */
    readonly netns: string;
    readonly port: number;
}

interface Session {
    child?: ChildProcess;
    answers: Map<number, boolean>;
    buf: string;
}

export class RoleSampler {
    readonly samples: RoleSample[] = [];
    private readonly sessions = new Map<string, Session>();
    private timer?: NodeJS.Timeout;
    private tick = 0;
    private readonly ticks: number[] = [];

    constructor(
        private readonly members: readonly SampledMember[],
        private readonly password: string,
        private readonly periodMs = 250,
    ) {
        for (const m of members) this.sessions.set(m.name, { answers: new Map(), buf: "" });
    }

    start(): void {
        this.timer = setInterval(() => this.sample(), this.periodMs);
    }

    /** Stops sampling and returns every tick with the answers that arrived for it. */
    async stop(): Promise<RoleSample[]> {
        if (this.timer) clearInterval(this.timer);
        await new Promise((r) => setTimeout(r, 500));
        for (const s of this.sessions.values()) s.child?.kill("SIGKILL");
        this.samples.length = 0;
        this.ticks.forEach((at, i) => {
            const primary: Record<string, boolean | undefined> = {};
            for (const [name, s] of this.sessions) primary[name] = s.answers.get(i);
            this.samples.push({ at, primary });
        });
        return this.samples;
    }

    /** Live view: the first tick at or after `since` whose answer window has passed and where `member` was not a primary. */
    demotedAt(member: string, since: number): number | undefined {
        const s = this.sessions.get(member);
        if (!s) return undefined;
        const settled = Date.now() - 1000;
        for (let i = 0; i < this.ticks.length; i++) {
            const at = this.ticks[i];
            if (at < since || at > settled) continue;
            if (s.answers.get(i) !== true) return at;
        }
        return undefined;
    }

    private sample(): void {
        const i = this.tick++;
        this.ticks[i] = Date.now();
        for (const m of this.members) {
            const s = this.sessions.get(m.name)!;
            if (!s.child) s.child = this.open(m, s);
            // The tick number comes back with the answer, so a late answer is never misfiled.
            s.child.stdin?.write(`select ${i}, not pg_is_in_recovery();\n`, () => undefined);
        }
    }

    private open(m: SampledMember, s: Session): ChildProcess {
        const conn = `host=127.0.0.1 port=${m.port} user=postgres dbname=postgres connect_timeout=2 sslmode=prefer`;
        const child = spawn("ip", ["netns", "exec", m.netns, "psql", conn, "-AtX", "-q"], {
            env: { ...process.env, PGPASSWORD: this.password },
            stdio: ["pipe", "pipe", "ignore"],
        });
        child.stdin?.on("error", () => undefined);
        child.stdout?.on("data", (d: Buffer) => {
            s.buf += d.toString();
            const lines = s.buf.split("\n");
            s.buf = lines.pop() ?? "";
            for (const line of lines) {
                const m2 = /^(\d+)\|([tf])$/.exec(line);
                if (m2) s.answers.set(Number(m2[1]), m2[2] === "t");
            }
        });
        child.on("close", () => {
            if (s.child === child) s.child = undefined;
        });
        child.on("error", () => {
            if (s.child === child) s.child = undefined;
        });
        return child;
    }
}
