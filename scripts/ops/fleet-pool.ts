// The bounded-parallel scheduler of npm run fleet: at most `limit` items run at once, started in
// the order of the list, each as soon as a slot frees (not in batches, so one slow stack does not
// hold the others back). A failure of one item never stops the rest; a cancel stops the starts.
export interface PoolHandlers<T, R> {
    /** Runs one item; a throw becomes `failed`'s result, never the pool's. */
    readonly run: (item: T, index: number) => Promise<R>;
    readonly failed: (item: T, index: number, error: unknown) => R;
    /** The result of an item that never started because `cancelled()` said so. */
    readonly skipped: (item: T, index: number) => R;
    readonly cancelled?: () => boolean;
}

/** Every item's result, in the list's order. */
export async function runBounded<T, R>(items: readonly T[], limit: number, h: PoolHandlers<T, R>): Promise<R[]> {
    if (!Number.isInteger(limit) || limit < 1) throw new Error(`runBounded: limit must be a whole number >= 1, not ${limit}`);
    const results = new Array<R>(items.length);
    let next = 0;
    const lane = async (): Promise<void> => {
        while (next < items.length) {
            const i = next++;
            if (h.cancelled?.() === true) {
                results[i] = h.skipped(items[i], i);
                continue;
            }
            try {
                results[i] = await h.run(items[i], i);
            } catch (e) {
                results[i] = h.failed(items[i], i, e);
            }
        }
    };
    await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
    return results;
}
