// A drill's view of a deployed lab stack: where the front door is, the
// password (read from the stack's secret output, never printed), and how to
// switch synchronous mode through the stack file like a user would.
import { RunResult, labHosts, run } from "../e2e/harness";
import { DrillCluster, patroniTimings } from "./cluster-probe";
import { DrillContext } from "./scenarios";
import { sshAsync } from "./exec";

/** Every drill host holds every role: the leader, the VIP and an etcd member can each be lost alone. */
export const DRILL_HOSTS = ["lab1", "lab2", "lab3"];
export const DRILL_ROLES_ARG = `--roles=${DRILL_HOSTS.map((h) => `${h}=etcd+postgres+haproxy+keepalived`).join(",")}`;

export interface StackRef {
    readonly stack: string;
    /** Environment for pulumi (the state backend). */
    readonly env: NodeJS.ProcessEnv;
    readonly log: (s: string) => void;
}

export function stackPulumi(ref: StackRef, args: string[], opts: { echo?: boolean } = {}): RunResult {
    return run("bash", ["scripts/pulumi.sh", ...args, "--stack", ref.stack], { env: ref.env, timeoutSec: 1500, echo: opts.echo ?? false });
}

/** `pulumi up`; a failed run must converge when re-run, so one printed re-run is allowed. */
export function stackUp(ref: StackRef): void {
    const argv = ["bash", "scripts/pulumi.sh", "up", "--yes", "--skip-preview", "--stack", ref.stack];
    const first = run(argv[0], argv.slice(1), { env: ref.env, timeoutSec: 1500, allowFail: true });
    if (first.status === 0) return;
    ref.log(
        `pulumi up failed; re-running once:\n${(first.stdout + first.stderr)
            .split("\n")
            .filter((l) => /error/i.test(l))
            .slice(-5)
            .join("\n")}`,
    );
    run(argv[0], argv.slice(1), { env: ref.env, timeoutSec: 1500 });
}

async function currentSynchronous(c: DrillCluster): Promise<boolean | undefined> {
    for (const h of c.members) {
        const r = await sshAsync(h, "timeout 10 patronictl -c /etc/patroni/config.yml show-config", { allowFail: true, timeoutSec: 30 });
        if (r.status === 0) return /^synchronous_mode: true$/m.test(r.stdout);
    }
    return undefined;
}

export async function drillContext(ref: StackRef): Promise<DrillContext> {
    const endpoint = stackPulumi(ref, ["stack", "output", "primaryEndpoint"]).stdout.trim();
    const [vip, port] = endpoint.split(":");
    const cs = stackPulumi(ref, ["stack", "output", "connectionString", "--show-secrets"]).stdout.trim();
    const password = decodeURIComponent(new URL(cs).password);
    const names = labHosts()
        .hosts.map((h) => h.name)
        .filter((n) => DRILL_HOSTS.includes(n));
    const cluster: DrillCluster = { vip, primaryPort: Number(port), password, members: names, etcdHosts: names, balancers: names };
    return {
        cluster,
        ...(await patroniTimings(cluster)),
        log: ref.log,
        setSynchronous: async (on) => {
            if ((await currentSynchronous(cluster)) === on) return;
            ref.log(`  setup: synchronousMode and synchronousModeStrict ${on}, through the stack file and pulumi up`);
            for (const key of ["synchronousMode", "synchronousModeStrict"]) {
                stackPulumi(ref, ["config", "set", "--path", `pgha:patroni.${key}`, String(on)]);
            }
            stackUp(ref);
        },
    };
}
