// Per-server preparation: the packages a node's roles need (installed only when
// missing, through the apt proxy when set), and the distro defaults neutralised
// safely before Patroni and pgha's etcd take over. Nothing here deletes data.
// The work is server/pgha-host-prep.sh; this decides what it gets for each node.
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { ClusterSpec, NodeSpec, Role } from "../core/spec";
import { ETCD_NODE_TOOLS, HOST_PREP, LEADER_AWAY, POSTGRES_NODE_TOOLS } from "./pgha-tools";
import { needsLeaderAway } from "../core/render/etcd-leader-away";
import { PlacedFile, placeFile } from "./remote-file";
import { NodeConnection, remoteScript, shq } from "./ssh";

/** Debian packages and the programs they must provide, per role. */
export function packagesFor(spec: ClusterSpec, roles: readonly Role[]): { packages: string[]; programs: string[] } {
    const v = spec.postgres.version;
    const table: Record<Role, { packages: string[]; programs: string[] }> = {
        // python3: pgha's etcd-member.py (join, leave, membership) runs on every member.
        etcd: { packages: ["etcd-server", "etcd-client", "python3"], programs: ["/usr/bin/etcd", "/usr/bin/etcdctl", "/usr/bin/python3"] },
        postgres: {
            packages: [`postgresql-${v}`, `postgresql-client-${v}`, "patroni", "python3-etcd", "python3-psycopg2"],
            programs: [`${spec.postgres.binDir}/postgres`, `${spec.postgres.binDir}/pg_rewind`, "/usr/bin/patroni", "/usr/bin/patronictl", "/usr/bin/psql"],
        },
        haproxy: { packages: ["haproxy"], programs: ["/usr/sbin/haproxy"] },
        keepalived: { packages: ["keepalived"], programs: ["/usr/sbin/keepalived"] },
    };
    const packages = [...new Set(roles.flatMap((r) => table[r].packages))];
    const programs = [...new Set(roles.flatMap((r) => table[r].programs))];
    return { packages, programs };
}

/** The packages step's command text: server/pgha-host-prep.sh, with this node's packages, programs and roles. */
export function hostPrepScript(spec: ClusterSpec, node: NodeSpec): string {
    const { packages, programs } = packagesFor(spec, node.roles);
    const install = spec.packages.install ? [`--install${spec.packages.aptProxy ? ` --apt-proxy ${shq(spec.packages.aptProxy)}` : ""}`] : [];
    const roles = (["postgres", "etcd", "keepalived"] as const).filter((r) => node.roles.includes(r)).map((r) => `--${r}`);
    const args = [[`--node ${shq(node.name)}`, ...install, ...roles].join(" "), packages.map((p) => `--package ${shq(p)}`).join(" "), programs.map((p) => `--program ${shq(p)}`).join(" ")];
    return [`bash ${HOST_PREP.path} \\`, ...args.map((a, i) => `  ${a}${i < args.length - 1 ? " \\" : ""}`)].join("\n");
}

export interface HostPrepArgs {
    readonly spec: ClusterSpec;
    readonly conn: NodeConnection;
}

/** The first step on every server; every other resource on it depends on this one. */
export class HostPrep extends pulumi.ComponentResource {
    public readonly ready: command.remote.Command;
    /** pgha's helper programs on postgres and etcd nodes. */
    public readonly tools: PlacedFile[];

    constructor(name: string, args: HostPrepArgs, opts?: pulumi.ComponentResourceOptions) {
        super("pgha:host:HostPrep", name, {}, opts);
        const node = args.conn.node;
        // Placed first: it installs what the other helpers need (python3 among them).
        const script = placeFile(args.conn, { file: HOST_PREP }, { parent: this });
        this.ready = remoteScript(
            `${node.name}:packages`,
            { conn: args.conn, what: `packages on ${node.name}`, create: hostPrepScript(args.spec, node), timeoutSec: 900 },
            { parent: this, dependsOn: [script.resource] },
        );
        const tools = [
            ...(node.roles.includes("postgres") ? POSTGRES_NODE_TOOLS : []),
            ...(node.roles.includes("etcd") ? ETCD_NODE_TOOLS : []),
            ...(needsLeaderAway(args.spec, node) ? [LEADER_AWAY] : []),
        ];
        this.tools = tools.map((file) => placeFile(args.conn, { file }, { parent: this, dependsOn: [this.ready] }));
        this.registerOutputs({ ready: this.ready.stdout });
    }
}
