// What the end-to-end tests use to drive the real world: the lab script,
// the real Pulumi CLI (through scripts/pulumi.sh), ssh and psql.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";

export const ROOT = path.resolve(__dirname, "..", "..");

export interface LabHost {
    name: string;
    address: string;
    user: string;
    /** Non-root user with passwordless sudo and the same key (the lab's `pgha`). */
    sudoUser?: string;
    privateKeyPath: string;
    hostKey: string;
    /** The host's Debian release: "bookworm" or "trixie". */
    release: string;
    /** "12" or "13". */
    debianVersion: string;
}
export interface LabHosts {
    subnet: string;
    gateway: string;
    aptProxy?: string;
    hosts: LabHost[];
}

export interface RunResult {
    status: number;
    stdout: string;
    stderr: string;
}

/** Runs a program; throws with its output unless it exits 0 (or `allowFail`). */
export function run(cmd: string, args: string[], opts: { input?: string; timeoutSec?: number; allowFail?: boolean; env?: NodeJS.ProcessEnv; echo?: boolean; cwd?: string } = {}): RunResult {
    const r = spawnSync(cmd, args, {
        cwd: opts.cwd ?? ROOT,
        input: opts.input,
        env: { ...process.env, ...opts.env },
        timeout: (opts.timeoutSec ?? 600) * 1000,
        maxBuffer: 64 * 1024 * 1024,
    });
    const res = { status: r.status ?? -1, stdout: r.stdout?.toString() ?? "", stderr: r.stderr?.toString() ?? "" };
    if (opts.echo) process.stdout.write(`$ ${cmd} ${args.join(" ")}\n${res.stdout}${res.stderr}`);
    if (r.error) throw new Error(`${cmd} ${args.join(" ")}: ${r.error.message}\n${res.stdout}\n${res.stderr}`);
    if (res.status !== 0 && !opts.allowFail) {
        throw new Error(`${cmd} ${args.join(" ")} exited ${res.status}\n--- stdout\n${res.stdout.slice(-6000)}\n--- stderr\n${res.stderr.slice(-6000)}`);
    }
    return res;
}

export const lab = (...args: string[]) => run("bash", ["lab/lab.sh", ...args], { timeoutSec: 1500, echo: true });
export const labHosts = (): LabHosts => JSON.parse(fs.readFileSync(path.join(ROOT, ".lab", "hosts.json"), "utf8"));

/** ssh as root to a lab host; `input` goes to the command's stdin (the way to hand it a secret). */
/** ssh's arguments for one command on a lab host (the lab's ssh_config pins host keys). */
export const sshArgs = (host: string, command: string): string[] => ["-F", path.join(ROOT, ".lab", "ssh_config"), "-o", "ConnectTimeout=5", "-o", "BatchMode=yes", host, command];

export function ssh(host: string, command: string, opts: { allowFail?: boolean; timeoutSec?: number; input?: string } = {}): RunResult {
    return run("ssh", sshArgs(host, command), opts);
}

/** The e2e tests keep their Pulumi state apart from a user's own `lab` stack. */
export const E2E_ENV: NodeJS.ProcessEnv = {
    PULUMI_BACKEND_URL: `file://${path.join(ROOT, ".pulumi-state", "e2e")}`,
};
fs.mkdirSync(path.join(ROOT, ".pulumi-state", "e2e"), { recursive: true });

export function pulumi(args: string[], opts: { allowFail?: boolean; timeoutSec?: number; echo?: boolean; input?: string } = {}): RunResult {
    return run("bash", ["scripts/pulumi.sh", ...args], { env: E2E_ENV, timeoutSec: opts.timeoutSec ?? 1500, allowFail: opts.allowFail, echo: opts.echo ?? true, input: opts.input });
}

export function configureStack(stack: string, extra: string[] = []): void {
    run("bash", ["-c", `source scripts/env.sh && node scripts/lab-stack.js ${stack} ${extra.join(" ")}`], { env: E2E_ENV, timeoutSec: 120, echo: true });
}

export function superuserPassword(stack: string): string {
    const cs = pulumi(["stack", "output", "connectionString", "--show-secrets", "--stack", stack], { echo: false }).stdout.trim();
    return decodeURIComponent(new URL(cs).password);
}

/** psql from this machine, the way a user's client connects. */
export function psql(host: string, port: number, password: string, sql: string, opts: { allowFail?: boolean } = {}): RunResult {
    return run("psql", [`host=${host} port=${port} user=postgres dbname=postgres connect_timeout=3 sslmode=prefer`, "-AtX", "-v", "ON_ERROR_STOP=1", "-c", sql], {
        env: { PGPASSWORD: password },
        timeoutSec: 30,
        allowFail: opts.allowFail,
    });
}

export interface Member {
    Member: string;
    Host: string;
    Role: string;
    State: string;
}
export function patronictlList(host: string): Member[] {
    return JSON.parse(ssh(host, "patronictl -c /etc/patroni/config.yml list -f json").stdout);
}

export async function waitFor<T>(what: string, timeoutSec: number, probe: () => T | undefined): Promise<T> {
    const deadline = Date.now() + timeoutSec * 1000;
    let last: unknown;
    for (;;) {
        try {
            const v = probe();
            if (v !== undefined) return v;
        } catch (e) {
            last = e;
        }
        if (Date.now() > deadline) throw new Error(`${what}: not reached after ${timeoutSec} s; last error: ${last instanceof Error ? last.message : String(last)}`);
        await new Promise((r) => setTimeout(r, 1000));
    }
}

/** Sequential steps: once one fails, the later ones say so instead of running. */
export function steps() {
    let failed: string | undefined;
    return (name: string, fn: () => Promise<void> | void, timeoutSec: number) =>
        test(
            name,
            async () => {
                if (failed) throw new Error(`not run: the earlier step "${failed}" failed`);
                try {
                    await fn();
                } catch (e) {
                    failed = name;
                    throw e;
                }
            },
            timeoutSec * 1000,
        );
}

/** Number of SSH logins each host accepted in [since, until] (epoch seconds). */
export function sshLogins(hosts: LabHost[], since: number, until: number): Record<string, number> {
    // Our own queries log in too: keep them out of the window.
    while (Date.now() < (until + 2) * 1000) spawnSync("sleep", ["0.2"]);
    const out: Record<string, number> = {};
    for (const h of hosts) {
        const r = ssh(h.name, `journalctl -q -u ssh --since @${since} --until @${until} --no-pager | grep -c 'Accepted publickey' || true`);
        out[h.name] = Number(r.stdout.trim() || "0");
    }
    return out;
}

/**
 * Prints what sshd on each lab host logged about dropped or failed connections during the
 * suite (MaxStartups drops, resets, errors): evidence for any SSH failure a suite saw.
 */
function reportSshdTrouble(): void {
    for (const h of labHosts().hosts) {
        const r = ssh(h.name, `journalctl -q -u ssh --no-pager | grep -E ' sshd\\[[0-9]+\\]: ' | grep -Ei 'maxstartups|drop|reset by|error|fatal|timeout|refused' | tail -n 5 || true`, {
            allowFail: true,
            timeoutSec: 20,
        });
        if (r.stdout.trim()) process.stdout.write(`sshd on ${h.name} logged:\n${r.stdout}`);
    }
}

/**
 * A fresh lab of `nodes` hosts and a new stack before the suite; pass or fail, both torn down after it.
 * `labArgs`: more arguments of `lab up`, such as the hosts' Debian release (`--release trixie`).
 */
export function labStackLifecycle(stack: string, nodes: number, stackArgs: string[] = [], labArgs: string[] = []): void {
    beforeAll(() => {
        lab("down");
        lab("up", "--nodes", String(nodes), ...labArgs);
        pulumi(["stack", "rm", "--yes", "--force", stack], { allowFail: true });
        configureStack(stack, stackArgs);
    }, 1800 * 1000);
    afterAll(() => {
        reportSshdTrouble();
        pulumi(["destroy", "--yes", "--stack", stack, "--skip-preview"], { allowFail: true, timeoutSec: 600 });
        pulumi(["stack", "rm", "--yes", "--force", stack], { allowFail: true });
        lab("down");
    }, 900 * 1000);
}

/**
 * Whether pgha's start wrapper, loaded on `host` as Patroni's service loads it, replaces
 * Etcd3._update_leader ("patched": pgha's fix for Patroni 3.0.2) or leaves Patroni's own ("untouched").
 */
export function patroniPatchState(host: string): string {
    const py = [
        "import runpy",
        "from patroni.dcs import etcd3",
        "before = etcd3.Etcd3._update_leader",
        "runpy.run_path('/usr/local/libexec/pgha/patroni-run.py', run_name='pgha_patroni_run')",
        "print('untouched' if etcd3.Etcd3._update_leader is before else 'patched')",
    ].join("; ");
    return ssh(host, `runuser -u postgres -- python3 -c "${py}"`).stdout.trim();
}

/** `pulumi up` as the suites use it: one run, which must succeed (no retry: a retry would hide what a user hits). */
export function upStack(stack: string): RunResult {
    return pulumi(["up", "--yes", "--skip-preview", "--stack", stack]);
}

/** What a preview of `stack` would do: resource name → op, for every step that is not "same". */
export function previewOpsOf(stack: string): Record<string, string> {
    const out = pulumi(["preview", "--json", "--stack", stack], { echo: false }).stdout;
    const ops: Record<string, string> = {};
    for (const s of JSON.parse(out).steps ?? []) if (!["same", "read"].includes(s.op) && !s.urn.includes("::pulumi:pulumi:Stack::")) ops[s.urn.split("::").pop()] = s.op;
    return ops;
}
