// The operational scripts (npm run status, npm run drift) as a user runs them: from the project
// directory, with the e2e suites' Pulumi backend as the caller's environment.
import { execFile } from "child_process";
import { RunResult, E2E_ENV, ROOT, run } from "./harness";
import { StatusReport } from "../../scripts/ops/status-report";

/** `npm run <name> -- <args>` (the script's shell wrapper), never failing the test by itself. */
export function opsScript(name: "status" | "drift", args: string[], timeoutSec = 180): RunResult & { seconds: number } {
    const t0 = Date.now();
    const r = run("bash", [`scripts/${name}.sh`, ...args], { env: E2E_ENV, allowFail: true, timeoutSec });
    return { ...r, seconds: (Date.now() - t0) / 1000 };
}

/** `npm run status -- --stack S --json`, parsed. */
export function statusJson(stack: string): { report: StatusReport; status: number; seconds: number } {
    const r = opsScript("status", ["--stack", stack, "--json"]);
    try {
        return { report: JSON.parse(r.stdout) as StatusReport, status: r.status, seconds: r.seconds };
    } catch {
        throw new Error(`status --json printed no report (exit ${r.status}):\n${r.stdout.slice(-2000)}\n${r.stderr.slice(-2000)}`);
    }
}

/** `npm run status -- --stack S --json` without blocking the event loop (clients and probes keep running meanwhile). */
export function statusJsonAsync(stack: string, timeoutSec = 180): Promise<{ report: StatusReport; status: number; seconds: number }> {
    const t0 = Date.now();
    return new Promise((resolve, reject) => {
        execFile(
            "bash",
            ["scripts/status.sh", "--stack", stack, "--json"],
            { cwd: ROOT, env: { ...process.env, ...E2E_ENV }, timeout: timeoutSec * 1000, maxBuffer: 16 * 1024 * 1024 },
            (err, stdout, stderr) => {
                const status = err === null ? 0 : typeof err.code === "number" ? err.code : -1;
                try {
                    resolve({ report: JSON.parse(stdout) as StatusReport, status, seconds: (Date.now() - t0) / 1000 });
                } catch {
                    reject(new Error(`status --json printed no report (exit ${status}):\n${stdout.slice(-2000)}\n${stderr.slice(-2000)}`));
                }
            },
        );
    });
}

/** The difference lines of `npm run drift` (everything but the verdict and the repair advice). */
export function driftLines(stdout: string): string[] {
    const lines = stdout.split("\n");
    const verdict = lines.findIndex((l) => l.startsWith("stack "));
    return lines.slice(0, verdict < 0 ? lines.length : verdict).filter((l) => l.trim() !== "");
}
