// Checks on secret values. Kept apart from zod so no generic error path can
// ever print a value: every message here is written by hand and names only
// the key.

import * as crypto from "crypto";
import { SecretName } from "./spec";
import { CONFIG_SECRET_KEYS, ConfigSecretName, unsafeCharacterProblem } from "./config-schema";
import { formatKeyPath as key } from "./config-errors";

export const SECRET_MAX_LENGTH = 128;
/** VRRP PASS authentication carries 8 bytes; keepalived ignores the rest. */
export const KEEPALIVED_PASS_LENGTH = 8;
/** pgha:backupCipherPassphrase: the repository's aes-256-cbc passphrase (e.g. `openssl rand -base64 48`). */
export const CIPHER_PASSPHRASE_MIN = 16;
export const CIPHER_PASSPHRASE_MAX = 256;

// keepalived's config parser splits on whitespace and treats # and ! as
// comments, quotes and backslashes as escapes, braces as blocks, and $NAME as
// a parameter to substitute (it has built-in ones: "ab$_PWD" would change).
const KEEPALIVED_PASS_RE = /^[\x21-\x7e]+$/;
const KEEPALIVED_FORBIDDEN_RE = /[#!"'\\{}$]/;
const MONITORING_PASS_RE = /^[\x21-\x7e]+$/;
const MONITORING_FORBIDDEN_RE = /["'\\]/;

/** What is wrong with a secret's value (no value in the text), or undefined. */
export function secretValueProblem(name: ConfigSecretName, value: string): string | undefined {
    if (name === "sshPrivateKey") {
        if (!/-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/.test(value) || !/-----END [A-Z0-9 ]*PRIVATE KEY-----/.test(value)) {
            return "is not a PEM/OpenSSH private key (-----BEGIN ... PRIVATE KEY-----)";
        }
        if (/[\u0000-\u0009\u000b\u000c\u000e-\u001f\u007f]/.test(value)) return "contains a control character";
        // PEM "Proc-Type: 4,ENCRYPTED" and PKCS#8 "BEGIN ENCRYPTED PRIVATE KEY".
        if (value.includes("ENCRYPTED")) {
            return "is protected by a passphrase; pgha needs an unencrypted key";
        }
        return undefined;
    }
    if (name === "backupCipherPassphrase") {
        if (value.length < CIPHER_PASSPHRASE_MIN || value.length > CIPHER_PASSPHRASE_MAX) return `must be ${CIPHER_PASSPHRASE_MIN} to ${CIPHER_PASSPHRASE_MAX} characters long`;
        const unsafeCipher = unsafeCharacterProblem(value);
        if (unsafeCipher !== undefined) return unsafeCipher;
        // pgBackRest's ini reader trims a value: a passphrase with outer blanks would silently change.
        if (value.trim() !== value) return "must not start or end with a space or tab (pgbackrest.conf would drop it)";
        return undefined;
    }
    if (value.length < 1 || value.length > SECRET_MAX_LENGTH) return `must be 1 to ${SECRET_MAX_LENGTH} characters long`;
    const unsafe = unsafeCharacterProblem(value);
    if (unsafe !== undefined) return unsafe;
    // postgres_exporter 0.11 rebuilds its data source as key='value' words and refuses ("malformed dsn")
    // a password with blanks, quotes or backslashes (seen with Debian 12's binary: tests/unit/monitoring-exporters.test.ts).
    if (name === "monitoringPassword" && (!MONITORING_PASS_RE.test(value) || MONITORING_FORBIDDEN_RE.test(value))) {
        return "must be printable ASCII without spaces, quotes or backslashes (postgres_exporter cannot read them from its data source)";
    }
    if (name === "keepalivedPassword" && (!KEEPALIVED_PASS_RE.test(value) || KEEPALIVED_FORBIDDEN_RE.test(value))) {
        return "must be printable ASCII without spaces, quotes, backslashes, braces, $, # or ! (keepalived.conf cannot hold them)";
    }
    return undefined;
}

export interface SecretsInput {
    readonly secrets: Partial<Record<ConfigSecretName, string>>;
    /** Keys the stack stores encrypted; undefined when the caller cannot tell. */
    readonly markedSecret?: ReadonlySet<string>;
    readonly generateMissing: boolean;
    /** A VIP held by keepalived (pgha:vip with manager keepalived): keepalivedPassword is needed. */
    readonly hasVip: boolean;
    /** pgha:backup is set with encryption (the default): pgha:backupCipherPassphrase is required, never generated. */
    readonly backupEncryption?: boolean;
    /** pgha:backup is set at all (else a passphrase is unused). */
    readonly hasBackup?: boolean;
    /** pgha:pgbouncer is set: pgha:pgbouncerAuthPassword is needed (generated when missing, like the passwords). */
    readonly hasPgbouncer?: boolean;
    /** pgha:monitoring is set: pgha:monitoringPassword (postgres_exporter's role) is needed, generated when missing. */
    readonly hasMonitoring?: boolean;
}

export interface SecretsCheck {
    readonly errors: string[];
    readonly warnings: string[];
    /** Needed secrets that are absent and must be generated. */
    readonly toGenerate: SecretName[];
}

const setHint = (name: string): string => `set it with \`pulumi config set --secret ${key([name])} …\``;

export function checkSecrets(input: SecretsInput): SecretsCheck {
    const errors: string[] = [];
    const warnings: string[] = [];
    const toGenerate: SecretName[] = [];
    const needed: readonly SecretName[] = [
        "superuserPassword",
        "replicationPassword",
        ...(input.hasVip ? (["keepalivedPassword"] as const) : []),
        ...(input.hasPgbouncer === true ? (["pgbouncerAuthPassword"] as const) : []),
        ...(input.hasMonitoring === true ? (["monitoringPassword"] as const) : []),
    ];

    // restApiPassword is optional: when absent it is derived from the superuser password (deriveRestApiPassword).
    for (const name of CONFIG_SECRET_KEYS) {
        const value = input.secrets[name];
        if (value === undefined || value === "") {
            if (name === "backupCipherPassphrase" && input.backupEncryption === true) {
                // Never generated: a passphrase kept only in the stack state would be lost with it, and every backup with it.
                errors.push(
                    `${key([name])}: missing, and ${key(["backup", "encryption"])} is true: the repository is encrypted with it (aes-256-cbc) and restoring needs it, ` +
                        `so pgha never generates it; keep a copy outside the stack and ${setHint(name)}, or set ${key(["backup", "encryption"])} false`,
                );
            }
            if ((needed as readonly string[]).includes(name)) {
                if (input.generateMissing) toGenerate.push(name as SecretName);
                else errors.push(`${key([name])}: missing; ${setHint(name)}`);
            }
            continue;
        }
        const problem = secretValueProblem(name, value);
        if (problem !== undefined) errors.push(`${key([name])}: ${problem}`);
        if (input.markedSecret !== undefined && !input.markedSecret.has(name)) {
            errors.push(`${key([name])}: stored in plain text; ${setHint(name)}`);
        }
        if (name === "backupCipherPassphrase" && input.backupEncryption !== true) {
            warnings.push(`${key([name])}: set but unused, as ${input.hasBackup === true ? `${key(["backup", "encryption"])} is false` : `there is no ${key(["backup"])}`}`);
        }
        if (name === "keepalivedPassword") {
            if (!input.hasVip) warnings.push(`${key([name])}: set but unused, as no keepalived holds a VIP (${key(["vip"])} absent, or ${key(["vip", "manager"])} vip-manager)`);
            else if (value.length > KEEPALIVED_PASS_LENGTH) {
                warnings.push(`${key([name])}: VRRP uses only its first ${KEEPALIVED_PASS_LENGTH} characters`);
            }
        }
    }
    return { errors, warnings, toGenerate };
}

/** Username of the Patroni REST API's basic auth (unsafe endpoints) and of patronictl. */
export const REST_API_USER = "pgha";

/**
 * The Patroni REST API password when pgha:restApiPassword is not set: a keyed hash of
 * the superuser password, so it is stable, secret as long as that one is, and changes with it.
 * Call only inside pulumi.Output.apply.
 */
export function deriveRestApiPassword(superuserPassword: string): string {
    return crypto.createHmac("sha256", superuserPassword).update("pgha/patroni-rest-api").digest("hex").slice(0, 32);
}
