// An operational script's view of one stack, read the way the pulumi CLI reads it: the Pulumi
// project of the current directory (pulumi looks for Pulumi.yaml there and in its parents),
// the caller's backend and secrets passphrase (PULUMI_BACKEND_URL, PULUMI_CONFIG_PASSPHRASE or
// _FILE; scripts/ops-env.sh falls back to the lab's only when they are unset). The
// configuration goes through core/config.ts (readRawConfig, parseClusterConfig) into the same
// ClusterSpec `pulumi up` deploys from. Of the secrets only the SSH key is ever decrypted
// (pgha:sshPrivateKey, when the stack sets it, read from pulumi's stdout): the others are
// never read.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parse as parseYaml } from "yaml";
import { CONFIG_SECRET_KEYS, ConfigSecretName, RawConfig, formatKeyPath, parseClusterConfig, readRawConfig } from "../../core/config";
import { ClusterSpec, NodeSpec } from "../../core/spec";

/** A failure with a one-line reason: the script prints it and exits 1. */
export class OpsError extends Error {}

/** One key of `pulumi config --json`: a secret's value is absent unless --show-secrets (never used here). */
export interface CliConfigEntry {
    readonly value?: string;
    readonly secret?: boolean;
}
export type CliConfig = Readonly<Record<string, CliConfigEntry>>;

/**
 * Stand-ins for the secrets `pulumi config --json` does not show: validation needs to know
 * which are set (and that each is stored encrypted), not their values. Each passes its value
 * check, so only real problems of the stack remain.
 */
export const UNREAD_SECRETS: Readonly<Record<ConfigSecretName, string>> = {
    superuserPassword: "unread-secret-value",
    replicationPassword: "unread-secret-value",
    keepalivedPassword: "unread-8",
    restApiPassword: "unread-secret-value",
    sshPrivateKey: "-----BEGIN OPENSSH PRIVATE KEY-----\nunread\n-----END OPENSSH PRIVATE KEY-----\n",
    backupCipherPassphrase: "unread-secret-value-0123456789",
    pgbouncerAuthPassword: "unread-secret-value",
    monitoringPassword: "unread-secret-value",
};

const isSecretName = (name: string): name is ConfigSecretName => (CONFIG_SECRET_KEYS as readonly string[]).includes(name);

/** `pulumi config --json` → RawConfig; a set secret (shown without a value) is given its stand-in. */
export function rawConfigFromCli(cfg: CliConfig, homedir?: string): RawConfig {
    const get = (key: string): string | undefined => {
        const e = cfg[key];
        if (e === undefined) return undefined;
        if (e.value !== undefined) return e.value;
        const name = key.replace(/^pgha:/, "");
        return e.secret === true && isSecretName(name) ? UNREAD_SECRETS[name] : undefined;
    };
    return readRawConfig(Object.keys(cfg), get, homedir, (key) => cfg[key]?.secret === true);
}

/** Stands for an encrypted leaf of a secret object: validation needs to know it is set, never its value. */
const UNREAD_LEAF = "unread-secret-value";

function standInSecureLeaves(v: unknown): unknown {
    if (Array.isArray(v)) return v.map(standInSecureLeaves);
    if (typeof v === "object" && v !== null) {
        const o = v as Record<string, unknown>;
        if (Object.keys(o).length === 1 && typeof o.secure === "string") return UNREAD_LEAF;
        return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, standInSecureLeaves(x)]));
    }
    return v;
}

/**
 * `pulumi config --json` shows a key without its value when any part of it is secret: pgha:roles
 * once a role's password is set with `--secret --path`. Such a key (not one of pgha's own secrets)
 * is read from the stack file `text` (Pulumi.<stack>.yaml) instead, each encrypted leaf replaced by
 * a stand-in: nothing is decrypted. Keys the file does not hold stay as they were.
 */
export function withSecretObjectsFromStackFile(cfg: CliConfig, text: string | undefined): CliConfig {
    if (text === undefined) return cfg;
    let doc: unknown;
    try {
        doc = parseYaml(text);
    } catch {
        return cfg;
    }
    const config = typeof doc === "object" && doc !== null ? (doc as { config?: Record<string, unknown> }).config : undefined;
    if (typeof config !== "object" || config === null) return cfg;
    const out: Record<string, CliConfigEntry> = { ...cfg };
    for (const [key, e] of Object.entries(cfg)) {
        if (e.secret !== true || e.value !== undefined || isSecretName(key.replace(/^pgha:/, ""))) continue;
        const v = config[key];
        if (typeof v === "object" && v !== null) out[key] = { value: JSON.stringify(standInSecureLeaves(v)), secret: true };
    }
    return out;
}

/** The stack file of `stack` in the Pulumi project at or above `dir`, as the CLI keeps it; undefined when there is none. */
export function readStackFile(stack: string, dir = process.cwd()): string | undefined {
    for (let d = dir; ; d = path.dirname(d)) {
        if (fs.existsSync(path.join(d, "Pulumi.yaml")) || fs.existsSync(path.join(d, "Pulumi.yml"))) {
            try {
                return fs.readFileSync(path.join(d, `Pulumi.${stack.split("/").pop()}.yaml`), "utf8");
            } catch {
                return undefined;
            }
        }
        if (path.dirname(d) === d) return undefined;
    }
}

/** Whether the stack keeps its SSH key in the secret pgha:sshPrivateKey (set, so encrypted, or a non-empty value). */
export const sshKeyInSecret = (cfg: CliConfig): boolean => cfg["pgha:sshPrivateKey"]?.secret === true || (cfg["pgha:sshPrivateKey"]?.value ?? "") !== "";

/** The stack's ClusterSpec, or an OpsError naming the first problem (and how many more `pulumi preview` lists). */
export function specFromCli(stack: string, cfg: CliConfig, opts: { homedir?: string; postgresVersion?: number } = {}): ClusterSpec {
    const parsed = parseClusterConfig(rawConfigFromCli(cfg, opts.homedir), opts.postgresVersion !== undefined ? { postgresVersion: opts.postgresVersion } : {});
    if (!parsed.ok) {
        const more = parsed.errors.length > 1 ? ` (and ${parsed.errors.length - 1} more: pulumi preview --stack ${stack} lists them)` : "";
        throw new OpsError(`stack ${stack}: its configuration does not validate: ${parsed.errors[0]}${more}`);
    }
    return parsed.spec;
}

/** The reason in pulumi's error output: its last "error: ..." line, else its last line. */
export function pulumiErrorReason(stderr: string): string {
    const lines = stderr
        .split("\n")
        .map((l) => l.trim())
        .filter((l) => l !== "");
    const err = lines.filter((l) => l.startsWith("error:")).pop() ?? lines.pop() ?? "no output";
    return err.replace(/^error:\s*/, "");
}

export interface PulumiResult {
    readonly status: number;
    readonly stdout: string;
    readonly stderr: string;
}

/** The pulumi CLI in the current directory, with the caller's environment; stdout is captured, never shown. */
export function pulumi(args: readonly string[]): PulumiResult {
    const r = spawnSync("pulumi", [...args, "--non-interactive"], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024, stdio: ["ignore", "pipe", "pipe"], timeout: 120_000 });
    if (r.error) throw new OpsError(`cannot run pulumi: ${r.error.message}`);
    return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function pulumiJson(stack: string, args: readonly string[]): unknown {
    const r = pulumi([...args, "--stack", stack, "--json"]);
    if (r.status !== 0) {
        const reason = pulumiErrorReason(r.stderr);
        const backend = process.env.PULUMI_BACKEND_URL ?? "pulumi's current login";
        if (/no stack named|stack .* not found/i.test(reason)) throw new OpsError(`stack ${stack}: no such stack in ${backend} (project in ${process.cwd()}; pulumi stack ls lists them)`);
        throw new OpsError(`stack ${stack}: pulumi ${args.join(" ")} failed: ${reason}`);
    }
    try {
        return JSON.parse(r.stdout);
    } catch {
        throw new OpsError(`stack ${stack}: pulumi ${args.join(" ")} printed no JSON`);
    }
}

export interface Stack {
    readonly name: string;
    readonly spec: ClusterSpec;
    /** The stack's outputs as `pulumi stack output --json` shows them (secret ones as "[secret]"). */
    readonly outputs: Readonly<Record<string, unknown>>;
    /** The SSH private key: the file at pgha:ssh.privateKeyPath, or the secret pgha:sshPrivateKey. Never printed. */
    readonly privateKey: () => string;
}

/** Reads one stack: its configuration (validated as `pulumi up` validates it) and its outputs. */
export function openStack(name: string): Stack {
    const cfg = withSecretObjectsFromStackFile(pulumiJson(name, ["config"]) as CliConfig, readStackFile(name));
    const outputs = pulumiJson(name, ["stack", "output"]) as Record<string, unknown>;
    const shape = outputs.clusterShape as { postgresVersion?: unknown } | undefined;
    // The deployed major decides the default paths (binDir) when the stack leaves the version unset.
    const postgresVersion = typeof shape?.postgresVersion === "number" ? shape.postgresVersion : undefined;
    const spec = specFromCli(name, cfg, { homedir: os.homedir(), postgresVersion });
    const privateKey = (): string => {
        if (sshKeyInSecret(cfg)) {
            const r = pulumi(["config", "get", "pgha:sshPrivateKey", "--stack", name]);
            if (r.status !== 0 || r.stdout.trim() === "") throw new OpsError(`stack ${name}: cannot read the secret ${formatKeyPath(["sshPrivateKey"])}: ${pulumiErrorReason(r.stderr)}`);
            return r.stdout;
        }
        const path = spec.ssh.privateKeyPath!;
        try {
            return fs.readFileSync(path, "utf8");
        } catch (e) {
            throw new OpsError(`${formatKeyPath(["ssh", "privateKeyPath"])}: cannot read ${path}: ${(e as Error).message}`);
        }
    };
    return { name, spec, outputs, privateKey };
}

/** The node called `name` in the stack, or an OpsError saying where the name came from. */
export function nodeNamed(stack: Stack, name: string, from: string): NodeSpec {
    const node = stack.spec.nodes.find((n) => n.name === name);
    if (node === undefined) throw new OpsError(`stack ${stack.name}: ${from} names ${name}, which is not in ${formatKeyPath(["nodes"])}`);
    return node;
}
