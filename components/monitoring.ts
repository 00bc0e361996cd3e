// pgha:monitoring: the exporters on every node, the monitoring role in PostgreSQL, and Prometheus.
// - MonitoringRole: on every PostgreSQL node a step (server/pg-monitor-role.py) of which only the
//   leader acts: pgha_monitor, in pg_monitor, its password on stdin (stored as a SCRAM verifier).
//   Turning monitoring off (or destroying) takes the role's login away.
// - ExporterNode: node_exporter (every node) and postgres_exporter (PostgreSQL nodes) from Debian's
//   packages, pgha's /etc/default files (a change restarts that exporter: they read arguments at start
//   only), the TLS web config (re-read per connection: nothing restarts), postgres_exporter's password
//   file (0600, secret stdin) and pgha's certificate record for the textfile collector.
// - PrometheusServer: Debian's prometheus on prometheusHost; prometheus.yml, the rules, the targets
//   and its web config are reloaded (SIGHUP); only /etc/default/prometheus (listener, retention)
//   restarts it. Adding a node rewrites the targets file only: Prometheus reloads, nothing else.
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { PLACEHOLDER_SECRETS } from "../core/render/file";
import { POSTGRES_SOCKET_DIR } from "../core/render/patroni";
import {
    CERTIFICATE_METRICS_PATH,
    NODE_EXPORTER_UNIT,
    POSTGRES_EXPORTER_UNIT,
    renderCertificateMetrics,
    renderExporterWebConfig,
    renderNodeExporterDefaults,
    renderPostgresExporterDefaults,
    renderPostgresExporterPassword,
} from "../core/render/monitoring-exporters";
import {
    PROMETHEUS_UNIT,
    prometheusHostNode,
    renderPrometheusConfig,
    renderPrometheusDefaults,
    renderPrometheusRules,
    renderPrometheusTargets,
    renderPrometheusWebConfig,
} from "../core/render/prometheus";
import { file } from "../core/render/file";
import { CertificateStatus } from "../core/pki";
import { ClusterSpec, NodeSpec, nodesWithRole } from "../core/spec";
import { NodeTlsFiles } from "./cluster-pki";
import { HostPrep } from "./host-prep";
import { MONITOR_ROLE, SET_PASSWORDS } from "./pgha-tools";
import { PlacedFile, RESTART_KEY_DIR, placeFile, recordRestartKey, restartOrReload, serviceUnit } from "./remote-file";
import { NodeConnection, remoteScript, sha256, shq } from "./ssh";

/** The command text of a node's monitoring-role step (the programs' versions in it: a new version runs it again). */
export function monitorRoleScript(spec: ClusterSpec, disable = false): string {
    const version = sha256(MONITOR_ROLE.content + SET_PASSWORDS.content).slice(0, 16);
    return [`# pg-monitor-role.py ${version}`, `cd / && runuser -u postgres -- python3 ${MONITOR_ROLE.path} ${shq(POSTGRES_SOCKET_DIR)} ${spec.postgres.port}${disable ? " --disable" : ""}`].join(
        "\n",
    );
}

/** A unit's start (enable, restart, record what it started with), apply (reload, or restart when the key moved) and stop. */
function unitCommands(unit: string, restartKey: string, reload: string): { start: string; apply: string; stop: string } {
    const restart = `systemctl restart ${unit} || { journalctl -u ${unit} -n 20 --no-pager >&2; exit 1; }`;
    return {
        start: [`systemctl daemon-reload`, `systemctl enable ${unit} >/dev/null 2>&1`, restart, recordRestartKey(unit, restartKey)].join("\n"),
        apply: restartOrReload(unit, restartKey, restart, reload),
        stop: [`systemctl disable --now ${unit} >/dev/null 2>&1 || true`, `rm -f ${RESTART_KEY_DIR}/${unit}`].join("\n"),
    };
}

export interface MonitoringRoleArgs {
    readonly spec: ClusterSpec;
    readonly conns: ReadonlyMap<string, NodeConnection>;
    readonly preps: ReadonlyMap<string, HostPrep>;
    /** pgha:monitoringPassword (secret). */
    readonly password: pulumi.Output<string>;
    /** The leader running with its dynamic configuration (pg_hba admitting the role). */
    readonly after: pulumi.Resource[];
}

export class MonitoringRole extends pulumi.ComponentResource {
    public readonly steps: command.remote.Command[];

    constructor(name: string, args: MonitoringRoleArgs, opts?: pulumi.ComponentResourceOptions) {
        super("pgha:monitoring:MonitoringRole", name, {}, opts);
        const { spec } = args;
        const stdin = pulumi.secret(args.password.apply((password) => JSON.stringify({ password })));
        this.steps = nodesWithRole(spec, "postgres").map((node) =>
            remoteScript(
                `${node.name}:monitor-role`,
                {
                    conn: args.conns.get(node.name)!,
                    what: `the monitoring role on ${node.name}`,
                    create: monitorRoleScript(spec),
                    delete: monitorRoleScript(spec, true),
                    stdin,
                    timeoutSec: 120,
                },
                { parent: this, dependsOn: [args.preps.get(node.name)!, ...args.after] },
            ),
        );
        this.registerOutputs({});
    }
}

export interface ExporterNodeArgs {
    readonly spec: ClusterSpec;
    readonly conn: NodeConnection;
    readonly prep: HostPrep;
    readonly tls: NodeTlsFiles;
    /** This node's certificate's status (its notAfter). */
    readonly certificate: pulumi.Output<CertificateStatus>;
    /** pgha:monitoringPassword (secret): only in postgres_exporter's password file, through stdin. */
    readonly password: pulumi.Output<string>;
    /** PostgreSQL nodes: the role steps and this node's PostgreSQL running. */
    readonly after: pulumi.Resource[];
}

export class ExporterNode extends pulumi.ComponentResource {
    public readonly services: command.remote.Command[];

    constructor(name: string, args: ExporterNodeArgs, opts?: pulumi.ComponentResourceOptions) {
        super("pgha:monitoring:ExporterNode", name, {}, opts);
        const { spec, conn } = args;
        const node = conn.node;
        const onPrep = { parent: this, dependsOn: [args.prep] };
        const tlsFiles = [args.tls.ca, ...(args.tls.prometheus ?? [])];
        const web = placeFile(conn, { file: renderExporterWebConfig(spec) }, onPrep);
        // pgha's record of the certificate's end: the public stand-in names the file, the real one travels as stdin.
        const certRecord = placeFile(
            conn,
            {
                file: file(CERTIFICATE_METRICS_PATH, `# pgha_certificate_not_after_seconds of ${node.name}\n`, "0644"),
                secretContent: args.certificate.apply((c) => renderCertificateMetrics(spec, node, c.notAfter).content),
            },
            onPrep,
        );
        const nodeArgs = renderNodeExporterDefaults(spec, node);
        const nodeDefaults = placeFile(conn, { file: nodeArgs, keepOriginal: true, keepOnDelete: true }, onPrep);
        const nodeUnit = unitCommands(NODE_EXPORTER_UNIT, nodeArgs.content, `echo "pgha: ${NODE_EXPORTER_UNIT}: its TLS files are read per connection: nothing to do"`);
        this.services = [
            serviceUnit(
                `${node.name}:${NODE_EXPORTER_UNIT}`,
                { conn, unit: NODE_EXPORTER_UNIT, files: [nodeDefaults, web, ...tlsFiles], ...nodeUnit, timeoutSec: 120 },
                { parent: this, dependsOn: [args.prep, certRecord.resource] },
            ),
        ];
        if (node.roles.includes("postgres")) this.services.push(this.postgresExporter(spec, conn, node, args, web, tlsFiles));
        this.registerOutputs({});
    }

    private postgresExporter(spec: ClusterSpec, conn: NodeConnection, node: NodeSpec, args: ExporterNodeArgs, web: PlacedFile, tlsFiles: PlacedFile[]): command.remote.Command {
        const onPrep = { parent: this, dependsOn: [args.prep] };
        const pgArgs = renderPostgresExporterDefaults(spec, node);
        const defaults = placeFile(conn, { file: pgArgs, keepOriginal: true, keepOnDelete: true }, onPrep);
        const password = placeFile(
            conn,
            {
                file: renderPostgresExporterPassword(spec, node, PLACEHOLDER_SECRETS.monitoringPassword),
                secretContent: args.password.apply((p) => renderPostgresExporterPassword(spec, node, p).content),
            },
            { parent: this, dependsOn: [args.prep, ...args.after] },
        );
        // postgres_exporter reads its arguments and its password file at start: a change of either restarts it.
        const unit = unitCommands(POSTGRES_EXPORTER_UNIT, pgArgs.content, `systemctl restart ${POSTGRES_EXPORTER_UNIT}`);
        return serviceUnit(
            `${node.name}:${POSTGRES_EXPORTER_UNIT}`,
            { conn, unit: POSTGRES_EXPORTER_UNIT, files: [defaults, password, web, ...tlsFiles], ...unit, timeoutSec: 120 },
            { parent: this, dependsOn: [args.prep, ...args.after] },
        );
    }
}

export interface PrometheusServerArgs {
    readonly spec: ClusterSpec;
    readonly conn: NodeConnection;
    readonly prep: HostPrep;
    readonly tls: NodeTlsFiles;
}

export class PrometheusServer extends pulumi.ComponentResource {
    public readonly service: command.remote.Command;

    constructor(name: string, args: PrometheusServerArgs, opts?: pulumi.ComponentResourceOptions) {
        super("pgha:monitoring:PrometheusServer", name, {}, opts);
        const { spec, conn } = args;
        const onPrep = { parent: this, dependsOn: [args.prep] };
        const promArgs = renderPrometheusDefaults(spec, conn.node);
        const defaults = placeFile(conn, { file: promArgs, keepOriginal: true, keepOnDelete: true }, onPrep);
        const reloaded = [renderPrometheusConfig(spec), renderPrometheusRules(spec), renderPrometheusTargets(spec), renderPrometheusWebConfig(spec)].map((f) => placeFile(conn, { file: f }, onPrep));
        // SIGHUP re-reads prometheus.yml, the rules and the targets; the retention and the listener only at start.
        const unit = unitCommands(PROMETHEUS_UNIT, promArgs.content, `systemctl reload ${PROMETHEUS_UNIT}`);
        this.service = serviceUnit(
            `${conn.node.name}:${PROMETHEUS_UNIT}`,
            { conn, unit: PROMETHEUS_UNIT, files: [defaults, ...reloaded, args.tls.ca, ...(args.tls.prometheus ?? [])], ...unit, timeoutSec: 300 },
            { parent: this, dependsOn: [args.prep] },
        );
        this.registerOutputs({ service: this.service.stdout });
    }
}

/**
 * pgha:monitoring's resources: the role once the leader runs with pg_hba admitting it, the exporters
 * on every node, Prometheus on prometheusHost. Nothing waits for them: monitoring is beside the cluster.
 */
export function buildMonitoring(
    parent: pulumi.Resource,
    spec: ClusterSpec,
    a: {
        conns: ReadonlyMap<string, NodeConnection>;
        preps: ReadonlyMap<string, HostPrep>;
        tls: ReadonlyMap<string, NodeTlsFiles>;
        /** Per node: its certificate's status (ClusterPki.statusOf). */
        certificates: Readonly<Record<string, pulumi.Output<CertificateStatus>>>;
        password: pulumi.Output<string>;
        /** Per PostgreSQL node: its Patroni running; and the leader with the dynamic configuration. */
        postgresRunning: (node: string) => pulumi.Resource[];
        leaderReady: pulumi.Resource[];
    },
): { prometheus: PrometheusServer } | undefined {
    if (spec.monitoring === undefined) return undefined;
    const role = new MonitoringRole(`${spec.clusterName}-monitor-role`, { spec, conns: a.conns, preps: a.preps, password: a.password, after: a.leaderReady }, { parent });
    for (const node of spec.nodes) {
        new ExporterNode(
            `${node.name}-exporters`,
            {
                spec,
                conn: a.conns.get(node.name)!,
                prep: a.preps.get(node.name)!,
                tls: a.tls.get(node.name)!,
                certificate: a.certificates[node.name],
                password: a.password,
                after: node.roles.includes("postgres") ? [...role.steps, ...a.postgresRunning(node.name)] : [],
            },
            { parent },
        );
    }
    const host = prometheusHostNode(spec);
    const prometheus = new PrometheusServer(`${host.name}-prometheus`, { spec, conn: a.conns.get(host.name)!, prep: a.preps.get(host.name)!, tls: a.tls.get(host.name)! }, { parent });
    return { prometheus };
}
