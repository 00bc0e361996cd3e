// `npm run status`: what each node saw (server/pgha-status.py's JSON) merged into one report,
// and that report as a few readable lines. Pure: scripts/ops/status.ts gathers the answers;
// tests/unit/status-report.test.ts feeds it fixtures (a healthy cluster, a failover under way).
import { columns, formatBytes, utc } from "./backup-report";

// ---------------------------------------------------------------------------
// Inputs: one node's answer (see server/pgha-status.py)

export type Probe<T> = T | { readonly error: string };
export const failed = (p: object | undefined): p is { readonly error: string } => p !== undefined && "error" in p;

export interface PatroniMember {
    readonly name: string;
    readonly role: string;
    readonly state: string;
    readonly timeline: number | null;
    /** Replay lag in bytes; null for the leader or when Patroni does not know. */
    readonly lag: number | null;
}

export interface EtcdEndpoint {
    readonly memberId: string;
    readonly leaderId: string;
    readonly raftTerm: number | null;
    readonly version: string | null;
    readonly errors: readonly string[];
}

export interface HaproxyServer {
    readonly proxy: string;
    readonly server: string;
    readonly status: string;
}

export interface NodeAnswer {
    readonly node: string;
    readonly vip?: Probe<{ held: boolean }>;
    readonly units?: Probe<Record<string, string>>;
    readonly patroni?: Probe<{ members: readonly PatroniMember[] }>;
    readonly etcd?: Probe<EtcdEndpoint>;
    readonly haproxy?: Probe<{ servers: readonly HaproxyServer[] }>;
    readonly certs?: readonly ({ path: string; notAfter: string } | { path: string; error: string })[];
}

/** A node as asked: its answer, or why there is none (unreachable, the script failed). */
export type NodeResult =
    { readonly node: string; readonly roles: readonly string[]; readonly answer: NodeAnswer } | { readonly node: string; readonly roles: readonly string[]; readonly problem: string };

/** The last backup, as `npm run backup -- info` reports it (absent without pgha:backup). */
export interface BackupLine {
    readonly newest: { readonly label: string; readonly type: string; readonly stop: string } | null;
    readonly status: string;
    readonly archiving: string;
}

export interface StatusInput {
    readonly stack: string;
    readonly cluster: string;
    readonly checkedAt: string;
    /** The PostgreSQL members the stack lists. */
    readonly members: readonly string[];
    readonly vip: string | null;
    readonly results: readonly NodeResult[];
    readonly backup?: BackupLine | { readonly problem: string };
}

// ---------------------------------------------------------------------------
// The report (`--json`)

export const STATUS_SCHEMA_VERSION = 1;

export interface CertificateExpiry {
    readonly node: string;
    readonly path: string;
    readonly notAfter: string | null;
    readonly daysLeft: number | null;
    readonly error?: string;
}

export interface StatusReport {
    readonly schemaVersion: typeof STATUS_SCHEMA_VERSION;
    readonly stack: string;
    readonly cluster: string;
    readonly checkedAt: string;
    readonly unreachable: readonly { node: string; problem: string }[];
    /** Patroni's members as the first PostgreSQL node that answered sees them; views of other nodes that differ are problems. */
    readonly patroni: { readonly seenFrom: string | null; readonly members: readonly (PatroniMember & { readonly listed: boolean })[] };
    readonly vip: { readonly address: string; readonly holders: readonly string[] } | null;
    readonly etcd: {
        readonly leader: string | null;
        readonly expected: number;
        readonly members: readonly { node: string; healthy: boolean; leader: boolean; raftTerm: number | null; version: string | null; error?: string }[];
    };
    readonly haproxy: readonly { node: string; servers?: readonly HaproxyServer[]; error?: string }[];
    readonly certificates: readonly CertificateExpiry[];
    readonly units: Readonly<Record<string, Readonly<Record<string, string>>>>;
    readonly backup: StatusInput["backup"] | null;
    /** Everything that is not as it should be, one line each; empty when healthy. */
    readonly problems: readonly string[];
}

/** A certificate closer than this to its end is a problem (pulumi up renews at 30 days). */
export const CERT_WARN_DAYS = 21;
const DAY_MS = 86_400_000;

export function statusReport(input: StatusInput): StatusReport {
    const problems: string[] = [];
    const answered = input.results.flatMap((r) => ("answer" in r ? [r] : []));
    const unreachable = input.results.flatMap((r) => ("problem" in r ? [{ node: r.node, problem: r.problem }] : []));
    for (const u of unreachable) problems.push(`${u.node}: ${u.problem}`);

    // Patroni: the first view; another node's view with another leader is shown as a problem (a failover under way).
    const views = answered.flatMap((r) => (r.answer.patroni !== undefined ? [{ node: r.node, view: r.answer.patroni }] : []));
    for (const v of views) if (failed(v.view)) problems.push(`${v.node}: Patroni's REST API: ${v.view.error}`);
    const good = views.flatMap((v) => (failed(v.view) ? [] : [{ node: v.node, members: v.view.members }]));
    const leaderOf = (ms: readonly PatroniMember[]): string =>
        ms
            .filter((m) => m.role === "leader" || m.role === "standby_leader")
            .map((m) => m.name)
            .join(",") || "none";
    const first = good[0];
    const members = first?.members ?? [];
    if (first !== undefined) {
        const leaders = members.filter((m) => m.role === "leader");
        if (leaders.length !== 1) problems.push(`Patroni: ${leaders.length} leaders (seen by ${first.node})`);
        for (const v of good.slice(1)) if (leaderOf(v.members) !== leaderOf(members)) problems.push(`Patroni: ${v.node} sees leader ${leaderOf(v.members)}, ${first.node} sees ${leaderOf(members)}`);
        for (const name of input.members) if (!members.some((m) => m.name === name)) problems.push(`Patroni: member ${name} is not in the cluster`);
        for (const m of members) if (m.role !== "leader" && !["streaming", "running"].includes(m.state)) problems.push(`Patroni: ${m.name} is ${m.state}`);
        const tl = leaders.length === 1 ? leaders[0].timeline : null;
        for (const m of members) if (tl !== null && m.timeline !== null && m.timeline !== tl) problems.push(`Patroni: ${m.name} is on timeline ${m.timeline}, the leader on ${tl}`);
    } else if (input.members.length > 0) problems.push("Patroni: no PostgreSQL node answered");

    // VIP: every node that answered says whether it holds it.
    let vip: StatusReport["vip"] = null;
    if (input.vip !== null) {
        const holders = answered.filter((r) => r.answer.vip !== undefined && !failed(r.answer.vip) && r.answer.vip.held).map((r) => r.node);
        vip = { address: input.vip, holders };
        if (holders.length !== 1) problems.push(`VIP ${input.vip}: held by ${holders.length === 0 ? "no node that answered" : holders.join(" and ")}`);
    }

    // etcd: each member's own endpoint; the leader is the member whose id the others name.
    const etcdAnswers = answered.flatMap((r) => (r.answer.etcd !== undefined ? [{ node: r.node, e: r.answer.etcd }] : []));
    const ids = new Map(etcdAnswers.flatMap((a) => (failed(a.e) ? [] : [[a.e.memberId, a.node] as const])));
    const leaderIds = [...new Set(etcdAnswers.flatMap((a) => (failed(a.e) ? [] : [a.e.leaderId])))];
    const etcdLeader = leaderIds.length === 1 ? (ids.get(leaderIds[0]) ?? `member ${leaderIds[0]}`) : null;
    const etcdMembers = etcdAnswers.map((a) =>
        failed(a.e)
            ? { node: a.node, healthy: false, leader: false, raftTerm: null, version: null, error: a.e.error }
            : {
                  node: a.node,
                  healthy: a.e.errors.length === 0,
                  leader: a.e.memberId === a.e.leaderId,
                  raftTerm: a.e.raftTerm,
                  version: a.e.version,
                  ...(a.e.errors.length > 0 ? { error: a.e.errors.join("; ") } : {}),
              },
    );
    for (const m of etcdMembers) if (!m.healthy) problems.push(`etcd on ${m.node}: ${m.error ?? "unhealthy"}`);
    const etcdExpected = input.results.filter((r) => r.roles.includes("etcd")).length;
    if (etcdExpected > 0 && etcdLeader === null) problems.push(`etcd: ${leaderIds.length === 0 ? "no leader seen" : `members name different leaders (${leaderIds.join(", ")})`}`);

    const haproxy = answered.flatMap((r): StatusReport["haproxy"][number][] => {
        const h = r.answer.haproxy;
        if (h === undefined) return [];
        if (failed(h)) {
            problems.push(`HAProxy on ${r.node}: ${h.error}`);
            return [{ node: r.node, error: h.error }];
        }
        const up = h.servers.filter((s) => s.proxy === "primary" && s.status.startsWith("UP"));
        if (up.length !== 1) problems.push(`HAProxy on ${r.node}: ${up.length} servers UP for the primary port`);
        return [{ node: r.node, servers: h.servers }];
    });

    const now = Date.parse(input.checkedAt);
    const certificates: CertificateExpiry[] = answered.flatMap((r) =>
        (r.answer.certs ?? []).map((c) => {
            if ("error" in c) return { node: r.node, path: c.path, notAfter: null, daysLeft: null, error: c.error };
            return { node: r.node, path: c.path, notAfter: c.notAfter, daysLeft: Math.floor((Date.parse(c.notAfter) - now) / DAY_MS) };
        }),
    );
    for (const c of certificates) {
        if (c.error !== undefined) problems.push(`${c.node}: ${c.path}: ${c.error}`);
        else if (c.daysLeft !== null && c.daysLeft < CERT_WARN_DAYS) problems.push(`${c.node}: ${c.path} expires in ${c.daysLeft} days (${c.notAfter}); pulumi up renews it`);
    }

    const units: Record<string, Record<string, string>> = {};
    for (const r of answered) {
        const u = r.answer.units;
        if (u === undefined || failed(u)) continue;
        units[r.node] = { ...u };
        for (const [name, state] of Object.entries(u)) if (state !== "active") problems.push(`${r.node}: ${name} is ${state}`);
    }
    const backup = input.backup ?? null;
    if (backup !== null && "problem" in backup) problems.push(`backup: ${backup.problem}`);
    else if (backup !== null && backup.archiving !== "current") problems.push(`backup: archiving is ${backup.archiving}`);

    return {
        schemaVersion: STATUS_SCHEMA_VERSION,
        stack: input.stack,
        cluster: input.cluster,
        checkedAt: input.checkedAt,
        unreachable,
        patroni: { seenFrom: first?.node ?? null, members: members.map((m) => ({ ...m, listed: input.members.includes(m.name) })) },
        vip,
        etcd: { leader: etcdLeader, expected: etcdExpected, members: etcdMembers },
        haproxy,
        certificates,
        units,
        backup,
        problems,
    };
}

// ---------------------------------------------------------------------------
// Rendering

/** "replica lab2,lab3": the servers UP in one of HAProxy's services. */
const upIn = (servers: readonly HaproxyServer[], proxy: string): string => {
    const mine = servers.filter((s) => s.proxy === proxy);
    const up = mine.filter((s) => s.status.startsWith("UP")).map((s) => s.server);
    return `${proxy} ${up.join(",") || "none"}`;
};

/** The few lines of `npm run status`. */
export function renderStatus(r: StatusReport): string {
    const out = [`stack ${r.stack}, cluster ${r.cluster}, ${utc(r.checkedAt)} UTC`];
    const rows = [
        ["member", "role", "state", "TL", "lag"],
        ...r.patroni.members.map((m) => [m.name + (m.listed ? "" : " (not listed)"), m.role, m.state, m.timeline === null ? "-" : String(m.timeline), m.lag === null ? "-" : formatBytes(m.lag)]),
    ];
    if (r.patroni.seenFrom !== null) out.push(...columns(rows, [3, 4]), `  (Patroni as ${r.patroni.seenFrom} sees it)`);
    if (r.vip !== null) out.push(`VIP ${r.vip.address}: ${r.vip.holders.length > 0 ? `on ${r.vip.holders.join(", ")}` : "on no node that answered"}`);
    if (r.etcd.expected > 0) {
        const healthy = r.etcd.members.filter((m) => m.healthy);
        const version = [...new Set(healthy.map((m) => m.version))].join("/");
        const term = healthy.find((m) => m.leader)?.raftTerm ?? healthy[0]?.raftTerm;
        out.push(`etcd: ${healthy.length}/${r.etcd.expected} healthy, leader ${r.etcd.leader ?? "unknown"}${term != null ? `, term ${term}` : ""}${version ? `, ${version}` : ""}`);
    }
    for (const h of r.haproxy) {
        if (h.servers === undefined) continue;
        const proxies = [...new Set(h.servers.map((s) => s.proxy))];
        out.push(`HAProxy ${h.node}: ${proxies.map((p) => upIn(h.servers!, p)).join("; ")}`);
    }
    const certs = r.certificates.filter((c) => c.daysLeft !== null).sort((a, b) => a.daysLeft! - b.daysLeft!);
    if (certs.length > 0) out.push(`certificates: first to expire ${certs[0].node}:${certs[0].path} on ${certs[0].notAfter!.slice(0, 10)} (${certs[0].daysLeft} days)`);
    const b = r.backup;
    if (b !== null && b !== undefined) {
        if ("problem" in b) out.push(`backup: ${b.problem}`);
        else out.push(`backup: ${b.newest === null ? "none yet" : `newest ${b.newest.label} (${b.newest.type}) ended ${utc(b.newest.stop)} UTC`}; ${b.status}; archiving ${b.archiving}`);
    }
    out.push(r.problems.length === 0 ? "healthy: no problem seen" : `${r.problems.length} problem${r.problems.length === 1 ? "" : "s"}:`);
    for (const p of r.problems) out.push(`  ${p}`);
    return `${out.join("\n")}\n`;
}
