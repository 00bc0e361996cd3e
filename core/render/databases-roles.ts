// What the databases-and-roles step (server/pg-databases-roles.py) gets on stdin: the declared
// databases and roles, each role with its password when the stack sets one. The whole text is a
// secret (components/databases-roles.ts); this module only shapes it.
import { ClusterSpec, RolePasswords } from "../spec";

export interface DeclaredState {
    readonly roles: readonly { name: string; login: boolean; connectionLimit: number; memberOf: readonly string[]; password?: string }[];
    readonly databases: readonly { name: string; owner: string; encoding?: string; locale?: string; extensions: readonly string[] }[];
    /** pgha:restore's id: a new in-place restore rewinds the catalog, so the step runs again after it. */
    readonly restore?: string;
}

/** Whether the stack declares any database or role (the step and its program exist only then). */
export const declaresDatabasesOrRoles = (spec: ClusterSpec): boolean => (spec.databases ?? []).length > 0 || (spec.roles ?? []).length > 0;

/** The step's stdin. `passwords`: by role name, for the roles whose spec says hasPassword. Call only inside pulumi.Output.apply. */
export function declaredState(spec: ClusterSpec, passwords: RolePasswords): DeclaredState {
    return {
        roles: (spec.roles ?? []).map((r) => {
            const password = r.hasPassword ? passwords[r.name] : undefined;
            // The spec comes from the same configuration as the passwords: a gap is pgha's bug (named, never the value).
            if (r.hasPassword && typeof password !== "string") throw new Error(`pgha: the password of role ${r.name} is missing`);
            return { name: r.name, login: r.login, connectionLimit: r.connectionLimit, memberOf: r.memberOf, ...(password !== undefined ? { password } : {}) };
        }),
        databases: (spec.databases ?? []).map((d) => ({ ...d })),
        ...(spec.restore !== undefined ? { restore: spec.restore.id } : {}),
    };
}
