// `npm run drift`: what each node is sent (its part of the stack's manifest, the secret files'
// real hashes filled in), the differences server/pgha-drift.py found, read as lines, and the
// pgha:repair keys that make the next `pulumi up` repair exactly them. Pure; scripts/ops/drift.ts
// does the SSH and the pulumi calls; tests/unit/drift-ops.test.ts.
import { ManagedFile, ManagedUnit, SECRET_CONTENT, UNCHECKED_CONTENT } from "../../components/managed-manifest";
import { REPAIR_KEY_RE } from "../../core/config-schema";
import { OpsError } from "./stack";

export interface PayloadFile {
    readonly path: string;
    /** Hex sha256, or null: the content is not compared (a service rewrites it). */
    readonly sha256: string | null;
    readonly owner: string;
    readonly group: string;
    readonly mode: string;
    /** Its hashes are never printed. */
    readonly secret: boolean;
}

export interface NodePayload {
    readonly files: readonly PayloadFile[];
    readonly units: readonly ManagedUnit[];
}

/** One node's stdin for pgha-drift.py; a secret file without its hash in managedFileSecrets is an OpsError. */
export function nodePayload(node: string, files: readonly ManagedFile[], secretHashes: Readonly<Record<string, string>>, units: readonly ManagedUnit[]): NodePayload {
    return {
        files: files.map((f) => {
            const secret = f.sha256 === SECRET_CONTENT;
            const sha256 = f.sha256 === UNCHECKED_CONTENT ? null : secret ? secretHashes[f.path] : f.sha256;
            if (sha256 === undefined) throw new OpsError(`the stack output managedFileSecrets has no hash for ${node}:${f.path}: run pulumi up first`);
            return { path: f.path, sha256, owner: f.owner, group: f.group, mode: f.mode, secret };
        }),
        units,
    };
}

export interface Difference {
    readonly path?: string;
    readonly unit?: string;
    readonly what: string;
    readonly expected: string | null;
    readonly found: string | null;
}

export type NodeDrift = { readonly node: string; readonly differences: readonly Difference[] } | { readonly node: string; readonly problem: string };

/** The thing a difference is about: a path or a unit. */
const subject = (d: Difference): string => d.path ?? d.unit ?? "?";

function differenceText(d: Difference): string {
    if (d.what === "content") return d.expected === null ? "content differs (a file holding secrets: hashes not shown)" : `content differs: ${d.found}, the stack placed ${d.expected}`;
    if (d.what === "missing") return "missing";
    return `${d.what}: ${d.found ?? "-"}, the stack says ${d.expected ?? "-"}`;
}

/** Each difference as "node  path-or-unit  what", then a one-line verdict. */
export function renderDrift(stack: string, results: readonly NodeDrift[]): string {
    const lines: string[] = [];
    for (const r of results) {
        if ("problem" in r) lines.push(`${r.node}  not checked: ${r.problem}`);
        else for (const d of r.differences) lines.push(`${r.node}  ${subject(d)}  ${differenceText(d)}`);
    }
    const count = results.reduce((n, r) => n + ("differences" in r ? r.differences.length : 0), 0);
    const unchecked = results.filter((r) => "problem" in r).length;
    const verdict =
        count === 0 && unchecked === 0
            ? `stack ${stack}: no drift on ${results.length} node${results.length === 1 ? "" : "s"}`
            : `stack ${stack}: ${count} difference${count === 1 ? "" : "s"}${unchecked > 0 ? `, ${unchecked} node${unchecked === 1 ? "" : "s"} not checked` : ""}`;
    return `${[...lines, verdict].join("\n")}\n`;
}

/** The pgha:repair keys ("node:path", "node:unit") of every difference, each once, sorted. */
export function repairKeys(results: readonly NodeDrift[]): string[] {
    const keys = new Set<string>();
    for (const r of results) if ("differences" in r) for (const d of r.differences) keys.add(`${r.node}:${subject(d)}`);
    const out = [...keys].sort();
    for (const k of out) if (!REPAIR_KEY_RE.test(k)) throw new OpsError(`cannot mark ${JSON.stringify(k)} for repair: not a node:path or node:unit pgha:repair accepts`);
    return out;
}

/** A new token: one per --fix run, so every key it writes changes, and a key already applied stays as it is until drift is found again. */
export const repairToken = (now: Date): string =>
    `drift-${now
        .toISOString()
        .replace(/[-:]/g, "")
        .replace(/\.\d+Z$/, "Z")}`;

/** `pulumi config set --path` for one key (the brackets keep the key's '.' and '/' as they are). */
export const repairConfigArgs = (stack: string, key: string, token: string): string[] => ["config", "set", "--path", `pgha:repair["${key}"]`, token, "--stack", stack];

/** The same, as a command a person can paste. */
export const repairCommandText = (stack: string, key: string, token: string): string => `pulumi config set --path 'pgha:repair["${key}"]' ${token} --stack ${stack}`;
