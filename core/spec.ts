// The typed, normalised cluster description that every later layer consumes.
// Produced only by core/config.ts (validation + defaults); never built by hand
// elsewhere except in tests. Pure data: no Pulumi types, no secrets (secrets
// travel separately as pulumi.Output<string> so they can stay encrypted).

import { ProfileName } from "./profiles";

export type Role = "etcd" | "postgres" | "haproxy" | "keepalived";
export const ROLES: readonly Role[] = ["etcd", "postgres", "haproxy", "keepalived"];

export interface SshSpec {
    /** Login user; a non-root user runs every script through `sudo -n`. */
    readonly user: string;
    readonly port: number;
    /** Absolute path (with ~ expanded) of the private key on the machine running pulumi; absent when pgha:sshPrivateKey is used. */
    readonly privateKeyPath?: string;
    /** Refuse nodes without a pinned hostKey (the default); false: a node without one accepts any server key. */
    readonly strictHostKeys: boolean;
}

export interface PatroniTags {
    readonly nofailover: boolean;
    readonly noloadbalance: boolean;
    readonly nosync: boolean;
    readonly clonefrom: boolean;
}

export interface NodeSpec {
    /** Unique; the Patroni member name and etcd member name. */
    readonly name: string;
    /** IPv4 address that cluster traffic uses. */
    readonly address: string;
    /** Sorted in ROLES order, no duplicates. */
    readonly roles: readonly Role[];
    /** Where SSH connects (defaults to address). */
    readonly sshHost: string;
    readonly sshPort: number;
    readonly sshUser: string;
    /** "ssh-ed25519 AAAA..." when pinned. */
    readonly hostKey?: string;
    /** keepalived priority (1..254); defaults derived by topology when absent. */
    readonly keepalivedPriority?: number;
    readonly patroniTags: PatroniTags;
}

export interface VipSpec {
    readonly address: string;
    readonly prefixLength: number;
    readonly interface: string;
    readonly virtualRouterId: number;
}

export interface PostgresSpec {
    /** Major version, e.g. 15. */
    readonly version: number;
    readonly port: number;
    /** Dynamic (DCS) parameters; values are kept as given (string | number | boolean). */
    readonly parameters: Readonly<Record<string, string | number | boolean>>;
    readonly allowedClientCidrs: readonly string[];
    /** Data directory on each postgres node. */
    readonly dataDir: string;
    /** Directory holding the PostgreSQL binaries. */
    readonly binDir: string;
}

export interface PatroniSpec {
    /** Tuning profile: also sets HAProxy's and keepalived's check timings (core/profiles.ts). */
    readonly profile: ProfileName;
    readonly ttl: number;
    readonly loopWait: number;
    readonly retryTimeout: number;
    readonly maximumLagOnFailover: number;
    readonly synchronousMode: boolean;
    readonly synchronousModeStrict: boolean;
    /** Patroni REST API port on every postgres node. */
    readonly restApiPort: number;
}

export interface EtcdSpec {
    readonly clientPort: number;
    readonly peerPort: number;
    /** Data directory for pgha's etcd member (the distro's default one is left alone). */
    readonly dataDir: string;
    /** Allow an even number of etcd members (explicit override). */
    readonly allowEvenMembers: boolean;
}

export interface HaproxySpec {
    readonly primaryPort: number;
    readonly replicaPort: number;
    readonly statsPort: number;
}

export interface PackagesSpec {
    readonly install: boolean;
    /** "http://host:port" or "" for none. */
    readonly aptProxy: string;
    /** apt sources added before anything is installed (pgha:packages.repositories). */
    readonly repositories: readonly AptRepository[];
}

export interface AptRepository {
    readonly uri: string;
    readonly suites: readonly string[];
    readonly components: readonly string[];
    /** ASCII-armored OpenPGP public key: the only key apt accepts for this source. */
    readonly signingKey: string;
}

export interface DestroySpec {
    /** Only when true does `pulumi destroy` delete PostgreSQL and etcd data directories. */
    readonly deleteData: boolean;
}

export interface ClusterSpec {
    /** Patroni scope; lowercase letters, digits and '-'. */
    readonly clusterName: string;
    readonly ssh: SshSpec;
    /** Sorted by name, so reordering the stack file's list changes nothing. */
    readonly nodes: readonly NodeSpec[];
    readonly vip?: VipSpec;
    readonly postgres: PostgresSpec;
    readonly patroni: PatroniSpec;
    readonly etcd: EtcdSpec;
    readonly haproxy: HaproxySpec;
    readonly packages: PackagesSpec;
    readonly destroy: DestroySpec;
}

/** Names of the secrets a cluster needs; values are never part of ClusterSpec. */
export type SecretName = "superuserPassword" | "replicationPassword" | "keepalivedPassword" | "restApiPassword";
export const SECRET_NAMES: readonly SecretName[] = ["superuserPassword", "replicationPassword", "keepalivedPassword", "restApiPassword"];

/** Plain secret values, only ever handled inside pulumi.Output.apply / all. */
export type Secrets = Readonly<Record<SecretName, string>>;

export function nodesWithRole(spec: ClusterSpec, role: Role): NodeSpec[] {
    return spec.nodes.filter((n) => n.roles.includes(role));
}
