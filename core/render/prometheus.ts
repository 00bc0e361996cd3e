// pgha:monitoring's Prometheus (Debian's `prometheus`, 2.42 on Debian 12, 2.53 on Debian 13) on
// prometheusHost: its arguments (Debian's /etc/default/prometheus), its web TLS, prometheus.yml
// and the rules. Every target is in ONE file_sd file, rendered from the topology: adding or
// removing a node rewrites only that file (Prometheus re-reads it by itself; pgha also reloads),
// prometheus.yml and the rules stay as they are.

import { ClusterSpec, NodeSpec, nodesWithRole } from "../spec";
import { CA_CERT_PATH, PROMETHEUS_TLS } from "../pki";
import { postgresMembers, vipByKeepalived, vipFollowsLeader } from "../topology";
import { RenderedFile, file, requireRole, toYaml11 } from "./file";
import { monitoringOf } from "./monitoring-exporters";
import { renderMonitoringRules } from "./monitoring-rules";

export const PROMETHEUS_DIR = "/etc/pgha/prometheus";
export const PROMETHEUS_CONFIG_PATH = `${PROMETHEUS_DIR}/prometheus.yml`;
export const PROMETHEUS_RULES_PATH = `${PROMETHEUS_DIR}/rules.yml`;
export const PROMETHEUS_TARGETS_PATH = `${PROMETHEUS_DIR}/targets.json`;
export const PROMETHEUS_WEB_CONFIG_PATH = `${PROMETHEUS_DIR}/web.yml`;
export const PROMETHEUS_DEFAULTS_PATH = "/etc/default/prometheus";
/** Debian's own storage directory (the package creates it for its user). */
export const PROMETHEUS_STORAGE_PATH = "/var/lib/prometheus/metrics2";
export const PROMETHEUS_UNIT = "prometheus";

/** The scrape jobs, each keeping only its own entries of the one targets file (label pgha_job). */
export type ScrapeJob = "prometheus" | "node" | "postgres" | "patroni" | "etcd" | "haproxy" | "vip";

interface TargetGroup {
    readonly targets: string[];
    readonly labels: Readonly<Record<string, string>>;
}

/** Whether a job's endpoints speak TLS, and whether they want a client certificate. */
const JOB_TLS: Readonly<Record<ScrapeJob, "client-cert" | "server-only" | "plain">> = {
    prometheus: "server-only",
    node: "client-cert",
    postgres: "client-cert",
    patroni: "server-only",
    etcd: "client-cert",
    // HAProxy's stats listener is plain HTTP already (pgha:haproxy.statsPort); its exporter answers there.
    haproxy: "plain",
    vip: "plain",
};

export function prometheusHostNode(spec: ClusterSpec): NodeSpec {
    const m = monitoringOf(spec);
    const node = spec.nodes.find((n) => n.name === m.prometheusHost);
    if (node === undefined) throw new Error(`pgha: pgha:monitoring.prometheusHost ${m.prometheusHost} is not a node`);
    return node;
}

/** "https://addr:port/": Prometheus' web UI and API (TLS with the monitor node's certificate). */
export function prometheusEndpoint(spec: ClusterSpec): string {
    return `https://${prometheusHostNode(spec).address}:${monitoringOf(spec).prometheusPort}/`;
}

/**
 * The VIP's job: the VIP answers when what stands behind it answers through it: HAProxy's exporter
 * on the stats port of whichever balancer holds it. With vip-manager nothing Prometheus can scrape
 * listens on the VIP (only PostgreSQL and PgBouncer: Patroni's REST API binds the node's address,
 * as the lab showed), so there is no VIP job; `npm run status` names the VIP's holder.
 */
function vipTarget(spec: ClusterSpec): string | undefined {
    return vipByKeepalived(spec) ? `${spec.vip!.address}:${spec.haproxy.statsPort}` : undefined;
}

/** Every target, by job and node, from the topology. */
export function scrapeTargets(spec: ClusterSpec): TargetGroup[] {
    const m = monitoringOf(spec);
    const group = (job: ScrapeJob, node: NodeSpec | undefined, target: string): TargetGroup => ({
        targets: [target],
        labels: { pgha_job: job, ...(node !== undefined ? { node: node.name } : {}) },
    });
    const prom = prometheusHostNode(spec);
    const vip = vipTarget(spec);
    return [
        group("prometheus", prom, `${prom.address}:${m.prometheusPort}`),
        ...spec.nodes.map((n) => group("node", n, `${n.address}:${m.nodeExporterPort}`)),
        ...postgresMembers(spec).map((n) => group("postgres", n, `${n.address}:${m.postgresExporterPort}`)),
        ...postgresMembers(spec).map((n) => group("patroni", n, `${n.address}:${spec.patroni.restApiPort}`)),
        ...nodesWithRole(spec, "etcd").map((n) => group("etcd", n, `${n.address}:${spec.etcd.clientPort}`)),
        ...(vipFollowsLeader(spec) ? [] : nodesWithRole(spec, "haproxy").map((n) => group("haproxy", n, `${n.address}:${spec.haproxy.statsPort}`))),
        ...(vip !== undefined ? [group("vip", undefined, vip)] : []),
    ];
}

/** The jobs this cluster has (the VIP's only with a VIP, HAProxy's only with balancers). */
export function scrapeJobs(spec: ClusterSpec): ScrapeJob[] {
    const present = new Set(scrapeTargets(spec).map((g) => g.labels.pgha_job));
    return (Object.keys(JOB_TLS) as ScrapeJob[]).filter((j) => present.has(j));
}

export function renderPrometheusTargets(spec: ClusterSpec): RenderedFile {
    return file(PROMETHEUS_TARGETS_PATH, `${JSON.stringify(scrapeTargets(spec), null, 2)}\n`, "0644");
}

function scrapeConfig(spec: ClusterSpec, job: ScrapeJob): Record<string, unknown> {
    const tls = JOB_TLS[job];
    const tlsConfig = tls === "client-cert" ? { ca_file: CA_CERT_PATH, cert_file: PROMETHEUS_TLS.cert, key_file: PROMETHEUS_TLS.key } : { ca_file: CA_CERT_PATH };
    return {
        job_name: job,
        scheme: tls === "plain" ? "http" : "https",
        ...(tls === "plain" ? {} : { tls_config: tlsConfig }),
        file_sd_configs: [{ files: [PROMETHEUS_TARGETS_PATH] }],
        relabel_configs: [
            { source_labels: ["pgha_job"], regex: job, action: "keep" },
            { regex: "pgha_job", action: "labeldrop" },
        ],
    };
}

/** prometheus.yml: node-independent (the targets are in their own file). */
export function renderPrometheusConfig(spec: ClusterSpec): RenderedFile {
    const m = monitoringOf(spec);
    const header = [
        `# Managed by pgha (cluster ${spec.clusterName}); \`pulumi up\` rewrites this file.`,
        `# Targets: ${PROMETHEUS_TARGETS_PATH} (from the topology); rules: ${PROMETHEUS_RULES_PATH}.`,
    ].join("\n");
    const config = {
        global: { scrape_interval: m.scrapeInterval, evaluation_interval: m.scrapeInterval, external_labels: { cluster: spec.clusterName } },
        rule_files: [PROMETHEUS_RULES_PATH],
        scrape_configs: scrapeJobs(spec).map((j) => scrapeConfig(spec, j)),
    };
    return file(PROMETHEUS_CONFIG_PATH, `${header}\n${toYaml11(config)}`, "0644");
}

export function renderPrometheusRules(spec: ClusterSpec): RenderedFile {
    return file(PROMETHEUS_RULES_PATH, renderMonitoringRules(spec), "0644");
}

/** Prometheus' own web UI and API: HTTPS with the monitor node's certificate (clients verify it with the cluster CA). */
export function renderPrometheusWebConfig(spec: ClusterSpec): RenderedFile {
    monitoringOf(spec);
    const content = [
        `# Managed by pgha (cluster ${spec.clusterName}): Prometheus' web UI and API over TLS (verify with the cluster CA).`,
        `tls_server_config:`,
        `  cert_file: ${PROMETHEUS_TLS.cert}`,
        `  key_file: ${PROMETHEUS_TLS.key}`,
        `  min_version: TLS12`,
        ``,
    ].join("\n");
    return file(PROMETHEUS_WEB_CONFIG_PATH, content, "0644");
}

/** Debian's /etc/default/prometheus: what only a restart applies (the listener, the retention, the paths). */
export function renderPrometheusDefaults(spec: ClusterSpec, node: NodeSpec): RenderedFile {
    const m = monitoringOf(spec);
    requireRole(node, "monitor", "Prometheus");
    const args = [
        `--config.file=${PROMETHEUS_CONFIG_PATH}`,
        `--storage.tsdb.path=${PROMETHEUS_STORAGE_PATH}`,
        `--storage.tsdb.retention.time=${m.retention}`,
        `--web.listen-address=${node.address}:${m.prometheusPort}`,
        `--web.config.file=${PROMETHEUS_WEB_CONFIG_PATH}`,
        `--web.external-url=${prometheusEndpoint(spec)}`,
    ];
    const content = [
        `# Managed by pgha (cluster ${spec.clusterName}): Prometheus' arguments; a change here restarts it.`,
        `# the distro's own is kept as ${PROMETHEUS_DEFAULTS_PATH}.pgha-orig.`,
        `ARGS='${args.join(" ")}'`,
        ``,
    ].join("\n");
    return file(PROMETHEUS_DEFAULTS_PATH, content, "0644");
}
