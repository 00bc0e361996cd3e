// npm run drift -- --stack NAME [--fix]
//
// Compares every file and unit pgha manages with what the stack says (its outputs managedFiles,
// managedUnits and the secret managedFileSecrets, written by the last `pulumi up`): each node
// runs server/pgha-drift.py, read-only, all nodes at once, bounded like `npm run status`.
// --fix marks what drifted in pgha:repair (`pulumi config set --path`), so that the next
// `pulumi up` rewrites exactly those files, starts exactly those units and re-applies the
// services reading them; without --fix the commands are printed.
// Exit status: 0 no drift, 3 drift found (or a node could not be checked), 1 could not run, 2 bad arguments.
import * as fs from "fs";
import * as path from "path";
import { SERVER_DIR } from "../../components/pgha-tools";
import { ManagedFile, ManagedUnit } from "../../components/managed-manifest";
import { NodeSpec } from "../../core/spec";
import { Difference, NodeDrift, NodePayload, nodePayload, renderDrift, repairCommandText, repairConfigArgs, repairKeys, repairToken } from "./drift-report";
import { KILL_AFTER_SEC, NODE_TIMEOUT_SEC } from "./status";
import { OpsError, Stack, openStack, pulumi, pulumiErrorReason } from "./stack";
import { SshSession, sshFailure, withSsh } from "./ssh";

export const USAGE = "usage: npm run drift -- --stack NAME [--fix]";

const DRIFT_PROGRAM = fs.readFileSync(path.join(SERVER_DIR, "pgha-drift.py"), "utf8");

export type ParsedDriftArgs = { ok: true; stack: string; fix: boolean } | { ok: false; help: boolean; message?: string };

export function parseDriftArgs(argv: readonly string[]): ParsedDriftArgs {
    if (argv.includes("-h") || argv.includes("--help")) return { ok: false, help: true };
    let stack: string | undefined;
    let fix = false;
    for (let i = 0; i < argv.length; i++) {
        const m = /^--stack(?:=(.*))?$/.exec(argv[i]);
        if (m !== null) {
            const v = m[1] ?? argv[++i];
            if (v === undefined || v === "" || v.startsWith("-")) return { ok: false, help: false, message: "--stack needs a value" };
            if (stack !== undefined) return { ok: false, help: false, message: "--stack given twice" };
            stack = v;
        } else if (argv[i] === "--fix") fix = true;
        else return { ok: false, help: false, message: `unknown argument ${argv[i]}` };
    }
    if (stack === undefined) return { ok: false, help: false, message: "--stack NAME is required" };
    return { ok: true, stack, fix };
}

/**
 * The script body: stdin is the program (exactly `programBytes` bytes: `head -c` reads no
 * further) followed by the node's manifest, which the program reads as its own stdin.
 */
export function driftBody(programBytes: number): string {
    return [`t=$(mktemp /tmp/pgha-drift.XXXXXX)`, `trap 'rm -f "$t"' EXIT`, `head -c ${programBytes} >"$t"`, `python3 "$t"`].join("\n");
}

/** The stack's manifest outputs; an OpsError when the stack was deployed before they existed. */
export function manifestOf(stack: string, outputs: Readonly<Record<string, unknown>>): { files: Record<string, ManagedFile[]>; units: Record<string, ManagedUnit[]> } {
    const files = outputs.managedFiles;
    const units = outputs.managedUnits;
    if (typeof files !== "object" || files === null || typeof units !== "object" || units === null) {
        throw new OpsError(`stack ${stack}: no stack outputs managedFiles and managedUnits (deployed by a pgha without drift detection): run pulumi up --stack ${stack} first`);
    }
    return { files: files as Record<string, ManagedFile[]>, units: units as Record<string, ManagedUnit[]> };
}

/** managedFileSecrets, decrypted by pulumi: captured, sent to the nodes on stdin, never printed. */
function secretHashes(stack: string): Record<string, Record<string, string>> {
    const r = pulumi(["stack", "output", "managedFileSecrets", "--show-secrets", "--json", "--stack", stack]);
    if (r.status !== 0) throw new OpsError(`stack ${stack}: cannot read the secret output managedFileSecrets: ${pulumiErrorReason(r.stderr)}`);
    try {
        return JSON.parse(r.stdout) as Record<string, Record<string, string>>;
    } catch {
        throw new OpsError(`stack ${stack}: the output managedFileSecrets is not JSON`);
    }
}

export async function checkNode(ssh: SshSession, node: NodeSpec, payload: NodePayload): Promise<NodeDrift> {
    const started = Date.now();
    const bytes = Buffer.byteLength(DRIFT_PROGRAM);
    try {
        const r = await ssh.run(node, driftBody(bytes), { what: "drift check", timeoutSec: NODE_TIMEOUT_SEC, killAfterSec: KILL_AFTER_SEC, stdin: DRIFT_PROGRAM + JSON.stringify(payload) });
        if ((Date.now() - started) / 1000 >= KILL_AFTER_SEC - 1) return { node: node.name, problem: `no answer within ${KILL_AFTER_SEC} s` };
        const unreachable = sshFailure(node, r);
        if (unreachable !== undefined) return { node: node.name, problem: `unreachable (${unreachable.slice(node.name.length + 2)})` };
        if (r.status !== 0) return { node: node.name, problem: `the drift check failed (exit ${r.status}): ${r.stderr.trim().split("\n").pop() ?? ""}` };
        const out = JSON.parse(r.stdout.trim().split("\n").pop() ?? "") as { differences: Difference[] };
        return { node: node.name, differences: out.differences };
    } catch (e) {
        return { node: node.name, problem: (e as Error).message };
    }
}

async function check(stack: Stack): Promise<NodeDrift[]> {
    const { spec } = stack;
    const manifest = manifestOf(stack.name, stack.outputs);
    const secrets = secretHashes(stack.name);
    const nodes = spec.nodes.filter((n) => manifest.files[n.name] !== undefined || manifest.units[n.name] !== undefined);
    const payloads = nodes.map((n) => nodePayload(n.name, manifest.files[n.name] ?? [], secrets[n.name] ?? {}, manifest.units[n.name] ?? []));
    return withSsh(spec.nodes, stack.privateKey(), spec.ssh.strictHostKeys, (ssh) => Promise.all(nodes.map((n, i) => checkNode(ssh, n, payloads[i]))));
}

/** --fix: one token for this run, one `pulumi config set` per key; without --fix, the commands. */
function markForRepair(stack: string, results: readonly NodeDrift[], fix: boolean): void {
    const keys = repairKeys(results);
    if (keys.length === 0) return;
    const token = repairToken(new Date());
    if (!fix) {
        console.log(`to repair with the next pulumi up (or: npm run drift -- --stack ${stack} --fix):`);
        for (const k of keys) console.log(`  ${repairCommandText(stack, k, token)}`);
        return;
    }
    for (const k of keys) {
        const r = pulumi(repairConfigArgs(stack, k, token));
        if (r.status !== 0) throw new OpsError(`pulumi config set pgha:repair["${k}"] failed: ${pulumiErrorReason(r.stderr)}`);
    }
    console.log(`drift: marked ${keys.length} for repair in pgha:repair (token ${token}); pulumi preview --diff --stack ${stack} shows exactly what the next up rewrites, starts and reloads`);
}

export async function main(argv: readonly string[]): Promise<number> {
    const parsed = parseDriftArgs(argv);
    if (!parsed.ok) {
        if (parsed.help) {
            console.log(USAGE);
            return 0;
        }
        console.error(`drift: ${parsed.message}\n${USAGE}`);
        return 2;
    }
    try {
        const stack = openStack(parsed.stack);
        const results = await check(stack);
        process.stdout.write(renderDrift(stack.name, results));
        markForRepair(stack.name, results, parsed.fix);
        const clean = results.every((r) => "differences" in r && r.differences.length === 0);
        return clean ? 0 : 3;
    } catch (e) {
        console.error(`drift: ${(e as Error).message}`);
        return 1;
    }
}

if (require.main === module) {
    main(process.argv.slice(2)).then((code) => process.exit(code));
}
