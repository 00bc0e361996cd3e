// Glue between Pulumi's string-valued config and parseClusterConfig: picks the
// `pgha:*` keys, JSON-decodes structured values, and routes secrets apart.

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

/**
 * Builds RawConfig from Pulumi's config.
 * @param keys every key of the stack's config, fully qualified ("pgha:nodes", "aws:region"); other namespaces are ignored
 * @param get the raw value of a fully qualified key: JSON text for objects and arrays, plain text for scalars
 * @param homedir what "~/" expands to (os.homedir() at the call site)
 * @param isSecret whether the stack stores a key encrypted; when given, plain-text secrets are refused
 */
export function readRawConfig(keys: readonly string[], get: (fullKey: string) => string | undefined, homedir?: string, isSecret?: (fullKey: string) => boolean): RawConfig {
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
    return {
        values,
        secrets,
        ...(isSecret !== undefined ? { secretKeysMarkedSecret: marked } : {}),
        ...(homedir !== undefined ? { homedir } : {}),
    };
}
