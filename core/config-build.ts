// Normalises a parsed (and fully checked) configuration into the ClusterSpec:
// defaults that depend on other keys, node order, role order, ~ expansion.

import { ClusterSpec, NodeSpec, ROLES, Role } from "./spec";
import { ParsedConfig, ParsedNode, normalisePath } from "./config-schema";
import { subnetOf } from "./net";

export const DEFAULT_PRIVATE_KEY_PATH = "~/.ssh/id_ed25519";
/** Prefix for allowedClientCidrs' derived default when there is no VIP. */
export const DEFAULT_CLIENT_PREFIX = 24;

export const defaultPostgresDataDir = (version: number, clusterName: string): string =>
    `/var/lib/postgresql/${version}/${clusterName}`;
export const defaultPostgresBinDir = (version: number): string => `/usr/lib/postgresql/${version}/bin`;
export const defaultEtcdDataDir = (clusterName: string): string => `/var/lib/etcd/pgha-${clusterName}`;

/** The data directories as used (and as checked): normalised, so "/srv//pg/data/" is "/srv/pg/data". */
export function effectivePostgresDataDir(cfg: ParsedConfig): string {
    return normalisePath(cfg.postgres.dataDir ?? defaultPostgresDataDir(cfg.postgres.version, cfg.clusterName));
}
export function effectiveEtcdDataDir(cfg: ParsedConfig): string {
    return normalisePath(cfg.etcd.dataDir ?? defaultEtcdDataDir(cfg.clusterName));
}
export function effectivePostgresBinDir(cfg: ParsedConfig): string {
    return cfg.postgres.binDir ?? defaultPostgresBinDir(cfg.postgres.version);
}

/** "~/x" → "<homedir>/x"; kept as is when no homedir is known. */
export function expandHome(path: string, homedir: string | undefined): string {
    if (homedir === undefined || !path.startsWith("~/")) return path;
    return `${homedir.replace(/\/+$/, "")}/${path.slice(2)}`;
}

export function normaliseRoles(roles: readonly string[]): Role[] {
    return ROLES.filter((r) => roles.includes(r));
}

/**
 * Default for allowedClientCidrs: the subnets the nodes sit in, at the VIP's
 * prefix length (clients usually live next to the VIP), or /24 without a VIP.
 */
export function defaultClientCidrs(nodes: readonly NodeSpec[], vipPrefix: number | undefined): string[] {
    const prefix = vipPrefix ?? DEFAULT_CLIENT_PREFIX;
    const out: string[] = [];
    for (const n of nodes) {
        const s = subnetOf(n.address, prefix);
        if (s !== undefined && !out.includes(s)) out.push(s);
    }
    return out;
}

function buildNode(n: ParsedNode, cfg: ParsedConfig): NodeSpec {
    return {
        name: n.name,
        address: n.address,
        roles: normaliseRoles(n.roles),
        sshHost: n.sshHost ?? n.address,
        sshPort: n.sshPort ?? cfg.ssh.port,
        sshUser: n.sshUser ?? cfg.ssh.user,
        ...(n.hostKey !== undefined ? { hostKey: n.hostKey } : {}),
        ...(n.keepalivedPriority !== undefined ? { keepalivedPriority: n.keepalivedPriority } : {}),
        patroniTags: { ...n.patroniTags },
    };
}

export interface BuildOptions {
    /** Home directory used to expand "~/" in ssh.privateKeyPath. */
    readonly homedir?: string;
    /** pgha:sshPrivateKey is set: no key path is used. */
    readonly sshPrivateKeyFromSecret: boolean;
}

export function buildSpec(cfg: ParsedConfig, opts: BuildOptions): ClusterSpec {
    // Plain code-unit comparison: locale-independent, so every machine sorts alike.
    const nodes = cfg.nodes.map((n) => buildNode(n, cfg)).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const { version } = cfg.postgres;
    return {
        clusterName: cfg.clusterName,
        ssh: {
            user: cfg.ssh.user,
            port: cfg.ssh.port,
            ...(opts.sshPrivateKeyFromSecret
                ? {}
                : { privateKeyPath: expandHome(cfg.ssh.privateKeyPath ?? DEFAULT_PRIVATE_KEY_PATH, opts.homedir) }),
            strictHostKeys: cfg.ssh.strictHostKeys,
        },
        nodes,
        ...(cfg.vip !== undefined ? { vip: { ...cfg.vip } } : {}),
        postgres: {
            version,
            port: cfg.postgres.port,
            parameters: { ...(cfg.postgres.parameters as Record<string, string | number | boolean>) },
            allowedClientCidrs: cfg.postgres.allowedClientCidrs ?? defaultClientCidrs(nodes, cfg.vip?.prefixLength),
            dataDir: effectivePostgresDataDir(cfg),
            binDir: effectivePostgresBinDir(cfg),
        },
        patroni: { ...cfg.patroni },
        etcd: {
            clientPort: cfg.etcd.clientPort,
            peerPort: cfg.etcd.peerPort,
            dataDir: effectiveEtcdDataDir(cfg),
            allowEvenMembers: cfg.etcd.allowEvenMembers,
        },
        haproxy: { ...cfg.haproxy },
        packages: { ...cfg.packages },
        destroy: { ...cfg.destroy },
    };
}
