// Stack configuration → ClusterSpec. Validates everything at once (shape and
// single fields with zod, then cross-field rules, then secrets) and reports
// every problem with its key path, before any server is touched.

import { z } from "zod";
import { ClusterSpec, SecretName, nodesWithRole } from "./spec";
import { CONFIG_SECRET_KEYS, ConfigSecretName, configSchema } from "./config-schema";
import { crossFieldProblems } from "./config-checks";
import { buildSpec } from "./config-build";
import { formatKeyPath, formatZodIssues } from "./config-errors";
import { checkSecrets } from "./config-secrets";
import { RawConfig, splitRolePasswords } from "./config-raw";
import { roleWarnings, rolePasswordProblems } from "./config-databases";
import { parseCidr } from "./net";
import { PLATFORMS } from "./platforms";

export { RawConfig, readRawConfig, decodeConfigValue, plainTextRolePasswords, splitRolePasswords } from "./config-raw";
export { formatConfigErrors, formatKeyPath } from "./config-errors";
export { ConfigSecretName, CONFIG_SECRET_KEYS } from "./config-schema";
export { secretValueProblem, KEEPALIVED_PASS_LENGTH } from "./config-secrets";

export interface ParseOptions {
    /** Home directory that "~/" in pgha:ssh.privateKeyPath expands to; overrides RawConfig.homedir. */
    readonly homedir?: string;
    /**
     * pgha:postgres.version when the stack leaves it unset: the deployed cluster's, or its
     * nodes' release's (resolved by components/postgres-ha-cluster.ts before it deploys).
     * Validation alone may leave it out: the oldest supported release's is used.
     */
    readonly postgresVersion?: number;
}

export type ParseResult =
    | {
          readonly ok: true;
          readonly spec: ClusterSpec;
          /** Secrets the cluster needs that the stack does not set: generate them (pgha:generateMissingSecrets is true). */
          readonly secretsToGenerate: readonly SecretName[];
          /** Legal but noteworthy settings, one line each, key path first. */
          readonly warnings: readonly string[];
      }
    | { readonly ok: false; readonly errors: readonly string[] };

const checkedSchema = configSchema.superRefine((cfg, ctx) => {
    for (const p of crossFieldProblems(cfg)) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: [...p.path], message: p.message });
    }
});

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Client CIDRs wider than this prefix are legal but warned about at preview. */
const WIDEST_QUIET_CLIENT_PREFIX = 16;

function specWarnings(spec: ClusterSpec): string[] {
    const out: string[] = [];
    if (nodesWithRole(spec, "haproxy").length === 0 && spec.vip?.manager !== "vip-manager") {
        out.push(`${formatKeyPath(["nodes"])}: no node has the haproxy role; clients must find the leader themselves`);
    }
    if (nodesWithRole(spec, "postgres").length === 1) {
        out.push(`${formatKeyPath(["nodes"])}: only one node has the postgres role; there is no failover`);
    }
    spec.postgres.allowedClientCidrs.forEach((c, i) => {
        const prefix = parseCidr(c)?.prefix;
        if (prefix === undefined || prefix >= WIDEST_QUIET_CLIENT_PREFIX) return;
        const what = prefix === 0 ? `${c} is every IPv4 address` : `${c} is wider than /${WIDEST_QUIET_CLIENT_PREFIX} (${2 ** (32 - prefix)} addresses)`;
        out.push(
            `${formatKeyPath(["postgres", "allowedClientCidrs", i])}: ${what}; all of them may reach HAProxy and log in to PostgreSQL ` + `(the superuser included): list only the clients' networks`,
        );
    });
    // A pooled syncReplica while synchronous mode is off: the port is not rendered, so the entry waits for it (no need to edit both).
    if (spec.haproxy.pooled.includes("syncReplica") && !spec.patroni.synchronousMode) {
        out.push(
            `${formatKeyPath(["haproxy", "pooled"])}: lists syncReplica, but ${formatKeyPath(["patroni", "synchronousMode"])} is false, ` +
                `so there is no ${formatKeyPath(["haproxy", "syncReplicaPort"])} listener (${spec.haproxy.syncReplicaPort}) for it to pool until synchronous mode is on`,
        );
    }
    const unpinned = spec.nodes.filter((n) => n.hostKey === undefined).map((n) => n.name);
    if (!spec.ssh.strictHostKeys && unpinned.length > 0) {
        out.push(
            `${formatKeyPath(["ssh", "strictHostKeys"])}: false: ${unpinned.join(", ")} ${unpinned.length === 1 ? "has" : "have"} no hostKey ` +
                `and ${unpinned.length === 1 ? "accepts" : "accept"} any SSH server key (no verification, nothing is remembered)`,
        );
    }
    return out;
}

export function parseClusterConfig(raw: RawConfig, opts: ParseOptions = {}): ParseResult {
    // Secrets handed in among the values (e.g. by a test) are moved where they belong.
    const values: Record<string, unknown> = { ...raw.values };
    const secrets: Partial<Record<ConfigSecretName, string>> = { ...raw.secrets };
    const misplaced: string[] = [];
    for (const k of CONFIG_SECRET_KEYS) {
        if (!Object.hasOwn(values, k)) continue;
        const v = values[k];
        if (typeof v === "string") {
            if (secrets[k] === undefined) secrets[k] = v;
        } else if (v !== undefined && v !== null) {
            // Never generated in its place, never printed: only its type is named.
            misplaced.push(`${formatKeyPath([k])}: expected a string, got ${Array.isArray(v) ? "an array" : typeof v === "object" ? "an object" : `a ${typeof v}`}`);
        }
        delete values[k];
    }

    // Role passwords handed in among the values are moved apart too: they never reach zod or the spec.
    const split = splitRolePasswords(values.roles);
    const rolePasswords: Record<number, unknown> = { ...split.passwords, ...raw.rolePasswords };
    if (Object.keys(split.passwords).length > 0) values.roles = split.roles;

    // The version decides default paths that other keys are checked against.
    if (values.postgres === undefined || isObject(values.postgres)) {
        const pg = (values.postgres ?? {}) as Record<string, unknown>;
        if (pg.version === undefined) values.postgres = { ...pg, version: opts.postgresVersion ?? PLATFORMS[0].postgresVersion };
    }
    const parsed = checkedSchema.safeParse(values);
    const errors = [...(parsed.success ? [] : formatZodIssues(parsed.error.issues)), ...misplaced];

    const sshKeyFromSecret = (secrets.sshPrivateKey ?? "") !== "";
    if (sshKeyFromSecret && isObject(values.ssh) && values.ssh.privateKeyPath !== undefined) {
        errors.push(`${formatKeyPath(["ssh", "privateKeyPath"])}: set either this or the secret ${formatKeyPath(["sshPrivateKey"])}, not both`);
    }

    // Without a parse the raw values still tell whether a VIP is wanted and whether to generate.
    // Only keepalived needs a VRRP password (pgha:vip.manager keepalived, the default).
    const rawVip = isObject(values.vip) && Object.keys(values.vip).length > 0 ? values.vip : undefined;
    const hasVip = parsed.success ? parsed.data.vip !== undefined && parsed.data.vip.manager === "keepalived" : rawVip !== undefined && rawVip.manager !== "vip-manager";
    const generateMissing = parsed.success ? parsed.data.generateMissingSecrets : values.generateMissingSecrets !== false && values.generateMissingSecrets !== "false";
    // Likewise whether backups are on and encrypted (encryption is on unless explicitly false).
    const hasBackup = parsed.success ? parsed.data.backup !== undefined : isObject(values.backup) && Object.keys(values.backup).length > 0;
    const backupEncryption = parsed.success
        ? parsed.data.backup?.encryption === true
        : hasBackup && isObject(values.backup) && values.backup.encryption !== false && values.backup.encryption !== "false";
    const hasPgbouncer = parsed.success ? parsed.data.pgbouncer !== undefined : isObject(values.pgbouncer) && Object.keys(values.pgbouncer).length > 0;
    const hasMonitoring = parsed.success ? parsed.data.monitoring !== undefined : isObject(values.monitoring) && Object.keys(values.monitoring).length > 0;
    const secretCheck = checkSecrets({
        secrets,
        markedSecret: raw.secretKeysMarkedSecret === undefined ? undefined : new Set(raw.secretKeysMarkedSecret),
        generateMissing,
        hasVip,
        backupEncryption,
        hasBackup,
        hasPgbouncer,
        hasMonitoring,
    });
    errors.push(...secretCheck.errors);
    errors.push(
        ...rolePasswordProblems({
            passwords: rolePasswords,
            markedSecret: raw.secretKeysMarkedSecret === undefined ? undefined : new Set(raw.secretKeysMarkedSecret),
            plainText: raw.plainTextRolePasswords,
        }),
    );

    if (!parsed.success || errors.length > 0) return { ok: false, errors: [...new Set(errors)] };

    const withPassword = new Set(Object.keys(rolePasswords).map(Number));
    const spec = buildSpec(parsed.data, { homedir: opts.homedir ?? raw.homedir, sshPrivateKeyFromSecret: sshKeyFromSecret, rolesWithPassword: withPassword });
    return {
        ok: true,
        spec,
        secretsToGenerate: secretCheck.toGenerate,
        warnings: [...specWarnings(spec), ...secretCheck.warnings, ...roleWarnings(parsed.data, withPassword)],
    };
}
