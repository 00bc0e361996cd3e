// Tuning profiles (pgha:patroni.profile): one choice sets every timer that
// decides how fast a failure is seen and acted on, so they stay coherent.
// Patroni's leader-key ttl is the floor of an unplanned failover; HAProxy's
// checks and keepalived's check decide how fast traffic follows.

export const PROFILE_NAMES = ["default", "fast"] as const;
export type ProfileName = (typeof PROFILE_NAMES)[number];

export interface HaproxyCheckTiming {
    /** Check interval while a server is up and stable (ms). */
    readonly interMs: number;
    /** Interval after a first failed check, until fall is reached (ms). */
    readonly fastinterMs: number;
    /** Interval while a server is down (ms). */
    readonly downinterMs: number;
    readonly fall: number;
    readonly rise: number;
}

export interface KeepalivedCheckTiming {
    /** Seconds between runs of the HAProxy check script. */
    readonly interval: number;
    readonly fall: number;
    readonly rise: number;
    /**
     * Seconds between the VIP holder's gratuitous ARPs. A node cut off from its peers claims
     * the VIP too; when the link heals, a client can be left with that node's MAC for the
     * VIP (seen in the isolate-leader drill: writes failed for ~30 s, until the client's
     * neighbour entry expired). The holder's periodic announcement corrects it within this.
     */
    readonly garpRefresh: number;
}

export interface TimingProfile {
    readonly patroni: { readonly ttl: number; readonly loopWait: number; readonly retryTimeout: number };
    /**
     * PostgreSQL's wal_sender_timeout. A leader cut off from the network demotes itself
     * after retry_timeout, and its shutdown waits for the walsenders to hand the shutdown
     * checkpoint to replicas it can no longer reach, for up to this long. The demotion must
     * end before ttl expires and another member may lead: Patroni 3.0.2 renews its stale
     * leader key while a demotion is still running, so a partition that heals after a new
     * leader was elected would otherwise bring the old one back as a second primary
     * (seen in the isolate-leader drill with the default 60 s).
     * Bound: retry_timeout + loop_wait + this < ttl.
     */
    readonly walSenderTimeoutSec: number;
    /**
     * PostgreSQL's wal_retrieve_retry_interval (ms): how long a standby waits before it asks
     * for WAL again after a failed attempt. A replica re-pointed at a new leader usually asks
     * a moment before the promotion finishes, fails once, and then waited PostgreSQL's 5 s
     * default; in strict synchronous mode no commit is acknowledged meanwhile (seen in the
     * sync-kill-leader drill: 5 s of its outage).
     */
    readonly walRetrieveRetryIntervalMs: number;
    readonly haproxy: HaproxyCheckTiming;
    readonly keepalived: KeepalivedCheckTiming;
}

// HAProxy: rise 1, because Patroni's /primary answers 200 only on the holder of the
// leader key, so one good answer is proof enough; a down server is re-checked every
// downinter, which is how soon a new leader takes traffic.
export const PROFILES: Readonly<Record<ProfileName, TimingProfile>> = {
    // Patroni's own defaults; a killed leader is replaced within ~ttl.
    default: {
        patroni: { ttl: 30, loopWait: 10, retryTimeout: 10 },
        walSenderTimeoutSec: 8,
        walRetrieveRetryIntervalMs: 1000,
        haproxy: { interMs: 1000, fastinterMs: 500, downinterMs: 500, fall: 2, rise: 1 },
        keepalived: { interval: 2, fall: 2, rise: 2, garpRefresh: 2 },
    },
    // Patroni's smallest accepted ttl (20) with loop_wait + 2 x retry_timeout = 15 < ttl,
    // so a slow DCS round trip does not demote a healthy leader.
    fast: {
        patroni: { ttl: 20, loopWait: 5, retryTimeout: 5 },
        walSenderTimeoutSec: 5,
        walRetrieveRetryIntervalMs: 500,
        haproxy: { interMs: 500, fastinterMs: 250, downinterMs: 250, fall: 2, rise: 1 },
        keepalived: { interval: 1, fall: 2, rise: 1, garpRefresh: 1 },
    },
};

/** HAProxy's time syntax: whole seconds as "2s", the rest in milliseconds. */
export function haproxyTime(ms: number): string {
    return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}
