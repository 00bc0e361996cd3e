// pgha:monitoring on every node: Debian's prometheus-node-exporter (every node) and
// prometheus-postgres-exporter (PostgreSQL nodes). Both read their arguments from Debian's
// /etc/default file (the units run `$ARGS`), listen on the node's address only, and speak TLS
// only, with the node's certificate, to clients holding a certificate of the cluster CA (that
// is, Prometheus): nothing new answers in plain text. Read by node_exporter 1.5 / 1.9 and
// postgres_exporter 0.11 / 0.17 (Debian 12 / 13): only flags and variables both have.

import { ClusterSpec, MonitoringSpec, NodeSpec } from "../spec";
import { CA_CERT_PATH, PROMETHEUS_TLS } from "../pki";
import { secretValueProblem } from "../config-secrets";
import { MONITORING_USER } from "../topology";
import { RenderedFile, file, requireRole } from "./file";

export const MONITORING_DIR = "/etc/pgha/monitoring";
/** The exporters' TLS settings (exporter-toolkit's web config, re-read on every connection: no restart). */
export const EXPORTER_WEB_CONFIG_PATH = `${MONITORING_DIR}/exporter-web.yml`;
export const NODE_EXPORTER_DEFAULTS_PATH = "/etc/default/prometheus-node-exporter";
export const POSTGRES_EXPORTER_DEFAULTS_PATH = "/etc/default/prometheus-postgres-exporter";
/** postgres_exporter's password (DATA_SOURCE_PASS_FILE): 0600, its user's, written from secret stdin. */
export const POSTGRES_EXPORTER_PASSWORD_PATH = `${MONITORING_DIR}/postgres-exporter.password`;
/** node_exporter's textfile collector: pgha's own metrics (the certificates' end). */
export const TEXTFILE_DIR = "/var/lib/pgha/node-exporter";
export const CERTIFICATE_METRICS_PATH = `${TEXTFILE_DIR}/pgha-certificates.prom`;
export const NODE_EXPORTER_UNIT = "prometheus-node-exporter";
export const POSTGRES_EXPORTER_UNIT = "prometheus-postgres-exporter";
/** The user Debian's exporter and Prometheus units run as. */
export const PROMETHEUS_USER = "prometheus";
/** pgBackRest's timers and services (components/backup-repository.ts): node_exporter's systemd collector watches them on repository hosts. */
export const BACKUP_UNITS_RE = "pgha-backup-.+";

export function monitoringOf(spec: ClusterSpec): MonitoringSpec {
    if (spec.monitoring === undefined) throw new Error("pgha: monitoring files without pgha:monitoring");
    return spec.monitoring;
}

/** Both exporters' web config: TLS 1.2+, the node's certificate, and a client certificate of the cluster CA required. */
export function renderExporterWebConfig(spec: ClusterSpec): RenderedFile {
    monitoringOf(spec);
    const content = [
        `# Managed by pgha (cluster ${spec.clusterName}): node_exporter's and postgres_exporter's TLS.`,
        `# Only clients with a certificate of the cluster CA (Prometheus) are answered.`,
        `tls_server_config:`,
        `  cert_file: ${PROMETHEUS_TLS.cert}`,
        `  key_file: ${PROMETHEUS_TLS.key}`,
        `  client_auth_type: RequireAndVerifyClientCert`,
        `  client_ca_file: ${CA_CERT_PATH}`,
        `  min_version: TLS12`,
        ``,
    ].join("\n");
    return file(EXPORTER_WEB_CONFIG_PATH, content, "0644");
}

/** Debian's defaults file of a unit that runs `$ARGS`: pgha's arguments (and variables), one per line. */
function defaultsFile(spec: ClusterSpec, path: string, what: string, args: readonly string[], vars: Readonly<Record<string, string>> = {}): RenderedFile {
    const lines = [
        `# Managed by pgha (cluster ${spec.clusterName}): ${what}. \`pulumi up\` rewrites this file;`,
        `# the distro's own is kept as ${path}.pgha-orig.`,
        ...Object.entries(vars).map(([k, v]) => `${k}='${v}'`),
        `ARGS='${args.join(" ")}'`,
        ``,
    ];
    return file(path, lines.join("\n"), "0644");
}

/** Repository hosts: node_exporter's systemd collector sees the backup timers and services (their last run, a failure). */
export function watchesBackups(spec: ClusterSpec, node: NodeSpec): boolean {
    return spec.backup !== undefined && node.roles.includes("backup");
}

export function renderNodeExporterDefaults(spec: ClusterSpec, node: NodeSpec): RenderedFile {
    const m = monitoringOf(spec);
    const systemd = watchesBackups(spec, node) ? ["--collector.systemd", `--collector.systemd.unit-include=${BACKUP_UNITS_RE}`] : [];
    return defaultsFile(spec, NODE_EXPORTER_DEFAULTS_PATH, "node_exporter on this node's address, TLS only", [
        `--web.listen-address=${node.address}:${m.nodeExporterPort}`,
        `--web.config.file=${EXPORTER_WEB_CONFIG_PATH}`,
        `--collector.textfile.directory=${TEXTFILE_DIR}`,
        ...systemd,
    ]);
}

/**
 * postgres_exporter: to this node's own PostgreSQL over TLS on loopback (verify-full: the
 * certificate names 127.0.0.1), as MONITORING_USER, whose password it reads from a file.
 */
export function renderPostgresExporterDefaults(spec: ClusterSpec, node: NodeSpec): RenderedFile {
    const m = monitoringOf(spec);
    requireRole(node, "postgres", "postgres_exporter");
    return defaultsFile(
        spec,
        POSTGRES_EXPORTER_DEFAULTS_PATH,
        "postgres_exporter on this node's address, TLS only",
        [`--web.listen-address=${node.address}:${m.postgresExporterPort}`, `--web.config.file=${EXPORTER_WEB_CONFIG_PATH}`],
        {
            DATA_SOURCE_NAME: "",
            DATA_SOURCE_URI: `127.0.0.1:${spec.postgres.port}/postgres?sslmode=verify-full&sslrootcert=${CA_CERT_PATH}`,
            DATA_SOURCE_USER: MONITORING_USER,
            DATA_SOURCE_PASS_FILE: POSTGRES_EXPORTER_PASSWORD_PATH,
        },
    );
}

/** The password file. Call with PLACEHOLDER_SECRETS for the public rendering; the real one travels as secret stdin. */
export function renderPostgresExporterPassword(spec: ClusterSpec, node: NodeSpec, password: string): RenderedFile {
    monitoringOf(spec);
    requireRole(node, "postgres", "postgres_exporter");
    const problem = secretValueProblem("monitoringPassword", password);
    // The value itself never goes into the message.
    if (problem !== undefined) throw new Error(`pgha: cannot render postgres_exporter's password file: monitoringPassword ${problem}`);
    return file(POSTGRES_EXPORTER_PASSWORD_PATH, password, "0600", PROMETHEUS_USER);
}

/**
 * pgha's record of this node's certificate end, for the certificate alert (node_exporter's
 * textfile collector). `notAfter`: ISO 8601, as the stack output `certificates` records it.
 */
export function renderCertificateMetrics(spec: ClusterSpec, node: NodeSpec, notAfter: string): RenderedFile {
    monitoringOf(spec);
    const seconds = Math.floor(Date.parse(notAfter) / 1000);
    if (!Number.isFinite(seconds)) throw new Error(`pgha: ${node.name}: certificate end ${JSON.stringify(notAfter)} is not a time`);
    const content = [
        `# HELP pgha_certificate_not_after_seconds When the node certificate pgha issued ends (Unix time); pgha renews it at \`pulumi up\` within 30 days of it.`,
        `# TYPE pgha_certificate_not_after_seconds gauge`,
        `pgha_certificate_not_after_seconds{node="${node.name}"} ${seconds}`,
        ``,
    ].join("\n");
    return file(CERTIFICATE_METRICS_PATH, content, "0644");
}
