// Edits that cannot be applied safely in place, refused at preview. They need
// the previous deployment's shape, which the program exports as `clusterShape`
// and reads back from the stack's last outputs.
import { ClusterSpec, nodesWithRole } from "./spec";

/** What a deployment looked like: only names and versions, no secrets. */
export interface ClusterShape {
    readonly clusterName: string;
    readonly postgresVersion: number;
    readonly etcdMembers: readonly string[];
    readonly postgresMembers: readonly string[];
    /** "tls" since cluster traffic is encrypted; absent in a shape recorded by an earlier pgha. */
    readonly transport?: "tls";
    /** Each node's name and address; absent in a shape recorded by an earlier pgha. */
    readonly nodes?: readonly { readonly name: string; readonly address: string }[];
    /** pgha:restore's id while the stack sets it (so a preview can tell a new restore from the applied one). */
    readonly restoreId?: string;
    /** "vip-manager" while pgha:vip.manager is (absent: keepalived, or no VIP). */
    readonly vipManager?: "vip-manager";
}

export function clusterShape(spec: ClusterSpec): ClusterShape {
    return {
        clusterName: spec.clusterName,
        postgresVersion: spec.postgres.version,
        etcdMembers: nodesWithRole(spec, "etcd").map((n) => n.name),
        postgresMembers: nodesWithRole(spec, "postgres").map((n) => n.name),
        transport: "tls",
        nodes: nodeAddresses(spec),
        ...(spec.restore !== undefined ? { restoreId: spec.restore.id } : {}),
        ...(spec.vip?.manager === "vip-manager" ? { vipManager: "vip-manager" as const } : {}),
    };
}

/** What a preview should say about an edit that is safe but briefly felt by clients (one line each, key first). */
export function transitionNotes(previous: ClusterShape | undefined, next: ClusterSpec): string[] {
    if (!previous) return [];
    const was = previous.vipManager === "vip-manager";
    const is = next.vip?.manager === "vip-manager";
    if (!was && is) {
        return [
            `pgha:vip.manager: keepalived -> vip-manager: the VIP ${next.vip!.address} moves to the Patroni leader's own interface. ` +
                `Each node stops pgha's keepalived before its vip-manager starts, so clients see one short outage (about a second) ` +
                `and then reach PostgreSQL on ${next.vip!.address}:${next.postgres.port}; HAProxy's ports on the VIP are gone.`,
        ];
    }
    if (was && !is && next.vip !== undefined) {
        return [
            `pgha:vip.manager: vip-manager -> keepalived: keepalived takes the VIP ${next.vip.address} over, then vip-manager stops and releases it on the leader; ` +
                `clients see one short outage and reach HAProxy's ports on the VIP again.`,
        ];
    }
    return [];
}

function nodeAddresses(spec: ClusterSpec): { name: string; address: string }[] {
    return spec.nodes.map((n) => ({ name: n.name, address: n.address }));
}

/** Problems with going from `previous` (undefined: nothing deployed yet) to `next`, each naming its key. */
export function unsafeTransitions(previous: ClusterShape | undefined, next: ClusterSpec): string[] {
    if (!previous) return [];
    const now = clusterShape(next);
    const problems: string[] = [];
    if (previous.transport !== "tls") {
        // etcd keeps its members' http peer URLs in its own data: switching a running cluster to
        // TLS needs a rolling member update that pgha does not do yet.
        problems.push(
            `pgha:nodes: this stack was deployed by a pgha without TLS, and moving a running cluster to TLS in place ` +
                `is not supported yet. Deploy it as a new stack (or \`pulumi destroy\`, which keeps the data directories, then \`pulumi up\`).`,
        );
    }
    if (previous.clusterName !== now.clusterName) {
        problems.push(
            `pgha:clusterName: changing "${previous.clusterName}" to "${now.clusterName}" in place is refused: ` +
                `it would start a second, empty cluster beside the running one. Deploy the new name as a new stack.`,
        );
    }
    if (previous.postgresVersion !== now.postgresVersion) {
        problems.push(
            `pgha:postgres.version: a major version change (${previous.postgresVersion} -> ${now.postgresVersion}) cannot be done in place: ` +
                `Patroni would not start the existing data directory. Upgrade with pg_upgrade or a new stack.`,
        );
    }
    problems.push(...renames(previous, next));
    const keptEtcd = previous.etcdMembers.filter((n) => now.etcdMembers.includes(n));
    if (previous.etcdMembers.length > 0 && keptEtcd.length <= previous.etcdMembers.length / 2) {
        const need = Math.floor(previous.etcdMembers.length / 2) + 1;
        problems.push(
            `pgha:nodes: this edit keeps ${keptEtcd.length} of the ${previous.etcdMembers.length} running etcd members (${previous.etcdMembers.join(", ")}); ` +
                `keep at least ${need} in one step so the DCS never loses its quorum, and change the rest in a later \`pulumi up\`.`,
        );
    }
    const keptPg = previous.postgresMembers.filter((n) => now.postgresMembers.includes(n));
    if (previous.postgresMembers.length > 0 && keptPg.length === 0) {
        problems.push(
            `pgha:nodes: this edit removes every running PostgreSQL member (${previous.postgresMembers.join(", ")}); ` +
                `no new member could clone the data. Add the new members first, and remove the old ones in a later \`pulumi up\`.`,
        );
    }
    return problems;
}

/**
 * A node is identified by its address. Resources are named after the node but write fixed
 * paths, so a new name at a running node's address would create the new resources and then
 * delete the old ones, removing that host's files and services after `up` reported success.
 */
function renames(previous: ClusterShape, next: ClusterSpec): string[] {
    if (!previous.nodes) return [];
    const nextNames = new Set(next.nodes.map((n) => n.name));
    const problems: string[] = [];
    for (const n of next.nodes) {
        const old = previous.nodes!.find((p) => p.address === n.address && p.name !== n.name && !nextNames.has(p.name));
        if (!old) continue;
        problems.push(
            `pgha:nodes: the node "${n.name}" has the address ${n.address} of the running node "${old.name}"; renaming a node is refused ` +
                `(a node is identified by its address, and its files and services would be removed after the new ones were written). ` +
                `Keep the name "${old.name}". To replace the node, add the new one with its own address, run \`pulumi up\`, then remove "${old.name}" in a later \`pulumi up\`.`,
        );
    }
    return problems;
}
