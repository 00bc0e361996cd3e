// Normalises a parsed (and fully checked) configuration into the ClusterSpec:
// defaults that depend on other keys, node order, role order, ~ expansion.

import { BackupSpec, BackupType, ClusterSpec, CompressType, NodeSpec, ROLES, RepositorySpec, RestoreSpec, RestoreTarget, Role, VipManager } from "./spec";
import { HAPROXY_SERVICES, HaproxySpec, HaproxyServiceName, MonitoringSpec, PgbouncerDatabaseSpec, PgbouncerSpec, PoolMode } from "./spec";
import { ParsedConfig, ParsedNode, RestoreTargetKind, normalisePath, parseRestoreTarget } from "./config-schema";
import { buildDatabases, buildRoles } from "./config-databases";

export const DEFAULT_PRIVATE_KEY_PATH = "~/.ssh/id_ed25519";
export const defaultPostgresDataDir = (version: number, clusterName: string): string => `/var/lib/postgresql/${version}/${clusterName}`;
export const defaultPostgresBinDir = (version: number): string => `/usr/lib/postgresql/${version}/bin`;
export const defaultEtcdDataDir = (clusterName: string): string => `/var/lib/etcd/pgha-${clusterName}`;

/** The data directories as used (and as checked): normalised, so "/srv//pg/data/" is "/srv/pg/data". */
export function effectivePostgresDataDir(cfg: ParsedConfig): string {
    return normalisePath(cfg.postgres.dataDir ?? defaultPostgresDataDir(cfg.postgres.version, cfg.clusterName));
}
export function effectiveEtcdDataDir(cfg: ParsedConfig): string {
    return normalisePath(cfg.etcd.dataDir ?? defaultEtcdDataDir(cfg.clusterName));
}
export function effectivePostgresBinDir(cfg: ParsedConfig): string {
    return cfg.postgres.binDir ?? defaultPostgresBinDir(cfg.postgres.version);
}

/** "~/x" → "<homedir>/x"; kept as is when no homedir is known. */
export function expandHome(path: string, homedir: string | undefined): string {
    if (homedir === undefined || !path.startsWith("~/")) return path;
    return `${homedir.replace(/\/+$/, "")}/${path.slice(2)}`;
}

export function normaliseRoles(roles: readonly string[]): Role[] {
    return ROLES.filter((r) => roles.includes(r));
}

/**
 * Default for allowedClientCidrs: the nodes' own addresses and the VIP, each
 * as /32 (a client on a node that holds the VIP reaches HAProxy from the VIP).
 * Anyone else must be listed: a default as wide as the VIP's subnet would
 * admit a whole network to HAProxy and pg_hba, the superuser included.
 */
export function defaultClientCidrs(nodes: readonly NodeSpec[], vipAddress: string | undefined): string[] {
    const out: string[] = [];
    for (const a of [...nodes.map((n) => n.address), ...(vipAddress !== undefined ? [vipAddress] : [])]) {
        if (!out.includes(`${a}/32`)) out.push(`${a}/32`);
    }
    return out;
}

function buildNode(n: ParsedNode, cfg: ParsedConfig): NodeSpec {
    // pgha:monitoring.prometheusHost holds the monitor role beside its own.
    const monitor = cfg.monitoring?.prometheusHost === n.name ? ["monitor"] : [];
    return {
        name: n.name,
        address: n.address,
        roles: normaliseRoles([...n.roles, ...monitor]),
        sshHost: n.sshHost ?? n.address,
        sshPort: n.sshPort ?? cfg.ssh.port,
        sshUser: n.sshUser ?? cfg.ssh.user,
        ...(n.hostKey !== undefined ? { hostKey: n.hostKey } : {}),
        ...(n.keepalivedPriority !== undefined ? { keepalivedPriority: n.keepalivedPriority } : {}),
        patroniTags: { ...n.patroniTags },
    };
}

export interface BuildOptions {
    /** Home directory used to expand "~/" in ssh.privateKeyPath. */
    readonly homedir?: string;
    /** pgha:sshPrivateKey is set: no key path is used. */
    readonly sshPrivateKeyFromSecret: boolean;
    /** Indexes i of pgha:roles whose password the stack sets (the values travel apart). */
    readonly rolesWithPassword?: ReadonlySet<number>;
}

/** A target already checked by the schema. */
function target(s: string, kinds: readonly RestoreTargetKind[]): RestoreTarget {
    const r = parseRestoreTarget(s, kinds);
    if ("problem" in r) throw new Error(`pgha: unchecked restore target: ${r.problem}`);
    return r.target;
}

/** The repositories of pgha:backup: repo1, then repo2 (on repository.host unless it names its own). */
export function backupRepositories(backup: NonNullable<ParsedConfig["backup"]>): RepositorySpec[] {
    const repos: RepositorySpec[] = [{ index: 1, host: backup.repository.host, path: normalisePath(backup.repository.path) }];
    const second = backup.secondRepository;
    if (second !== undefined) repos.push({ index: 2, host: second.host ?? backup.repository.host, path: normalisePath(second.path) });
    return repos;
}

function buildBackup(cfg: ParsedConfig): BackupSpec | undefined {
    const b = cfg.backup;
    if (b === undefined) return undefined;
    const schedule: Partial<Record<BackupType, string>> = {};
    for (const t of ["full", "diff", "incr"] as const) if (b.schedule[t] !== "") schedule[t] = b.schedule[t];
    const from = b.restoreFrom;
    return {
        stanza: b.stanza ?? cfg.clusterName,
        repositories: backupRepositories(b),
        retention: { ...b.retention },
        schedule,
        encryption: b.encryption,
        archiveTimeout: b.archiveTimeout,
        processMax: b.processMax,
        compressType: b.compressType as CompressType,
        port: b.port,
        ...(from !== undefined ? { restoreFrom: { stanza: from.stanza, repo: from.repo === 2 ? 2 : 1, target: target(from.target, ["latest", "time", "name", "xid"]) } } : {}),
    };
}

function buildRestore(cfg: ParsedConfig): RestoreSpec | undefined {
    const r = cfg.restore;
    return r === undefined ? undefined : { id: r.id, target: target(r.target, ["latest", "time"]) };
}

export function buildSpec(cfg: ParsedConfig, opts: BuildOptions): ClusterSpec {
    // Plain code-unit comparison: locale-independent, so every machine sorts alike.
    const nodes = cfg.nodes.map((n) => buildNode(n, cfg)).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const { version } = cfg.postgres;
    return {
        clusterName: cfg.clusterName,
        ssh: {
            user: cfg.ssh.user,
            port: cfg.ssh.port,
            ...(opts.sshPrivateKeyFromSecret ? {} : { privateKeyPath: expandHome(cfg.ssh.privateKeyPath ?? DEFAULT_PRIVATE_KEY_PATH, opts.homedir) }),
            strictHostKeys: cfg.ssh.strictHostKeys,
        },
        nodes,
        ...(cfg.vip !== undefined ? { vip: { ...cfg.vip, manager: cfg.vip.manager as VipManager } } : {}),
        postgres: {
            version,
            port: cfg.postgres.port,
            parameters: { ...(cfg.postgres.parameters as Record<string, string | number | boolean>) },
            allowedClientCidrs: cfg.postgres.allowedClientCidrs ?? defaultClientCidrs(nodes, cfg.vip?.address),
            dataDir: effectivePostgresDataDir(cfg),
            binDir: effectivePostgresBinDir(cfg),
        },
        patroni: { ...cfg.patroni },
        etcd: {
            clientPort: cfg.etcd.clientPort,
            peerPort: cfg.etcd.peerPort,
            dataDir: effectiveEtcdDataDir(cfg),
            allowEvenMembers: cfg.etcd.allowEvenMembers,
        },
        haproxy: buildHaproxy(cfg),
        packages: { ...cfg.packages },
        destroy: { ...cfg.destroy },
        progress: { ...cfg.progress },
        ...optional("backup", buildBackup(cfg)),
        ...optional("restore", buildRestore(cfg)),
        // Absent when empty: a stack without them has the spec (and so the tree) it had before they existed.
        ...optional("databases", cfg.databases.length > 0 ? buildDatabases(cfg) : undefined),
        ...optional("roles", cfg.roles.length > 0 ? buildRoles(cfg, opts.rolesWithPassword ?? new Set()) : undefined),
        ...optional("pgbouncer", buildPgbouncer(cfg)),
        ...optional("repair", buildRepair(cfg)),
        ...optional("monitoring", buildMonitoring(cfg)),
    };
}

/** pgha:repair by node (keys checked in config-checks.ts); undefined when empty. */
function buildRepair(cfg: ParsedConfig): ClusterSpec["repair"] {
    const out: Record<string, Record<string, string>> = {};
    for (const k of Object.keys(cfg.repair).sort()) {
        const i = k.indexOf(":");
        (out[k.slice(0, i)] ??= {})[k.slice(i + 1)] = String(cfg.repair[k]);
    }
    return Object.keys(out).length > 0 ? out : undefined;
}

// ---------------------------------------------------------------------------
// HAProxy's services and PgBouncer

/** PostgreSQL's own default max_connections. */
export const POSTGRES_DEFAULT_MAX_CONNECTIONS = 100;

/** A whole-number parameter as pgha:postgres.parameters sets it (a number, or a string of digits), else undefined. */
export function integerParameter(parameters: Readonly<Record<string, unknown>>, name: string): number | undefined {
    const v = parameters[name];
    const n = typeof v === "number" ? v : typeof v === "string" && /^\s*[0-9]+\s*$/.test(v) ? Number(v) : NaN;
    return Number.isInteger(n) ? n : undefined;
}

/** max_connections as pgha:postgres.parameters sets it, else PostgreSQL's default. */
export function maxConnectionsOf(parameters: Readonly<Record<string, unknown>>): number {
    const n = integerParameter(parameters, "max_connections");
    return n !== undefined && n > 0 ? n : POSTGRES_DEFAULT_MAX_CONNECTIONS;
}

function buildHaproxy(cfg: ParsedConfig): HaproxySpec {
    const h = cfg.haproxy;
    return {
        primaryPort: h.primaryPort,
        replicaPort: h.replicaPort,
        syncReplicaPort: h.syncReplicaPort,
        asyncReplicaPort: h.asyncReplicaPort,
        statsPort: h.statsPort,
        maxConn: h.maxConn,
        // A server line going straight to PostgreSQL admits what PostgreSQL admits; HAProxy queues the rest.
        serverMaxConn: h.serverMaxConn ?? maxConnectionsOf(cfg.postgres.parameters),
        pooled: HAPROXY_SERVICES.filter((s) => (h.pooled as readonly string[]).includes(s)) as HaproxyServiceName[],
    };
}

function buildPgbouncer(cfg: ParsedConfig): PgbouncerSpec | undefined {
    const p = cfg.pgbouncer;
    if (p === undefined) return undefined;
    const databases: Record<string, PgbouncerDatabaseSpec> = {};
    for (const name of Object.keys(p.databases).sort()) {
        const d = p.databases[name];
        databases[name] = { ...(d.poolMode !== undefined ? { poolMode: d.poolMode as PoolMode } : {}), ...(d.poolSize !== undefined ? { poolSize: d.poolSize } : {}) };
    }
    return { port: p.port, poolMode: p.poolMode as PoolMode, defaultPoolSize: p.defaultPoolSize, maxClientConn: p.maxClientConn, databases };
}

function optional<K extends string, V>(k: K, v: V | undefined): Partial<Record<K, V>> {
    return v === undefined ? {} : ({ [k]: v } as Record<K, V>);
}

function buildMonitoring(cfg: ParsedConfig): MonitoringSpec | undefined {
    const m = cfg.monitoring;
    if (m === undefined) return undefined;
    return {
        prometheusHost: m.prometheusHost,
        prometheusPort: m.prometheusPort,
        retention: m.retention,
        scrapeInterval: m.scrapeInterval,
        nodeExporterPort: m.nodeExporterPort,
        postgresExporterPort: m.postgresExporterPort,
        alerts: { ...m.alerts },
    };
}
