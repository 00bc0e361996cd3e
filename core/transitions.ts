// Edits that cannot be applied safely in place, refused at preview. They need
// the previous deployment's shape, which the program exports as `clusterShape`
// and reads back from the stack's last outputs.
import { ClusterSpec, DatabaseSpec, RoleSpec, nodesWithRole } from "./spec";

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
    /** pgha:databases (names and settings), while the stack declares any. */
    readonly databases?: readonly DatabaseSpec[];
    /** pgha:roles without their passwords (only whether one is set), while the stack declares any. */
    readonly roles?: readonly RoleSpec[];
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
        ...(spec.databases !== undefined ? { databases: spec.databases } : {}),
        ...(spec.roles !== undefined ? { roles: spec.roles } : {}),
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
    problems.push(...declaredRenames(previous, next));
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

// ---------------------------------------------------------------------------
// pgha:databases and pgha:roles: never dropped, never renamed

const sameList = (a: readonly string[] | undefined, b: readonly string[] | undefined): boolean => JSON.stringify(a ?? []) === JSON.stringify(b ?? []);
const sameDatabase = (a: DatabaseSpec, b: DatabaseSpec): boolean => a.owner === b.owner && a.encoding === b.encoding && a.locale === b.locale && sameList(a.extensions, b.extensions);
const sameRole = (a: RoleSpec, b: RoleSpec): boolean => a.login === b.login && a.hasPassword === b.hasPassword && a.connectionLimit === b.connectionLimit && sameList(a.memberOf, b.memberOf);

interface Kind<T extends { name: string }> {
    readonly key: "databases" | "roles";
    readonly what: string;
    readonly same: (a: T, b: T) => boolean;
    readonly settings: string;
    readonly rename: (from: string, to: string) => string;
}
const DATABASES: Kind<DatabaseSpec> = {
    key: "databases",
    what: "database",
    same: sameDatabase,
    settings: "owner, encoding, locale and extensions",
    rename: (from, to) => `ALTER DATABASE ${from} RENAME TO ${to}`,
};
const ROLES: Kind<RoleSpec> = { key: "roles", what: "role", same: sameRole, settings: "login, password, memberships and connection limit", rename: (from, to) => `ALTER ROLE ${from} RENAME TO ${to}` };

/**
 * A new database or role in the place of a deployed one with the same settings looks like a
 * rename, which pgha does not do: it would create a new, empty one and keep the old one. So it
 * is refused, with the way to do either.
 */
function renamedIn<T extends { name: string }>(kind: Kind<T>, previous: readonly T[] | undefined, next: readonly T[] = []): string[] {
    const before = previous ?? [];
    const gone = before.filter((p) => !next.some((n) => n.name === p.name));
    const added = next.filter((n) => !before.some((p) => p.name === n.name));
    return added.flatMap((n) => {
        const old = gone.find((g) => kind.same(g, n));
        if (old === undefined) return [];
        return [
            `pgha:${kind.key}: the new ${kind.what} "${n.name}" has the ${kind.settings} of "${old.name}", which this stack deployed and no longer lists: ` +
                `this looks like a rename, and pgha does not rename (it would create "${n.name}" anew and keep "${old.name}"). ` +
                `To rename it, run \`${kind.rename(old.name, n.name)}\` on the leader; then, as for keeping "${old.name}" beside a new "${n.name}", ` +
                `remove "${old.name}" from the stack in one \`pulumi up\` and add "${n.name}" in the next.`,
        ];
    });
}

function declaredRenames(previous: ClusterShape, next: ClusterSpec): string[] {
    return [...renamedIn(DATABASES, previous.databases, next.databases), ...renamedIn(ROLES, previous.roles, next.roles)];
}

/** The deployed databases and roles the stack no longer lists: kept (pgha never drops one), one warning each. */
export function keptDatabasesAndRoles(previous: ClusterShape | undefined, next: ClusterSpec): string[] {
    if (!previous) return [];
    const gone = <T extends { name: string }>(before: readonly T[] | undefined, now: readonly T[] = []): string[] =>
        (before ?? []).filter((p) => !now.some((n) => n.name === p.name)).map((p) => p.name);
    return [
        ...gone(previous.databases, next.databases).map(
            (d) => `pgha:databases: "${d}" is no longer listed: pgha keeps the database and its data (it never drops one); run DROP DATABASE ${d} on the leader yourself if you mean to`,
        ),
        ...gone(previous.roles, next.roles).map(
            (r) =>
                `pgha:roles: "${r}" is no longer listed: pgha keeps the role, its password and its memberships (it never drops one); ` +
                `run DROP OWNED BY ${r} and DROP ROLE ${r} yourself (in every database it owns objects in) if you mean to`,
        ),
    ];
}
