// Cross-field rules: things no single key can decide. They run on zod's parsed
// value even when single-field checks failed (the value is then "dirty"), so
// each rule skips values that are already known to be malformed.

import { NAME_RE, PATRONI_TIMING_RANGES, REPAIR_KEY_RE, ParsedConfig, ParsedNode, absolutePath, dataDirProblem, normalisePath, quote as q } from "./config-schema";
import { KeyPath, formatKeyPath as key } from "./config-errors";
import { effectiveEtcdDataDir, effectivePostgresBinDir, effectivePostgresDataDir, integerParameter, normaliseRoles } from "./config-build";
import { minWalSenders, walSendersFor } from "./topology";
import { isIPv4, isNetworkOrBroadcast, sameSubnet, subnetOf } from "./net";
import { Role } from "./spec";
import { databaseRoleProblems } from "./config-databases";

export interface Problem {
    readonly path: KeyPath;
    readonly message: string;
}

const MAX_ETCD_MEMBERS = 7;

interface IndexedNode {
    readonly index: number;
    readonly node: ParsedNode;
    readonly roles: readonly Role[];
}

const nodePath = (i: number, ...rest: (string | number)[]): KeyPath => ["nodes", i, ...rest];
/** A value as messages show it: bare when well-formed, else quoted (and cut), so a bad one cannot break the message. */
const shown = (s: string, wellFormed: RegExp = NAME_RE): string => (wellFormed.test(s) ? s : q(s));
const label = (n: IndexedNode): string => `${key(nodePath(n.index))} (${shown(n.node.name)})`;

function indexed(cfg: ParsedConfig): IndexedNode[] {
    return cfg.nodes.map((node, index) => ({ index, node, roles: normaliseRoles(node.roles) }));
}

function withRole(nodes: readonly IndexedNode[], role: Role): IndexedNode[] {
    return nodes.filter((n) => n.roles.includes(role));
}

function duplicates(nodes: readonly IndexedNode[]): Problem[] {
    const out: Problem[] = [];
    for (const field of ["name", "address"] as const) {
        const firstSeen = new Map<string, number>();
        for (const n of nodes) {
            const value = n.node[field];
            const first = firstSeen.get(value);
            if (first === undefined) firstSeen.set(value, n.index);
            else out.push({ path: nodePath(n.index, field), message: `${q(value)} is already used by ${key(nodePath(first))}` });
        }
    }
    return out;
}

function roleCounts(cfg: ParsedConfig, nodes: readonly IndexedNode[]): Problem[] {
    const out: Problem[] = [];
    const postgres = withRole(nodes, "postgres");
    if (postgres.length === 0) {
        out.push({ path: ["nodes"], message: "no node has the postgres role; at least one is needed (two or more for failover)" });
    } else if (postgres.every((n) => n.node.patroniTags.nofailover)) {
        out.push({
            path: ["nodes"],
            message: "every postgres node has patroniTags.nofailover; at least one must be able to become the leader",
        });
    }
    const etcd = withRole(nodes, "etcd").length;
    if (etcd === 0) {
        out.push({ path: ["nodes"], message: "no node has the etcd role; etcd is Patroni's DCS (use 1, 3, 5 or 7 members)" });
    } else if (etcd > MAX_ETCD_MEMBERS) {
        out.push({ path: ["nodes"], message: `${etcd} nodes have the etcd role; at most ${MAX_ETCD_MEMBERS} are supported` });
    } else if (etcd % 2 === 0 && !cfg.etcd.allowEvenMembers) {
        out.push({
            path: ["nodes"],
            message:
                `${etcd} nodes have the etcd role; an even count tolerates no more failures than ${etcd - 1} ` +
                `and can split a vote: use an odd count or set ${key(["etcd", "allowEvenMembers"])} true`,
        });
    }
    return out;
}

function vipRules(cfg: ParsedConfig, nodes: readonly IndexedNode[]): Problem[] {
    const out: Problem[] = [];
    const keepalived = withRole(nodes, "keepalived");
    for (const n of keepalived) {
        if (!n.roles.includes("haproxy")) {
            out.push({
                path: nodePath(n.index, "roles"),
                message: "keepalived needs haproxy on the same node (the VIP follows a healthy local HAProxy)",
            });
        }
    }
    const vip = cfg.vip;
    if (vip?.manager === "vip-manager") return [...vipManagerRules(vip, nodes)];
    if (vip === undefined) {
        if (keepalived.length > 0) {
            out.push({
                path: ["vip"],
                message: `missing, but ${keepalived.map(label).join(", ")} ${keepalived.length === 1 ? "has" : "have"} the keepalived role`,
            });
        }
        return out;
    }
    if (keepalived.length < 2) {
        out.push({ path: ["vip"], message: `needs at least 2 nodes with the keepalived role (found ${keepalived.length})` });
    }
    if (!isIPv4(vip.address)) return out;
    for (const n of nodes) {
        if (n.node.address === vip.address) {
            out.push({ path: ["vip", "address"], message: `${q(vip.address)} is also the address of ${label(n)}` });
        }
    }
    const prefixOk = Number.isInteger(vip.prefixLength) && vip.prefixLength >= 1 && vip.prefixLength <= 32;
    if (!prefixOk) return out;
    if (isNetworkOrBroadcast(vip.address, vip.prefixLength)) {
        out.push({
            path: ["vip", "address"],
            message: `${q(vip.address)} is the network or broadcast address of ${subnetOf(vip.address, vip.prefixLength)}`,
        });
    }
    for (const n of keepalived) {
        if (isIPv4(n.node.address) && !sameSubnet(n.node.address, vip.address, vip.prefixLength)) {
            out.push({
                path: nodePath(n.index, "address"),
                message:
                    `${q(n.node.address)} is outside the VIP's subnet ${subnetOf(vip.address, vip.prefixLength)} ` +
                    `(${key(["vip", "address"])}, ${key(["vip", "prefixLength"])}); every keepalived node must share it`,
            });
        }
    }
    return out;
}

/** pgha:vip.manager vip-manager: the VIP follows the Patroni leader, so only PostgreSQL nodes hold it, and nothing else may claim it. */
function vipManagerRules(vip: NonNullable<ParsedConfig["vip"]>, nodes: readonly IndexedNode[]): Problem[] {
    const out: Problem[] = [];
    const why = `${key(["vip", "manager"])} is vip-manager: the VIP follows the Patroni leader and clients reach PostgreSQL (and PgBouncer) on it directly`;
    for (const n of nodes) {
        if (n.roles.includes("keepalived"))
            out.push({ path: nodePath(n.index, "roles"), message: `has the keepalived role, which would also claim the VIP; ${why}: remove the role, or set ${key(["vip", "manager"])} keepalived` });
        if (n.roles.includes("haproxy"))
            out.push({ path: nodePath(n.index, "roles"), message: `has the haproxy role, which the VIP would not lead to; ${why}: remove the role, or set ${key(["vip", "manager"])} keepalived` });
    }
    if (!isIPv4(vip.address)) return out;
    for (const n of nodes) {
        if (n.node.address === vip.address) out.push({ path: ["vip", "address"], message: `${q(vip.address)} is also the address of ${label(n)}` });
    }
    if (!(Number.isInteger(vip.prefixLength) && vip.prefixLength >= 1 && vip.prefixLength <= 32)) return out;
    if (isNetworkOrBroadcast(vip.address, vip.prefixLength)) {
        out.push({ path: ["vip", "address"], message: `${q(vip.address)} is the network or broadcast address of ${subnetOf(vip.address, vip.prefixLength)}` });
    }
    for (const n of withRole(nodes, "postgres")) {
        if (isIPv4(n.node.address) && !sameSubnet(n.node.address, vip.address, vip.prefixLength)) {
            out.push({
                path: nodePath(n.index, "address"),
                message: `${q(n.node.address)} is outside the VIP's subnet ${subnetOf(vip.address, vip.prefixLength)}; with vip-manager every postgres node may hold the VIP, so each must share it`,
            });
        }
    }
    return out;
}

interface Listener {
    readonly path: KeyPath;
    readonly port: number;
}

/** The ports a node listens on, each with the key that sets it. */
function listeners(cfg: ParsedConfig, n: IndexedNode): Listener[] {
    const out: Listener[] = [];
    if (n.roles.includes("postgres")) {
        out.push({ path: ["postgres", "port"], port: cfg.postgres.port });
        out.push({ path: ["patroni", "restApiPort"], port: cfg.patroni.restApiPort });
        if (cfg.pgbouncer !== undefined) out.push({ path: ["pgbouncer", "port"], port: cfg.pgbouncer.port });
    }
    if (n.roles.includes("haproxy")) {
        out.push({ path: ["haproxy", "primaryPort"], port: cfg.haproxy.primaryPort });
        out.push({ path: ["haproxy", "replicaPort"], port: cfg.haproxy.replicaPort });
        // Rendered only with synchronous mode: a port it would take is free otherwise.
        if (cfg.patroni.synchronousMode === true) out.push({ path: ["haproxy", "syncReplicaPort"], port: cfg.haproxy.syncReplicaPort });
        out.push({ path: ["haproxy", "asyncReplicaPort"], port: cfg.haproxy.asyncReplicaPort });
        out.push({ path: ["haproxy", "statsPort"], port: cfg.haproxy.statsPort });
    }
    if (n.roles.includes("etcd")) {
        out.push({ path: ["etcd", "clientPort"], port: cfg.etcd.clientPort });
        out.push({ path: ["etcd", "peerPort"], port: cfg.etcd.peerPort });
    }
    if (cfg.backup !== undefined && (n.roles.includes("postgres") || n.roles.includes("backup"))) {
        out.push({ path: ["backup", "port"], port: cfg.backup.port });
    }
    const m = cfg.monitoring;
    if (m !== undefined) {
        out.push({ path: ["monitoring", "nodeExporterPort"], port: m.nodeExporterPort });
        if (n.roles.includes("postgres")) out.push({ path: ["monitoring", "postgresExporterPort"], port: m.postgresExporterPort });
        if (m.prometheusHost === n.node.name) out.push({ path: ["monitoring", "prometheusPort"], port: m.prometheusPort });
    }
    // sshd shares the host only when SSH goes to the cluster address itself
    // (an sshHost elsewhere may be a jump host's forwarded port).
    if ((n.node.sshHost ?? n.node.address) === n.node.address) {
        const explicit = n.node.sshPort !== undefined;
        out.push({ path: explicit ? nodePath(n.index, "sshPort") : ["ssh", "port"], port: n.node.sshPort ?? cfg.ssh.port });
    }
    return out;
}

function portClashes(cfg: ParsedConfig, nodes: readonly IndexedNode[]): Problem[] {
    // One message per clashing pair of keys, listing every node where it happens.
    const clashes = new Map<string, { later: Listener; earlier: Listener; nodes: string[] }>();
    for (const n of nodes) {
        const seen: Listener[] = [];
        for (const l of listeners(cfg, n)) {
            for (const s of seen.filter((s) => s.port === l.port)) {
                const id = `${key(s.path)}|${key(l.path)}|${l.port}`;
                const entry = clashes.get(id) ?? { later: l, earlier: s, nodes: [] };
                entry.nodes.push(shown(n.node.name));
                clashes.set(id, entry);
            }
            seen.push(l);
        }
    }
    return [...clashes.values()].map(({ later, earlier, nodes: where }) => ({
        path: later.path,
        message: `${later.port} clashes with ${key(earlier.path)} on ${where.join(", ")} (both listen there)`,
    }));
}

/**
 * synchronous_mode_strict makes every commit wait for a synchronous standby: a
 * postgres node other than the leader without patroniTags.nosync. Whichever
 * node may lead (no nofailover), one must exist, or writes block forever.
 */
function strictSyncRules(cfg: ParsedConfig, nodes: readonly IndexedNode[]): Problem[] {
    if (!(cfg.patroni.synchronousMode && cfg.patroni.synchronousModeStrict)) return [];
    const path = ["patroni", "synchronousModeStrict"];
    const postgres = withRole(nodes, "postgres");
    if (postgres.length === 1) {
        return [
            {
                path,
                message: `is true, but ${shown(postgres[0].node.name)} is the only postgres node: no synchronous standby is possible, so every write would wait forever (add a replica or set it false)`,
            },
        ];
    }
    const stranded = postgres.filter((l) => !l.node.patroniTags.nofailover && !postgres.some((o) => o !== l && !o.node.patroniTags.nosync));
    if (stranded.length === 0) return [];
    return [
        {
            path,
            message:
                `is true, but while ${stranded.map((n) => shown(n.node.name)).join(" or ")} ${stranded.length === 1 ? "leads" : "lead"} no other postgres node can be its ` +
                `synchronous standby (the others have patroniTags.nosync), so every write would wait forever`,
        },
    ];
}

function patroniRules(cfg: ParsedConfig): Problem[] {
    const out: Problem[] = [];
    const { ttl, loopWait, retryTimeout, synchronousMode, synchronousModeStrict } = cfg.patroni;
    // Out-of-range values are already reported on their own key.
    const inRange = (Object.keys(PATRONI_TIMING_RANGES) as (keyof typeof PATRONI_TIMING_RANGES)[]).every((k) => {
        const [min, max] = PATRONI_TIMING_RANGES[k];
        const v = cfg.patroni[k];
        return Number.isInteger(v) && v >= min && v <= max;
    });
    if (inRange && loopWait + 2 * retryTimeout > ttl) {
        out.push({
            path: ["patroni", "ttl"],
            message: `must be at least ${key(["patroni", "loopWait"])} + 2 × ${key(["patroni", "retryTimeout"])} ` + `(${loopWait} + 2 × ${retryTimeout} = ${loopWait + 2 * retryTimeout}), got ${ttl}`,
        });
    }
    if (synchronousModeStrict && !synchronousMode) {
        out.push({
            path: ["patroni", "synchronousModeStrict"],
            message: `has no effect unless ${key(["patroni", "synchronousMode"])} is true`,
        });
    }
    return out;
}

/** Host keys are verified by default (pgha:ssh.strictHostKeys): every node needs its pinned key. */
function hostKeyRules(cfg: ParsedConfig, nodes: readonly IndexedNode[]): Problem[] {
    if (cfg.ssh.strictHostKeys === false) return [];
    return nodes
        .filter((n) => n.node.hostKey === undefined)
        .map((n) => ({
            path: nodePath(n.index, "hostKey"),
            message: `missing, and ${key(["ssh", "strictHostKeys"])} is true (find it with \`ssh-keyscan -t ed25519 ${shown(n.node.sshHost ?? n.node.address, /^[A-Za-z0-9.-]{1,253}$/)} | cut -d' ' -f2-\`)`,
        }));
}

/** `a` is `b` or lies inside it, or the other way round (both normalised). */
const overlaps = (a: string, b: string): boolean => a === b || a.startsWith(`${b}/`) || b.startsWith(`${a}/`);

function dataDirRules(cfg: ParsedConfig, nodes: readonly IndexedNode[]): Problem[] {
    const out: Problem[] = [];
    // A malformed directory is already reported on its own key (it is checked on the raw value).
    const pgOk = dataDirProblem(cfg.postgres.dataDir ?? effectivePostgresDataDir(cfg), "postgres") === undefined;
    const etcdOk = dataDirProblem(cfg.etcd.dataDir ?? effectiveEtcdDataDir(cfg), "etcd") === undefined;
    const [pg, etcd] = [effectivePostgresDataDir(cfg), effectiveEtcdDataDir(cfg)];
    // Deleting the data must never delete the binaries (nor data sit among them).
    const binRaw = effectivePostgresBinDir(cfg);
    if (typeof binRaw === "string" && absolutePath(binRaw) === undefined) {
        const bin = normalisePath(binRaw);
        for (const [ok, dir, path] of [
            [pgOk, pg, ["postgres", "dataDir"]],
            [etcdOk, etcd, ["etcd", "dataDir"]],
        ] as const) {
            if (ok && overlaps(dir, bin)) {
                out.push({
                    path,
                    message: `${q(dir)} overlaps ${key(["postgres", "binDir"])} ${q(bin)}; a data directory must neither hold the binaries nor lie inside them`,
                });
            }
        }
    }
    const shared = nodes.some((n) => n.roles.includes("postgres") && n.roles.includes("etcd"));
    if (shared && pgOk && etcdOk && overlaps(pg, etcd)) {
        out.push({ path: ["etcd", "dataDir"], message: `${q(etcd)} overlaps ${key(["postgres", "dataDir"])} ${q(pg)}` });
    }
    return out;
}

/** Parameters pgBackRest's archiving sets when pgha:backup is on. */
const ARCHIVE_PARAMETERS = ["archive_mode", "archive_command", "archive_timeout", "archive_library"];

function backupNodeRules(cfg: ParsedConfig, nodes: readonly IndexedNode[]): Problem[] {
    const out: Problem[] = [];
    const backup = cfg.backup;
    const hosts = backup === undefined ? [] : [backup.repository?.host, backup.secondRepository?.host].filter((h): h is string => typeof h === "string");
    for (const n of withRole(nodes, "backup")) {
        // The monitor role (Prometheus) may share a repository host.
        const others = n.roles.filter((r) => r !== "backup" && r !== "monitor");
        if (others.length > 0) {
            out.push({
                path: nodePath(n.index, "roles"),
                message: `the backup role must be the node's only role (a repository host runs no etcd, PostgreSQL, HAProxy or keepalived); it also has ${others.join(", ")}`,
            });
        }
        if (backup === undefined) {
            out.push({ path: nodePath(n.index, "roles"), message: `has the backup role, but ${key(["backup"])} is not set (a backup node holds the pgBackRest repository it names)` });
        } else if (!hosts.includes(n.node.name)) {
            out.push({
                path: nodePath(n.index, "roles"),
                message: `has the backup role, but neither ${key(["backup", "repository", "host"])} nor ${key(["backup", "secondRepository", "host"])} names it`,
            });
        }
    }
    return out;
}

function repositoryHostProblem(nodes: readonly IndexedNode[], host: string): string | undefined {
    if (!NAME_RE.test(host)) return undefined; // already reported on its own key
    const n = nodes.find((x) => x.node.name === host);
    if (n === undefined) return `${q(host)} names no node of ${key(["nodes"])}; it must name the node with the backup role that holds the repository`;
    if (!n.roles.includes("backup")) return `${host} is ${label(n)}, which lacks the backup role; a repository host is a node with only the backup role`;
    return undefined;
}

function backupRules(cfg: ParsedConfig, nodes: readonly IndexedNode[]): Problem[] {
    const out: Problem[] = [];
    const backup = cfg.backup;
    if (backup === undefined) return out;
    const mainHost = backup.repository?.host;
    if (typeof mainHost === "string") {
        const problem = repositoryHostProblem(nodes, mainHost);
        if (problem !== undefined) out.push({ path: ["backup", "repository", "host"], message: problem });
    }
    const second = backup.secondRepository;
    if (second !== undefined) {
        if (typeof second.host === "string") {
            const problem = repositoryHostProblem(nodes, second.host);
            if (problem !== undefined) out.push({ path: ["backup", "secondRepository", "host"], message: problem });
        }
        const [a, b] = [backup.repository?.path, second.path];
        const sameHost = (second.host ?? mainHost) === mainHost;
        if (sameHost && typeof a === "string" && typeof b === "string" && absolutePath(a) === undefined && absolutePath(b) === undefined && overlaps(normalisePath(a), normalisePath(b))) {
            out.push({
                path: ["backup", "secondRepository", "path"],
                message: `${q(normalisePath(b))} overlaps ${key(["backup", "repository", "path"])} ${q(normalisePath(a))} on the same host; a second repository must be a separate directory`,
            });
        }
    }
    const stanza = backup.stanza ?? cfg.clusterName;
    const from = backup.restoreFrom;
    if (from !== undefined) {
        if (from.stanza === stanza) {
            out.push({
                path: ["backup", "restoreFrom", "stanza"],
                message:
                    `${q(from.stanza)} is this cluster's own stanza: a cluster made from a backup archives to its own stanza, never to the source's ` +
                    `(give this cluster another ${key(["clusterName"])} or ${key(["backup", "stanza"])})`,
            });
        }
        if (from.repo === 2 && second === undefined) {
            out.push({ path: ["backup", "restoreFrom", "repo"], message: `is 2, but there is no ${key(["backup", "secondRepository"])}` });
        }
    }
    for (const p of ARCHIVE_PARAMETERS) {
        if (Object.hasOwn(cfg.postgres.parameters ?? {}, p)) {
            out.push({
                path: ["postgres", "parameters", p],
                message: `cannot be set together with ${key(["backup"])}: pgBackRest's WAL archiving sets it (the archive timeout is ${key(["backup", "archiveTimeout"])})`,
            });
        }
    }
    return out;
}

/**
 * pgha sizes max_wal_senders and max_replication_slots by the member count (topology.walSendersFor);
 * a stack that sets either lower than its members need would leave replicas unable to stream or
 * clone, found only when one never comes up.
 */
function replicationCapacityRules(cfg: ParsedConfig, nodes: readonly IndexedNode[]): Problem[] {
    const members = withRole(nodes, "postgres").length;
    const need: Record<string, number> = { max_wal_senders: minWalSenders(members), max_replication_slots: Math.max(members - 1, 0) };
    const out: Problem[] = [];
    for (const [p, min] of Object.entries(need)) {
        const n = integerParameter(cfg.postgres.parameters ?? {}, p);
        if (n !== undefined && n < min) {
            out.push({
                path: ["postgres", "parameters", p],
                message: `is ${n}, but ${members} PostgreSQL nodes need at least ${min} (${p === "max_wal_senders" ? "one per streaming replica and two for a replica cloning" : "one slot per other member"}); pgha sets ${walSendersFor(members)} when the key is absent`,
            });
        }
    }
    return out;
}

function restoreRules(cfg: ParsedConfig): Problem[] {
    const restore = cfg.restore;
    if (restore === undefined) return [];
    const out: Problem[] = [];
    if (cfg.backup === undefined) {
        out.push({ path: ["restore"], message: `needs ${key(["backup"])}: the repository to restore from` });
    } else if (cfg.backup.restoreFrom !== undefined) {
        out.push({
            path: ["restore"],
            message: `cannot be combined with ${key(["backup", "restoreFrom"])}: that one makes a new cluster from a backup, this one rewinds the running cluster`,
        });
    }
    if (restore.confirmDataLoss !== true) {
        out.push({
            path: ["restore", "confirmDataLoss"],
            message: `must be true: an in-place restore replaces the running cluster's data with the backup's, and every change after the target is lost`,
        });
    }
    return out;
}

/** pgha:haproxy.pooled: services routed through PgBouncer need it, and each is named once. */
function pooledRules(cfg: ParsedConfig): Problem[] {
    const out: Problem[] = [];
    const pooled = cfg.haproxy.pooled ?? [];
    const seen = new Set<string>();
    pooled.forEach((s, i) => {
        if (typeof s !== "string") return;
        if (seen.has(s)) out.push({ path: ["haproxy", "pooled", i], message: `${q(s)} is listed twice` });
        seen.add(s);
    });
    if (pooled.length > 0 && cfg.pgbouncer === undefined) {
        out.push({
            path: ["haproxy", "pooled"],
            message: `lists ${[...seen].map((s) => shown(s, /^[A-Za-z]+$/)).join(", ")}, but ${key(["pgbouncer"])} is off (absent or {}): a pooled service's servers are PgBouncer; set ${key(["pgbouncer"])} or empty this list`,
        });
    }
    return out;
}

/** pgha:repair: each key names a node of the stack and a path or unit (npm run drift -- --fix writes them). */
function repairRules(cfg: ParsedConfig): Problem[] {
    const names = new Set(cfg.nodes.map((n) => n.name));
    return Object.keys(cfg.repair ?? {}).flatMap((k): Problem[] => {
        const m = REPAIR_KEY_RE.exec(k);
        if (m === null) return [{ path: ["repair", k], message: `is not "node:/absolute/path" or "node:unit"` }];
        return names.has(m[1]) ? [] : [{ path: ["repair", k], message: `names ${m[1]}, which is not in ${key(["nodes"])}` }];
    });
}

/** pgha:monitoring.prometheusHost names a node; the monitor role is pgha's to give, to that node only. */
function monitoringRules(cfg: ParsedConfig, nodes: readonly IndexedNode[]): Problem[] {
    const out: Problem[] = [];
    const host = cfg.monitoring?.prometheusHost;
    for (const n of withRole(nodes, "monitor")) {
        if (host === undefined) {
            out.push({
                path: nodePath(n.index, "roles"),
                message: `has the monitor role, but ${key(["monitoring"])} is not set (the monitor role is the node of ${key(["monitoring", "prometheusHost"])})`,
            });
        } else if (n.node.name !== host) {
            out.push({
                path: nodePath(n.index, "roles"),
                message: `has the monitor role, but ${key(["monitoring", "prometheusHost"])} is ${shown(host)}: only that node runs Prometheus (pgha gives it the role; listing it is optional)`,
            });
        }
    }
    if (typeof host === "string" && !nodes.some((n) => n.node.name === host)) {
        out.push({ path: ["monitoring", "prometheusHost"], message: `${q(host)} names no node of ${key(["nodes"])}; it must name the node that runs Prometheus` });
    }
    return out;
}

export function crossFieldProblems(cfg: ParsedConfig): Problem[] {
    const nodes = indexed(cfg);
    return [
        ...duplicates(nodes),
        ...roleCounts(cfg, nodes),
        ...vipRules(cfg, nodes),
        ...portClashes(cfg, nodes),
        ...patroniRules(cfg),
        ...strictSyncRules(cfg, nodes),
        ...hostKeyRules(cfg, nodes),
        ...dataDirRules(cfg, nodes),
        ...backupNodeRules(cfg, nodes),
        ...backupRules(cfg, nodes),
        ...restoreRules(cfg),
        ...replicationCapacityRules(cfg, nodes),
        ...databaseRoleProblems(cfg),
        ...pooledRules(cfg),
        ...repairRules(cfg),
        ...monitoringRules(cfg, nodes),
    ];
}
