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
}

export function clusterShape(spec: ClusterSpec): ClusterShape {
    return {
        clusterName: spec.clusterName,
        postgresVersion: spec.postgres.version,
        etcdMembers: nodesWithRole(spec, "etcd").map((n) => n.name),
        postgresMembers: nodesWithRole(spec, "postgres").map((n) => n.name),
        transport: "tls",
    };
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
