// Asynchronous process runs for drills: a synchronous spawn would freeze the
// event loop, and with it the write load and the sampler being measured.
import { spawn } from "child_process";
import { ROOT, RunResult, sshArgs } from "../e2e/harness";

export function exec(cmd: string, args: string[], opts: { timeoutSec?: number; allowFail?: boolean; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
    return new Promise((resolve, reject) => {
        const child = spawn(cmd, args, { cwd: ROOT, env: { ...process.env, ...opts.env }, stdio: ["ignore", "pipe", "pipe"] });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (d) => (stdout += d));
        child.stderr.on("data", (d) => (stderr += d));
        const timer = setTimeout(() => child.kill("SIGKILL"), (opts.timeoutSec ?? 120) * 1000);
        child.on("error", (e) => {
            clearTimeout(timer);
            reject(new Error(`${cmd} ${args.join(" ")}: ${e.message}`));
        });
        child.on("close", (code) => {
            clearTimeout(timer);
            const res = { status: code ?? -1, stdout, stderr };
            if (res.status !== 0 && !opts.allowFail) {
                reject(new Error(`${cmd} ${args.join(" ")} exited ${res.status}\n${stdout.slice(-3000)}\n${stderr.slice(-3000)}`));
            } else resolve(res);
        });
    });
}

export function sshAsync(host: string, command: string, opts: { timeoutSec?: number; allowFail?: boolean } = {}): Promise<RunResult> {
    return exec("ssh", sshArgs(host, command), opts);
}

export async function labVerb(...args: string[]): Promise<void> {
    await exec("bash", ["lab/lab.sh", ...args], { timeoutSec: 300 });
}
