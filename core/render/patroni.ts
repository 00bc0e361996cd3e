// Patroni 3.0 (Debian's patroni.service reads /etc/patroni/config.yml).
// Built as an object and written with the yaml package: passwords with any
// character stay intact, and nothing is assembled from YAML text.

import { ClusterSpec, NodeSpec, Secrets } from "../spec";
import { PATRONI_NAMESPACE, REPLICATION_USER, SUPERUSER, etcdClientEndpoints, pgHbaBootstrapLines, pgHbaLines, postgresMembers, vipFollowsLeader, walSendersFor } from "../topology";
import { REST_API_USER, secretValueProblem } from "../config-secrets";
import { CA_CERT_PATH, POSTGRES_TLS } from "../pki";
import { PROFILES } from "../profiles";
import { PLACEHOLDER_SECRETS, RenderedFile, file, requireRole, toYaml11 } from "./file";

export const PATRONI_CONFIG_PATH = "/etc/patroni/config.yml";
export const PATRONI_PGPASS_PATH = "/var/lib/postgresql/.pgpass_patroni";
export const POSTGRES_SOCKET_DIR = "/var/run/postgresql";

type Scalar = string | number | boolean;

/**
 * PostgreSQL settings every pgha cluster starts from; pgha:postgres.parameters
 * overrides them. Strings, not booleans, for on/off: they go to
 * postgresql.conf as written.
 */
export function defaultPostgresParameters(version: number): Record<string, Scalar> {
    return {
        wal_level: "replica",
        hot_standby: "on",
        max_wal_senders: 10,
        max_replication_slots: 10,
        // wal_keep_size replaced wal_keep_segments (16 MB each) in PostgreSQL 13.
        ...(version >= 13 ? { wal_keep_size: "128MB" } : { wal_keep_segments: 8 }),
        wal_log_hints: "on",
        password_encryption: "scram-sha-256",
    };
}

/**
 * Patroni's dynamic configuration: what bootstrap.dcs seeds and what a
 * later change must apply through the DCS (PATCH /config), not through files.
 */
export function patroniDynamicConfig(spec: ClusterSpec): Record<string, unknown> {
    const p = spec.patroni;
    const senders = walSendersFor(postgresMembers(spec).length);
    return {
        ttl: p.ttl,
        loop_wait: p.loopWait,
        retry_timeout: p.retryTimeout,
        maximum_lag_on_failover: p.maximumLagOnFailover,
        synchronous_mode: p.synchronousMode,
        synchronous_mode_strict: p.synchronousModeStrict,
        postgresql: {
            use_pg_rewind: true,
            use_slots: true,
            parameters: {
                ...defaultPostgresParameters(spec.postgres.version),
                // Sized by the member count (config.yml's bootstrap keeps 10: it never changes with the
                // members). Applied before any replica clones (PatroniDynamicConfig), so a large cluster's
                // leader restarts once, alone, at creation.
                max_wal_senders: senders,
                max_replication_slots: senders,
                // At most retry_timeout: with loop_wait + 2 x retry_timeout <= ttl, an isolated leader's demotion then ends before ttl.
                wal_sender_timeout: `${Math.min(PROFILES[p.profile].walSenderTimeoutSec, p.retryTimeout)}s`,
                // A replica re-pointed at a new leader retries soon after its first, too early, attempt.
                wal_retrieve_retry_interval: `${PROFILES[p.profile].walRetrieveRetryIntervalMs}ms`,
                ...spec.postgres.parameters,
            },
            // In the DCS, not in config.yml: adding or removing a member is one PATCH, no file rewrite.
            pg_hba: pgHbaLines(spec),
        },
    };
}

/**
 * What config.yml seeds the DCS with at initialisation: only what never changes
 * for a given major version. Everything a user can change (timings, synchronous
 * mode, parameters) is applied once for the cluster through the DCS by
 * PatroniDynamicConfig, so editing it never rewrites a file on any server.
 */
export function patroniBootstrapDcs(spec: ClusterSpec): Record<string, unknown> {
    return {
        postgresql: {
            use_pg_rewind: true,
            use_slots: true,
            parameters: defaultPostgresParameters(spec.postgres.version),
        },
    };
}

export type PatroniSecrets = Pick<Secrets, "superuserPassword" | "replicationPassword" | "restApiPassword">;

function checkSecrets(secrets: PatroniSecrets): void {
    for (const name of ["superuserPassword", "replicationPassword", "restApiPassword"] as const) {
        const problem = secretValueProblem(name, secrets[name]);
        // The value itself never goes into the message.
        if (problem !== undefined) throw new Error(`pgha: cannot render the Patroni config: ${name} ${problem}`);
    }
}

export function patroniConfigObject(spec: ClusterSpec, node: NodeSpec, secrets: PatroniSecrets): Record<string, unknown> {
    requireRole(node, "postgres", "Patroni config");
    checkSecrets(secrets);
    const api = `${node.address}:${spec.patroni.restApiPort}`;
    // Every TCP connection Patroni makes (replication, pg_rewind, checks on the leader) checks
    // the server's certificate against the cluster CA and its address (IP SAN).
    const verify = { sslmode: "verify-full", sslrootcert: CA_CERT_PATH };
    const superuser = { username: SUPERUSER, password: secrets.superuserPassword, ...verify };
    return {
        scope: spec.clusterName,
        namespace: PATRONI_NAMESPACE,
        name: node.name,
        restapi: {
            listen: api,
            connect_address: api,
            // Unsafe endpoints (PATCH /config, restart, switchover) only from the members themselves.
            // Members come from the DCS (allowlist_include_members), so membership changes rewrite no file.
            allowlist: ["127.0.0.1"],
            allowlist_include_members: true,
            // HTTPS with the node certificate; unsafe endpoints also need basic auth.
            certfile: POSTGRES_TLS.cert,
            keyfile: POSTGRES_TLS.key,
            cafile: CA_CERT_PATH,
            authentication: { username: REST_API_USER, password: secrets.restApiPassword },
        },
        // patronictl, and Patroni itself when it asks other members' REST API (PatroniRequest
        // reads ctl.cacert, else restapi.cafile): verify members against the cluster CA.
        ctl: { insecure: false, cacert: CA_CERT_PATH },
        // etcd requires a client certificate: the node's own.
        etcd3: { hosts: etcdClientEndpoints(spec), protocol: "https", cacert: CA_CERT_PATH, cert: POSTGRES_TLS.cert, key: POSTGRES_TLS.key },
        bootstrap: {
            dcs: patroniBootstrapDcs(spec),
            initdb: [{ encoding: "UTF8" }, "data-checksums"],
            // Until the dynamic config (with the full pg_hba) reaches the DCS.
            pg_hba: pgHbaBootstrapLines(),
        },
        postgresql: {
            // With vip-manager the VIP is PostgreSQL's own front door: bound before it arrives (ip_nonlocal_bind, host prep).
            listen: `${[node.address, "127.0.0.1", ...(vipFollowsLeader(spec) ? [spec.vip!.address] : [])].join(",")}:${spec.postgres.port}`,
            connect_address: `${node.address}:${spec.postgres.port}`,
            data_dir: spec.postgres.dataDir,
            bin_dir: spec.postgres.binDir,
            pgpass: PATRONI_PGPASS_PATH,
            authentication: {
                superuser,
                replication: { username: REPLICATION_USER, password: secrets.replicationPassword, ...verify },
                // The superuser can rewind; Patroni then creates no separate role.
                rewind: { ...superuser },
            },
            // Local (not DCS) parameters: TLS is on from the very first start.
            parameters: {
                unix_socket_directories: POSTGRES_SOCKET_DIR,
                ssl: "on",
                ssl_cert_file: POSTGRES_TLS.cert,
                ssl_key_file: POSTGRES_TLS.key,
                ssl_ca_file: CA_CERT_PATH,
            },
            // Patroni's own local connections go through the socket (peer auth).
            use_unix_socket: true,
            create_replica_methods: ["basebackup"],
            basebackup: [{ checkpoint: "fast" }],
        },
        tags: { ...node.patroniTags },
        // No watchdog device in the lab or on typical VMs; Patroni would refuse to start with "required".
        watchdog: { mode: "off" },
    };
}

export function renderPatroniConfig(spec: ClusterSpec, node: NodeSpec, secrets: PatroniSecrets): RenderedFile {
    const header = `# Managed by pgha (cluster ${spec.clusterName}); \`pulumi up\` rewrites this file.\n`;
    const content = header + toYaml11(patroniConfigObject(spec, node, secrets));
    // Holds passwords: readable by the postgres user (Patroni runs as it) only.
    return file(PATRONI_CONFIG_PATH, content, "0600", "postgres", "postgres");
}

/** The same file with placeholder secrets: safe to hash, diff or print. */
export function renderPatroniConfigRedacted(spec: ClusterSpec, node: NodeSpec): RenderedFile {
    return renderPatroniConfig(spec, node, PLACEHOLDER_SECRETS);
}

export const PATRONI_DROPIN_PATH = "/etc/systemd/system/patroni.service.d/pgha.conf";

/** Debian's patroni.service, started through pgha's launcher (server/patroni-run.py). */
export function renderPatroniDropIn(spec: ClusterSpec, launcher: string): RenderedFile {
    const content = [
        `# Managed by pgha (cluster ${spec.clusterName}): Patroni with pgha's fix for Patroni 3.0.2's etcd3 leader-key renewal.`,
        `# Takes effect when Patroni next starts; pgha never restarts a running Patroni for it.`,
        `[Service]`,
        `ExecStart=`,
        `ExecStart=/usr/bin/python3 ${launcher} ${PATRONI_CONFIG_PATH}`,
        ``,
    ].join("\n");
    return file(PATRONI_DROPIN_PATH, content, "0644");
}
