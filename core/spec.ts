// The typed, normalised cluster description that every later layer consumes.
// Produced only by core/config.ts (validation + defaults); never built by hand
// elsewhere except in tests. Pure data: no Pulumi types, no secrets (secrets
// travel separately as pulumi.Output<string> so they can stay encrypted).

import { ProfileName } from "./profiles";

/**
 * `backup`: a dedicated pgBackRest repository host (pgha:backup); it holds no other role.
 * `monitor`: the Prometheus server (pgha:monitoring.prometheusHost); given by pgha:monitoring, next to any other role.
 */
export type Role = "etcd" | "postgres" | "haproxy" | "keepalived" | "backup" | "monitor";
export const ROLES: readonly Role[] = ["etcd", "postgres", "haproxy", "keepalived", "backup", "monitor"];

export interface SshSpec {
    /** Login user; a non-root user runs every script through `sudo -n`. */
    readonly user: string;
    readonly port: number;
    /** Absolute path (with ~ expanded) of the private key on the machine running pulumi; absent when pgha:sshPrivateKey is used. */
    readonly privateKeyPath?: string;
    /** Refuse nodes without a pinned hostKey (the default); false: a node without one accepts any server key. */
    readonly strictHostKeys: boolean;
}

export interface PatroniTags {
    readonly nofailover: boolean;
    readonly noloadbalance: boolean;
    readonly nosync: boolean;
    readonly clonefrom: boolean;
}

export interface NodeSpec {
    /** Unique; the Patroni member name and etcd member name. */
    readonly name: string;
    /** IPv4 address that cluster traffic uses. */
    readonly address: string;
    /** Sorted in ROLES order, no duplicates. */
    readonly roles: readonly Role[];
    /** Where SSH connects (defaults to address). */
    readonly sshHost: string;
    readonly sshPort: number;
    readonly sshUser: string;
    /** "ssh-ed25519 AAAA..." when pinned. */
    readonly hostKey?: string;
    /** keepalived priority (1..254); defaults derived by topology when absent. */
    readonly keepalivedPriority?: number;
    readonly patroniTags: PatroniTags;
}

/** Who holds the VIP: keepalived on the balancer nodes, or pgha's vip-manager on the Patroni leader. */
export type VipManager = "keepalived" | "vip-manager";
export const VIP_MANAGERS: readonly VipManager[] = ["keepalived", "vip-manager"];

export interface VipSpec {
    readonly address: string;
    readonly prefixLength: number;
    readonly interface: string;
    /** keepalived only. */
    readonly virtualRouterId: number;
    readonly manager: VipManager;
}

export interface PostgresSpec {
    /** Major version, e.g. 15. */
    readonly version: number;
    readonly port: number;
    /** Dynamic (DCS) parameters; values are kept as given (string | number | boolean). */
    readonly parameters: Readonly<Record<string, string | number | boolean>>;
    readonly allowedClientCidrs: readonly string[];
    /** Data directory on each postgres node. */
    readonly dataDir: string;
    /** Directory holding the PostgreSQL binaries. */
    readonly binDir: string;
}

export interface PatroniSpec {
    /** Tuning profile: also sets HAProxy's and keepalived's check timings (core/profiles.ts). */
    readonly profile: ProfileName;
    readonly ttl: number;
    readonly loopWait: number;
    readonly retryTimeout: number;
    readonly maximumLagOnFailover: number;
    readonly synchronousMode: boolean;
    readonly synchronousModeStrict: boolean;
    /** Patroni REST API port on every postgres node. */
    readonly restApiPort: number;
}

export interface EtcdSpec {
    readonly clientPort: number;
    readonly peerPort: number;
    /** Data directory for pgha's etcd member (the distro's default one is left alone). */
    readonly dataDir: string;
    /** Allow an even number of etcd members (explicit override). */
    readonly allowEvenMembers: boolean;
}

export interface HaproxySpec {
    readonly primaryPort: number;
    readonly replicaPort: number;
    /** Synchronous standbys only (Patroni's /sync); rendered only with patroni.synchronousMode. */
    readonly syncReplicaPort: number;
    /** Asynchronous replicas only (Patroni's /async). */
    readonly asyncReplicaPort: number;
    readonly statsPort: number;
    /** HAProxy's global maxconn (and so its LimitNOFILE). */
    readonly maxConn: number;
    /** maxconn of each server line going straight to PostgreSQL (a pooled one takes pgbouncer.maxClientConn). */
    readonly serverMaxConn: number;
    /** The services whose servers are PgBouncer (pgbouncer.port) rather than PostgreSQL; sorted in HAPROXY_SERVICES order. */
    readonly pooled: readonly HaproxyServiceName[];
}

/** HAProxy's client-facing services, each health-checked on its own Patroni endpoint. */
export type HaproxyServiceName = "primary" | "replica" | "syncReplica" | "asyncReplica";
export const HAPROXY_SERVICES: readonly HaproxyServiceName[] = ["primary", "replica", "syncReplica", "asyncReplica"];

/** PgBouncer's pool modes (every one of them in 1.18 and 1.24). */
export type PoolMode = "session" | "transaction" | "statement";
export const POOL_MODES: readonly PoolMode[] = ["session", "transaction", "statement"];

/** A database's own pool settings in PgBouncer (pgha:pgbouncer.databases.<name>); absent fields take the global ones. */
export interface PgbouncerDatabaseSpec {
    readonly poolMode?: PoolMode;
    readonly poolSize?: number;
}

/** pgha:pgbouncer: PgBouncer on every PostgreSQL node, in front of that node's PostgreSQL. */
export interface PgbouncerSpec {
    readonly port: number;
    readonly poolMode: PoolMode;
    readonly defaultPoolSize: number;
    readonly maxClientConn: number;
    /** Keyed by database name, sorted by name. */
    readonly databases: Readonly<Record<string, PgbouncerDatabaseSpec>>;
}

export interface PackagesSpec {
    readonly install: boolean;
    /** "http://host:port" or "" for none. */
    readonly aptProxy: string;
    /** apt sources added before anything is installed (pgha:packages.repositories). */
    readonly repositories: readonly AptRepository[];
}

export interface AptRepository {
    readonly uri: string;
    readonly suites: readonly string[];
    readonly components: readonly string[];
    /** ASCII-armored OpenPGP public key: the only key apt accepts for this source. */
    readonly signingKey: string;
}

export interface DestroySpec {
    /** Only when true does `pulumi destroy` delete PostgreSQL and etcd data directories. */
    readonly deleteData: boolean;
}

/** pgha:progress: how long steps that grow with the data (clones, restores, package installs) wait without progress. */
export interface ProgressSpec {
    /** Seconds without any progress after which such a step fails, saying what it last saw. */
    readonly stallTimeout: number;
}

/** The outer bound of a step bounded by progress (pgha:progress.stallTimeout is the real one): only backs that up. */
export const PROGRESS_OUTER_SEC = 24 * 3600;

/** pgBackRest compression types that both pgBackRest 2.45 (Debian 12) and 2.55 (Debian 13) support. */
export type CompressType = "none" | "gz" | "bz2" | "lz4" | "zst";
export const COMPRESS_TYPES: readonly CompressType[] = ["none", "gz", "bz2", "lz4", "zst"];

export type BackupType = "full" | "diff" | "incr";
export const BACKUP_TYPES: readonly BackupType[] = ["full", "diff", "incr"];

/** A pgBackRest repository: a directory on a node with the backup role. */
export interface RepositorySpec {
    /** pgBackRest's repository index (repo1, repo2). */
    readonly index: 1 | 2;
    /** Name of the node with the backup role that holds it and runs its backups. */
    readonly host: string;
    /** Absolute, normalised. */
    readonly path: string;
}

/**
 * Where recovery stops. `latest`: the end of the archived WAL. The others stop at the
 * target and promote. A time is kept normalised to UTC as PostgreSQL and pgBackRest read it
 * ("2025-01-31 11:00:00+00").
 */
export type RestoreTarget =
    { readonly type: "latest" } | { readonly type: "time"; readonly time: string } | { readonly type: "name"; readonly name: string } | { readonly type: "xid"; readonly xid: string };

/** A new cluster made from another cluster's backup (pgha:backup.restoreFrom). */
export interface RestoreFromSpec {
    /** The source cluster's stanza; never this cluster's own. */
    readonly stanza: string;
    /** Which of this cluster's repositories holds it. */
    readonly repo: 1 | 2;
    readonly target: RestoreTarget;
}

export interface BackupSpec {
    /** pgBackRest stanza: the cluster name unless set. */
    readonly stanza: string;
    /** repo1, then the optional repo2. */
    readonly repositories: readonly RepositorySpec[];
    readonly retention: { readonly full: number; readonly diff: number };
    /** systemd OnCalendar expressions; absent: no timer for that type. */
    readonly schedule: Readonly<Partial<Record<BackupType, string>>>;
    /** aes-256-cbc with pgha:backupCipherPassphrase (the secret is never part of the spec). */
    readonly encryption: boolean;
    /** PostgreSQL's archive_timeout, seconds (0: off). */
    readonly archiveTimeout: number;
    readonly processMax: number;
    readonly compressType: CompressType;
    /** pgBackRest TLS server port on every node that serves (tls-server-port). */
    readonly port: number;
    readonly restoreFrom?: RestoreFromSpec;
}

/** An in-place restore of the running cluster (pgha:restore), applied once per id. */
export interface RestoreSpec {
    readonly id: string;
    readonly target: RestoreTarget;
}

/** A database pgha creates on the leader (pgha:databases[]) and never drops. */
export interface DatabaseSpec {
    readonly name: string;
    /** A role of pgha:roles, or postgres. */
    readonly owner: string;
    /** Upper case (UTF8); absent: the cluster's own (template1's). */
    readonly encoding?: string;
    /** LC_COLLATE and LC_CTYPE; absent: the cluster's own. */
    readonly locale?: string;
    /** Sorted, no duplicates; created with CREATE EXTENSION IF NOT EXISTS, never dropped. */
    readonly extensions: readonly string[];
}

/** A role pgha creates on the leader (pgha:roles[]) and never drops. Its password is a secret of its own, never part of the spec. */
export interface RoleSpec {
    readonly name: string;
    readonly login: boolean;
    /** Whether the stack sets its password (pgha:roles[i].password); the value travels apart, as a secret. */
    readonly hasPassword: boolean;
    /** Roles it is granted: other roles of pgha:roles or PostgreSQL's predefined pg_* roles. Sorted, no duplicates. */
    readonly memberOf: readonly string[];
    /** -1: no limit. */
    readonly connectionLimit: number;
}

/** Role passwords by role name: plain values, only ever handled inside pulumi.Output.apply. */
export type RolePasswords = Readonly<Record<string, string>>;

export interface ClusterSpec {
    /** Patroni scope; lowercase letters, digits and '-'. */
    readonly clusterName: string;
    readonly ssh: SshSpec;
    /** Sorted by name, so reordering the stack file's list changes nothing. */
    readonly nodes: readonly NodeSpec[];
    readonly vip?: VipSpec;
    readonly postgres: PostgresSpec;
    readonly patroni: PatroniSpec;
    readonly etcd: EtcdSpec;
    readonly haproxy: HaproxySpec;
    readonly packages: PackagesSpec;
    readonly destroy: DestroySpec;
    readonly progress: ProgressSpec;
    /** pgha:backup; absent: no backups, no archiving. */
    readonly backup?: BackupSpec;
    /** pgha:restore; only with backup. */
    readonly restore?: RestoreSpec;
    /** pgha:repair, by node: path or unit → token; absent when the stack sets none (the tree is then as before). */
    readonly repair?: Readonly<Record<string, Readonly<Record<string, string>>>>;
    /** pgha:databases, sorted by name; absent when the stack declares none. */
    readonly databases?: readonly DatabaseSpec[];
    /** pgha:roles, sorted by name (without their passwords); absent when the stack declares none. */
    readonly roles?: readonly RoleSpec[];
    /** pgha:pgbouncer; absent: no PgBouncer. */
    readonly pgbouncer?: PgbouncerSpec;
    /** pgha:monitoring; absent: no exporters, no Prometheus. */
    readonly monitoring?: MonitoringSpec;
}

/** Alert thresholds of pgha:monitoring.alerts (the rules: core/render/monitoring-rules.ts). */
export interface MonitoringAlertsSpec {
    /** A replica this far behind the leader's WAL position, in bytes. */
    readonly replicationLagBytes: number;
    /** A replica whose replay is this far behind, in seconds. */
    readonly replicationLagSeconds: number;
    /** A filesystem with less free space than this, in percent. */
    readonly diskFreePercent: number;
    /** A node certificate ending within this many days (pgha renews at 30 on `pulumi up`). */
    readonly certExpiryDays: number;
    /** With pgha:backup: no backup timer fired for this many hours. */
    readonly backupMaxAgeHours: number;
    /** How long either replication lag must last before it alerts (a Prometheus duration). */
    readonly replicationLagFor: string;
}

/**
 * pgha:monitoring: node_exporter on every node, postgres_exporter on every PostgreSQL node (both
 * TLS with the cluster PKI, client certificates required), and Prometheus on prometheusHost.
 */
export interface MonitoringSpec {
    /** The node with the monitor role, running Prometheus. */
    readonly prometheusHost: string;
    readonly prometheusPort: number;
    /** Prometheus' --storage.tsdb.retention.time ("15d"). */
    readonly retention: string;
    /** Prometheus' global scrape_interval ("15s"). */
    readonly scrapeInterval: string;
    readonly nodeExporterPort: number;
    readonly postgresExporterPort: number;
    readonly alerts: MonitoringAlertsSpec;
}

/** Names of the secrets a cluster needs; values are never part of ClusterSpec. */
export type SecretName = "superuserPassword" | "replicationPassword" | "keepalivedPassword" | "restApiPassword" | "pgbouncerAuthPassword" | "monitoringPassword";
export const SECRET_NAMES: readonly SecretName[] = ["superuserPassword", "replicationPassword", "keepalivedPassword", "restApiPassword", "pgbouncerAuthPassword", "monitoringPassword"];

/** Plain secret values, only ever handled inside pulumi.Output.apply / all. */
export type Secrets = Readonly<Record<SecretName, string>>;

export function nodesWithRole(spec: ClusterSpec, role: Role): NodeSpec[] {
    return spec.nodes.filter((n) => n.roles.includes(role));
}
