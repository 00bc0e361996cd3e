// Facts read from the servers while the program runs (preview and up alike), like a
// provider's data source: only what a default depends on, only when nothing deployed
// records it, and read-only (`cat /etc/os-release`). The connection is the stack's own:
// its user, port, key and pinned host keys; a host key that does not match is refused.
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { NodeSpec } from "../core/spec";

/** How long one server may take to answer (connect and read), in seconds. */
const PROBE_TIMEOUT_SEC = 10;

export interface ProbeSsh {
    /** The private key's content (never written anywhere but a 0600 file in a 0700 directory, removed after). */
    readonly privateKey: string;
    /** Verify host keys (pgha:ssh.strictHostKeys); nodes then carry `hostKey`. */
    readonly strictHostKeys: boolean;
}

/** /etc/os-release of each node, read over SSH in parallel; a node that cannot be read is a problem naming it and why. */
export async function readOsReleases(nodes: readonly NodeSpec[], ssh: ProbeSsh): Promise<{ releases: Map<string, string>; problems: string[] }> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgha-facts-"));
    try {
        fs.chmodSync(dir, 0o700);
        const key = path.join(dir, "id");
        fs.writeFileSync(key, ssh.privateKey.endsWith("\n") ? ssh.privateKey : `${ssh.privateKey}\n`, { mode: 0o600 });
        const knownHosts = path.join(dir, "known_hosts");
        fs.writeFileSync(
            knownHosts,
            nodes
                .filter((n) => n.hostKey)
                .map((n) => `${knownHostsName(n)} ${n.hostKey}\n`)
                .join(""),
            { mode: 0o600 },
        );
        const results = await Promise.all(nodes.map((n) => readOne(n, key, knownHosts, ssh.strictHostKeys)));
        const releases = new Map<string, string>();
        const problems: string[] = [];
        nodes.forEach((n, i) => {
            const r = results[i];
            if (r.ok) releases.set(n.name, r.text);
            else problems.push(`${n.name}: cannot read /etc/os-release over SSH (${n.sshUser}@${n.sshHost}:${n.sshPort}): ${r.why}`);
        });
        return { releases, problems };
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

/** known_hosts names a host on a port other than 22 as "[host]:port". */
const knownHostsName = (n: NodeSpec): string => (n.sshPort === 22 ? n.sshHost : `[${n.sshHost}]:${n.sshPort}`);

function readOne(n: NodeSpec, key: string, knownHosts: string, strict: boolean): Promise<{ ok: true; text: string } | { ok: false; why: string }> {
    const verify = strict || n.hostKey ? ["-o", "StrictHostKeyChecking=yes", "-o", `UserKnownHostsFile=${knownHosts}`] : ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"];
    const args = [
        ...["-i", key, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "GlobalKnownHostsFile=/dev/null", ...verify],
        ...["-o", `ConnectTimeout=${PROBE_TIMEOUT_SEC}`, "-o", "LogLevel=ERROR", "-F", "/dev/null", "-p", String(n.sshPort), "-l", n.sshUser, n.sshHost],
        "cat /etc/os-release",
    ];
    return new Promise((resolve) => {
        let out = "";
        let err = "";
        const child = spawn("ssh", args, { stdio: ["ignore", "pipe", "pipe"] });
        const timer = setTimeout(() => child.kill("SIGKILL"), (PROBE_TIMEOUT_SEC + 10) * 1000);
        child.stdout.on("data", (d: Buffer) => (out += d.toString()));
        child.stderr.on("data", (d: Buffer) => (err += d.toString()));
        child.on("error", (e) => {
            clearTimeout(timer);
            resolve({ ok: false, why: `cannot run ssh: ${e.message}` });
        });
        child.on("close", (code, signal) => {
            clearTimeout(timer);
            if (code === 0) resolve({ ok: true, text: out });
            else resolve({ ok: false, why: signal ? `no answer within ${PROBE_TIMEOUT_SEC + 10} s` : err.trim().split("\n").slice(-2).join(" ") || `ssh exited ${code}` });
        });
    });
}
