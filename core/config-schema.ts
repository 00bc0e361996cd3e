// Shape, types, defaults and single-field formats of the `pgha:*` stack keys.
// Cross-field rules live in config-checks.ts; secrets in config-secrets.ts.
//
// Every format check is a refinement (never a transform or an enum) so that a
// bad value leaves zod's result "dirty" rather than "aborted": the cross-field
// checks then still run and the user sees every problem in one go.

import { z } from "zod";
import { HAPROXY_SERVICES, POOL_MODES, ROLES, Role, VIP_MANAGERS } from "./spec";
import { PROFILES, PROFILE_NAMES } from "./profiles";
import { isIPv4, parseCidr, unusableHostAddress } from "./net";

/**
 * JSON.stringify, plus \u escapes for what it leaves raw but a terminal or a
 * reader may act on: DEL and C1 controls, line separators, bidi controls.
 */
export function jsonQuote(s: string): string {
    return JSON.stringify(s).replace(/[\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufffe\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

const QUOTE_MAX = 64;
/** A value quoted for a message; long ones are cut (a 1 MB value must not make a 1 MB message). */
export function quote(s: string): string {
    return s.length <= QUOTE_MAX ? jsonQuote(s) : `${jsonQuote(s.slice(0, QUOTE_MAX))}… (${s.length} characters)`;
}
const q = quote;

/**
 * Control characters (C0, DEL, C1) and the Unicode line and paragraph
 * separators: each ends a line for some reader (YAML 1.1, and so Patroni's
 * PyYAML, breaks lines at NEL, LS and PS), so none may reach a file or command.
 */
export const CONTROL_RE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
/** U+FFFE and U+FFFF (PyYAML refuses a file holding them) and unpaired surrogates (not valid UTF-8). */
export const NON_CHARACTER_RE = /[\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
/** Longest string any key takes (PATH_MAX); secrets have their own, shorter limit. */
export const MAX_TEXT_LENGTH = 4096;
/** PostgreSQL parameter names are short; this bounds what reaches the DCS and the preview. */
const MAX_PARAMETER_NAME_LENGTH = 63;

/** What is wrong with the characters of a string (never quoting it), or undefined. */
export function unsafeCharacterProblem(s: string): string | undefined {
    if (CONTROL_RE.test(s)) return "contains a control character or newline";
    if (NON_CHARACTER_RE.test(s)) return "contains a Unicode non-character (U+FFFE, U+FFFF) or an unpaired surrogate";
    return undefined;
}
/** Cluster and node names: they end up in file contents, unit names, etcd member names and shell. */
export const NAME_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
/** A pgha:repair token: it goes into command texts, so only characters no shell reads. */
export const REPAIR_TOKEN_RE = /^[A-Za-z0-9._:+-]{1,64}$/;
/** A pgha:repair key: a node name, then an absolute path or a systemd unit name. */
export const REPAIR_KEY_RE = /^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?):(\/[A-Za-z0-9._@+/-]{1,255}|[A-Za-z0-9._@-]{1,255})$/;
const NAME_RULE = "lowercase letters, digits and '-', 1 to 63 characters, starting and ending with a letter or digit";
const USER_RE = /^[a-z_][a-z0-9_-]{0,31}$/;
const INTERFACE_RE = /^[a-zA-Z0-9_.:-]{1,15}$/;
const HOST_KEY_RE = /^(ssh-ed25519|ecdsa-sha2-nistp256|ecdsa-sha2-nistp384|ecdsa-sha2-nistp521|ssh-rsa) [A-Za-z0-9+/=]+( .*)?$/;
const HOSTNAME_LABEL = "[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?";
const HOSTNAME_RE = new RegExp(`^${HOSTNAME_LABEL}(\\.${HOSTNAME_LABEL})*$`);
const LOOKS_LIKE_IP_RE = /^[0-9.]+$/;
/** Paths reach YAML, systemd units and shell commands: keep them to a boring alphabet. */
const PATH_RE = /^\/[A-Za-z0-9._/+-]*$/;
const PARAMETER_NAME_RE = /^[a-z_][a-z0-9_.]*$/;
const APT_PROXY_RE = /^http:\/\/([A-Za-z0-9.-]+):([0-9]{1,5})\/?$/;

/**
 * Where a data directory may be. `pulumi destroy` with destroy.deleteData
 * removes it recursively, and pgha writes to it: so it is an allow-list of
 * dedicated shapes, checked on the normalised path, rather than a list of
 * places to avoid. `min` is the least number of path segments: enough that
 * the directory is one cluster's own, never a whole service's or a mount's.
 */
export type DataDirKind = "postgres" | "etcd";
const DATA_DIR_SHAPES: Readonly<Record<DataDirKind, { readonly root: readonly string[]; readonly min: number; readonly shape: string }>> = {
    // /var/lib/postgresql/15 holds every cluster of version 15.
    postgres: { root: ["var", "lib", "postgresql"], min: 5, shape: "/var/lib/postgresql/<version>/<name>" },
    // /var/lib/etcd holds the distro's member too.
    etcd: { root: ["var", "lib", "etcd"], min: 4, shape: "/var/lib/etcd/<name>" },
};
/** First segments of site data areas (either key), where a data directory is at least two levels below. */
const DATA_AREA_RE = /^(srv|opt|data[A-Za-z0-9_-]*|pgdata[A-Za-z0-9_-]*)$/;
const DATA_AREA_MIN = 3;

/**
 * Parameters Patroni sets itself/**
 * Parameters Patroni sets itself from its local configuration or manages at
 * run time; accepting them in pgha:postgres.parameters would be silently
 * overridden or would break replication.
 */
export const PATRONI_MANAGED_PARAMETERS: Readonly<Record<string, string>> = {
    listen_addresses: "Patroni sets it from the node address",
    port: "use pgha:postgres.port",
    data_directory: "use pgha:postgres.dataDir",
    hba_file: "Patroni writes pg_hba.conf from the topology",
    ident_file: "Patroni manages it",
    config_file: "Patroni manages it",
    cluster_name: "Patroni sets it to the cluster name",
    unix_socket_directories: "pgha pins it to /var/run/postgresql",
    synchronous_standby_names: "use pgha:patroni.synchronousMode",
    primary_conninfo: "Patroni writes it on replicas",
    primary_slot_name: "Patroni manages replication slots",
    promote_trigger_file: "Patroni promotes replicas itself",
    restore_command: "not supported by pgha's Patroni configuration",
    recovery_target_timeline: "Patroni manages recovery",
    password_encryption: "pgha requires scram-sha-256",
};

// ---------------------------------------------------------------------------
// Small building blocks

/**
 * A string without control characters that also passes `check` (which returns a problem or undefined).
 * `max` is the longest value the key takes, named when a value is absurdly long; `check` enforces it.
 */
function text(check?: (s: string) => string | undefined, max: number = MAX_TEXT_LENGTH) {
    return z.string().superRefine((s, ctx) => {
        // Past MAX_TEXT_LENGTH nothing else is looked at (nor quoted); the key's own limit is what the user needs.
        const unsafe = s.length > MAX_TEXT_LENGTH ? tooLong(s.length, max) : unsafeCharacterProblem(s);
        if (unsafe !== undefined) {
            ctx.addIssue({ code: z.ZodIssueCode.custom, message: unsafe });
            return;
        }
        const problem = check?.(s);
        if (problem !== undefined) ctx.addIssue({ code: z.ZodIssueCode.custom, message: problem });
    });
}

const tooLong = (n: number, max: number): string => `is ${n} characters long; at most ${max} are allowed`;

const matching = (re: RegExp, what: string, max?: number) => text((s) => (re.test(s) ? undefined : `${q(s)} ${what}`), max);

/** CLI-set scalars arrive as strings: "5432" is the number 5432. */
const numericString = (v: unknown): unknown => (typeof v === "string" && /^\s*-?[0-9]+\s*$/.test(v) ? Number(v) : v);
const booleanString = (v: unknown): unknown => (v === "true" ? true : v === "false" ? false : v);

function int(min: number, max: number) {
    return z.preprocess(
        numericString,
        z.number().superRefine((n, ctx) => {
            if (!Number.isInteger(n) || n < min || n > max) {
                ctx.addIssue({ code: z.ZodIssueCode.custom, message: `${n} is not an integer in ${min}..${max}` });
            }
        }),
    );
}

const bool = z.preprocess(booleanString, z.boolean());
const port = int(1, 65535);

const ipv4 = text((s) => (isIPv4(s) ? undefined : `${q(s)} is not an IPv4 address`));
const hostAddress = text((s) => {
    if (!isIPv4(s)) return `${q(s)} is not an IPv4 address`;
    const why = unusableHostAddress(s);
    return why === undefined ? undefined : `${q(s)} ${why}`;
});
const hostnameOrIp = text((s) => {
    if (LOOKS_LIKE_IP_RE.test(s)) return isIPv4(s) ? undefined : `${q(s)} is not an IPv4 address`;
    return HOSTNAME_RE.test(s) && s.length <= 253 ? undefined : `${q(s)} is neither a host name nor an IPv4 address`;
});
/**
 * A name. Pulumi's config reader turns an unquoted YAML number into a number
 * (`0755` → 493, `0o17` → 15, `1e3` → 1000): it arrives as its decimal text
 * (a top-level key) or as a JSON number (inside an object). Both are refused,
 * as is any all-digit name, rather than becoming a cluster "493".
 */
const name = z.preprocess(
    (v) => (typeof v === "number" ? String(v) : v),
    text((s) => {
        if (/^[0-9]+$/.test(s)) return `${q(s)} is a number, not a name (an unquoted YAML value such as 0755, 0o17, 0x1F or 1e3 is read as one); use a name with a letter`;
        return NAME_RE.test(s) ? undefined : `${q(s)} is not a valid name (${NAME_RULE})`;
    }, 63),
);
const user = matching(USER_RE, "is not a valid user name (lowercase letters, digits, '_' and '-', starting with a letter or '_', at most 32)", 32);

/** What is wrong with an absolute directory path, or undefined. */
export function absolutePath(s: string): string | undefined {
    if (!PATH_RE.test(s)) return `${q(s)} is not an absolute path made of letters, digits and . _ - + /`;
    if (s.split("/").some((seg) => seg === "." || seg === "..")) return `${q(s)} must not contain "." or ".." segments`;
    return undefined;
}
const dirPath = text(absolutePath);

/** An absolute path with repeated slashes collapsed and no trailing slash ("//etc/" → "/etc"); "." and ".." are left as they are. */
export function normalisePath(s: string): string {
    return `/${s
        .split("/")
        .filter((seg) => seg !== "")
        .join("/")}`;
}

function isDedicatedDataDir(normal: string, kind: DataDirKind): boolean {
    const segs = normal.split("/").slice(1);
    const { root, min } = DATA_DIR_SHAPES[kind];
    if (root.every((r, i) => segs[i] === r)) return segs.length >= min;
    return DATA_AREA_RE.test(segs[0] ?? "") && segs.length >= DATA_AREA_MIN;
}

/** What is wrong with a data directory (pgha writes it; `destroy` with deleteData deletes it), or undefined. */
export function dataDirProblem(s: string, kind: DataDirKind): string | undefined {
    const problem = absolutePath(s);
    if (problem !== undefined) return problem;
    const normal = normalisePath(s);
    if (isDedicatedDataDir(normal, kind)) return undefined;
    const shown = normal === s ? q(s) : `${q(s)} (that is ${q(normal)})`;
    return `${shown} is not a dedicated data directory (pgha:destroy.deleteData deletes it): ` + `use ${DATA_DIR_SHAPES[kind].shape} or a directory two levels below /srv, /opt, /data* or /pgdata*`;
}
const dataDirPath = (kind: DataDirKind) => text((s) => dataDirProblem(s, kind));
const keyPath = text((s) => (s.startsWith("/") || s.startsWith("~/") ? undefined : `${q(s)} must be an absolute path or start with ~/`));
const cidr = text((s) => (parseCidr(s) ? undefined : `${q(s)} is not an IPv4 CIDR in network form such as 10.0.0.0/24`));

const role = text((s) => ((ROLES as readonly string[]).includes(s) ? undefined : `unknown role ${q(s)} (expected one of ${ROLES.join(", ")})`));

function isEmptyObject(v: unknown): boolean {
    return typeof v === "object" && v !== null && !Array.isArray(v) && Object.keys(v).length === 0;
}

// ---------------------------------------------------------------------------
// Sections, one per top-level key

const sshSchema = z
    .object({
        user: user.default("root"),
        port: port.default(22),
        // Default applied in buildSpec: it is dropped when pgha:sshPrivateKey is set.
        privateKeyPath: keyPath.optional(),
        // Host keys are verified unless explicitly switched off: false accepts any server key.
        strictHostKeys: bool.default(true),
    })
    .strict();

const patroniTagsSchema = z
    .object({
        nofailover: bool.default(false),
        noloadbalance: bool.default(false),
        nosync: bool.default(false),
        clonefrom: bool.default(false),
    })
    .strict();

const nodeSchema = z
    .object({
        name,
        address: hostAddress,
        roles: z.array(role).min(1, { message: `must list at least one role (${ROLES.join(", ")})` }),
        sshHost: hostnameOrIp.optional(),
        sshPort: port.optional(),
        sshUser: user.optional(),
        hostKey: matching(HOST_KEY_RE, 'is not an OpenSSH public host key such as "ssh-ed25519 AAAA..."').optional(),
        keepalivedPriority: int(1, 254).optional(),
        patroniTags: patroniTagsSchema.default({}),
    })
    .strict();

const vipSchema = z
    .object({
        address: ipv4,
        prefixLength: int(1, 32).default(24),
        interface: matching(INTERFACE_RE, "is not a valid interface name (1 to 15 of letters, digits, _ . : -)", 15).default("eth0"),
        virtualRouterId: int(1, 255).default(51),
        // keepalived: the VIP follows a healthy HAProxy; vip-manager: the Patroni leader itself.
        manager: text((s) => ((VIP_MANAGERS as readonly string[]).includes(s) ? undefined : `${q(s)} is not a VIP manager (expected one of ${VIP_MANAGERS.join(", ")})`)).default("keepalived"),
    })
    .strict();

const parameterValue = z.unknown().superRefine((v, ctx) => {
    if (typeof v === "number" || typeof v === "boolean") return;
    if (typeof v !== "string") {
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: "must be a string, number or boolean" });
    } else {
        const unsafe = v.length > MAX_TEXT_LENGTH ? tooLong(v.length, MAX_TEXT_LENGTH) : unsafeCharacterProblem(v);
        if (unsafe !== undefined) ctx.addIssue({ code: z.ZodIssueCode.custom, message: unsafe });
    }
});

/**
 * Checked as the record's key (zod reports it at [key]), so that "__proto__",
 * which the parsed record silently drops, is refused rather than ignored.
 */
const parameterName = z.string().superRefine((key, ctx) => {
    const problem =
        key.length > MAX_PARAMETER_NAME_LENGTH
            ? tooLong(key.length, MAX_PARAMETER_NAME_LENGTH)
            : !PARAMETER_NAME_RE.test(key) || key === "__proto__"
              ? `${q(key)} is not a PostgreSQL parameter name (lowercase letters, digits, '_' and '.')`
              : Object.hasOwn(PATRONI_MANAGED_PARAMETERS, key)
                ? `cannot be set here: ${PATRONI_MANAGED_PARAMETERS[key]}`
                : undefined;
    if (problem !== undefined) ctx.addIssue({ code: z.ZodIssueCode.custom, message: problem });
});

const parametersSchema = z.record(parameterName, parameterValue);

const postgresSchema = z
    .object({
        // Absent from the stack: parseClusterConfig puts in the deployed cluster's major or the
        // release's own (core/platforms.ts), so here it is always there.
        version: int(12, 18),
        port: port.default(5432),
        parameters: parametersSchema.default({}),
        // Absent: the nodes' and the VIP's own addresses (/32), in buildSpec; [] means "only through HAProxy".
        allowedClientCidrs: z.array(cidr).optional(),
        dataDir: dataDirPath("postgres").optional(),
        binDir: dirPath.optional(),
    })
    .strict();

/** Patroni's own validator refuses ttl < 20, loop_wait < 1, retry_timeout < 3. */
export const PATRONI_TIMING_RANGES = {
    ttl: [20, 86400],
    loopWait: [1, 86400],
    retryTimeout: [3, 86400],
} as const;

const patroniSchema = z
    .object({
        // Timings left out come from the profile; an explicit one wins over it.
        profile: z.enum(PROFILE_NAMES).default("default"),
        ttl: int(...PATRONI_TIMING_RANGES.ttl).optional(),
        loopWait: int(...PATRONI_TIMING_RANGES.loopWait).optional(),
        retryTimeout: int(...PATRONI_TIMING_RANGES.retryTimeout).optional(),
        maximumLagOnFailover: int(0, Number.MAX_SAFE_INTEGER).default(1048576),
        synchronousMode: bool.default(false),
        synchronousModeStrict: bool.default(false),
        restApiPort: port.default(8008),
    })
    .strict()
    .transform((p) => ({
        ...p,
        ttl: p.ttl ?? PROFILES[p.profile].patroni.ttl,
        loopWait: p.loopWait ?? PROFILES[p.profile].patroni.loopWait,
        retryTimeout: p.retryTimeout ?? PROFILES[p.profile].patroni.retryTimeout,
    }));

const etcdSchema = z
    .object({
        clientPort: port.default(2379),
        peerPort: port.default(2380),
        dataDir: dataDirPath("etcd").optional(),
        allowEvenMembers: bool.default(false),
    })
    .strict();

/** HAProxy's global maxconn by default: sized for real traffic (its LimitNOFILE is about twice it). */
export const DEFAULT_HAPROXY_MAXCONN = 100000;
/** LimitNOFILE is at most fs.nr_open (1048576 by default): HAProxy needs about two descriptors a connection. */
const MAX_CONNECTIONS = 500000;

const haproxyService = text((s) => ((HAPROXY_SERVICES as readonly string[]).includes(s) ? undefined : `${q(s)} is not a service (expected one of ${HAPROXY_SERVICES.join(", ")})`));

const haproxySchema = z
    .object({
        primaryPort: port.default(5000),
        replicaPort: port.default(5001),
        // Rendered only with pgha:patroni.synchronousMode.
        syncReplicaPort: port.default(5002),
        asyncReplicaPort: port.default(5003),
        statsPort: port.default(7000),
        maxConn: int(1, MAX_CONNECTIONS).default(DEFAULT_HAPROXY_MAXCONN),
        // Absent: pgha:postgres.parameters.max_connections when it is a number, else PostgreSQL's default 100 (buildSpec).
        serverMaxConn: int(1, MAX_CONNECTIONS).optional(),
        // The services whose servers are PgBouncer; the others go straight to PostgreSQL.
        pooled: z.array(haproxyService).default([]),
    })
    .strict();

// ---------------------------------------------------------------------------
// PgBouncer (pgha:pgbouncer)

export const DEFAULT_PGBOUNCER_PORT = 6432;
export const DEFAULT_PGBOUNCER_MAX_CLIENT_CONN = 10000;
/** PgBouncer's own default_pool_size. */
export const DEFAULT_PGBOUNCER_POOL_SIZE = 20;
const MAX_POOL_SIZE = 10000;
/** A database name PgBouncer's [databases] takes unquoted and PostgreSQL folds to itself. */
const DATABASE_NAME_RE = /^[a-z_][a-z0-9_]{0,62}$/;

const poolMode = text((s) => ((POOL_MODES as readonly string[]).includes(s) ? undefined : `${q(s)} is not a pool mode (expected one of ${POOL_MODES.join(", ")})`));
const databaseName = text((s) => {
    if (!DATABASE_NAME_RE.test(s)) return `${q(s)} is not a database name pgha takes (lowercase letters, digits and _, starting with a letter or _, at most 63)`;
    if (s === "pgbouncer") return `"pgbouncer" is PgBouncer's admin console, not a database`;
    return undefined;
}, 63);

const pgbouncerDatabaseSchema = z
    .object({
        poolMode: poolMode.optional(),
        poolSize: int(1, MAX_POOL_SIZE).optional(),
    })
    .strict();

const pgbouncerSchema = z
    .object({
        port: port.default(DEFAULT_PGBOUNCER_PORT),
        poolMode: poolMode.default("transaction"),
        defaultPoolSize: int(1, MAX_POOL_SIZE).default(DEFAULT_PGBOUNCER_POOL_SIZE),
        maxClientConn: int(1, MAX_CONNECTIONS).default(DEFAULT_PGBOUNCER_MAX_CLIENT_CONN),
        // Per database: its own pool mode and pool size; the others share the global ones.
        databases: z.record(databaseName, pgbouncerDatabaseSchema).default({}),
    })
    .strict();

// ---------------------------------------------------------------------------
// Monitoring (pgha:monitoring): exporters on the nodes, Prometheus on one of them

export const DEFAULT_PROMETHEUS_PORT = 9090;
export const DEFAULT_NODE_EXPORTER_PORT = 9100;
export const DEFAULT_POSTGRES_EXPORTER_PORT = 9187;
export const DEFAULT_MONITORING_ALERTS = {
    replicationLagBytes: 16 * 1024 * 1024,
    replicationLagSeconds: 60,
    diskFreePercent: 15,
    // Below pgha's own renewal margin (30 days at `pulumi up`): firing means no `pulumi up` renewed it.
    certExpiryDays: 21,
    // The default schedule backs up daily (full on Sunday, diff the other days): a day and a margin.
    backupMaxAgeHours: 26,
    // How long a lag must last before it alerts: catch-up after a restart or a bulk load stays quiet.
    replicationLagFor: "2m",
} as const;

/** A Prometheus duration pgha takes: one number and one unit ("15d", "30s", "12h"); Prometheus 2.42 and 2.53 read it alike. */
const DURATION_RE = /^[1-9][0-9]{0,5}(ms|s|m|h|d|w|y)$/;
const duration = matching(DURATION_RE, 'is not a duration such as "30s", "15m", "12h", "15d" or "4w" (one number, then ms, s, m, h, d, w or y)', 16);

const monitoringAlertsSchema = z
    .object({
        replicationLagBytes: int(1, Number.MAX_SAFE_INTEGER).default(DEFAULT_MONITORING_ALERTS.replicationLagBytes),
        replicationLagSeconds: int(1, 86400 * 7).default(DEFAULT_MONITORING_ALERTS.replicationLagSeconds),
        diskFreePercent: int(1, 99).default(DEFAULT_MONITORING_ALERTS.diskFreePercent),
        certExpiryDays: int(1, 3650).default(DEFAULT_MONITORING_ALERTS.certExpiryDays),
        backupMaxAgeHours: int(1, 24 * 366).default(DEFAULT_MONITORING_ALERTS.backupMaxAgeHours),
        replicationLagFor: duration.default(DEFAULT_MONITORING_ALERTS.replicationLagFor),
    })
    .strict();

const monitoringSchema = z
    .object({
        // The node (of pgha:nodes) that runs Prometheus: pgha gives it the monitor role.
        prometheusHost: name,
        prometheusPort: port.default(DEFAULT_PROMETHEUS_PORT),
        retention: duration.default("15d"),
        scrapeInterval: duration.default("15s"),
        nodeExporterPort: port.default(DEFAULT_NODE_EXPORTER_PORT),
        postgresExporterPort: port.default(DEFAULT_POSTGRES_EXPORTER_PORT),
        alerts: monitoringAlertsSchema.default({}),
    })
    .strict();

const aptProxy = text((s) => {
    if (s === "") return undefined;
    const m = APT_PROXY_RE.exec(s);
    const p = m ? Number(m[2]) : 0;
    return m && p >= 1 && p <= 65535 ? undefined : `${q(s)} is not of the form http://host:port`;
});

/** apt's words: a suite ("bookworm-pgdg", or a flat repository's path ending in "/", such as "./"), a component ("main"). */
const APT_SUITE_RE = /^(?!-)[A-Za-z0-9._+~/-]{1,128}$/;
const APT_COMPONENT_RE = /^[A-Za-z0-9][A-Za-z0-9._+~-]{0,127}$/;
const APT_URI_RE = /^https?:\/\/[A-Za-z0-9.-]+(:[0-9]{1,5})?(\/[A-Za-z0-9._~%+/-]*)?$/;
const aptSuite = matching(APT_SUITE_RE, "is not an apt suite (letters, digits and . _ + ~ / -, not starting with -)", 128);
const aptComponent = matching(APT_COMPONENT_RE, "is not an apt component (letters, digits and . _ + ~ -, starting with a letter or digit)", 128);
const PGP_BEGIN = "-----BEGIN PGP PUBLIC KEY BLOCK-----";
const PGP_END = "-----END PGP PUBLIC KEY BLOCK-----";
/** Longest signing key accepted: a few armored keys with their signatures. */
export const MAX_SIGNING_KEY_LENGTH = 65536;

/** What is wrong with an armored OpenPGP public key (one that apt reads as `Signed-By: <file>.asc`), or undefined. */
export function signingKeyProblem(s: string): string | undefined {
    if (s.length > MAX_SIGNING_KEY_LENGTH) return tooLong(s.length, MAX_SIGNING_KEY_LENGTH);
    // Line breaks are the armor's own; any other control character is not.
    if (/[\u0000-\u0009\u000b-\u000c\u000e-\u001f\u007f-\u009f\u2028\u2029]/.test(s)) return "contains a control character other than a line break";
    const lines = s.replace(/\r\n/g, "\n").trim().split("\n");
    if (lines[0] !== PGP_BEGIN || lines[lines.length - 1] !== PGP_END)
        return `is not an ASCII-armored OpenPGP public key (from "${PGP_BEGIN}" to "${PGP_END}", e.g. the output of gpg --armor --export)`;
    const body = lines.slice(1, -1).filter((l) => !/^[A-Za-z-]+: /.test(l) && l !== "");
    if (body.length === 0 || !body.every((l) => /^=?[A-Za-z0-9+/]*={0,2}$/.test(l))) return "is not an ASCII-armored OpenPGP public key: its body is not base64";
    return undefined;
}

const repositorySchema = z
    .object({
        uri: matching(APT_URI_RE, "is not an http:// or https:// URL", 1024),
        suites: z.array(aptSuite).min(1, "lists no suite: give at least one (e.g. [trixie-pgdg], or [./] for a flat repository)"),
        // A flat repository (suite ending in "/") has none; any other needs at least one.
        components: z.array(aptComponent).default([]),
        signingKey: z.string().superRefine((s, ctx) => {
            const problem = signingKeyProblem(s);
            if (problem !== undefined) ctx.addIssue({ code: z.ZodIssueCode.custom, message: problem });
        }),
    })
    .strict()
    .superRefine((r, ctx) => {
        const flat = r.suites.filter((x) => x.endsWith("/"));
        if (flat.length > 0 && flat.length < r.suites.length) {
            ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["suites"], message: "mixes flat suites (ending in /) with distribution suites: apt reads them differently; use one entry for each" });
        } else if (flat.length > 0 && r.components.length > 0) {
            ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["components"], message: "must be empty for a flat repository (its suite ends in /): apt refuses components there" });
        } else if (flat.length === 0 && r.suites.length > 0 && r.components.length === 0) {
            ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["components"], message: "lists no component: a distribution suite needs at least one (e.g. [main])" });
        }
    });

const packagesSchema = z
    .object({
        install: bool.default(true),
        aptProxy: aptProxy.default(""),
        // apt sources added before anything is installed, each with its own signing key.
        repositories: z.array(repositorySchema).default([]),
    })
    .strict();

const destroySchema = z.object({ deleteData: bool.default(false) }).strict();

/** pgha:progress.stallTimeout's default: how long a step that grows with the data may show no progress. */
export const DEFAULT_STALL_TIMEOUT_SEC = 300;
/** From 30 s (a step's progress is sampled every few seconds) to one day. */
export const STALL_TIMEOUT_RANGE = [30, 86400] as const;
const progressSchema = z.object({ stallTimeout: int(...STALL_TIMEOUT_RANGE).default(DEFAULT_STALL_TIMEOUT_SEC) }).strict();

// ---------------------------------------------------------------------------
// Backups (pgBackRest) and restores

export const DEFAULT_REPOSITORY_PATH = "/var/lib/pgbackrest";
export const DEFAULT_BACKUP_SCHEDULE = { full: "Sun *-*-* 01:00:00", diff: "Mon..Sat *-*-* 01:00:00", incr: "" } as const;
export const DEFAULT_BACKUP_RETENTION = { full: 2, diff: 6 } as const;
/** pgBackRest's own default TLS server port. */
export const DEFAULT_PGBACKREST_PORT = 8432;
/** pgBackRest's allowed range for repo-retention-full and repo-retention-diff. */
const MAX_RETENTION = 9999999;
/** Supported by pgBackRest 2.45 (Debian 12) and 2.55 (Debian 13): lz4 since 2.25, zst since 2.27. */
const COMPRESS_TYPE_NAMES = ["none", "gz", "bz2", "lz4", "zst"] as const;

const WEEKDAY = "(Mon|Tue|Wed|Thu|Fri|Sat|Sun)";
const WEEKDAYS = `${WEEKDAY}(\\.\\.${WEEKDAY})?(,${WEEKDAY}(\\.\\.${WEEKDAY})?)*`;
const calendarField = (digits: number): string => {
    const n = `[0-9]{1,${digits}}`;
    return `(\\*|${n}(\\.\\.${n})?(,${n}(\\.\\.${n})?)*)(/[0-9]{1,2})?`;
};
/** "[weekdays ]year-month-day hour:minute[:second]", each field `*`, numbers, a..b ranges, lists and /steps. */
const CALENDAR_RE = new RegExp(`^(?:(${WEEKDAYS}) )?(${calendarField(4)})-(${calendarField(2)})-(${calendarField(2)}) (${calendarField(2)}):(${calendarField(2)})(?::(${calendarField(2)}))?$`);
const CALENDAR_WORDS = ["hourly", "daily", "weekly", "monthly"];
const CALENDAR_RULE =
    'is not a systemd OnCalendar time pgha accepts: "[weekdays ]YYYY-MM-DD HH:MM[:SS]" with *, numbers, a..b, lists and /steps (e.g. "Sun *-*-* 01:00:00", "Mon..Sat *-*-* 01:00"), hourly, daily, weekly or monthly, or "" for none';

/** What is wrong with a systemd OnCalendar expression ("" = no timer), or undefined. Conservative: a subset systemd 252 and 257 both read. */
export function calendarProblem(s: string): string | undefined {
    if (s === "" || CALENDAR_WORDS.includes(s)) return undefined;
    const m = CALENDAR_RE.exec(s);
    if (m === null) return `${q(s)} ${CALENDAR_RULE}`;
    // Groups: weekdays (and their inner groups), then year, month, day, hour, minute, second (each with inner groups).
    const fields = s.replace(/^[A-Za-z.,]+ /, "").split(/[- :]/);
    const [, month, day, hour, minute, second] = fields;
    const bounds: [string | undefined, number, number, string][] = [
        [month, 1, 12, "month"],
        [day, 1, 31, "day"],
        [hour, 0, 23, "hour"],
        [minute, 0, 59, "minute"],
        [second, 0, 59, "second"],
    ];
    for (const [field, min, max, what] of bounds) {
        if (field === undefined) continue;
        const values = field
            .replace(/\/[0-9]+$/, "")
            .split(/,|\.\./)
            .filter((v) => v !== "*");
        if (values.some((v) => Number(v) < min || Number(v) > max)) return `${q(s)} has a ${what} outside ${min}..${max}`;
    }
    return undefined;
}
const calendar = text(calendarProblem, 128);

const RESTORE_POINT_RE = /^[A-Za-z0-9_.-]{1,63}$/;
const XID_RE = /^[0-9]{1,20}$/;
/** ISO 8601 with a zone: 2025-01-31T12:00:00Z, 2025-01-31 12:00:00+01:00, seconds and a fraction optional. */
/**
 * An unquoted ISO 8601 time in a stack file (`target: 2025-01-31T12:00:00Z`) is a YAML
 * timestamp: Pulumi hands it over in Go's form, "2025-01-31 12:00:00 +0000 UTC". That form,
 * back to ISO 8601 (its zone name is only a label of the offset); anything else unchanged.
 */
export function fromYamlTimestamp(s: string): string {
    const m = /^([0-9]{4}-[0-9]{2}-[0-9]{2}) ([0-9]{2}:[0-9]{2}:[0-9]{2})(\.[0-9]+)? ([+-][0-9]{2})([0-9]{2}) [A-Za-z0-9+-]+$/.exec(s);
    if (m === null) return s;
    // PostgreSQL's recovery_target_time reads microseconds at most.
    const fraction = m[3] === undefined ? "" : m[3].slice(0, 7);
    return `${m[1]}T${m[2]}${fraction}${m[4]}:${m[5]}`;
}

const ISO_TIME_RE = /^([0-9]{4})-([0-9]{2})-([0-9]{2})[T ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(\.[0-9]{1,6})?)?(Z|[+-][0-9]{2}(?::?[0-9]{2})?)$/;

export type RestoreTargetKind = "latest" | "time" | "name" | "xid";
export type ParsedRestoreTarget = { type: "latest" } | { type: "time"; time: string } | { type: "name"; name: string } | { type: "xid"; xid: string };

/**
 * An ISO 8601 time with a zone, as UTC in the form PostgreSQL's recovery_target_time and
 * pgBackRest's --target read ("2025-01-31 11:00:00+00"), or undefined when it is not a valid time.
 */
export function normaliseTargetTime(s: string): string | undefined {
    const m = ISO_TIME_RE.exec(fromYamlTimestamp(s));
    if (m === null) return undefined;
    const [y, mo, d, h, mi, sec] = [m[1], m[2], m[3], m[4], m[5], m[6] ?? "00"].map(Number);
    const fraction = m[7] ?? "";
    const zone = m[8];
    if (mo < 1 || mo > 12 || h > 23 || mi > 59 || sec > 59) return undefined;
    const local = Date.UTC(y, mo - 1, d, h, mi, sec);
    const check = new Date(local);
    if (check.getUTCFullYear() !== y || check.getUTCMonth() !== mo - 1 || check.getUTCDate() !== d) return undefined;
    let offsetMin = 0;
    if (zone !== "Z") {
        const digits = zone.slice(1).replace(":", "");
        const oh = Number(digits.slice(0, 2));
        const om = digits.length > 2 ? Number(digits.slice(2, 4)) : 0;
        if (oh > 14 || om > 59) return undefined;
        offsetMin = (zone[0] === "-" ? -1 : 1) * (oh * 60 + om);
    }
    const utc = new Date(local - offsetMin * 60000);
    const p2 = (n: number): string => String(n).padStart(2, "0");
    return `${String(utc.getUTCFullYear()).padStart(4, "0")}-${p2(utc.getUTCMonth() + 1)}-${p2(utc.getUTCDate())} ${p2(utc.getUTCHours())}:${p2(utc.getUTCMinutes())}:${p2(utc.getUTCSeconds())}${fraction}+00`;
}

const TARGET_FORMS: Readonly<Record<RestoreTargetKind, string>> = {
    latest: "latest",
    time: "an ISO 8601 time with a zone (2025-01-31T12:00:00Z)",
    name: "name:<restore point>",
    xid: "xid:<transaction id>",
};

/** A restore target of one of the `kinds`, or the problem with it. */
export function parseRestoreTarget(s: string, kinds: readonly RestoreTargetKind[]): { target: ParsedRestoreTarget } | { problem: string } {
    const expected = `expected ${kinds.map((k) => TARGET_FORMS[k]).join(", ")}`;
    if (s === "latest" && kinds.includes("latest")) return { target: { type: "latest" } };
    if (s.startsWith("name:") && kinds.includes("name")) {
        const name = s.slice(5);
        return RESTORE_POINT_RE.test(name) ? { target: { type: "name", name } } : { problem: `${q(s)}: a restore point name here is 1 to 63 of letters, digits and _ . -` };
    }
    if (s.startsWith("xid:") && kinds.includes("xid")) {
        const xid = s.slice(4);
        return XID_RE.test(xid) ? { target: { type: "xid", xid } } : { problem: `${q(s)}: a transaction id is a number` };
    }
    if (/^[0-9]{4}-/.test(s) && kinds.includes("time")) {
        const time = normaliseTargetTime(s);
        return time !== undefined ? { target: { type: "time", time } } : { problem: `${q(s)} is not a valid time (ISO 8601 with a zone, such as 2025-01-31T12:00:00Z or 2025-01-31T13:00:00+01:00)` };
    }
    return { problem: `${q(s)} is not a restore target (${expected})` };
}
const restoreTarget = (kinds: readonly RestoreTargetKind[]) =>
    text((s) => {
        const r = parseRestoreTarget(s, kinds);
        return "problem" in r ? r.problem : undefined;
    }, 128);

const compressType = text((s) => ((COMPRESS_TYPE_NAMES as readonly string[]).includes(s) ? undefined : `${q(s)} is not a compression type (expected one of ${COMPRESS_TYPE_NAMES.join(", ")})`));

const backupRepositorySchema = z
    .object({
        // The node (with the backup role) that holds the repository.
        host: name,
        path: dirPath.default(DEFAULT_REPOSITORY_PATH),
    })
    .strict();

const secondRepositorySchema = z
    .object({
        // Absent: the same node as repository.host.
        host: name.optional(),
        path: dirPath,
    })
    .strict();

const restoreFromSchema = z
    .object({
        // The source cluster's stanza, found in this cluster's repository `repo`.
        stanza: name,
        repo: int(1, 2).default(1),
        target: restoreTarget(["latest", "time", "name", "xid"]),
    })
    .strict();

const backupSchema = z
    .object({
        stanza: name.optional(),
        repository: backupRepositorySchema,
        secondRepository: secondRepositorySchema.optional(),
        retention: z
            .object({ full: int(1, MAX_RETENTION).default(DEFAULT_BACKUP_RETENTION.full), diff: int(1, MAX_RETENTION).default(DEFAULT_BACKUP_RETENTION.diff) })
            .strict()
            .default({}),
        schedule: z
            .object({
                full: calendar.default(DEFAULT_BACKUP_SCHEDULE.full),
                diff: calendar.default(DEFAULT_BACKUP_SCHEDULE.diff),
                incr: calendar.default(DEFAULT_BACKUP_SCHEDULE.incr),
            })
            .strict()
            .default({}),
        encryption: bool.default(true),
        archiveTimeout: int(0, 86400).default(60),
        processMax: int(1, 64).default(2),
        compressType: compressType.default("zst"),
        port: port.default(DEFAULT_PGBACKREST_PORT),
        restoreFrom: restoreFromSchema.optional(),
    })
    .strict();

const restoreSchema = z
    .object({
        // A new id is a new restore; the same id is never applied twice.
        id: name,
        target: restoreTarget(["latest", "time"]),
        confirmDataLoss: bool.default(false),
    })
    .strict();

// ---------------------------------------------------------------------------
// Databases and roles (pgha:databases, pgha:roles), created on the leader. The role
// passwords never reach this schema: config-raw.ts splits them off (splitRolePasswords).

/** Role and database names pgha accepts: conservative, so they need no quoting anywhere. */
export const SQL_NAME_RE = /^[a-z_][a-z0-9_]{0,62}$/;
/** Extension names: as SQL_NAME_RE, with '-' (uuid-ossp). */
export const EXTENSION_NAME_RE = /^[a-z_][a-z0-9_-]{0,62}$/;
/** glibc locale names: en_US.UTF-8, C.UTF-8, de_DE@euro. */
const LOCALE_RE = /^[A-Za-z0-9_.@-]{1,64}$/;
/** PostgreSQL's server encodings (client-only ones such as SJIS cannot hold a database). */
export const SERVER_ENCODINGS: readonly string[] = (
    "EUC_CN EUC_JP EUC_JIS_2004 EUC_KR EUC_TW ISO_8859_5 ISO_8859_6 ISO_8859_7 ISO_8859_8 KOI8R KOI8U LATIN1 LATIN2 LATIN3 LATIN4 LATIN5 " +
    "LATIN6 LATIN7 LATIN8 LATIN9 LATIN10 MULE_INTERNAL SQL_ASCII UTF8 WIN866 WIN874 WIN1250 WIN1251 WIN1252 WIN1253 WIN1254 WIN1255 WIN1256 WIN1257 WIN1258"
).split(" ");
/** pg_hba.conf keywords: a role or database so named could not be told apart there. */
const HBA_KEYWORDS = ["all", "sameuser", "samerole", "samegroup", "replication"];
/** Names PostgreSQL itself refuses for a role. */
const SQL_RESERVED_ROLE_NAMES = ["public", "none", "current_user", "current_role", "session_user", "system_user"];

/** Why `name` cannot be a role pgha manages, or undefined. The system roles are pgha's own. */
export function reservedRoleName(name: string): string | undefined {
    if (name === "postgres" || name === "replicator") return "is a role pgha manages itself (the superuser and the replication role)";
    if (name === "pgha" || name.startsWith("pgha_")) return "is reserved for pgha's own roles (pgha_*)";
    if (name.startsWith("pg_")) return "is reserved by PostgreSQL (pg_*)";
    if (SQL_RESERVED_ROLE_NAMES.includes(name)) return "is reserved by PostgreSQL";
    if (HBA_KEYWORDS.includes(name)) return "is a pg_hba.conf keyword";
    return undefined;
}

/** Why `name` cannot be a database pgha manages, or undefined. */
export function reservedDatabaseName(name: string): string | undefined {
    if (["postgres", "template0", "template1"].includes(name)) return "is one of PostgreSQL's own databases";
    if (HBA_KEYWORDS.includes(name)) return "is a pg_hba.conf keyword";
    return undefined;
}

const sqlName = (what: string, reserved: (s: string) => string | undefined) =>
    z.preprocess(
        (v) => (typeof v === "number" ? String(v) : v),
        text((s) => {
            if (!SQL_NAME_RE.test(s)) return `${q(s)} is not a valid ${what} name (lowercase letters, digits and '_', 1 to 63 characters, not starting with a digit)`;
            const why = reserved(s);
            return why === undefined ? undefined : `${q(s)} ${why}`;
        }, 63),
    );
const roleName = sqlName("role", reservedRoleName);
/** A role a database or a membership names: any valid name (whether it is known is a cross-field check). */
const roleReference = matching(SQL_NAME_RE, "is not a valid role name (lowercase letters, digits and '_', 1 to 63 characters, not starting with a digit)", 63);

const databaseSchema = z
    .object({
        name: sqlName("database", reservedDatabaseName),
        owner: roleReference.default("postgres"),
        // Absent: the cluster's own (template1's), as CREATE DATABASE does.
        encoding: text((s) => (SERVER_ENCODINGS.includes(s.toUpperCase()) ? undefined : `${q(s)} is not a PostgreSQL server encoding (such as UTF8, LATIN1, SQL_ASCII)`), 32).optional(),
        locale: matching(LOCALE_RE, "is not a locale name pgha accepts (1 to 64 of letters, digits and _ . @ -, such as en_US.UTF-8 or C)", 64).optional(),
        extensions: z.array(matching(EXTENSION_NAME_RE, "is not an extension name (lowercase letters, digits, '_' and '-', 1 to 63 characters)", 63)).default([]),
    })
    .strict();

const roleSchema = z
    .object({
        name: roleName,
        login: bool.default(false),
        // Never present here (config-raw.ts splits it off); declared so that a typo gets its hint.
        password: z.unknown().optional(),
        memberOf: z.array(roleReference).default([]),
        connectionLimit: int(-1, 2147483647).default(-1),
    })
    .strict();

/** Top-level keys that hold secrets; they travel in RawConfig.secrets, never in values. */
export const CONFIG_SECRET_KEYS = [
    "superuserPassword",
    "replicationPassword",
    "keepalivedPassword",
    "restApiPassword",
    "sshPrivateKey",
    "backupCipherPassphrase",
    "pgbouncerAuthPassword",
    "monitoringPassword",
] as const;
export type ConfigSecretName = (typeof CONFIG_SECRET_KEYS)[number];

/** Every non-secret `pgha:*` key. */
export const configSchema = z
    .object({
        clusterName: name.default("pgsql"),
        ssh: sshSchema.default({}),
        nodes: z.array(nodeSchema).min(1, { message: "must list at least one server" }),
        // `{}` counts as absent: Pulumi.yaml needs a default to make the key optional.
        vip: z.preprocess((v) => (isEmptyObject(v) ? undefined : v), vipSchema.optional()),
        postgres: postgresSchema.default({}),
        patroni: patroniSchema.default({}),
        etcd: etcdSchema.default({}),
        haproxy: haproxySchema.default({}),
        packages: packagesSchema.default({}),
        destroy: destroySchema.default({}),
        progress: progressSchema.default({}),
        // `{}` counts as absent, as for vip: no backups, no restore.
        backup: z.preprocess((v) => (isEmptyObject(v) ? undefined : v), backupSchema.optional()),
        restore: z.preprocess((v) => (isEmptyObject(v) ? undefined : v), restoreSchema.optional()),
        // Created and kept up to date on the leader; never dropped.
        databases: z.array(databaseSchema).default([]),
        roles: z.array(roleSchema).default([]),
        // `{}` counts as absent, as for vip: no PgBouncer.
        pgbouncer: z.preprocess((v) => (isEmptyObject(v) ? undefined : v), pgbouncerSchema.optional()),
        // `{}` counts as absent, as for vip: no monitoring.
        monitoring: z.preprocess((v) => (isEmptyObject(v) ? undefined : v), monitoringSchema.optional()),
        generateMissingSecrets: bool.default(true),
        // "node:/path" or "node:unit" → a token: `npm run drift -- --fix` sets one for each thing that
        // drifted; a new token rewrites that file (or restarts that unit) and re-applies its service.
        repair: z.record(z.string(), z.union([matching(REPAIR_TOKEN_RE, "is not a repair token (1 to 64 of letters, digits and . _ : + -)", 64), int(0, Number.MAX_SAFE_INTEGER)])).default({}),
    })
    .strict();

/** The parsed stack configuration: typed and defaulted, not yet cross-checked or normalised. */
export type ParsedConfig = z.infer<typeof configSchema>;
export type ParsedNode = ParsedConfig["nodes"][number];

export function isRole(s: string): s is Role {
    return (ROLES as readonly string[]).includes(s);
}

/** Keys of the object schema found at `path` (for "did you mean" hints), or [] when there is none. */
export function knownKeysAt(path: readonly (string | number)[]): string[] {
    let schema: z.ZodTypeAny = configSchema;
    const unwrap = (s: z.ZodTypeAny): z.ZodTypeAny => {
        for (;;) {
            if (s instanceof z.ZodDefault) s = s._def.innerType;
            else if (s instanceof z.ZodOptional) s = s._def.innerType;
            else if (s instanceof z.ZodEffects) s = s._def.schema;
            else return s;
        }
    };
    for (const seg of path) {
        schema = unwrap(schema);
        if (typeof seg === "number" && schema instanceof z.ZodArray) schema = schema.element;
        else if (typeof seg === "string" && schema instanceof z.ZodObject) {
            const next = (schema.shape as Record<string, z.ZodTypeAny>)[seg];
            if (!next) return [];
            schema = next;
        } else return [];
    }
    schema = unwrap(schema);
    const keys = schema instanceof z.ZodObject ? Object.keys(schema.shape) : [];
    return path.length === 0 ? [...keys, ...CONFIG_SECRET_KEYS] : keys;
}
