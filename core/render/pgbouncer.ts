// PgBouncer (pgha:pgbouncer) on every PostgreSQL node, in front of that node's own PostgreSQL:
// pgbouncer.ini, its hba file, the auth_file (the lookup role's line only) and the systemd
// drop-in (pgha's config path, LimitNOFILE). Debian's own /etc/pgbouncer is left alone.
// Read by PgBouncer 1.18 (Debian 12) and 1.24 (Debian 13): no setting newer than 1.18.

import { ClusterSpec, NodeSpec } from "../spec";
import { CA_CERT_PATH, POSTGRES_TLS } from "../pki";
import { nodesWithRole } from "../spec";
import { vipFollowsLeader } from "../topology";
import { maxConnectionsOf } from "../config-build";
import { secretValueProblem } from "../config-secrets";
import { RenderedFile, file, requireRole } from "./file";
import { renderTemplate } from "./templates";
import { NOFILE_MARGIN } from "./haproxy";

export const PGBOUNCER_DIR = "/etc/pgha/pgbouncer";
export const PGBOUNCER_INI_PATH = `${PGBOUNCER_DIR}/pgbouncer.ini`;
export const PGBOUNCER_HBA_PATH = `${PGBOUNCER_DIR}/pg_hba.conf`;
export const PGBOUNCER_AUTH_FILE_PATH = `${PGBOUNCER_DIR}/userlist.txt`;
/** pgha's systemd drop-in for Debian's pgbouncer.service. */
export const PGBOUNCER_DROPIN_PATH = "/etc/systemd/system/pgbouncer.service.d/pgha.conf";
export const PGBOUNCER_BIN = "/usr/sbin/pgbouncer";
/** The least-privilege role PgBouncer looks client verifiers up with (auth_user). */
export const PGBOUNCER_AUTH_USER = "pgha_pgbouncer";
/** The schema holding the lookup function; only PGBOUNCER_AUTH_USER may use it. */
export const PGBOUNCER_AUTH_SCHEMA = "pgha_pgbouncer";

const RUN_AS = "postgres";
/** How long a stop (or restart) waits for server connections to be released before systemd kills PgBouncer. */
export const PGBOUNCER_STOP_TIMEOUT_SEC = 30;

/** PgBouncer's open files: every client, every server connection (at most PostgreSQL's max_connections, or the pools), and a margin. */
export function pgbouncerNofile(spec: ClusterSpec): number {
    const p = spec.pgbouncer;
    if (p === undefined) throw new Error("pgha: pgbouncerNofile without pgha:pgbouncer");
    const pools = p.defaultPoolSize + Object.values(p.databases).reduce((sum, d) => sum + (d.poolSize ?? 0), 0);
    return p.maxClientConn + Math.max(maxConnectionsOf(spec.postgres.parameters), pools) + NOFILE_MARGIN;
}

function pgbouncerOf(spec: ClusterSpec, node: NodeSpec) {
    requireRole(node, "postgres", "PgBouncer config");
    if (spec.pgbouncer === undefined) throw new Error("pgha: PgBouncer files without pgha:pgbouncer");
    return spec.pgbouncer;
}

export function renderPgbouncerIni(spec: ClusterSpec, node: NodeSpec): RenderedFile {
    const p = pgbouncerOf(spec, node);
    const content = renderTemplate("pgbouncer.ini.hbs", {
        clusterName: spec.clusterName,
        nodeName: node.name,
        // PostgreSQL is reached at the node's own address (its certificate's name); PgBouncer listens there and, with vip-manager, on the VIP.
        address: node.address,
        listenAddr: listenAddresses(spec, node),
        postgresPort: spec.postgres.port,
        port: p.port,
        databases: Object.entries(p.databases).map(([name, d]) => ({ name, poolMode: d.poolMode ?? "", poolSize: d.poolSize ?? 0 })),
        hbaFile: PGBOUNCER_HBA_PATH,
        authFile: PGBOUNCER_AUTH_FILE_PATH,
        authUser: PGBOUNCER_AUTH_USER,
        authSchema: PGBOUNCER_AUTH_SCHEMA,
        poolMode: p.poolMode,
        defaultPoolSize: p.defaultPoolSize,
        maxClientConn: p.maxClientConn,
        certFile: POSTGRES_TLS.cert,
        keyFile: POSTGRES_TLS.key,
        caFile: CA_CERT_PATH,
    });
    return file(PGBOUNCER_INI_PATH, content, "0640", RUN_AS);
}

/**
 * Who may log in through PgBouncer: what pg_hba admits as clients (the balancers, through
 * which pooled services arrive, and pgha:postgres.allowedClientCidrs), over TLS with
 * SCRAM-SHA-256 only. PostgreSQL admits every PgBouncer connection (it comes from the node's
 * own address), so this file is where a direct client of port pgbouncer.port is filtered.
 */
export function pgbouncerHbaLines(spec: ClusterSpec): string[] {
    const balancers = nodesWithRole(spec, "haproxy").map((n) => `${n.address}/32`);
    return [...new Set([...balancers, ...spec.postgres.allowedClientCidrs].map((c) => `hostssl all all ${c} scram-sha-256`))];
}

export function renderPgbouncerHba(spec: ClusterSpec, node: NodeSpec): RenderedFile {
    pgbouncerOf(spec, node);
    const content = [`# Managed by pgha (cluster ${spec.clusterName}): who may log in through PgBouncer; anything else is refused.`, ...pgbouncerHbaLines(spec), ""].join("\n");
    return file(PGBOUNCER_HBA_PATH, content, "0640", RUN_AS);
}

/** A value in PgBouncer's auth_file: double-quoted, an inner quote doubled. */
const authFileQuote = (s: string): string => `"${s.replace(/"/g, '""')}"`;

/**
 * The auth_file: the lookup role's line only, with its password in clear (PgBouncer logs in to
 * PostgreSQL with it). Application roles are never here: auth_query reads their verifiers.
 * Call with PLACEHOLDER_SECRETS for the public rendering; the real one travels as secret stdin.
 */
export function renderPgbouncerAuthFile(spec: ClusterSpec, node: NodeSpec, password: string): RenderedFile {
    pgbouncerOf(spec, node);
    const problem = secretValueProblem("pgbouncerAuthPassword", password);
    // The value itself never goes into the message.
    if (problem !== undefined) throw new Error(`pgha: cannot render PgBouncer's auth_file: pgbouncerAuthPassword ${problem}`);
    return file(PGBOUNCER_AUTH_FILE_PATH, `${authFileQuote(PGBOUNCER_AUTH_USER)} ${authFileQuote(password)}\n`, "0600", RUN_AS);
}

/** Debian's unit with pgha's file and the open-files limit (a new limit is raised in the running process: no restart). */
export function renderPgbouncerDropIn(spec: ClusterSpec, node: NodeSpec): RenderedFile {
    const p = pgbouncerOf(spec, node);
    const pools = `max(max_connections ${maxConnectionsOf(spec.postgres.parameters)}, the pools)`;
    return file(
        PGBOUNCER_DROPIN_PATH,
        [
            `# Managed by pgha (cluster ${spec.clusterName}): PgBouncer reads pgha's file; its open files are`,
            `# pgha:pgbouncer.maxClientConn (${p.maxClientConn}) + ${pools} + ${NOFILE_MARGIN}.`,
            `[Service]`,
            `User=${RUN_AS}`,
            `ExecStart=`,
            `ExecStart=${PGBOUNCER_BIN} ${PGBOUNCER_INI_PATH}`,
            `ExecReload=`,
            `ExecReload=/bin/kill -HUP $MAINPID`,
            `LimitNOFILE=${pgbouncerNofile(spec)}`,
            // Debian's KillSignal=SIGINT waits for every server connection to be released: a session-pool
            // client that never leaves would hold a stop (and a restart) for systemd's 90 s default.
            `TimeoutStopSec=${PGBOUNCER_STOP_TIMEOUT_SEC}`,
            ``,
        ].join("\n"),
        "0644",
    );
}

/** The node's address; with vip-manager also the VIP (bound ahead, as PostgreSQL does): clients reach the leader's PgBouncer on it. */
function listenAddresses(spec: ClusterSpec, node: NodeSpec): string {
    return vipFollowsLeader(spec) ? `${node.address},${spec.vip!.address}` : node.address;
}

/**
 * What only a restart applies: PgBouncer reads listen_addr and listen_port at start, systemd the
 * drop-in's ExecStart at exec. A change of it restarts PgBouncer; any other change reloads it
 * (LimitNOFILE too: the component raises the running process's limit in place).
 */
export function pgbouncerRestartKey(spec: ClusterSpec, node: NodeSpec): string {
    const p = pgbouncerOf(spec, node);
    const dropIn = renderPgbouncerDropIn(spec, node)
        .content.split("\n")
        .filter((l) => l.startsWith("ExecStart=") || l.startsWith("User="));
    return JSON.stringify({ listen: `${listenAddresses(spec, node)}:${p.port}`, dropIn });
}
