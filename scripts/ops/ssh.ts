// Commands on a stack's nodes, over SSH with the stack's own settings, as `pulumi up` connects:
// each node's sshHost/sshPort/sshUser (pgha:nodes[], defaulting to pgha:ssh), its pinned
// hostKey verified (pgha:ssh.strictHostKeys), the stack's key, and `sudo -n` for a non-root
// user (components/ssh.ts wraps every script the same way). The key is written only into a
// 0600 file in a 0700 temporary directory, with a known_hosts of the pinned keys, both removed
// when the session closes (on Ctrl-C too); nothing of the key is on a command line.
import { ChildProcess, spawn } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { wrapScript, shq } from "../../components/ssh";
import { RenderedFile } from "../../core/render/file";
import { NodeSpec } from "../../core/spec";
import { OpsError } from "./stack";

/** How long a node may take to accept the connection, in seconds. */
export const CONNECT_TIMEOUT_SEC = 10;

export interface SshFiles {
    readonly key: string;
    readonly knownHosts: string;
}

/** known_hosts names a host on a port other than 22 as "[host]:port". */
export const knownHostsName = (n: NodeSpec): string => (n.sshPort === 22 ? n.sshHost : `[${n.sshHost}]:${n.sshPort}`);

/** The pinned host keys of `nodes`, as a known_hosts file. */
export function knownHostsText(nodes: readonly NodeSpec[]): string {
    return nodes
        .filter((n) => n.hostKey)
        .map((n) => `${knownHostsName(n)} ${n.hostKey}\n`)
        .join("");
}

/** ssh's arguments for `command` on `node`: no user config, the stack's key only, the pinned host key checked unless the stack says otherwise. */
export function sshArgv(node: NodeSpec, files: SshFiles, strictHostKeys: boolean, command: string): string[] {
    const verify =
        strictHostKeys || node.hostKey ? ["-o", "StrictHostKeyChecking=yes", "-o", `UserKnownHostsFile=${files.knownHosts}`] : ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"];
    return [
        ...["-F", "/dev/null", "-i", files.key, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "GlobalKnownHostsFile=/dev/null", ...verify],
        ...["-o", `ConnectTimeout=${CONNECT_TIMEOUT_SEC}`, "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=4", "-o", "LogLevel=ERROR"],
        ...["-p", String(node.sshPort), "-l", node.sshUser, node.sshHost, command],
    ];
}

/** user@host:port, as messages name a connection. */
export const sshTarget = (n: NodeSpec): string => `${n.sshUser}@${n.sshHost}:${n.sshPort}`;

/**
 * The script body that runs one of pgha's server programs (server/, installed by
 * components/pgha-tools.ts) with `args`: the installed copy when it is this checkout's,
 * byte for byte, else this checkout's copy, sent on stdin (a host is only brought up to date
 * by the next `pulumi up`; until then it says so on stderr). The caller sends `tool.content`
 * as stdin either way.
 */
export function toolBody(tool: RenderedFile, args: readonly string[]): string {
    const digest = crypto.createHash("sha256").update(tool.content).digest("hex");
    const run = tool.path.endsWith(".py") ? "python3" : "bash";
    const argv = args.map(shq).join(" ");
    return [
        `f=${shq(tool.path)}`,
        `if [ "$(sha256sum "$f" 2>/dev/null | cut -d' ' -f1)" = ${digest} ]; then`,
        `  cat >/dev/null`,
        `  ${run} "$f" ${argv}`,
        `else`,
        `  t=$(mktemp /tmp/pgha-ops.XXXXXX)`,
        `  trap 'rm -f "$t"' EXIT`,
        `  cat >"$t"`,
        `  echo "pgha: $f on $(hostname) is not this checkout's (the next pulumi up installs it): ran this checkout's copy" >&2`,
        `  ${run} "$t" ${argv}`,
        `fi`,
    ].join("\n");
}

export interface RemoteResult {
    /** The remote command's exit status (255: ssh itself failed). */
    readonly status: number;
    readonly stdout: string;
    readonly stderr: string;
}

export interface RunOptions {
    /** Short description, for the command text and the timeout message. */
    readonly what: string;
    readonly timeoutSec: number;
    readonly stdin?: string;
    /** Each line as it arrives (a long command's progress). */
    readonly onLine?: (stream: "stdout" | "stderr", line: string) => void;
    /** ssh's own bound, in seconds (default: timeoutSec + ConnectTimeout + 30): a node that stops answering mid-command. */
    readonly killAfterSec?: number;
}

/** ssh exits 255 when it could not connect or authenticate (a remote command rarely does): the one-line reason, naming the node. */
export function sshFailure(node: NodeSpec, r: RemoteResult): string | undefined {
    if (r.status !== 255) return undefined;
    const last = r.stderr.trim().split("\n").filter(Boolean).slice(-1)[0] ?? "ssh exited 255";
    return `${node.name}: SSH to ${sshTarget(node)} failed: ${last}`;
}

/** One SSH setup for a stack's nodes: the key and the pinned host keys in a private temporary directory. */
export class SshSession {
    private readonly dir: string;
    private readonly files: SshFiles;
    /** ssh processes still running: killed on close, so an abandoned probe outlives no script. */
    private readonly children = new Set<ChildProcess>();
    private readonly cleanup = (): void => this.close();
    private readonly onSignal = (signal: NodeJS.Signals): void => {
        this.close();
        process.exit(signal === "SIGINT" ? 130 : 143);
    };

    constructor(
        nodes: readonly NodeSpec[],
        privateKey: string,
        private readonly strictHostKeys: boolean,
    ) {
        this.dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgha-ops-"));
        process.on("exit", this.cleanup);
        process.on("SIGINT", this.onSignal);
        process.on("SIGTERM", this.onSignal);
        fs.chmodSync(this.dir, 0o700);
        this.files = { key: path.join(this.dir, "id"), knownHosts: path.join(this.dir, "known_hosts") };
        fs.writeFileSync(this.files.key, privateKey.endsWith("\n") ? privateKey : `${privateKey}\n`, { mode: 0o600 });
        fs.writeFileSync(this.files.knownHosts, knownHostsText(nodes), { mode: 0o600 });
    }

    close(): void {
        for (const c of this.children) c.kill("SIGKILL");
        this.children.clear();
        fs.rmSync(this.dir, { recursive: true, force: true });
        process.off("exit", this.cleanup);
        process.off("SIGINT", this.onSignal);
        process.off("SIGTERM", this.onSignal);
    }

    /** A bash script body on `node`, as root (through `sudo -n` for another user), bounded by `timeout`. */
    run(node: NodeSpec, body: string, opts: RunOptions): Promise<RemoteResult> {
        const command = wrapScript(body, { sudo: node.sshUser !== "root", timeoutSec: opts.timeoutSec, what: opts.what });
        const args = sshArgv(node, this.files, this.strictHostKeys, command);
        return new Promise((resolve, reject) => {
            // env given explicitly: the unit tests' stand-in ssh is found through it.
            const child = spawn("ssh", args, { stdio: ["pipe", "pipe", "pipe"], env: process.env });
            this.children.add(child);
            const out = { stdout: "", stderr: "" };
            for (const stream of ["stdout", "stderr"] as const) {
                let partial = "";
                child[stream].on("data", (d: Buffer) => {
                    const text = d.toString();
                    out[stream] += text;
                    if (opts.onLine === undefined) return;
                    const lines = (partial + text).split("\n");
                    partial = lines.pop()!;
                    for (const l of lines) opts.onLine(stream, l);
                });
                child[stream].on("end", () => {
                    if (partial !== "") opts.onLine?.(stream, partial);
                });
            }
            // A command that ends without reading its stdin closes the pipe under the write.
            child.stdin.on("error", () => undefined);
            child.stdin.end(opts.stdin ?? "");
            // ssh's own bound on top of the script's (the remote `timeout` reports first).
            const timer = setTimeout(() => child.kill("SIGKILL"), (opts.killAfterSec ?? opts.timeoutSec + CONNECT_TIMEOUT_SEC + 30) * 1000);
            child.on("error", (e) => {
                clearTimeout(timer);
                reject(new OpsError(`cannot run ssh: ${e.message}`));
            });
            child.on("close", (code, signal) => {
                clearTimeout(timer);
                this.children.delete(child);
                resolve({ status: code ?? (signal ? 255 : -1), ...out });
            });
        });
    }

    /** One of pgha's server programs on `node` (see toolBody). */
    runTool(node: NodeSpec, tool: RenderedFile, args: readonly string[], opts: Omit<RunOptions, "stdin">): Promise<RemoteResult> {
        return this.run(node, toolBody(tool, args), { ...opts, stdin: tool.content });
    }
}

/** `fn` with an SSH session to the stack's nodes; the key's directory is removed whatever happens. */
export async function withSsh<T>(nodes: readonly NodeSpec[], privateKey: string, strictHostKeys: boolean, fn: (s: SshSession) => Promise<T>): Promise<T> {
    const session = new SshSession(nodes, privateKey, strictHostKeys);
    try {
        return await fn(session);
    } finally {
        session.close();
    }
}
