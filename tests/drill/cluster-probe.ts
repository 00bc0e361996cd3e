// What a drill needs to know about the lab cluster, asked the way an operator
// would: patronictl on a member, pg_stat_replication on the leader through the
// VIP, and `ip addr` inside each host's network namespace for the VIP holder.
import { exec, sshAsync } from "./exec";
import { CA_CERT_PATH, ETCD_TLS } from "../../core/pki";
import { labHosts } from "../e2e/harness";
import { conninfo, psqlOnce, sleep } from "./load";

export interface DrillCluster {
    readonly vip: string;
    readonly primaryPort: number;
    readonly password: string;
    /** Lab host names of the postgres members (also their Patroni names). */
    readonly members: readonly string[];
    readonly etcdHosts: readonly string[];
    readonly balancers: readonly string[];
}

export interface MemberState {
    readonly Member: string;
    readonly Role: string;
    readonly State: string;
}

/** patronictl list from the first member that answers. */
export async function memberStates(c: DrillCluster, avoid: readonly string[] = []): Promise<MemberState[] | undefined> {
    for (const h of c.members.filter((m) => !avoid.includes(m))) {
        const r = await sshAsync(h, "timeout 10 patronictl -c /etc/patroni/config.yml list -f json", { allowFail: true, timeoutSec: 20 });
        if (r.status === 0) {
            try {
                return JSON.parse(r.stdout) as MemberState[];
            } catch {
                /* try the next member */
            }
        }
    }
    return undefined;
}

export function leaderOf(states: readonly MemberState[]): string | undefined {
    const leaders = states.filter((s) => s.Role === "Leader" && s.State === "running");
    return leaders.length === 1 ? leaders[0].Member : undefined;
}

/** The members streaming from the leader, read on the leader through the VIP. */
export async function streamingMembers(c: DrillCluster): Promise<string[] | undefined> {
    const r = await psqlOnce(conninfo(c.vip, c.primaryPort), "select application_name from pg_stat_replication where state = 'streaming' order by 1", c.password, 5000);
    return r.ok ? r.out.split("\n").filter((l) => l !== "") : undefined;
}

/** The balancer whose network namespace holds the VIP, if exactly one does. */
export async function vipHolder(c: DrillCluster, exclude: readonly string[] = []): Promise<string | undefined> {
    // A powered-off host's network namespace keeps the address keepalived gave it: callers exclude it.
    const balancers = c.balancers.filter((h) => !exclude.includes(h));
    const answers = await Promise.all(balancers.map((h) => exec("ip", ["netns", "exec", h, "ip", "-4", "-o", "addr", "show"], { allowFail: true, timeoutSec: 10 })));
    const holders = balancers.filter((_, i) => answers[i].stdout.includes(` ${c.vip}/`));
    return holders.length === 1 ? holders[0] : undefined;
}

/** Patroni's ttl and loop_wait (s) as the DCS holds them. */
export async function patroniTimings(c: DrillCluster): Promise<{ ttl: number; loopWait: number }> {
    for (const h of c.members) {
        const r = await sshAsync(h, "timeout 10 patronictl -c /etc/patroni/config.yml show-config", { allowFail: true, timeoutSec: 20 });
        const ttl = /^ttl: (\d+)$/m.exec(r.stdout);
        const loopWait = /^loop_wait: (\d+)$/m.exec(r.stdout);
        if (ttl && loopWait) return { ttl: Number(ttl[1]), loopWait: Number(loopWait[1]) };
    }
    throw new Error("drill: cannot read Patroni's ttl and loop_wait from any member");
}

/**
 * Waits until the whole cluster is healthy: one leader, every other member a
 * streaming replica, the VIP held by one balancer and answering writes.
 * Returns the leader. A drill never starts on a degraded cluster.
 */
export async function waitHealthy(c: DrillCluster, timeoutSec: number, log: (s: string) => void = () => undefined): Promise<string> {
    const deadline = Date.now() + timeoutSec * 1000;
    let last = "";
    while (Date.now() < deadline) {
        const states = await memberStates(c);
        const leader = states && leaderOf(states);
        const streaming = leader ? await streamingMembers(c) : undefined;
        const expected = c.members.filter((m) => m !== leader);
        const holder = await vipHolder(c);
        const now = `leader=${leader ?? "-"} streaming=${streaming?.join(",") ?? "-"} vip=${holder ?? "-"}`;
        if (now !== last) log(`  cluster: ${now}`);
        last = now;
        if (leader && streaming && expected.every((m) => streaming.includes(m)) && holder) return leader;
        await sleep(1000);
    }
    throw new Error(`drill: the cluster is not healthy after ${timeoutSec} s (${last})`);
}

/** Resolves with the epoch ms at which `member` streams from the leader again. */
export async function waitStreaming(c: DrillCluster, member: string, timeoutSec: number): Promise<number> {
    const deadline = Date.now() + timeoutSec * 1000;
    while (Date.now() < deadline) {
        const s = await streamingMembers(c);
        if (s?.includes(member)) return Date.now();
        await sleep(500);
    }
    throw new Error(`drill: ${member} is not streaming again after ${timeoutSec} s`);
}

/** The host whose etcd member is the raft leader, as `etcdctl endpoint status --cluster` on `from` reports it. */
export async function etcdLeaderHost(from: string): Promise<string | undefined> {
    const tls = `--cacert=${CA_CERT_PATH} --cert=${ETCD_TLS.cert} --key=${ETCD_TLS.key}`;
    const r = await sshAsync(from, `ETCDCTL_API=3 timeout 20 etcdctl --endpoints=https://127.0.0.1:2379 ${tls} endpoint status --cluster -w json`, { allowFail: true, timeoutSec: 30 });
    // A member that is down makes etcdctl exit 1 after printing the others' status.
    if (!r.stdout.trim().startsWith("[")) return undefined;
    const rows = JSON.parse(r.stdout) as { Endpoint: string; Status: { header: { member_id: number }; leader: number } }[];
    // uint64 ids parse to doubles: equal ids stay equal, which is all this compares.
    const leader = rows.find((x) => x.Status.header.member_id === x.Status.leader);
    if (!leader) return undefined;
    const addr = new URL(leader.Endpoint).hostname;
    return labHosts().hosts.find((h) => h.address === addr)?.name;
}

export { labVerb } from "./exec";
