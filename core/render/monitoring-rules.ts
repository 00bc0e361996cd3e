// pgha:monitoring's recording and alerting rules: what a DBA wants on day one, thresholds from
// pgha:monitoring.alerts. Metric names as the Debian packages' programs expose them:
// - Patroni 3.0.2 / 4.0 /metrics: patroni_primary, patroni_replica, patroni_postgres_running,
//   patroni_xlog_location (leader), patroni_xlog_replayed_location (replicas),
//   patroni_postgres_streaming (only from Patroni 3.0.3 on: on Debian 12 the not-streaming alert stays silent);
// - etcd 3.4 / 3.5: etcd_server_has_leader;
// - HAProxy 2.6 / 3.0's built-in exporter: haproxy_backend_active_servers{proxy="primary"};
// - postgres_exporter 0.11 / 0.17: pg_stat_archiver_failed_count (seen on 0.11 here), and
//   pg_replication_lag_seconds from 0.13's replication collector on (Debian 12's 0.11 serves no
//   replication lag without a custom query file: there the lag-in-seconds alert stays silent;
//   the lag-in-bytes one, from Patroni, covers it); pg_replication_lag is older queries.yaml's name;
// - node_exporter 1.5 / 1.9: node_filesystem_*, node_systemd_* (repository hosts), and pgha's
//   textfile metric pgha_certificate_not_after_seconds.
// Each rule only refers to jobs the cluster has (core/render/prometheus.ts: scrapeJobs).

import { ClusterSpec } from "../spec";
import { toYaml11 } from "./file";
import { monitoringOf } from "./monitoring-exporters";
import { ScrapeJob, scrapeJobs } from "./prometheus";

interface Recording {
    readonly record: string;
    readonly expr: string;
}
interface Alert {
    readonly alert: string;
    readonly expr: string;
    readonly for?: string;
    readonly labels: { readonly severity: "critical" | "warning" };
    readonly annotations: { readonly summary: string; readonly description: string };
}

/** Filesystems that are not disks. */
const NOT_DISKS = `fstype!~"tmpfs|ramfs|squashfs|overlay|nsfs|devtmpfs"`;

/** The recording rules (`pgha:` names, so Prometheus' own UI lists them together). */
export function recordingRules(spec: ClusterSpec): Recording[] {
    const jobs = new Set<ScrapeJob>(scrapeJobs(spec));
    return [
        { record: "pgha:patroni_leaders:count", expr: `sum(patroni_primary{job="patroni"} == 1) or vector(0)` },
        { record: "pgha:patroni_members_running:count", expr: `sum(patroni_postgres_running{job="patroni"} == 1) or vector(0)` },
        {
            // Per replica: the leader's WAL position minus what the replica replayed.
            record: "pgha:replica_lag:bytes",
            expr:
                `max by (scope) (patroni_xlog_location{job="patroni"} and on (instance) patroni_primary{job="patroni"} == 1)` +
                ` - on (scope) group_right () (patroni_xlog_replayed_location{job="patroni"} and on (instance) patroni_replica{job="patroni"} == 1)`,
        },
        // postgres_exporter 0.13+ (Debian 13's 0.17): pg_replication_lag_seconds; older queries.yaml: pg_replication_lag.
        // Counted only while the replica has WAL left to replay: the exporter's figure is "now minus the last
        // replayed commit" whenever receive and replay positions differ, which after a pg_rewind (receive at a
        // segment start, behind replay) on a quiet cluster grows without any lag (seen on the lab).
        {
            record: "pgha:replica_lag:seconds",
            expr: `max by (node) (pg_replication_lag_seconds{job="postgres"} or pg_replication_lag{job="postgres"}) * on (node) (max by (node) (pgha:replica_lag:bytes) > bool 0)`,
        },
        ...(jobs.has("etcd")
            ? [
                  { record: "pgha:etcd_members_up:count", expr: `sum(up{job="etcd"})` },
                  { record: "pgha:etcd_members:count", expr: `count(up{job="etcd"})` },
              ]
            : []),
        ...(jobs.has("haproxy") ? [{ record: "pgha:haproxy_primary_servers_up:min", expr: `min by (node) (haproxy_backend_active_servers{job="haproxy",proxy="primary"})` }] : []),
        {
            record: "pgha:filesystem_free:percent",
            expr: `100 * node_filesystem_avail_bytes{job="node",${NOT_DISKS}} / node_filesystem_size_bytes{job="node",${NOT_DISKS}}`,
        },
    ];
}

const alert = (name: string, expr: string, forTime: string | undefined, severity: "critical" | "warning", summary: string, description: string): Alert => ({
    alert: name,
    expr,
    ...(forTime !== undefined ? { for: forTime } : {}),
    labels: { severity },
    annotations: { summary, description },
});

export function alertRules(spec: ClusterSpec): Alert[] {
    const a = monitoringOf(spec).alerts;
    const jobs = new Set<ScrapeJob>(scrapeJobs(spec));
    const out: Alert[] = [
        alert("PghaNoLeader", `pgha:patroni_leaders:count == 0`, "1m", "critical", "No Patroni leader", "No member reports itself the leader: writes fail until one is elected."),
        alert("PghaMultipleLeaders", `pgha:patroni_leaders:count > 1`, "1m", "critical", "More than one Patroni leader", "{{ $value }} members report themselves the leader."),
        alert(
            "PghaMemberNotRunning",
            `patroni_postgres_running{job="patroni"} == 0 or up{job="patroni"} == 0`,
            "1m",
            "critical",
            "A PostgreSQL member is not running",
            "{{ $labels.node }}: PostgreSQL is not running, or its Patroni does not answer.",
        ),
        alert(
            "PghaReplicationLagBytes",
            `pgha:replica_lag:bytes > ${a.replicationLagBytes}`,
            a.replicationLagFor,
            "warning",
            "A replica is behind the leader",
            `{{ $labels.node }} is {{ $value | humanize1024 }}B behind the leader (pgha:monitoring.alerts.replicationLagBytes ${a.replicationLagBytes}).`,
        ),
        alert(
            "PghaReplicationLagSeconds",
            `pgha:replica_lag:seconds > ${a.replicationLagSeconds}`,
            a.replicationLagFor,
            "warning",
            "A replica replays late",
            `{{ $labels.node }} replays {{ $value | humanizeDuration }} behind (pgha:monitoring.alerts.replicationLagSeconds ${a.replicationLagSeconds}).`,
        ),
        alert(
            "PghaReplicaNotStreaming",
            `patroni_replica{job="patroni"} == 1 and on (instance) patroni_postgres_streaming{job="patroni"} == 0`,
            "2m",
            "warning",
            "A replica is not streaming",
            "{{ $labels.node }} is a replica that does not stream from the leader.",
        ),
        alert(
            "PghaFilesystemFilling",
            `pgha:filesystem_free:percent < ${a.diskFreePercent}`,
            "5m",
            "warning",
            "A filesystem is filling up",
            `{{ $labels.node }}: {{ $labels.mountpoint }} has {{ $value | printf "%.1f" }}% free (pgha:monitoring.alerts.diskFreePercent ${a.diskFreePercent}).`,
        ),
        alert(
            "PghaCertificateExpiring",
            `pgha_certificate_not_after_seconds{job="node"} - time() < ${a.certExpiryDays * 86400}`,
            undefined,
            "warning",
            "A node certificate ends soon",
            `{{ $labels.node }}'s certificate ends in {{ $value | humanizeDuration }}; \`pulumi up\` renews it (pgha:monitoring.alerts.certExpiryDays ${a.certExpiryDays}).`,
        ),
        alert(
            "PghaExporterDown",
            `up{job=~"node|postgres|etcd|haproxy|prometheus"} == 0`,
            "2m",
            "warning",
            "A scrape target does not answer",
            "{{ $labels.job }} on {{ $labels.node }} ({{ $labels.instance }}) does not answer Prometheus.",
        ),
    ];
    if (jobs.has("etcd")) {
        out.push(
            alert("PghaEtcdNoLeader", `etcd_server_has_leader{job="etcd"} == 0`, "1m", "critical", "An etcd member has no leader", "{{ $labels.node }}'s etcd member sees no leader."),
            alert(
                "PghaEtcdNoQuorum",
                `pgha:etcd_members_up:count < floor(pgha:etcd_members:count / 2) + 1`,
                "1m",
                "critical",
                "etcd has lost its quorum",
                "Only {{ $value }} etcd members answer: Patroni cannot keep or take the leader key.",
            ),
        );
    }
    if (jobs.has("haproxy")) {
        out.push(
            alert(
                "PghaHaproxyNoPrimary",
                `haproxy_backend_active_servers{job="haproxy",proxy="primary"} < 1`,
                "1m",
                "critical",
                "HAProxy has no primary",
                `{{ $labels.node }}'s HAProxy has no UP server on the primary port (${spec.haproxy.primaryPort}).`,
            ),
        );
    }
    if (jobs.has("vip")) {
        out.push(alert("PghaVipNotAnswering", `up{job="vip"} == 0`, "1m", "critical", "The VIP does not answer", `${spec.vip!.address} does not answer as the cluster's front door.`));
    }
    if (spec.backup !== undefined) {
        out.push(
            alert(
                "PghaArchivingFailing",
                `increase(pg_stat_archiver_failed_count{job="postgres"}[10m]) > 0`,
                undefined,
                "critical",
                "WAL archiving fails",
                "{{ $labels.node }}: archive_command failed in the last 10 minutes; point-in-time recovery loses WAL while it does.",
            ),
            alert(
                "PghaBackupTooOld",
                `time() - max(node_systemd_timer_last_trigger_seconds{job="node",name=~"pgha-backup-.+\\\\.timer"}) > ${a.backupMaxAgeHours * 3600}`,
                undefined,
                "warning",
                "No backup ran lately",
                `No pgBackRest backup timer fired for over ${a.backupMaxAgeHours} hours (pgha:monitoring.alerts.backupMaxAgeHours).`,
            ),
            alert(
                "PghaBackupFailed",
                `node_systemd_unit_state{job="node",name=~"pgha-backup-.+\\\\.service",state="failed"} == 1`,
                undefined,
                "critical",
                "A backup failed",
                "{{ $labels.name }} failed on {{ $labels.node }}: see journalctl -u {{ $labels.name }}.",
            ),
        );
    }
    return out;
}

export function renderMonitoringRules(spec: ClusterSpec): string {
    const header = `# Managed by pgha (cluster ${spec.clusterName}); \`pulumi up\` rewrites this file (thresholds: pgha:monitoring.alerts).\n`;
    return (
        header +
        toYaml11({
            groups: [
                { name: "pgha-recording", rules: recordingRules(spec) },
                { name: "pgha-alerts", rules: alertRules(spec) },
            ],
        })
    );
}
