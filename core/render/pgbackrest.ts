// pgBackRest (pgha:backup): its configuration on the PostgreSQL nodes and on the repository
// hosts, the TLS server and backup units, and what Patroni gains (WAL archiving, replicas
// and bootstrap from the repository). Pure: the components place these files.
//
// Transport is pgBackRest's TLS server mode (2.37+) with pgha's own CA and node
// certificates, both ways: each node's client certificate CN is its node name, which
// tls-server-auth maps to the stanza. Option names as in pgBackRest 2.45 (Debian 12) and
// 2.55 (Debian 13): repo1-host-type=tls, pgN-host-type=tls, repoN-host-{ca,cert,key}-file,
// pgN-host-{ca,cert,key}-file, tls-server-{address,port,ca-file,cert-file,key-file,auth}.

import { BackupSpec, BackupType, ClusterSpec, NodeSpec, RepositorySpec, RestoreTarget, nodesWithRole } from "../spec";
import { CA_CERT_PATH, POSTGRES_TLS, SubjectAltNames, TlsFilePaths, nodeSubjectAltNames } from "../pki";
import { PATRONI_CONFIG_PATH, PatroniSecrets, patroniConfigObject, patroniDynamicConfig } from "./patroni";
import { RenderedFile, file, requireRole, toYaml11 } from "./file";
import { secretValueProblem } from "../config-secrets";

export const PGBACKREST = "/usr/bin/pgbackrest";
export const PGBACKREST_CONFIG_PATH = "/etc/pgbackrest/pgbackrest.conf";
/** pgBackRest reads every *.conf here too (its default config-include-path). */
export const PGBACKREST_INCLUDE_DIR = "/etc/pgbackrest/conf.d";
/** The repository passphrase alone, 0600, on the repository hosts only. */
export const PGBACKREST_CIPHER_PATH = `${PGBACKREST_INCLUDE_DIR}/pgha-cipher.conf`;
export const PGBACKREST_LOG_PATH = "/var/log/pgbackrest";
export const PG_SOCKET_PATH = "/var/run/postgresql";
/** pgBackRest runs as the PostgreSQL user everywhere (it owns the data directory and, on a repository host, the repository). */
export const PGBACKREST_USER = "postgres";
export const PGBACKREST_SERVER_UNIT = "pgha-pgbackrest-server.service";
const SYSTEMD_DIR = "/etc/systemd/system";

/** A repository host's own certificate and key (its node certificate, for the postgres user). */
export const BACKUP_TLS: TlsFilePaths = { cert: "/etc/pgha/tls/pgbackrest.crt", key: "/etc/pgha/tls/pgbackrest.key", owner: PGBACKREST_USER };

/** The certificate pgBackRest presents on `node`: a PostgreSQL node's own (postgres.crt), or a repository host's. */
export function pgbackrestTls(node: NodeSpec): TlsFilePaths {
    return node.roles.includes("backup") ? BACKUP_TLS : POSTGRES_TLS;
}

function backupOf(spec: ClusterSpec, what: string): BackupSpec {
    if (spec.backup === undefined) throw new Error(`pgha: ${what} requested, but pgha:backup is not set`);
    return spec.backup;
}

/** The nodes that run a pgBackRest TLS server: every PostgreSQL node and every repository host ([] without pgha:backup). */
export function pgbackrestServerNodes(spec: ClusterSpec): NodeSpec[] {
    if (spec.backup === undefined) return [];
    return spec.nodes.filter((n) => n.roles.includes("postgres") || n.roles.includes("backup"));
}

/** The nodes that need the pgbackrest package ([] without pgha:backup). */
export const pgbackrestPackageNodes = pgbackrestServerNodes;

/**
 * The names a serving node's certificate must carry. pgBackRest checks the server's
 * certificate against the host it dials (an address here); 2.45 (Debian 12) matches only DNS
 * names and the CN, IP SANs only from 2.46 (pgbackrest/pgbackrest#2047), so the address is
 * also given as a DNS name. Without pgha:backup, exactly nodeSubjectAltNames.
 */
export function pgbackrestSubjectAltNames(spec: ClusterSpec, node: NodeSpec): SubjectAltNames {
    const base = nodeSubjectAltNames(spec, node);
    if (!pgbackrestServerNodes(spec).some((n) => n.name === node.name)) return base;
    return { ips: base.ips, dns: [...new Set([...base.dns, node.address])] };
}

function nodeNamed(spec: ClusterSpec, name: string): NodeSpec {
    const n = spec.nodes.find((x) => x.name === name);
    if (n === undefined) throw new Error(`pgha: repository host ${name} is not a node`);
    return n;
}

/** The repositories a repository host holds itself. */
export function localRepositories(spec: ClusterSpec, node: NodeSpec): RepositorySpec[] {
    return backupOf(spec, "the repositories").repositories.filter((r) => r.host === node.name);
}

// ---------------------------------------------------------------------------
// pgbackrest.conf

type Line = readonly [string, string | number];

function ini(header: string, sections: readonly (readonly [string, readonly Line[]])[]): string {
    const out = [header];
    for (const [name, lines] of sections) {
        out.push("", `[${name}]`, ...lines.map(([k, v]) => `${k}=${v}`));
    }
    return `${out.join("\n")}\n`;
}

const managed = (spec: ClusterSpec, what: string): string => `# Managed by pgha (cluster ${spec.clusterName}): ${what}; \`pulumi up\` rewrites this file.`;

function logLines(): Line[] {
    return [
        ["log-level-console", "warn"],
        ["log-level-file", "info"],
        ["log-path", PGBACKREST_LOG_PATH],
    ];
}

function serverLines(spec: ClusterSpec, node: NodeSpec, clients: readonly string[], stanzas: readonly string[]): Line[] {
    const b = backupOf(spec, "the pgBackRest TLS server");
    const tls = pgbackrestTls(node);
    return [
        // The cluster address only (2.45 listens on the first address the name resolves to).
        ["tls-server-address", node.address],
        ["tls-server-port", b.port],
        ["tls-server-ca-file", CA_CERT_PATH],
        ["tls-server-cert-file", tls.cert],
        ["tls-server-key-file", tls.key],
        // One line per client: its certificate CN (the node name) and the stanzas it may use.
        ...clients.map((cn): Line => ["tls-server-auth", `${cn}=${stanzas.join(",")}`]),
    ];
}

/** The stanzas a PostgreSQL node may use on a repository host: its own, and the restore source's. */
function clientStanzas(b: BackupSpec): string[] {
    return [b.stanza, ...(b.restoreFrom !== undefined ? [b.restoreFrom.stanza] : [])];
}

/** /etc/pgbackrest/pgbackrest.conf on a PostgreSQL node: the repositories over TLS, and the server the repository hosts back up through. */
export function renderPgbackrestPostgresConfig(spec: ClusterSpec, node: NodeSpec): RenderedFile {
    requireRole(node, "postgres", "pgBackRest config");
    const b = backupOf(spec, "pgBackRest config");
    const tls = pgbackrestTls(node);
    const repoLines = b.repositories.flatMap((r): Line[] => [
        [`repo${r.index}-host`, nodeNamed(spec, r.host).address],
        [`repo${r.index}-host-type`, "tls"],
        [`repo${r.index}-host-port`, b.port],
        [`repo${r.index}-host-ca-file`, CA_CERT_PATH],
        [`repo${r.index}-host-cert-file`, tls.cert],
        [`repo${r.index}-host-key-file`, tls.key],
    ]);
    const repoHosts = [...new Set(b.repositories.map((r) => r.host))];
    const global: Line[] = [
        ...repoLines,
        // archive-push compresses here.
        ["compress-type", b.compressType],
        ["process-max", b.processMax],
        ["archive-async", "n"],
        ...logLines(),
        // Backups (from the repository hosts) read this node through its own server.
        ...serverLines(spec, node, repoHosts, [b.stanza]),
    ];
    const stanza: Line[] = [
        ["pg1-path", spec.postgres.dataDir],
        ["pg1-port", spec.postgres.port],
        ["pg1-socket-path", PG_SOCKET_PATH],
    ];
    const content = ini(managed(spec, `pgBackRest on PostgreSQL node ${node.name}`), [
        ["global", global],
        [b.stanza, stanza],
    ]);
    // No secret in it; the postgres user (archive_command, the server) reads it.
    return file(PGBACKREST_CONFIG_PATH, content, "0640", "root", PGBACKREST_USER);
}

/** /etc/pgbackrest/pgbackrest.conf on a repository host: its repositories, retention, and every PostgreSQL node over TLS. */
export function renderPgbackrestRepositoryConfig(spec: ClusterSpec, node: NodeSpec): RenderedFile {
    requireRole(node, "backup", "pgBackRest repository config");
    const b = backupOf(spec, "pgBackRest repository config");
    const repos = localRepositories(spec, node);
    if (repos.length === 0) throw new Error(`pgha: ${node.name} holds no repository of pgha:backup`);
    const tls = pgbackrestTls(node);
    const postgres = nodesWithRole(spec, "postgres");
    const repoLines = repos.flatMap((r): Line[] => [
        [`repo${r.index}-path`, r.path],
        [`repo${r.index}-retention-full`, b.retention.full],
        [`repo${r.index}-retention-diff`, b.retention.diff],
        // The passphrase itself is in PGBACKREST_CIPHER_PATH (0600).
        ...(b.encryption ? [[`repo${r.index}-cipher-type`, "aes-256-cbc"] as Line] : []),
    ]);
    const global: Line[] = [
        ...repoLines,
        ["compress-type", b.compressType],
        ["process-max", b.processMax],
        ["start-fast", "y"],
        // Copy the files from a replica (the leader only sends what the replica cannot).
        ...(postgres.length > 1 ? [["backup-standby", "y"] as Line] : []),
        ...logLines(),
        ...serverLines(
            spec,
            node,
            postgres.map((n) => n.name),
            clientStanzas(b),
        ),
    ];
    const stanza: Line[] = postgres.flatMap((n, i): Line[] => {
        const k = `pg${i + 1}`;
        return [
            [`${k}-host`, n.address],
            [`${k}-host-type`, "tls"],
            [`${k}-host-port`, b.port],
            [`${k}-host-ca-file`, CA_CERT_PATH],
            [`${k}-host-cert-file`, tls.cert],
            [`${k}-host-key-file`, tls.key],
            [`${k}-path`, spec.postgres.dataDir],
            [`${k}-port`, spec.postgres.port],
            [`${k}-socket-path`, PG_SOCKET_PATH],
        ];
    });
    const content = ini(managed(spec, `pgBackRest repository host ${node.name}`), [
        ["global", global],
        [b.stanza, stanza],
    ]);
    return file(PGBACKREST_CONFIG_PATH, content, "0640", "root", PGBACKREST_USER);
}

export interface BackupSecrets {
    readonly backupCipherPassphrase: string;
}
export const PLACEHOLDER_BACKUP_SECRETS: BackupSecrets = { backupCipherPassphrase: "<redacted:backupCipherPassphrase>" };

/**
 * The repository passphrase, on a repository host with encryption on: a file of its own,
 * 0600 for the postgres user, in pgBackRest's include directory. Undefined when encryption is off.
 */
export function renderPgbackrestCipherConfig(spec: ClusterSpec, node: NodeSpec, secrets: BackupSecrets): RenderedFile | undefined {
    requireRole(node, "backup", "pgBackRest cipher config");
    const b = backupOf(spec, "pgBackRest cipher config");
    if (!b.encryption) return undefined;
    const pass = secrets.backupCipherPassphrase;
    const problem = secretValueProblem("backupCipherPassphrase", pass);
    // The value itself never goes into the message.
    if (problem !== undefined) {
        throw new Error(`pgha: cannot render the pgBackRest cipher config: backupCipherPassphrase ${problem}`);
    }
    const lines = localRepositories(spec, node).map((r): Line => [`repo${r.index}-cipher-pass`, pass]);
    const content = ini(managed(spec, "the repository passphrase"), [["global", lines]]);
    return file(PGBACKREST_CIPHER_PATH, content, "0600", PGBACKREST_USER, PGBACKREST_USER);
}

// ---------------------------------------------------------------------------
// systemd units

/** pgBackRest's TLS server, on every node that serves (PostgreSQL nodes and repository hosts). */
export function renderPgbackrestServerUnit(spec: ClusterSpec): RenderedFile {
    const content = [
        `# Managed by pgha (cluster ${spec.clusterName}): pgBackRest's TLS server.`,
        `[Unit]`,
        `Description=pgBackRest TLS server (pgha cluster ${spec.clusterName})`,
        `After=network-online.target`,
        `Wants=network-online.target`,
        `StartLimitIntervalSec=0`,
        ``,
        `[Service]`,
        `Type=simple`,
        `User=${PGBACKREST_USER}`,
        `Group=${PGBACKREST_USER}`,
        `ExecStart=${PGBACKREST} server`,
        // Rereads the configuration and the certificates.
        `ExecReload=/bin/kill -HUP $MAINPID`,
        `Restart=always`,
        `RestartSec=1`,
        ``,
        `[Install]`,
        `WantedBy=multi-user.target`,
        ``,
    ].join("\n");
    return file(`${SYSTEMD_DIR}/${PGBACKREST_SERVER_UNIT}`, content, "0644");
}

export const backupUnitName = (type: BackupType): string => `pgha-backup-${type}`;

/** The command a backup unit runs for one repository (on the host that holds it). */
export function backupCommand(b: BackupSpec, type: BackupType, repo: number): string {
    return `${PGBACKREST} --stanza=${b.stanza} --repo=${repo} --type=${type} backup`;
}

/**
 * pgha-backup-{full,diff,incr}.service and .timer on a repository host, for each scheduled
 * type: one oneshot service backing up each repository the host holds in turn (a
 * backup also expires what the retention drops), and its timer.
 */
export function renderBackupUnits(spec: ClusterSpec, node: NodeSpec): RenderedFile[] {
    requireRole(node, "backup", "backup units");
    const b = backupOf(spec, "backup units");
    const repos = localRepositories(spec, node);
    const out: RenderedFile[] = [];
    for (const type of ["full", "diff", "incr"] as const) {
        const when = b.schedule[type];
        if (when === undefined) continue;
        const unit = backupUnitName(type);
        const service = [
            `# Managed by pgha (cluster ${spec.clusterName}): ${type} backup of stanza ${b.stanza}.`,
            `[Unit]`,
            `Description=pgBackRest ${type} backup of ${b.stanza} (pgha)`,
            `After=network-online.target ${PGBACKREST_SERVER_UNIT}`,
            `Wants=network-online.target`,
            ``,
            `[Service]`,
            `Type=oneshot`,
            `User=${PGBACKREST_USER}`,
            `Group=${PGBACKREST_USER}`,
            ...repos.map((r) => `ExecStart=${backupCommand(b, type, r.index)}`),
            ``,
        ].join("\n");
        const timer = [
            `# Managed by pgha (cluster ${spec.clusterName}).`,
            `[Unit]`,
            `Description=pgBackRest ${type} backup of ${b.stanza} (pgha), on schedule`,
            ``,
            `[Timer]`,
            `OnCalendar=${when}`,
            // A run missed while the host was off happens at the next boot.
            `Persistent=true`,
            ``,
            `[Install]`,
            `WantedBy=timers.target`,
            ``,
        ].join("\n");
        out.push(file(`${SYSTEMD_DIR}/${unit}.service`, service, "0644"), file(`${SYSTEMD_DIR}/${unit}.timer`, timer, "0644"));
    }
    return out;
}

/** Every pgBackRest file of one node ([] without pgha:backup, or on a node that does not take part). */
export function renderPgbackrestFiles(spec: ClusterSpec, node: NodeSpec, secrets: BackupSecrets): RenderedFile[] {
    if (spec.backup === undefined) return [];
    if (node.roles.includes("backup")) {
        const cipher = renderPgbackrestCipherConfig(spec, node, secrets);
        return [renderPgbackrestRepositoryConfig(spec, node), ...(cipher !== undefined ? [cipher] : []), renderPgbackrestServerUnit(spec), ...renderBackupUnits(spec, node)];
    }
    if (node.roles.includes("postgres")) return [renderPgbackrestPostgresConfig(spec, node), renderPgbackrestServerUnit(spec)];
    return [];
}

// ---------------------------------------------------------------------------
// Patroni

/** PostgreSQL parameters WAL archiving needs (in Patroni's dynamic configuration). */
export function archiveParameters(spec: ClusterSpec): Record<string, string | number> {
    const b = backupOf(spec, "archive parameters");
    return {
        archive_mode: "on",
        archive_command: `${PGBACKREST} --stanza=${b.stanza} archive-push %p`,
        archive_timeout: b.archiveTimeout,
    };
}

/** patroniDynamicConfig plus archiving; exactly patroniDynamicConfig without pgha:backup. */
export function patroniDynamicConfigWithBackup(spec: ClusterSpec): Record<string, unknown> {
    const dyn = patroniDynamicConfig(spec);
    if (spec.backup === undefined) return dyn;
    const pg = dyn.postgresql as Record<string, unknown>;
    return { ...dyn, postgresql: { ...pg, parameters: { ...(pg.parameters as Record<string, unknown>), ...archiveParameters(spec) } } };
}

/** pgBackRest's restore options for a target: `latest` replays all the archive, the others stop there and promote. */
export function restoreTargetOptions(t: RestoreTarget): string[] {
    switch (t.type) {
        case "latest":
            return [];
        case "time":
            return ["--type=time", `"--target=${t.time}"`, "--target-action=promote"];
        case "name":
            return ["--type=name", `--target=${t.name}`, "--target-action=promote"];
        case "xid":
            return ["--type=xid", `--target=${t.xid}`, "--target-action=promote"];
    }
}

/** Patroni's replica method: restore the latest backup of this cluster's stanza, then stream. */
export function pgbackrestReplicaCommand(spec: ClusterSpec): string {
    const b = backupOf(spec, "replica method");
    return `${PGBACKREST} --stanza=${b.stanza} --delta restore`;
}

/** The custom bootstrap method for pgha:backup.restoreFrom: a new cluster from the source stanza's backup. */
export const RESTORE_BOOTSTRAP_METHOD = "pgbackrest_restore";

export function restoreBootstrapCommand(spec: ClusterSpec): string | undefined {
    const from = spec.backup?.restoreFrom;
    if (from === undefined) return undefined;
    // --pg1-path: the source stanza has no section here. pgBackRest writes restore_command with these
    // options (the source stanza and repository) and recovery.signal; Patroni keeps them
    // (keep_existing_recovery_conf) until the recovery ends and the cluster promotes.
    return [PGBACKREST, `--stanza=${from.stanza}`, `--pg1-path=${spec.postgres.dataDir}`, `--repo=${from.repo}`, ...restoreTargetOptions(from.target), "restore"].join(" ");
}

/** The command of an in-place restore (pgha:restore), run on the one member that is restored first; see the report for the sequence. */
export function inPlaceRestoreCommand(spec: ClusterSpec): string | undefined {
    const r = spec.restore;
    if (r === undefined) return undefined;
    const b = backupOf(spec, "in-place restore");
    return [PGBACKREST, `--stanza=${b.stanza}`, "--delta", ...restoreTargetOptions(r.target), "restore"].join(" ");
}

/**
 * Patroni's config.yml object with pgBackRest: replicas are made from the repository first
 * (then pg_basebackup), a replica behind the leader's WAL reads the archive, and with
 * restoreFrom the cluster bootstraps from the source's backup. Exactly patroniConfigObject
 * without pgha:backup.
 */
export function patroniConfigObjectWithBackup(spec: ClusterSpec, node: NodeSpec, secrets: PatroniSecrets): Record<string, unknown> {
    const cfg = patroniConfigObject(spec, node, secrets);
    const b = spec.backup;
    if (b === undefined) return cfg;
    const pg = cfg.postgresql as Record<string, unknown>;
    const bootstrap = cfg.bootstrap as Record<string, unknown>;
    const restore = restoreBootstrapCommand(spec);
    return {
        ...cfg,
        bootstrap:
            restore === undefined
                ? bootstrap
                : {
                      ...bootstrap,
                      method: RESTORE_BOOTSTRAP_METHOD,
                      [RESTORE_BOOTSTRAP_METHOD]: { command: restore, keep_existing_recovery_conf: true, no_params: true },
                  },
        postgresql: {
            ...pg,
            create_replica_methods: ["pgbackrest", "basebackup"],
            pgbackrest: { command: pgbackrestReplicaCommand(spec), keep_data: true, no_params: true },
            recovery_conf: { restore_command: `${PGBACKREST} --stanza=${b.stanza} archive-get %f "%p"` },
        },
    };
}

/** renderPatroniConfig's file with pgBackRest (the same file, byte for byte, without pgha:backup). */
export function renderPatroniConfigWithBackup(spec: ClusterSpec, node: NodeSpec, secrets: PatroniSecrets): RenderedFile {
    const header = `# Managed by pgha (cluster ${spec.clusterName}); \`pulumi up\` rewrites this file.\n`;
    return file(PATRONI_CONFIG_PATH, header + toYaml11(patroniConfigObjectWithBackup(spec, node, secrets)), "0600", "postgres", "postgres");
}
