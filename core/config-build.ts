// Normalises a parsed (and fully checked) configuration into the ClusterSpec:
// defaults that depend on other keys, node order, role order, ~ expansion.

import { ClusterSpec, NodeSpec, ROLES, Role } from "./spec";
import { ParsedConfig, ParsedNode, normalisePath } from "./config-schema";

export const DEFAULT_PRIVATE_KEY_PATH = "~/.ssh/id_ed25519";
export const defaultPostgresDataDir = (version: number, clusterName: string): string => `/var/lib/postgresql/${version}/${clusterName}`;
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
 * Default for allowedClientCidrs: the nodes' own addresses and the VIP, each
 * as /32 (a client on a node that holds the VIP reaches HAProxy from the VIP).
 * Anyone else must be listed: a default as wide as the VIP's subnet would
 * admit a whole network to HAProxy and pg_hba, the superuser included.
 */
export function defaultClientCidrs(nodes: readonly NodeSpec[], vipAddress: string | undefined): string[] {
    const out: string[] = [];
    for (const a of [...nodes.map((n) => n.address), ...(vipAddress !== undefined ? [vipAddress] : [])]) {
        if (!out.includes(`${a}/32`)) out.push(`${a}/32`);
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
            ...(opts.sshPrivateKeyFromSecret ? {} : { privateKeyPath: expandHome(cfg.ssh.privateKeyPath ?? DEFAULT_PRIVATE_KEY_PATH, opts.homedir) }),
            strictHostKeys: cfg.ssh.strictHostKeys,
        },
        nodes,
        ...(cfg.vip !== undefined ? { vip: { ...cfg.vip } } : {}),
        postgres: {
            version,
            port: cfg.postgres.port,
            parameters: { ...(cfg.postgres.parameters as Record<string, string | number | boolean>) },
            allowedClientCidrs: cfg.postgres.allowedClientCidrs ?? defaultClientCidrs(nodes, cfg.vip?.address),
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
