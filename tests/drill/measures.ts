// Pure measurements of one drill run, from what the client and the sampler saw.
import { WriteAttempt } from "./load";

/**
 * RTO: from the fault to the first acknowledged write after the outage it caused.
 * The outage starts at the first failed write that started after the fault; with no
 * failed write there was no outage and the RTO is 0. Seconds.
 */
export function rtoSeconds(attempts: readonly WriteAttempt[], faultAt: number, until = Infinity): number {
    const after = attempts.filter((a) => a.start >= faultAt && a.start <= until);
    const firstFail = after.find((a) => !a.ok);
    if (firstFail === undefined) return 0;
    const back = after.find((a) => a.ok && a.start > firstFail.start);
    if (back === undefined) return Infinity;
    return (back.end - faultAt) / 1000;
}

/**
 * The write outage a planned event caused, as the client saw it: from the last
 * acknowledged write before the first failed one to the first acknowledged write
 * after it. For a switchover, whose request takes a moment before it acts. Seconds.
 */
export function outageSeconds(attempts: readonly WriteAttempt[], faultAt: number): number {
    const firstFail = attempts.find((a) => !a.ok && a.start >= faultAt);
    if (firstFail === undefined) return 0;
    const before = attempts.filter((a) => a.ok && a.end <= firstFail.start).pop();
    const back = attempts.find((a) => a.ok && a.start > firstFail.start);
    if (back === undefined) return Infinity;
    return (back.end - (before?.end ?? faultAt)) / 1000;
}

/** The longest time between two consecutive acknowledged writes in [from, until] (s). */
export function longestAckGapSeconds(attempts: readonly WriteAttempt[], from = 0, until = Infinity): number {
    // The last acknowledgement before `from` opens the window: an outage that starts with the fault counts whole.
    const before = attempts.filter((a) => a.ok && a.end < from).pop();
    const acked = [...(before ? [before.end] : []), ...attempts.filter((a) => a.ok && a.end >= from && a.end <= until).map((a) => a.end)];
    let gap = 0;
    for (let i = 1; i < acked.length; i++) gap = Math.max(gap, acked[i] - acked[i - 1]);
    return gap / 1000;
}

export function failedWrites(attempts: readonly WriteAttempt[], from: number, until = Infinity): number {
    return attempts.filter((a) => !a.ok && a.start >= from && a.start <= until).length;
}

/** Acknowledged ids the new leader does not hold. */
export function lostAcknowledged(acked: readonly number[], onLeader: ReadonlySet<number>): number[] {
    return acked.filter((id) => !onLeader.has(id));
}

/** One sampler tick: each member's answer (true = a primary, accepting writes; false = a replica; undefined = no answer). */
export interface RoleSample {
    readonly at: number;
    readonly primary: Readonly<Record<string, boolean | undefined>>;
}

/** Moments (sampler ticks) when two or more members accepted writes at once. */
export function splitBrainMoments(samples: readonly RoleSample[]): number {
    return samples.filter((s) => Object.values(s.primary).filter((p) => p === true).length >= 2).length;
}

/**
 * The stretches of at least `minMs` in which no member accepted writes, each after a tick where
 * one did (a switchover, or a restart of the member leading at the time, is one each; a stretch
 * still open at the last tick counts too). Shorter gaps are the sampler's own hiccups.
 */
export function writePauses(samples: readonly RoleSample[], minMs: number): { from: number; to: number }[] {
    const out: { from: number; to: number }[] = [];
    let seenPrimary = false;
    let gapFrom: number | undefined;
    const close = (to: number) => {
        if (gapFrom !== undefined && to - gapFrom >= minMs) out.push({ from: gapFrom, to });
        gapFrom = undefined;
    };
    for (const s of samples) {
        const any = Object.values(s.primary).some((p) => p === true);
        if (any) {
            close(s.at);
            seenPrimary = true;
        } else if (seenPrimary && gapFrom === undefined) gapFrom = s.at;
    }
    if (samples.length > 0) close(samples[samples.length - 1].at);
    return out;
}

export interface RunFigures {
    rto_s: number;
    lost_acked: number;
    split_brain: number;
    recovery_s: number;
    [extra: string]: number | boolean | string;
}

export interface ScenarioSummary {
    runs: RunFigures[];
    median_rto_s: number;
    worst_rto_s: number;
}

export function median(xs: readonly number[]): number {
    const s = [...xs].sort((a, b) => a - b);
    if (s.length === 0) return NaN;
    const m = Math.floor(s.length / 2);
    return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function summarise(runs: readonly RunFigures[]): ScenarioSummary {
    const rtos = runs.map((r) => r.rto_s);
    return { runs: [...runs], median_rto_s: round(median(rtos)), worst_rto_s: round(Math.max(...rtos)) };
}

export const round = (x: number, digits = 2): number => (Number.isFinite(x) ? Math.round(x * 10 ** digits) / 10 ** digits : x);

/** The table `npm run drill` prints. */
export function formatTable(results: Readonly<Record<string, ScenarioSummary>>): string {
    const rows = [["scenario", "runs", "median RTO s", "worst RTO s", "lost acked", "split brain", "median recovery s", "worst recovery s"]];
    for (const [name, s] of Object.entries(results)) {
        const rec = s.runs.map((r) => r.recovery_s);
        rows.push([
            name,
            String(s.runs.length),
            s.median_rto_s.toFixed(1),
            s.worst_rto_s.toFixed(1),
            String(s.runs.reduce((n, r) => n + r.lost_acked, 0)),
            String(s.runs.reduce((n, r) => n + r.split_brain, 0)),
            round(median(rec), 1).toFixed(1),
            round(Math.max(...rec), 1).toFixed(1),
        ]);
    }
    const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
    return rows.map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join("  ")).join("\n");
}
