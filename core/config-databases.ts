// pgha:databases and pgha:roles: the rules that involve more than one entry, the role
// passwords' own checks (never quoting a value), the warnings, and their part of the spec.
// The single-field rules are in config-schema.ts; the passwords are split off the values by
// config-raw.ts (splitRolePasswords), so no password ever reaches zod or the spec.

import { ParsedConfig, SQL_NAME_RE, unsafeCharacterProblem } from "./config-schema";
import type { Problem } from "./config-checks";
import { formatKeyPath as key } from "./config-errors";
import { DatabaseSpec, RoleSpec } from "./spec";

/** The longest role password (as for pgha's other passwords). */
export const ROLE_PASSWORD_MAX_LENGTH = 128;

/**
 * PostgreSQL's predefined roles that a role may be made a member of, with the major version
 * that introduced each (pg_database_owner takes no explicit members, so it is not here).
 */
export const PREDEFINED_ROLES: Readonly<Record<string, number>> = {
    pg_monitor: 10,
    pg_read_all_settings: 10,
    pg_read_all_stats: 10,
    pg_stat_scan_tables: 10,
    pg_signal_backend: 10,
    pg_read_server_files: 11,
    pg_write_server_files: 11,
    pg_execute_server_program: 11,
    pg_read_all_data: 14,
    pg_write_all_data: 14,
    pg_checkpoint: 15,
    pg_use_reserved_connections: 16,
    pg_create_subscription: 16,
    pg_maintain: 17,
    pg_signal_autovacuum_worker: 18,
};

const predefinedFor = (version: number): string[] => Object.keys(PREDEFINED_ROLES).filter((r) => PREDEFINED_ROLES[r] <= version);

const sortedUnique = (xs: readonly string[]): string[] => [...new Set(xs)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
const byName = <T extends { name: string }>(a: T, b: T): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
/** A name as messages show it: only well-formed names reach the cross-field messages. */
const ok = (s: unknown): s is string => typeof s === "string" && SQL_NAME_RE.test(s);

function duplicateNames(list: readonly { name: string }[], section: "databases" | "roles"): Problem[] {
    const out: Problem[] = [];
    const first = new Map<string, number>();
    list.forEach((e, i) => {
        if (!ok(e.name)) return;
        const j = first.get(e.name);
        if (j === undefined) first.set(e.name, i);
        else out.push({ path: [section, i, "name"], message: `${e.name} is already declared by ${key([section, j])}` });
    });
    return out;
}

/** The first membership cycle among the declared roles that `start` is on, as a path of names, or undefined. */
function cycleThrough(start: string, edges: ReadonlyMap<string, readonly string[]>): string[] | undefined {
    const walk = (at: string, path: string[], seen: Set<string>): string[] | undefined => {
        for (const next of edges.get(at) ?? []) {
            if (next === start) return [...path, next];
            if (seen.has(next)) continue;
            seen.add(next);
            const found = walk(next, [...path, next], seen);
            if (found) return found;
        }
        return undefined;
    };
    return walk(start, [start], new Set([start]));
}

/** The cross-field rules of pgha:databases and pgha:roles. */
export function databaseRoleProblems(cfg: ParsedConfig): Problem[] {
    const out: Problem[] = [...duplicateNames(cfg.roles, "roles"), ...duplicateNames(cfg.databases, "databases")];
    const declared = new Set(cfg.roles.map((r) => r.name).filter(ok));
    const predefined = predefinedFor(cfg.postgres.version);
    cfg.databases.forEach((d, i) => {
        if (!ok(d.owner) || d.owner === "postgres" || declared.has(d.owner)) return;
        out.push({ path: ["databases", i, "owner"], message: `${d.owner} is neither a role of ${key(["roles"])} nor postgres; declare it there` });
    });
    cfg.roles.forEach((r, i) => {
        r.memberOf.forEach((parent, j) => {
            if (!ok(parent)) return;
            const path = ["roles", i, "memberOf", j];
            if (parent === r.name) out.push({ path, message: "a role cannot be a member of itself" });
            else if (parent.startsWith("pg_") && !predefined.includes(parent)) {
                const since = PREDEFINED_ROLES[parent];
                out.push({
                    path,
                    message:
                        since === undefined
                            ? `${parent} is not a predefined role PostgreSQL ${cfg.postgres.version} lets a role join (${predefined.join(", ")})`
                            : `${parent} is a predefined role since PostgreSQL ${since}; this cluster runs ${cfg.postgres.version}`,
                });
            } else if (!parent.startsWith("pg_") && !declared.has(parent)) {
                out.push({ path, message: `${parent} is neither a role of ${key(["roles"])} nor a predefined role such as pg_read_all_data; declare it there` });
            }
        });
    });
    // PostgreSQL refuses a membership cycle: report it once, on the first role of it in the list.
    const edges = new Map(cfg.roles.filter((r) => ok(r.name)).map((r) => [r.name, r.memberOf.filter((p) => declared.has(p) && p !== r.name)]));
    const reported = new Set<string>();
    cfg.roles.forEach((r, i) => {
        if (!ok(r.name) || reported.has(r.name)) return;
        const cycle = cycleThrough(r.name, edges);
        if (cycle === undefined) return;
        cycle.forEach((n) => reported.add(n));
        out.push({ path: ["roles", i, "memberOf"], message: `makes a membership cycle (${cycle.join(" → ")}), which PostgreSQL refuses` });
    });
    return out;
}

/** What is wrong with a role password (never quoting it), or undefined. */
export function rolePasswordProblem(value: unknown): string | undefined {
    if (typeof value !== "string") {
        return `expected a string, got ${Array.isArray(value) ? "an array" : value === null ? "null" : typeof value === "object" ? "an object" : `a ${typeof value}`}`;
    }
    if (value.length < 1 || value.length > ROLE_PASSWORD_MAX_LENGTH) return `must be 1 to ${ROLE_PASSWORD_MAX_LENGTH} characters long`;
    return unsafeCharacterProblem(value);
}

export interface RolePasswordsInput {
    /** The raw values by index in pgha:roles. */
    readonly passwords: Readonly<Record<number, unknown>>;
    /** Top-level keys the stack stores encrypted; undefined when the caller cannot tell. */
    readonly markedSecret?: ReadonlySet<string>;
    /** Indexes whose password the stack file holds in plain text (while another one makes the key secret). */
    readonly plainText?: readonly number[];
}

const setHint = (i: number): string => `set it with \`pulumi config set --secret --path '${key(["roles", i, "password"])}' …\``;

/** Every problem with the role passwords, each naming its key path and never a value. */
export function rolePasswordProblems(input: RolePasswordsInput): string[] {
    const out: string[] = [];
    for (const i of Object.keys(input.passwords)
        .map(Number)
        .sort((a, b) => a - b)) {
        const where = key(["roles", i, "password"]);
        const problem = rolePasswordProblem(input.passwords[i]);
        if (problem !== undefined) out.push(`${where}: ${problem}`);
        const marked = input.markedSecret === undefined || input.markedSecret.has("roles");
        if (!marked || (input.plainText ?? []).includes(i)) out.push(`${where}: stored in plain text; ${setHint(i)}`);
    }
    return out;
}

/** Legal but noteworthy: a login role whose password pgha does not set, a password that cannot be used. */
export function roleWarnings(cfg: ParsedConfig, withPassword: ReadonlySet<number>): string[] {
    const out: string[] = [];
    cfg.roles.forEach((r, i) => {
        if (r.login && !withPassword.has(i)) {
            out.push(
                `${key(["roles", i])} (${r.name}): login is true but the stack sets no password: pgha leaves its password as it is (none for a new role), ` +
                    `and pg_hba.conf admits it only with one (scram-sha-256); ${setHint(i)} unless you manage it yourself`,
            );
        }
        if (!r.login && withPassword.has(i)) {
            out.push(`${key(["roles", i, "password"])}: set, but ${key(["roles", i, "login"])} is false: the role cannot log in with it`);
        }
    });
    return out;
}

export function buildDatabases(cfg: ParsedConfig): DatabaseSpec[] {
    return cfg.databases
        .map((d) => ({
            name: d.name,
            owner: d.owner,
            ...(d.encoding !== undefined ? { encoding: d.encoding.toUpperCase() } : {}),
            ...(d.locale !== undefined ? { locale: d.locale } : {}),
            extensions: sortedUnique(d.extensions),
        }))
        .sort(byName);
}

export function buildRoles(cfg: ParsedConfig, withPassword: ReadonlySet<number>): RoleSpec[] {
    return cfg.roles.map((r, i) => ({ name: r.name, login: r.login, hasPassword: withPassword.has(i), memberOf: sortedUnique(r.memberOf), connectionLimit: r.connectionLimit })).sort(byName);
}
