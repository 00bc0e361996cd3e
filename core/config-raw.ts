// Glue between Pulumi's string-valued config and parseClusterConfig: picks the
// `pgha:*` keys, JSON-decodes structured values, and routes secrets apart.

import { parse as parseYaml } from "yaml";
import { CONFIG_SECRET_KEYS, ConfigSecretName } from "./config-schema";
import { NAMESPACE } from "./config-errors";

export interface RawConfig {
    /** Every non-secret `pgha:*` key (without the prefix), structured values JSON-decoded. */
    readonly values: Record<string, unknown>;
    /** Secret keys' plain values; absent or "" means "not set". */
    readonly secrets: Partial<Record<ConfigSecretName, string>>;
    /** Top-level keys (without the prefix) the stack stores encrypted; undefined when unknown (then not checked). */
    readonly secretKeysMarkedSecret?: readonly string[];
    /** Home directory that "~/" in pgha:ssh.privateKeyPath expands to. */
    readonly homedir?: string;
    /** pgha:roles[i].password by index i, as given (split off `values.roles`: never in values); absent when none is set. */
    readonly rolePasswords?: Readonly<Record<number, unknown>>;
    /** Indexes i whose pgha:roles[i].password the stack file holds in plain text (see plainTextRolePasswords). */
    readonly plainTextRolePasswords?: readonly number[];
}

const SECRET_KEYS: readonly string[] = CONFIG_SECRET_KEYS;

/**
 * Only objects and arrays are JSON-decoded: decoding scalars would turn a
 * cluster named "123" into a number; the schema coerces "5432" and "true"
 * where a number or boolean is expected.
 */
export function decodeConfigValue(raw: string): unknown {
    const t = raw.trim();
    if (t.startsWith("{") || t.startsWith("[")) {
        try {
            return JSON.parse(t);
        } catch {
            return raw;
        }
    }
    return raw;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * pgha:roles without its passwords, and the passwords by index. `pulumi config set --secret
 * --path 'pgha:roles[0].password'` makes the whole `pgha:roles` key secret, and Pulumi hands
 * it to the program decrypted, as JSON: the passwords are taken out here, so that only the
 * rest of each role reaches validation, the spec and the state.
 */
export function splitRolePasswords(roles: unknown): { roles: unknown; passwords: Record<number, unknown> } {
    const passwords: Record<number, unknown> = {};
    if (!Array.isArray(roles)) return { roles, passwords };
    const rest = roles.map((r: unknown, i) => {
        if (!isObject(r) || !Object.hasOwn(r, "password")) return r;
        const { password, ...others } = r;
        passwords[i] = password;
        return others;
    });
    return { roles: rest, passwords };
}

/**
 * Indexes i of pgha:roles whose password the stack file `text` (Pulumi.<stack>.yaml) holds in
 * plain text although its value is what the program was given (`given`, by index). Pulumi
 * marks a whole key secret when any part of it is: a second role's password set without
 * --secret would pass the key's check, so the stack file itself is read. Unreadable or
 * unrelated text finds nothing.
 */
export function plainTextRolePasswords(text: string, given: Readonly<Record<number, unknown>>): number[] {
    let doc: unknown;
    try {
        doc = parseYaml(text);
    } catch {
        return [];
    }
    const roles = isObject(doc) && isObject(doc.config) ? doc.config[`${NAMESPACE}:roles`] : undefined;
    if (!Array.isArray(roles)) return [];
    return roles.flatMap((r: unknown, i) => {
        if (!isObject(r) || !Object.hasOwn(r, "password") || isObject(r.password)) return [];
        return r.password === given[i] ? [i] : [];
    });
}

/**
 * Builds RawConfig from Pulumi's config.
 * @param keys every key of the stack's config, fully qualified ("pgha:nodes", "aws:region"); other namespaces are ignored
 * @param get the raw value of a fully qualified key: JSON text for objects and arrays, plain text for scalars
 * @param homedir what "~/" expands to (os.homedir() at the call site)
 * @param isSecret whether the stack stores a key encrypted; when given, plain-text secrets are refused
 * @param stackFile the stack file's text, when readable: role passwords in plain text there are refused
 */
export function readRawConfig(keys: readonly string[], get: (fullKey: string) => string | undefined, homedir?: string, isSecret?: (fullKey: string) => boolean, stackFile?: string): RawConfig {
    const prefix = `${NAMESPACE}:`;
    const values: Record<string, unknown> = {};
    const secrets: Partial<Record<ConfigSecretName, string>> = {};
    const marked: string[] = [];
    for (const fullKey of [...keys].sort()) {
        if (!fullKey.startsWith(prefix)) continue;
        const name = fullKey.slice(prefix.length);
        const raw = get(fullKey);
        if (raw === undefined) continue;
        if (isSecret?.(fullKey)) marked.push(name);
        if (SECRET_KEYS.includes(name)) secrets[name as ConfigSecretName] = raw;
        // Defined, not assigned: a key named "__proto__" must stay a key (and be refused as unknown).
        else Object.defineProperty(values, name, { value: decodeConfigValue(raw), enumerable: true, writable: true, configurable: true });
    }
    const split = splitRolePasswords(values.roles);
    const hasPasswords = Object.keys(split.passwords).length > 0;
    if (hasPasswords) values.roles = split.roles;
    const plain = hasPasswords && stackFile !== undefined ? plainTextRolePasswords(stackFile, split.passwords) : [];
    return {
        values,
        secrets,
        ...(isSecret !== undefined ? { secretKeysMarkedSecret: marked } : {}),
        ...(homedir !== undefined ? { homedir } : {}),
        ...(hasPasswords ? { rolePasswords: split.passwords } : {}),
        ...(plain.length > 0 ? { plainTextRolePasswords: plain } : {}),
    };
}
