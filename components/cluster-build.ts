// Builds the whole cluster from a validated spec, in dependency order:
// packages → etcd healthy → bootstrap leader → replicas → HAProxy → keepalived (or vip-manager)
// → the restarts PostgreSQL asks for → verification.
// With pgha:backup: pgBackRest's servers beside them, the stanza after the leader and before
// the dynamic config (which turns archiving on), then check, first full backup (after the
// replicas) and timers before the verification.
// Every child hangs off `parent` (the PostgresHaCluster component).
import * as pulumi from "@pulumi/pulumi";
import { ClusterSpec, RolePasswords, Secrets, nodesWithRole } from "../core/spec";
import { formatConfigErrors } from "../core/config-errors";
import { bootstrapNode, clusterEndpoints, connectionString, vipByKeepalived, vipFollowsLeader } from "../core/topology";
import { CertificateStatus } from "../core/pki";
import { renderDeleteDataMarker } from "../core/render/data-policy";
import { BackupRepository, BackupSummary, PgbackrestNode, backupSummary } from "./backup-repository";
import { ClusterPki, NodeTlsFiles } from "./cluster-pki";
import { ClusterVerification } from "./cluster-verification";
import { EtcdCluster } from "./etcd-cluster";
import { HaproxyBalancer } from "./haproxy-balancer";
import { HostPrep } from "./host-prep";
import { InPlaceRestore } from "./in-place-restore";
import { KeepalivedPair } from "./keepalived-pair";
import { VipManager } from "./vip-manager";
import { PatroniDynamicConfig, PatroniPendingRestart } from "./patroni-dynamic-config";
import { PatroniNode } from "./patroni-node";
import { PostgresRoles } from "./postgres-roles";
import { DatabasesRoles } from "./databases-roles";
import { declaresDatabasesOrRoles } from "../core/render/databases-roles";
import { placeFile } from "./remote-file";
import { ByNode, ManagedFile, ManagedManifest, ManagedUnit } from "./managed-manifest";
import { NodeConnection, nodeConnection } from "./ssh";
import { pgbackrestServerNodes } from "../core/render/pgbackrest";
import { PgbouncerAuth, PgbouncerNode } from "./pgbouncer-node";
import { ServiceEndpoint } from "../core/topology";
import { HaproxyServiceName } from "../core/spec";
import { buildMonitoring } from "./monitoring";
import { prometheusEndpoint } from "../core/render/prometheus";

export interface ClusterBuildArgs {
    readonly spec: ClusterSpec;
    /** Secret values (generated or from config), kept inside Outputs. */
    readonly secrets: pulumi.Output<Secrets>;
    /** The SSH private key's content. */
    readonly sshPrivateKey: pulumi.Output<string>;
    /** Per node: the certificate generation (renewal near expiry). Default 0. */
    readonly certificateGenerations?: Readonly<Record<string, number>>;
    /** pgha:backupCipherPassphrase (secret), required with pgha:backup while encryption is on. */
    readonly backupCipherPassphrase?: pulumi.Output<string>;
    /** pgha:roles' passwords by role name (secret); each role whose spec says hasPassword needs its own. */
    readonly rolePasswords?: pulumi.Output<RolePasswords>;
}

/** What the cluster offers once built: endpoints, the last verification, the CA and certificate records. */
export interface BuiltCluster {
    readonly primaryEndpoint: string;
    readonly replicaEndpoint: string;
    /** Synchronous standbys only; undefined without synchronous mode. */
    readonly syncReplicaEndpoint?: string;
    /** Asynchronous replicas only. */
    readonly asyncReplicaEndpoint: string;
    /** Every service by name: its address and whether it goes through PgBouncer. */
    readonly endpoints: Readonly<Partial<Record<HaproxyServiceName, ServiceEndpoint>>>;
    /** With pgha:pgbouncer: each PostgreSQL member's PgBouncer, "address:port". */
    readonly pgbouncerEndpoints?: string[];
    readonly haproxyStatsUrl?: string;
    readonly patroniApiUrls: string[];
    readonly etcdEndpoints: string[];
    readonly connectionString: pulumi.Output<string>;
    readonly verification: pulumi.Output<string>;
    readonly caCertificate: pulumi.Output<string>;
    readonly certificates: pulumi.Output<Record<string, CertificateStatus>>;
    /** pgha:backup's stanza, repositories and schedule; undefined without it. */
    readonly backup?: BackupSummary;
    /** What npm run drift compares (components/managed-manifest.ts): every placed file and managed unit, by node. */
    readonly managedFiles: ByNode<ManagedFile>;
    /** Secret: node → path → sha256 of each secret file's real content. */
    readonly managedFileSecrets: pulumi.Output<Record<string, Record<string, string>>>;
    readonly managedUnits: ByNode<ManagedUnit>;
    /** pgha:monitoring: Prometheus' web UI and API, "https://addr:port/" (TLS, the cluster CA); undefined without it. */
    readonly prometheusEndpoint?: string;
}

/** What is refused before any server is touched: backups without their passphrase. */
export function backupRefusals(spec: ClusterSpec, hasPassphrase: boolean): string[] {
    const out: string[] = [];
    if (spec.backup?.encryption === true && !hasPassphrase) {
        out.push(`pgha:backupCipherPassphrase: missing, and pgha:backup.encryption is true (pass backupCipherPassphrase, or set pgha:backup.encryption false)`);
    }
    return out;
}

export function buildCluster(parent: pulumi.Resource, args: ClusterBuildArgs): BuiltCluster {
    const { spec, secrets } = args;
    const refused = backupRefusals(spec, args.backupCipherPassphrase !== undefined);
    if (refused.length > 0) throw new pulumi.RunError(formatConfigErrors(refused));
    // Every placeFile and serviceUnit records what it manages here (npm run drift), and reads pgha:repair.
    const manifest = new ManagedManifest();
    const conns = new Map<string, NodeConnection>(
        spec.nodes.map((n) => [n.name, { ...nodeConnection(n, args.sshPrivateKey), manifest, ...(spec.repair?.[n.name] !== undefined ? { repair: spec.repair[n.name] } : {}) }]),
    );
    const preps = new Map(spec.nodes.map((n) => [n.name, new HostPrep(`${n.name}-host`, { spec, conn: conns.get(n.name)! }, { parent })]));
    // No host installs anything until every host passed its preflight.
    const preflights = [...preps.values()].map((p) => p.preflight);
    for (const p of preps.values()) p.install(preflights);

    const pki = new ClusterPki(`${spec.clusterName}-pki`, { spec, conns, preps, generations: args.certificateGenerations }, { parent });
    const tls = pki.files;
    // Nodes holding data carry the delete-data marker while deleteData is on; their services
    // depend on it, so a removal deletes the service (and, by the marker, the data) first.
    const dataPolicy = new Map<string, pulumi.Resource[]>(
        spec.nodes
            .filter((n) => spec.destroy.deleteData && (n.roles.includes("etcd") || n.roles.includes("postgres")))
            .map((n) => [n.name, [placeFile(conns.get(n.name)!, { file: renderDeleteDataMarker() }, { parent, dependsOn: [preps.get(n.name)!] }).resource]]),
    );
    const policy = (node: string) => dataPolicy.get(node) ?? [];
    const etcd = new EtcdCluster(`${spec.clusterName}-etcd`, { spec, conns, preps, tls, dataPolicy }, { parent });

    const roles = new PostgresRoles(`${spec.clusterName}-roles`, { spec, conns, preps, secrets }, { parent });
    const leader = bootstrapNode(spec);
    const patroni = new Map<string, PatroniNode>();
    const first = new PatroniNode(
        `${leader.name}-patroni`,
        {
            spec,
            conn: conns.get(leader.name)!,
            prep: preps.get(leader.name)!,
            secrets,
            bootstrap: true,
            after: [etcd.healthy, ...policy(leader.name)],
            beforeConfig: roles.steps,
            tls: tls.get(leader.name)!,
        },
        { parent },
    );
    patroni.set(leader.name, first);
    // pgBackRest (pgha:backup only): every node's server, and the stanza once the primary runs.
    const pgbackrest = new Map(
        pgbackrestServerNodes(spec).map((n) => [
            n.name,
            new PgbackrestNode(
                `${n.name}-pgbackrest`,
                { spec, conn: conns.get(n.name)!, prep: preps.get(n.name)!, tls: tls.get(n.name)!, backupCipherPassphrase: args.backupCipherPassphrase },
                { parent },
            ),
        ]),
    );
    // A cluster made from another cluster's backup: this stack's passwords before any replica authenticates.
    const restoredRoles = spec.backup?.restoreFrom ? [roles.afterRestore(leader.name, first.service)] : [];
    const backup = spec.backup ? new BackupRepository(`${spec.clusterName}-backup`, { spec, conns, nodes: pgbackrest, primary: first.service }, { parent }) : undefined;
    // Settings reach the DCS once the leader runs and before any replica clones,
    // so replicas start with them; later edits re-apply only this resource.
    // Archiving (pgha:backup) starts once the stanza exists.
    const dynamic = new PatroniDynamicConfig(
        `${spec.clusterName}-dynamic-config`,
        { spec, conn: conns.get(leader.name)!, after: [first.service, preps.get(leader.name)!, ...(backup?.stanzas ?? []), ...restoredRoles] },
        { parent },
    );
    for (const node of nodesWithRole(spec, "postgres").filter((n) => n.name !== leader.name)) {
        patroni.set(
            node.name,
            new PatroniNode(
                `${node.name}-patroni`,
                {
                    spec,
                    conn: conns.get(node.name)!,
                    prep: preps.get(node.name)!,
                    secrets,
                    bootstrap: false,
                    after: [etcd.healthy, first.service, dynamic.applied, ...policy(node.name)],
                    beforeConfig: roles.steps,
                    tls: tls.get(node.name)!,
                },
                { parent },
            ),
        );
    }
    const members = [...patroni.values()].map((p) => p.service);
    const poolers = buildPgbouncers(parent, spec, { conns, preps, tls, patroni, leader: first.service, dynamic: dynamic.applied, secrets });

    const balancers = nodesWithRole(spec, "haproxy").map(
        (node) =>
            new HaproxyBalancer(
                `${node.name}-haproxy`,
                { spec, conn: conns.get(node.name)!, prep: preps.get(node.name)!, after: [...members, dynamic.applied, ...poolers], tls: tls.get(node.name)! },
                { parent },
            ),
    );
    const keepalived = vipByKeepalived(spec) ? new KeepalivedPair(`${spec.clusterName}-keepalived`, { spec, conns, preps, secrets, after: balancers.map((b) => b.service) }, { parent }) : undefined;

    // pgha:vip.manager vip-manager: the VIP follows the leader, once every member runs.
    const vipManager = vipFollowsLeader(spec) ? new VipManager(`${spec.clusterName}-vip-manager`, { spec, conns, preps, tls, after: [...members, dynamic.applied] }, { parent }) : undefined;
    const vipServices = [...(keepalived?.services ?? []), ...(vipManager?.services ?? [])];
    // The restarts PostgreSQL asks for (pending_restart), once for the cluster and only once every
    // member's config.yml is placed and the dynamic config applied: replicas first, then at most one
    // switchover. After the VIP services: switching to vip-manager, each leader not yet listening on
    // the VIP restarts in place while the VIP moves (one outage), and is not pending here any more.
    const restarts = new PatroniPendingRestart(
        `${spec.clusterName}-restart-pending`,
        { spec, conn: conns.get(leader.name)!, after: [...members, dynamic.applied, ...balancers.map((b) => b.service), ...vipServices] },
        { parent },
    );
    // Archiving (archive_mode needs a restart) works once the restarts are done.
    backup?.finish([dynamic.applied, restarts.restarted], members);

    // pgha:restore: once the rest of the update is done; the verification then checks the restored cluster.
    const restore = spec.restore
        ? new InPlaceRestore(
              `${spec.clusterName}-restore`,
              { spec, conns, secrets, after: [...members, dynamic.applied, restarts.restarted, ...balancers.map((b) => b.service), ...vipServices, ...(backup?.ready ?? [])] },
              { parent },
          )
        : undefined;
    // pgha:databases and pgha:roles: once the cluster runs with its dynamic configuration, after a restore, before the verification.
    const declared = declaresDatabasesOrRoles(spec)
        ? new DatabasesRoles(
              `${spec.clusterName}-databases-roles`,
              {
                  spec,
                  conns,
                  rolePasswords: args.rolePasswords ?? pulumi.secret(pulumi.output<RolePasswords>({})),
                  after: (node) => [preps.get(node)!, ...members, dynamic.applied, ...(restore?.done ?? [])],
              },
              { parent },
          )
        : undefined;
    // pgha:monitoring: beside the cluster; nothing waits for it.
    buildMonitoring(parent, spec, {
        conns,
        preps,
        tls,
        certificates: pki.statusOf,
        password: pulumi.secret(secrets.apply((s) => s.monitoringPassword)),
        postgresRunning: (node) => [patroni.get(node)!.service, dynamic.applied],
        leaderReady: [first.service, dynamic.applied],
    });
    const ep = clusterEndpoints(spec);
    const verify = new ClusterVerification(
        spec.clusterName,
        {
            spec,
            conn: conns.get(leader.name)!,
            superuserPassword: secrets.apply((s) => s.superuserPassword),
            // A pooled primary refuses the superuser: the front is checked as PgBouncer's lookup role.
            ...(ep.services.primary?.pooled === true ? { frontPassword: secrets.apply((s) => s.pgbouncerAuthPassword) } : {}),
            // The leader's HostPrep: it installs pgha-verify.py there.
            after: [
                ...members,
                dynamic.applied,
                restarts.restarted,
                ...balancers.map((b) => b.service),
                ...vipServices,
                preps.get(leader.name)!,
                ...(backup?.ready ?? []),
                ...(restore?.done ?? []),
                ...(declared?.steps ?? []),
                ...poolers,
            ],
        },
        { parent },
    );

    return {
        primaryEndpoint: ep.primary,
        replicaEndpoint: ep.replica,
        ...(ep.syncReplica !== undefined ? { syncReplicaEndpoint: ep.syncReplica } : {}),
        asyncReplicaEndpoint: ep.asyncReplica,
        endpoints: ep.services,
        ...(ep.pgbouncer !== undefined ? { pgbouncerEndpoints: ep.pgbouncer } : {}),
        haproxyStatsUrl: ep.statsUrl,
        patroniApiUrls: ep.patroniApiUrls,
        etcdEndpoints: etcd.endpoints,
        connectionString: pulumi.secret(secrets.apply((s) => connectionString(spec, s.superuserPassword))),
        verification: verify.check.stdout,
        caCertificate: pki.caCertificate,
        certificates: pki.statuses,
        ...(spec.backup ? { backup: backupSummary(spec) } : {}),
        managedFiles: manifest.managedFiles(),
        managedFileSecrets: manifest.managedFileSecrets(),
        managedUnits: manifest.managedUnits(),
        ...(spec.monitoring ? { prometheusEndpoint: prometheusEndpoint(spec) } : {}),
    };
}

/**
 * pgha:pgbouncer: the lookup role (once the leader runs), then PgBouncer on every PostgreSQL node
 * once its own PostgreSQL runs and pg_hba admits it. Returns the services HAProxy and the
 * verification wait for ([] without PgBouncer).
 */
function buildPgbouncers(
    parent: pulumi.Resource,
    spec: ClusterSpec,
    a: {
        conns: ReadonlyMap<string, NodeConnection>;
        preps: ReadonlyMap<string, HostPrep>;
        tls: ReadonlyMap<string, NodeTlsFiles>;
        patroni: ReadonlyMap<string, PatroniNode>;
        leader: pulumi.Resource;
        dynamic: pulumi.Resource;
        secrets: pulumi.Output<Secrets>;
    },
): pulumi.Resource[] {
    if (spec.pgbouncer === undefined) return [];
    const password = pulumi.secret(a.secrets.apply((s) => s.pgbouncerAuthPassword));
    const auth = new PgbouncerAuth(`${spec.clusterName}-pgbouncer-auth`, { spec, conns: a.conns, preps: a.preps, password, after: [a.leader] }, { parent });
    return nodesWithRole(spec, "postgres").map(
        (node) =>
            new PgbouncerNode(
                `${node.name}-pgbouncer`,
                {
                    spec,
                    conn: a.conns.get(node.name)!,
                    prep: a.preps.get(node.name)!,
                    tls: a.tls.get(node.name)!,
                    password,
                    authSteps: auth.steps,
                    after: [a.patroni.get(node.name)!.service, a.dynamic],
                },
                { parent },
            ).service,
    );
}
