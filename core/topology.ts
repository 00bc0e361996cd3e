// What each server needs to know about the others: pure functions of the
// ClusterSpec, shared by the renderers, the components and the stack outputs.

import { ClusterSpec, HAPROXY_SERVICES, HaproxyServiceName, NodeSpec, nodesWithRole } from "./spec";

/** PostgreSQL superuser; Patroni also uses it for pg_rewind. */
export const SUPERUSER = "postgres";
/** The role replicas stream with. */
export const REPLICATION_USER = "replicator";
/** Patroni's DCS namespace (its default); keys live under /service/<clusterName>/. */
export const PATRONI_NAMESPACE = "/service/";
/** postgres_exporter's login role (pgha:monitoring): a member of pg_monitor and nothing else (server/pg-monitor-role.py). */
export const MONITORING_USER = "pgha_monitor";
/** keepalived priority of the first keepalived node by name when none is given, then one step lower per node. */
export const KEEPALIVED_TOP_PRIORITY = 150;
export const KEEPALIVED_PRIORITY_STEP = 10;

// ---------------------------------------------------------------------------
// etcd

export interface EtcdMember {
    readonly name: string;
    readonly address: string;
    /** https://addr:peerPort */
    readonly peerUrl: string;
    /** https://addr:clientPort */
    readonly clientUrl: string;
}

export function etcdMember(spec: ClusterSpec, node: NodeSpec): EtcdMember {
    return {
        name: node.name,
        address: node.address,
        // TLS everywhere: etcd requires client certificates on both ports.
        peerUrl: `https://${node.address}:${spec.etcd.peerPort}`,
        clientUrl: `https://${node.address}:${spec.etcd.clientPort}`,
    };
}

export function etcdMembers(spec: ClusterSpec): EtcdMember[] {
    return nodesWithRole(spec, "etcd").map((n) => etcdMember(spec, n));
}

/** "pg1=https://a:2380,pg2=https://b:2380" for the given members (default: all of them). */
export function etcdInitialCluster(spec: ClusterSpec, members: readonly EtcdMember[] = etcdMembers(spec)): string {
    return members.map((m) => `${m.name}=${m.peerUrl}`).join(",");
}

/** "addr:2379" per member: Patroni's etcd3.hosts. */
export function etcdClientEndpoints(spec: ClusterSpec): string[] {
    return etcdMembers(spec).map((m) => `${m.address}:${spec.etcd.clientPort}`);
}

/** "https://addr:2379" per member: etcdctl --endpoints, stack output. */
export function etcdClientUrls(spec: ClusterSpec): string[] {
    return etcdMembers(spec).map((m) => m.clientUrl);
}

// ---------------------------------------------------------------------------
// Patroni / PostgreSQL

export function postgresMembers(spec: ClusterSpec): NodeSpec[] {
    return nodesWithRole(spec, "postgres");
}

/**
 * max_wal_senders and max_replication_slots for a cluster of `members` PostgreSQL nodes. Every
 * replica cloning at once holds two WAL senders on the leader (pg_basebackup's base and WAL
 * streams), and a reconnecting replica's old sender lingers until wal_sender_timeout: 2 per member
 * + 2, rounded up to a multiple of 10 so that adding or removing a node seldom changes it (a change
 * restarts PostgreSQL), never below PostgreSQL's default 10. With that default, 15 lab nodes left
 * the last replicas failing to clone forever ("number of requested standby connections exceeds
 * max_wal_senders"): 10 streaming replicas held every sender.
 */
export function walSendersFor(members: number): number {
    return Math.max(10, Math.ceil((2 * members + 2) / 10) * 10);
}

/** The fewest WAL senders a stack may set for `members` nodes: one per streaming replica, and two for a replica cloning. */
export const minWalSenders = (members: number): number => members + 1;

/**
 * The member started first, which initialises the cluster and becomes its
 * first leader: the first postgres node by name that may become leader.
 * Config validation guarantees there is one.
 */
export function bootstrapNode(spec: ClusterSpec): NodeSpec {
    const node = postgresMembers(spec).find((n) => !n.patroniTags.nofailover);
    if (node === undefined) throw new Error("pgha: no postgres node can become leader (all have nofailover)");
    return node;
}

export function patroniApiUrl(spec: ClusterSpec, node: NodeSpec): string {
    return `https://${node.address}:${spec.patroni.restApiPort}`;
}

export function patroniApiUrls(spec: ClusterSpec): string[] {
    return postgresMembers(spec).map((n) => patroniApiUrl(spec, n));
}

/**
 * pg_hba.conf lines, first match wins. Only peer and scram-sha-256 (no trust, no md5),
 * and every TCP line is hostssl:
 * - the superuser over 127.0.0.1: local tools over TCP;
 * - the superuser from every member: pg_rewind and Patroni's checks against the leader;
 * - replication from every member (and loopback), nobody else;
 * - everyone from each HAProxy node: connections through the balancer arrive from it
 *   (HAProxy itself admits only allowedClientCidrs);
 * - everyone from pgha:postgres.allowedClientCidrs;
 * - with pgha:pgbouncer, everyone from each member: its PgBouncer connects from the node's own
 *   address (it admits only what the node's PgBouncer hba admits: core/render/pgbouncer.ts);
 * - then an explicit reject of everything else, plain TCP included.
 */
export function pgHbaLines(spec: ClusterSpec): string[] {
    const members = postgresMembers(spec).map((n) => `${n.address}/32`);
    const balancers = nodesWithRole(spec, "haproxy").map((n) => `${n.address}/32`);
    const poolers = spec.pgbouncer !== undefined ? members : [];
    // pgha:monitoring: postgres_exporter connects to its own node over loopback (core/render/monitoring-exporters.ts).
    const monitor = spec.monitoring !== undefined ? [`hostssl all ${MONITORING_USER} 127.0.0.1/32 scram-sha-256`] : [];
    const lines = [
        `local all ${SUPERUSER} peer`,
        `hostssl all ${SUPERUSER} 127.0.0.1/32 scram-sha-256`,
        ...members.map((m) => `hostssl all ${SUPERUSER} ${m} scram-sha-256`),
        `hostssl replication ${REPLICATION_USER} 127.0.0.1/32 scram-sha-256`,
        ...members.map((m) => `hostssl replication ${REPLICATION_USER} ${m} scram-sha-256`),
        ...balancers.map((b) => `hostssl all all ${b} scram-sha-256`),
        ...spec.postgres.allowedClientCidrs.map((c) => `hostssl all all ${c} scram-sha-256`),
        ...poolers.map((m) => `hostssl all all ${m} scram-sha-256`),
        ...monitor,
        `host replication all 0.0.0.0/0 reject`,
        `host all all 0.0.0.0/0 reject`,
    ];
    return [...new Set(lines)];
}

/**
 * pg_hba.conf while a new cluster initialises, before pgha's dynamic config
 * (which carries pgHbaLines) reaches the DCS: the local superuser only.
 * Static, so a membership change never rewrites config.yml.
 */
export function pgHbaBootstrapLines(): string[] {
    return [`local all ${SUPERUSER} peer`, `hostssl all ${SUPERUSER} 127.0.0.1/32 scram-sha-256`, `host all all 0.0.0.0/0 reject`];
}

// ---------------------------------------------------------------------------
// HAProxy

export interface HaproxyBackend {
    readonly name: string;
    readonly address: string;
    /** PostgreSQL port. */
    readonly port: number;
    /** Patroni REST API port the health check asks. */
    readonly checkPort: number;
}

/** Every postgres node, in every listener; Patroni's /primary, /replica, /sync and /async decide who is up. */
export function haproxyBackends(spec: ClusterSpec, port: number = spec.postgres.port): HaproxyBackend[] {
    return postgresMembers(spec).map((n) => ({
        name: n.name,
        address: n.address,
        port,
        checkPort: spec.patroni.restApiPort,
    }));
}

/** One of HAProxy's client-facing listeners. */
export interface HaproxyService {
    readonly name: HaproxyServiceName;
    /** The `listen` section (and the stats' proxy name): `primary`, `replicas`, `sync_replicas`, `async_replicas`. */
    readonly section: string;
    readonly port: number;
    /** Patroni's health endpoint that marks a member up for this service. */
    readonly check: "/primary" | "/replica" | "/sync" | "/async";
    /** Through PgBouncer (its port on each member) rather than straight to PostgreSQL. */
    readonly pooled: boolean;
    /** The servers' port: pgbouncer.port when pooled, else postgres.port. */
    readonly serverPort: number;
    /** Each server line's maxconn: pgbouncer.maxClientConn when pooled, else haproxy.serverMaxConn. */
    readonly serverMaxConn: number;
}

const SERVICE_SHAPE: Readonly<Record<HaproxyServiceName, { section: string; check: HaproxyService["check"]; port: (spec: ClusterSpec) => number }>> = {
    primary: { section: "primary", check: "/primary", port: (s) => s.haproxy.primaryPort },
    replica: { section: "replicas", check: "/replica", port: (s) => s.haproxy.replicaPort },
    syncReplica: { section: "sync_replicas", check: "/sync", port: (s) => s.haproxy.syncReplicaPort },
    asyncReplica: { section: "async_replicas", check: "/async", port: (s) => s.haproxy.asyncReplicaPort },
};

/** The services HAProxy offers: syncReplica only with synchronous mode (Patroni has no synchronous standby without it). */
export function haproxyServices(spec: ClusterSpec): HaproxyService[] {
    return HAPROXY_SERVICES.filter((name) => name !== "syncReplica" || spec.patroni.synchronousMode).map((name) => {
        const shape = SERVICE_SHAPE[name];
        const pooled = spec.pgbouncer !== undefined && spec.haproxy.pooled.includes(name);
        return {
            name,
            section: shape.section,
            port: shape.port(spec),
            check: shape.check,
            pooled,
            serverPort: pooled ? spec.pgbouncer!.port : spec.postgres.port,
            serverMaxConn: pooled ? spec.pgbouncer!.maxClientConn : spec.haproxy.serverMaxConn,
        };
    });
}

/**
 * Who may connect to HAProxy's PostgreSQL ports: loopback, pgha:postgres.allowedClientCidrs,
 * and the postgres nodes (pgha's verification connects from one; they are backends anyway).
 */
export function haproxyAllowedSources(spec: ClusterSpec): string[] {
    return [...new Set(["127.0.0.1", ...spec.postgres.allowedClientCidrs, ...postgresMembers(spec).map((n) => n.address)])];
}

// ---------------------------------------------------------------------------
// keepalived

export interface KeepalivedPeer {
    readonly name: string;
    readonly address: string;
    readonly priority: number;
    /** The other keepalived nodes' addresses (unicast VRRP). */
    readonly unicastPeers: readonly string[];
}

/** Explicit keepalivedPriority, else 150, 140, 130 ... by name order among keepalived nodes (at least 1). */
export function keepalivedPeers(spec: ClusterSpec): KeepalivedPeer[] {
    const nodes = nodesWithRole(spec, "keepalived");
    return nodes.map((n, i) => ({
        name: n.name,
        address: n.address,
        priority: n.keepalivedPriority ?? Math.max(1, KEEPALIVED_TOP_PRIORITY - KEEPALIVED_PRIORITY_STEP * i),
        unicastPeers: nodes.filter((o) => o.name !== n.name).map((o) => o.address),
    }));
}

export function keepalivedPeer(spec: ClusterSpec, node: NodeSpec): KeepalivedPeer {
    const peer = keepalivedPeers(spec).find((p) => p.name === node.name);
    if (peer === undefined) throw new Error(`pgha: ${node.name} does not have the keepalived role`);
    return peer;
}

// ---------------------------------------------------------------------------
// Endpoints

export interface Endpoint {
    readonly host: string;
    readonly port: number;
}

/** Where clients reach the cluster: the VIP, else the first HAProxy node; undefined without HAProxy. */
export function frontHost(spec: ClusterSpec): string | undefined {
    if (spec.vip !== undefined) return spec.vip.address;
    return nodesWithRole(spec, "haproxy")[0]?.address;
}

/** pgha:vip.manager vip-manager: the VIP is on the Patroni leader itself, in front of PostgreSQL (no HAProxy). */
export function vipFollowsLeader(spec: ClusterSpec): boolean {
    return spec.vip?.manager === "vip-manager";
}

/** The VIP is keepalived's (pgha:vip with manager keepalived): it needs keepalivedPassword. */
export function vipByKeepalived(spec: ClusterSpec): boolean {
    return spec.vip !== undefined && spec.vip.manager === "keepalived";
}

/**
 * Read/write endpoint: VIP or first balancer on haproxy.primaryPort; with vip-manager, the VIP on PostgreSQL's port. Without
 * HAProxy: the bootstrap node's PostgreSQL (the leader right after the first
 * deployment; later, any member with target_session_attrs=read-write).
 */
export function primaryEndpoint(spec: ClusterSpec): Endpoint {
    const host = frontHost(spec);
    if (vipFollowsLeader(spec)) return { host: spec.vip!.address, port: spec.postgres.port };
    if (host !== undefined) return { host, port: spec.haproxy.primaryPort };
    return { host: bootstrapNode(spec).address, port: spec.postgres.port };
}

/** Read-only endpoint: VIP or first balancer on haproxy.replicaPort; without HAProxy like primaryEndpoint. */
export function replicaEndpoint(spec: ClusterSpec): Endpoint {
    const host = frontHost(spec);
    if (host !== undefined && !vipFollowsLeader(spec)) return { host, port: spec.haproxy.replicaPort };
    return primaryEndpoint(spec);
}

/** One service's endpoint, as the stack output `endpoints` lists it. */
export interface ServiceEndpoint {
    /** "host:port" (the VIP, else the first balancer); without HAProxy every member "a:5432,b:5432". */
    readonly address: string;
    /** Through PgBouncer: application roles only (PgBouncer refuses superusers and replication roles). */
    readonly pooled: boolean;
}

export interface ClusterEndpoints {
    /** "host:port"; without HAProxy every member "a:5432,b:5432" (use target_session_attrs). */
    readonly primary: string;
    readonly replica: string;
    /** Synchronous standbys only; absent without synchronous mode. */
    readonly syncReplica?: string;
    /** Asynchronous replicas only. */
    readonly asyncReplica: string;
    /** Every service HAProxy offers (or would, without HAProxy: the members), by name. */
    readonly services: Readonly<Partial<Record<HaproxyServiceName, ServiceEndpoint>>>;
    /** With pgha:pgbouncer: each PostgreSQL member's PgBouncer, "address:port". */
    readonly pgbouncer?: string[];
    /** HAProxy stats page of the VIP or first balancer; absent without HAProxy. */
    readonly statsUrl?: string;
    readonly patroniApiUrls: string[];
    readonly etcdEndpoints: string[];
}

export function clusterEndpoints(spec: ClusterSpec): ClusterEndpoints {
    const members = postgresMembers(spec)
        .map((n) => `${n.address}:${spec.postgres.port}`)
        .join(",");
    // With vip-manager there is no HAProxy: the VIP is the leader's own PostgreSQL (and PgBouncer).
    const host = vipFollowsLeader(spec) ? undefined : frontHost(spec);
    const services: Partial<Record<HaproxyServiceName, ServiceEndpoint>> = {};
    for (const s of haproxyServices(spec)) services[s.name] = host !== undefined ? { address: `${host}:${s.port}`, pooled: s.pooled } : { address: members, pooled: false };
    if (vipFollowsLeader(spec)) services.primary = { address: `${spec.vip!.address}:${spec.postgres.port}`, pooled: false };
    return {
        primary: services.primary!.address,
        replica: services.replica!.address,
        ...(services.syncReplica !== undefined ? { syncReplica: services.syncReplica.address } : {}),
        asyncReplica: services.asyncReplica!.address,
        services,
        ...(spec.pgbouncer !== undefined ? { pgbouncer: postgresMembers(spec).map((n) => `${n.address}:${spec.pgbouncer!.port}`) } : {}),
        ...(host !== undefined ? { statsUrl: `http://${host}:${spec.haproxy.statsPort}/` } : {}),
        patroniApiUrls: patroniApiUrls(spec),
        etcdEndpoints: etcdClientUrls(spec),
    };
}

/**
 * The file the connection string names as its CA (libpq reads it relative to the client's
 * working directory): the stack output caCertificate, saved by the user. A URI cannot
 * carry the certificate itself.
 */
export const CLIENT_CA_FILE = "pgha-ca.crt";

/**
 * libpq URI for the superuser through the read/write endpoint. Without
 * HAProxy it lists every member and asks libpq for the read-write one.
 * The server is verified (sslmode=verify-full) against the cluster CA in
 * CLIENT_CA_FILE: each host named here is in the certificates that answer
 * there (core/pki.ts: the front door in every postgres node's, a member's
 * address in its own).
 * With the primary service pooled (pgha:haproxy.pooled), PgBouncer would refuse the superuser:
 * the URI then lists every member directly, as without HAProxy.
 */
export function connectionString(spec: ClusterSpec, password: string, database = "postgres"): string {
    const ep = clusterEndpoints(spec);
    const direct = frontHost(spec) === undefined || ep.services.primary?.pooled === true;
    const members = postgresMembers(spec)
        .map((n) => `${n.address}:${spec.postgres.port}`)
        .join(",");
    const tls = `sslmode=verify-full&sslrootcert=${CLIENT_CA_FILE}`;
    const query = direct ? `?${tls}&target_session_attrs=read-write` : `?${tls}`;
    return `postgresql://${SUPERUSER}:${encodeURIComponent(password)}@${direct ? members : ep.primary}/${database}${query}`;
}
