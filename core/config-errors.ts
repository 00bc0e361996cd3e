// Turns zod issues into the one-line, key-path-first messages users see:
//   pgha:nodes[2].address: "10.0.0.300" is not an IPv4 address
// Values are never quoted here (messages that quote a value are written by the
// schema for non-secret fields only), so no secret can leak through this file.

import { z } from "zod";
import { jsonQuote, knownKeysAt } from "./config-schema";

export type KeyPath = readonly (string | number)[];

export const NAMESPACE = "pgha";

/** Map keys longer than this are cut in messages (a 1 MB key must not make a 1 MB message). */
const KEY_SHOWN_MAX = 64;

/** ["nodes", 2, "address"] → "pgha:nodes[2].address"; odd map keys are quoted: parameters["a b"], long ones cut: ["aaa…"…]. */
export function formatKeyPath(path: KeyPath): string {
    let out = `${NAMESPACE}:`;
    path.forEach((seg, i) => {
        if (typeof seg === "number") out += `[${seg}]`;
        else if (seg.length > KEY_SHOWN_MAX) out += `[${jsonQuote(seg.slice(0, KEY_SHOWN_MAX))}…]`;
        else if (!/^[A-Za-z_][A-Za-z0-9_.]*$/.test(seg)) out += `[${jsonQuote(seg)}]`;
        else out += i === 0 ? seg : `.${seg}`;
    });
    return path.length === 0 ? NAMESPACE : out;
}

function editDistance(a: string, b: string): number {
    const row = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
        let diag = row[0];
        row[0] = i;
        for (let j = 1; j <= b.length; j++) {
            const above = row[j];
            row[j] = Math.min(row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
            diag = above;
        }
    }
    return row[b.length];
}

/** The closest known key, when one is close enough to be a likely typo. */
export function suggestKey(key: string, known: readonly string[]): string | undefined {
    let best: string | undefined;
    let bestDistance = Infinity;
    const limit = Math.max(2, Math.floor(key.length / 4));
    for (const k of known) {
        // The distance is at least the difference in length: skip hopeless pairs (a huge key would take long).
        if (Math.abs(k.length - key.length) > limit) continue;
        const d = k.toLowerCase() === key.toLowerCase() ? 0 : editDistance(key, k);
        if (d < bestDistance) {
            best = k;
            bestDistance = d;
        }
    }
    return bestDistance <= limit ? best : undefined;
}

function unknownKeyMessage(path: KeyPath, key: string): string {
    const known = knownKeysAt(path);
    const where = formatKeyPath([...path, key]);
    // `pulumi config set pgha:postgres.port 5433` (no --path) creates a top-level key "postgres.port".
    if (path.length === 0 && key.includes(".") && known.includes(key.split(".")[0])) {
        return `${where}: unknown key; to set a field inside pgha:${key.split(".")[0]} use \`pulumi config set --path ${where} …\``;
    }
    const hint = suggestKey(key, known);
    return hint === undefined ? `${where}: unknown key` : `${where}: unknown key (did you mean ${formatKeyPath([...path, hint])}?)`;
}

function formatIssue(issue: z.ZodIssue): string[] {
    const where = formatKeyPath(issue.path);
    switch (issue.code) {
        case z.ZodIssueCode.unrecognized_keys:
            return issue.keys.map((k) => unknownKeyMessage(issue.path, k));
        case z.ZodIssueCode.invalid_type:
            if (issue.received === "undefined") {
                return issue.path.length === 1 && issue.path[0] === "nodes" ? [`${where}: missing; list the servers (name, address, roles) as in Pulumi.dev.yaml`] : [`${where}: missing`];
            }
            return [`${where}: expected ${article(issue.expected)}, got ${article(issue.received)}`];
        default:
            return [`${where}: ${issue.message}`];
    }
}

function article(t: string): string {
    if (t === "null" || t === "undefined") return t;
    return /^[aeiou]/.test(t) ? `an ${t}` : `a ${t}`;
}

export function formatZodIssues(issues: readonly z.ZodIssue[]): string[] {
    return issues.flatMap(formatIssue);
}

/** A readable block for `pulumi preview`: a header and one problem per line. */
export function formatConfigErrors(errors: readonly string[]): string {
    const n = errors.length;
    const header = `${NAMESPACE}: the stack configuration has ${n} problem${n === 1 ? "" : "s"}:`;
    return [header, ...errors.map((e) => `  - ${e}`)].join("\n");
}
