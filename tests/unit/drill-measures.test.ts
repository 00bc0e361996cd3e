import { WriteAttempt } from "../drill/load";
import { RoleSample, longestAckGapSeconds, lostAcknowledged, outageSeconds, rtoSeconds, splitBrainMoments, summarise, writePauses } from "../drill/measures";

// Writes every 100 ms from t=0; `down` = [from, to) in ms during which every attempt fails.
function writes(untilMs: number, down: [number, number]): WriteAttempt[] {
    const out: WriteAttempt[] = [];
    for (let t = 0, id = 1; t < untilMs; t += 100, id++) out.push({ id, start: t, end: t + 20, ok: !(t >= down[0] && t < down[1]) });
    return out;
}

describe("drill measurements", () => {
    const a = writes(10000, [3000, 6000]);
    test("RTO runs from the fault to the first acknowledged write after the outage", () => {
        expect(rtoSeconds(a, 2950)).toBeCloseTo((6020 - 2950) / 1000, 3);
        expect(rtoSeconds(writes(5000, [99999, 99999]), 1000)).toBe(0);
    });
    test("a planned event's outage runs from the last acknowledgement before it", () => {
        expect(outageSeconds(a, 1000)).toBeCloseTo((6020 - 2920) / 1000, 3);
    });
    test("the longest gap counts an outage that begins at the fault", () => {
        expect(longestAckGapSeconds(a, 3000)).toBeCloseTo((6020 - 2920) / 1000, 3);
        expect(longestAckGapSeconds(a, 0)).toBeCloseTo(3.1, 3);
    });
    test("lost acknowledged writes and split-brain moments", () => {
        expect(lostAcknowledged([1, 2, 3, 4], new Set([1, 2, 4]))).toEqual([3]);
        expect(
            splitBrainMoments([
                { at: 0, primary: { a: true, b: false } },
                { at: 250, primary: { a: true, b: true } },
                { at: 500, primary: { a: undefined, b: true } },
            ]),
        ).toBe(1);
    });
    test("write pauses: stretches of at least minMs with no primary, after one was seen; sampler hiccups are not pauses", () => {
        // Ticks every 250 ms; who answers "primary" at each: "-" nobody (restarting or demoted).
        const ticks = (who: string[]): RoleSample[] => who.map((w, i) => ({ at: i * 250, primary: { a: w === "a" ? true : w === "-" ? undefined : false, b: w === "b" } }));
        // The old switch to vip-manager: a switchover a -> b, then b restarted in place: two pauses.
        const twice = ticks(["a", "a", "-", "-", "-", "-", "b", "b", "b", "-", "-", "-", "-", "b"]);
        expect(writePauses(twice, 750)).toEqual([
            { from: 500, to: 1500 },
            { from: 2250, to: 3250 },
        ]);
        // One restart in place while the VIP moves: one pause. One missing answer: none.
        expect(writePauses(ticks(["a", "-", "-", "-", "-", "a", "a"]), 750)).toHaveLength(1);
        expect(writePauses(ticks(["a", "-", "a", "a"]), 750)).toEqual([]);
        // Nobody primary from the start (the sampler connecting) is not a pause; still none at the end is.
        expect(writePauses(ticks(["-", "-", "-", "-", "a"]), 750)).toEqual([]);
        expect(writePauses(ticks(["a", "-", "-", "-", "-"]), 750)).toEqual([{ from: 250, to: 1000 }]);
    });
    test("summary: median and worst RTO", () => {
        const run = (rto_s: number) => ({ rto_s, lost_acked: 0, split_brain: 0, recovery_s: 1 });
        expect(summarise([run(3), run(1), run(2)])).toMatchObject({ median_rto_s: 2, worst_rto_s: 3 });
    });
});
