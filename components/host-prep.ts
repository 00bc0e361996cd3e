// Per-server preparation: the packages a node's roles need (installed only when
// missing, through the apt proxy when set), and the distro defaults neutralised
// safely before Patroni and pgha's etcd take over. Nothing here deletes data.
// The work is server/pgha-host-prep.sh; this decides what it gets for each node.
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { ClusterSpec, NodeSpec, PROGRESS_OUTER_SEC, Role } from "../core/spec";
import { DATABASES_ROLES, ETCD_NODE_TOOLS, HOST_PREP, LEADER_AWAY, MONITOR_ROLE, PGBACKREST_NODE_TOOLS, PGBOUNCER_AUTH, POSTGRES_NODE_TOOLS, VIP_MANAGER } from "./pgha-tools";
import { vipFollowsLeader } from "../core/topology";
import { declaresDatabasesOrRoles } from "../core/render/databases-roles";
import { PGBOUNCER_BIN } from "../core/render/pgbouncer";
import { PGBACKREST, pgbackrestServerNodes } from "../core/render/pgbackrest";
import { needsLeaderAway } from "../core/render/etcd-leader-away";
import { PlacedFile, placeFile } from "./remote-file";
import { NodeConnection, remoteScript, sha256, shq } from "./ssh";
import { PLATFORMS, platformLabel, rolePackages } from "../core/platforms";
import { renderAptRepository } from "../core/render/apt-sources";

/**
 * The packages and programs a node's roles need (core/platforms.ts: the OS-specific part).
 * With pgha:backup, PostgreSQL nodes also need pgbackrest (archive-push, restores, its TLS
 * server); the backup role brings it by itself.
 */
export function packagesFor(spec: ClusterSpec, roles: readonly Role[]): { packages: string[]; programs: string[] } {
    const base = withMonitoring(spec, roles, withPgbouncer(spec, roles, rolePackages(roles, spec.postgres)));
    if (spec.backup === undefined || !roles.includes("postgres")) return base;
    return { packages: [...new Set([...base.packages, "pgbackrest"])], programs: [...new Set([...base.programs, PGBACKREST])] };
}

/**
 * With pgha:monitoring: Debian's node_exporter everywhere, postgres_exporter on PostgreSQL nodes, and on
 * repository hosts dbus (node_exporter's systemd collector reads the backup timers through it; its
 * Recommends, which pgha does not install).
 */
function withMonitoring(spec: ClusterSpec, roles: readonly Role[], base: { packages: string[]; programs: string[] }): { packages: string[]; programs: string[] } {
    if (spec.monitoring === undefined) return base;
    const pg = roles.includes("postgres");
    const dbus = spec.backup !== undefined && roles.includes("backup") ? ["dbus"] : [];
    return {
        packages: [...base.packages, "prometheus-node-exporter", ...(pg ? ["prometheus-postgres-exporter"] : []), ...dbus],
        programs: [...base.programs, "/usr/bin/prometheus-node-exporter", ...(pg ? ["/usr/bin/prometheus-postgres-exporter"] : [])],
    };
}

/** With pgha:pgbouncer, PostgreSQL nodes also need Debian's pgbouncer (1.18 on Debian 12, 1.24 on Debian 13). */
function withPgbouncer(spec: ClusterSpec, roles: readonly Role[], base: { packages: string[]; programs: string[] }): { packages: string[]; programs: string[] } {
    if (spec.pgbouncer === undefined || !roles.includes("postgres")) return base;
    return { packages: [...base.packages, "pgbouncer"], programs: [...base.programs, PGBOUNCER_BIN] };
}

/** Whether `node` takes part in pgBackRest (pgha:backup set; a PostgreSQL node or a repository host). */
export const runsPgbackrest = (spec: ClusterSpec, node: NodeSpec): boolean => pgbackrestServerNodes(spec).some((n) => n.name === node.name);

const installArgs = (spec: ClusterSpec): string[] => (spec.packages.install ? [`--install${spec.packages.aptProxy ? ` --apt-proxy ${shq(spec.packages.aptProxy)}` : ""}`] : []);
const scriptText = (args: string[]): string => [`bash ${HOST_PREP.path} \\`, ...args.map((a, i) => `  ${a}${i < args.length - 1 ? " \\" : ""}`)].join("\n");

/** The packages step's command text: server/pgha-host-prep.sh, with this node's packages, programs and roles. */
export function hostPrepScript(spec: ClusterSpec, node: NodeSpec): string {
    const { packages, programs } = packagesFor(spec, node.roles);
    const roles = (["postgres", "etcd", "keepalived"] as const).filter((r) => node.roles.includes(r)).map((r) => `--${r}`);
    if (vipFollowsLeader(spec) && node.roles.includes("postgres")) roles.push("--vip-bind");
    return scriptText([
        [`--node ${shq(node.name)}`, ...installArgs(spec), ...roles, `--stall ${spec.progress.stallTimeout}`].join(" "),
        packages.map((p) => `--package ${shq(p)}`).join(" "),
        programs.map((p) => `--program ${shq(p)}`).join(" "),
    ]);
}

/**
 * The preflight's command text: the host runs a supported release and its sources provide
 * every package it lacks. `sourcesHash` fingerprints pgha's apt sources on the node, so a
 * change of pgha:packages.repositories runs it again (and reads the sources anew).
 */
export function preflightScript(spec: ClusterSpec, node: NodeSpec, sourcesHash: string): string {
    const { packages } = packagesFor(spec, node.roles);
    const refresh = spec.packages.repositories.length > 0 ? ["--refresh"] : [];
    const pg = node.roles.includes("postgres") ? [`--postgres-version ${spec.postgres.version}`] : [];
    return [
        `# apt sources sha256:${sourcesHash}`,
        scriptText([
            [`--preflight --node ${shq(node.name)}`, ...installArgs(spec), ...refresh, ...pg].join(" "),
            PLATFORMS.map((p) => `--supported ${shq(`${p.id}:${p.versionId}:${platformLabel(p)}`)}`).join(" "),
            packages.map((p) => `--package ${shq(p)}`).join(" "),
        ]),
    ].join("\n");
}

export interface HostPrepArgs {
    readonly spec: ClusterSpec;
    readonly conn: NodeConnection;
}

/**
 * The first steps on every server, in two phases: the preflight (constructor), then, once
 * the caller has every node's preflight, the packages (`install`): so a host that cannot
 * run the cluster stops the deployment before any host installs or starts anything.
 * Every other resource on the server depends on `ready`.
 */
export class HostPrep extends pulumi.ComponentResource {
    /** The release and package-source check; changes nothing but apt's lists. */
    public readonly preflight: command.remote.Command;
    public ready!: command.remote.Command;
    /** pgha's helper programs on postgres and etcd nodes. */
    public tools: PlacedFile[] = [];
    private readonly args: HostPrepArgs;
    private readonly script: PlacedFile;

    constructor(name: string, args: HostPrepArgs, opts?: pulumi.ComponentResourceOptions) {
        super("pgha:host:HostPrep", name, {}, opts);
        this.args = args;
        const node = args.conn.node;
        // Placed first: it installs what the other helpers need (python3 among them).
        this.script = placeFile(args.conn, { file: HOST_PREP }, { parent: this });
        const sources = args.spec.packages.repositories.flatMap(renderAptRepository).map((file) => placeFile(args.conn, { file }, { parent: this }));
        this.preflight = remoteScript(
            `${node.name}:preflight`,
            { conn: args.conn, what: `preflight on ${node.name}`, create: preflightScript(args.spec, node, sha256(sources.map((s) => s.hash).join(",")).slice(0, 16)), timeoutSec: 600 },
            { parent: this, dependsOn: [this.script.resource, ...sources.map((s) => s.resource)] },
        );
    }

    /** The packages and helper programs, after `gate` (every node's preflight). */
    install(gate: readonly pulumi.Resource[]): this {
        const node = this.args.conn.node;
        this.ready = remoteScript(
            `${node.name}:packages`,
            { conn: this.args.conn, what: `packages on ${node.name}`, create: hostPrepScript(this.args.spec, node), timeoutSec: PROGRESS_OUTER_SEC },
            { parent: this, dependsOn: [this.script.resource, this.preflight, ...gate] },
        );
        const tools = [
            ...(node.roles.includes("postgres") ? POSTGRES_NODE_TOOLS : []),
            ...(node.roles.includes("etcd") ? ETCD_NODE_TOOLS : []),
            ...(needsLeaderAway(this.args.spec, node) ? [LEADER_AWAY] : []),
            ...(runsPgbackrest(this.args.spec, node) ? PGBACKREST_NODE_TOOLS : []),
            ...(vipFollowsLeader(this.args.spec) && node.roles.includes("postgres") ? [VIP_MANAGER] : []),
            ...(declaresDatabasesOrRoles(this.args.spec) && node.roles.includes("postgres") ? [DATABASES_ROLES] : []),
            ...(this.args.spec.pgbouncer !== undefined && node.roles.includes("postgres") ? [PGBOUNCER_AUTH] : []),
            ...(this.args.spec.monitoring !== undefined && node.roles.includes("postgres") ? [MONITOR_ROLE] : []),
        ];
        // A file in two lists (PROGRESS_LIB) is placed once.
        this.tools = [...new Set(tools)].map((file) => placeFile(this.args.conn, { file }, { parent: this, dependsOn: [this.ready] }));
        this.registerOutputs({ preflight: this.preflight.stdout, ready: this.ready.stdout });
        return this;
    }
}
