// What npm run fleet prints: the change counts of one stack (from the engine's summary, an OpMap),
// the per-stack lines, the closing table and the one-line reason of a failure.
import type { OpMap } from "@pulumi/pulumi/automation";

export type FleetResult = "succeeded" | "failed" | "cancelled" | "not started";

export interface ChangeCounts {
    readonly create: number;
    readonly update: number;
    readonly replace: number;
    readonly delete: number;
    readonly same: number;
    /** Every other logical operation (read, import, discard, refresh, ...). */
    readonly other: number;
}

export interface StackOutcome {
    readonly stack: string;
    readonly result: FleetResult;
    /** Absent when the engine sent no summary (it failed before planning, or was never run). */
    readonly counts?: ChangeCounts;
    readonly ms?: number;
    readonly reason?: string;
}

const MAIN = ["create", "update", "replace", "delete", "same"] as const;

/** The engine's summary → counts. Only logical steps are in it, so a replacement counts once (as replace). */
export function changeCounts(ops: OpMap): ChangeCounts {
    const n = (k: string): number => (ops as Record<string, number | undefined>)[k] ?? 0;
    const other = Object.keys(ops)
        .filter((k) => !(MAIN as readonly string[]).includes(k))
        .reduce((sum, k) => sum + n(k), 0);
    return { create: n("create"), update: n("update"), replace: n("replace"), delete: n("delete"), same: n("same"), other };
}

/** pulumi's symbols: "+96", "~1 =95", "=96" (nothing to do), "-" (no summary). */
export function formatChanges(c: ChangeCounts | undefined): string {
    if (c === undefined) return "-";
    const parts = [
        ["+", c.create],
        ["~", c.update],
        ["+-", c.replace],
        ["-", c.delete],
        ["other ", c.other],
        ["=", c.same],
    ]
        .filter(([, v]) => (v as number) > 0)
        .map(([s, v]) => `${s}${v}`);
    return parts.length === 0 ? "0" : parts.join(" ");
}

/** "8.6 s", "2 m 05 s". */
export function formatDuration(ms: number): string {
    const s = ms / 1000;
    if (s < 60) return `${s.toFixed(1)} s`;
    const whole = Math.round(s);
    return `${Math.floor(whole / 60)} m ${String(whole % 60).padStart(2, "0")} s`;
}

/** One engine error diagnostic → one line: pgha's "has 1 problem:\n - key: why" reads as one sentence. */
/** The text without terminal colours and the engine's colour tags (<{%reset%}>). */
const plain = (text: string): string => text.replace(/\u001b\[[0-9;]*m/g, "").replace(/<\{%[^%]*%\}>/g, "");

export const oneLine = (text: string, max = 300): string => {
    const line = plain(text)
        .split("\n")
        .map((l) => l.trim())
        .filter((l) => l !== "")
        .join(" ")
        .replace(/^error:\s*/, "");
    return line.length > max ? `${line.slice(0, max - 3)}...` : line;
};

/** Go's %q of a command (printable text) read back; JSON's escapes are the same for it. */
function goUnquote(q: string): string {
    try {
        return JSON.parse(`"${q}"`) as string;
    } catch {
        return q.replace(/\\n/g, "\n");
    }
}

/**
 * A failed remote command's diagnostic, `Process exited with status N: running "<command, Go-quoted>":\n<its
 * output>` (@pulumi/command), as "<step>: exit N: <why>": the step is the command's first line, pgha's
 * "# pgha: <what it does>" comment; why is the output from its last "pgha:" line on (pgha's scripts print their
 * reason so), else its last line. The quoted command alone, which is all one line of the raw text
 * shows, names no reason. undefined for any other text.
 */
export function commandFailure(text: string): string | undefined {
    const clean = plain(text);
    const m = /Process exited with status (\d+): running "((?:[^"\\]|\\.)*)":\n?/.exec(clean);
    if (!m) return undefined;
    const command = goUnquote(m[2]);
    const step = (/^#\s*pgha:\s*(.*)$/m.exec(command)?.[1] ?? "remote command").replace(/\s*\((?:spec [0-9a-f]+|create|update|delete)\)/g, "").trim();
    const lines = clean
        .slice(m.index + m[0].length)
        .split("\n")
        .map((l) => l.trim())
        .filter((l) => l !== "" && !/^error:\s*$/.test(l));
    // From the last "pgha:" line on: its details (e.g. etcdctl's lines after pgha-verify's reason) follow it.
    const at = lines.map((l) => l.startsWith("pgha:")).lastIndexOf(true);
    const why = at >= 0 ? lines.slice(at).join(" ") : lines[lines.length - 1];
    return `${step}: exit ${m[1]}${why === undefined ? "" : `: ${why}`}`;
}

/** The reason of a failure: the first error diagnostic the engine sent (the program's own), else pulumi's stderr's. */
export function failureReason(diagnostics: readonly string[], cliReason: string): string {
    const first = diagnostics
        .map((d) => {
            const c = commandFailure(d);
            return c === undefined ? oneLine(d) : oneLine(c);
        })
        .find((d) => d !== "" && !/^(preview|update) failed$/.test(d));
    return first ?? oneLine(commandFailure(cliReason) ?? cliReason);
}

/** The last `n` non-empty lines of `text`, each tagged with the stack's name. */
export function taggedTail(stack: string, text: string, n: number): string[] {
    if (n <= 0) return [];
    const lines = text
        .replace(/\r/g, "")
        .split("\n")
        .filter((l) => l.trim() !== "");
    return lines.slice(-n).map((l) => `  ${stack} | ${l}`);
}

/** The line printed when a stack finishes. */
export function finishedLine(o: StackOutcome, done: number, total: number): string {
    const time = o.ms === undefined ? "" : ` in ${formatDuration(o.ms)}`;
    const why = o.reason === undefined ? "" : `: ${o.reason}`;
    return `fleet: [${done}/${total}] ${o.stack}: ${o.result}, changes ${formatChanges(o.counts)}${time}${why}`;
}

/** The closing table, columns aligned; a reason column when any stack has one. */
export function renderTable(rows: readonly StackOutcome[]): string {
    const withReason = rows.some((r) => r.reason !== undefined);
    const head = ["stack", "result", "changes", "time", ...(withReason ? ["reason"] : [])];
    const body = rows.map((r) => [r.stack, r.result, formatChanges(r.counts), r.ms === undefined ? "-" : formatDuration(r.ms), ...(withReason ? [r.reason ?? ""] : [])]);
    const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
    const line = (cells: readonly string[]): string =>
        cells
            .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i])))
            .join("  ")
            .trimEnd();
    return [line(head), line(widths.map((w) => "-".repeat(w))), ...body.map(line)].join("\n");
}

/** "2 succeeded, 1 failed" over the outcomes, in a fixed order. */
export function tally(rows: readonly StackOutcome[]): string {
    const order: FleetResult[] = ["succeeded", "failed", "cancelled", "not started"];
    return order
        .map((r) => [r, rows.filter((x) => x.result === r).length] as const)
        .filter(([, n]) => n > 0)
        .map(([r, n]) => `${n} ${r}`)
        .join(", ");
}
