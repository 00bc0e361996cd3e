// The library's entry point: a whole PostgreSQL HA cluster on existing servers, from
// arguments in the stack file's vocabulary (docs/stack-config.md, keys without `pgha:`).
// It validates them (every problem at once, each naming its key path), refuses edits that
// cannot be applied in place by comparing with the previous deployment, renews certificates
// near their end, and then builds the tree (cluster-build.ts). A program importing it gets
// the same refusals and renewals as the pgha program itself.
import * as fs from "fs";
import * as os from "os";
import * as pulumi from "@pulumi/pulumi";
import { formatConfigErrors, parseClusterConfig } from "../core/config";
import { checkSecrets, deriveRestApiPassword, secretValueProblem } from "../core/config-secrets";
import { CertificateStatus, certificateGenerations } from "../core/pki";
import { ClusterSpec, HaproxyServiceName, RolePasswords, SECRET_NAMES, Secrets, nodesWithRole } from "../core/spec";
import { rolePasswordProblem } from "../core/config-databases";
import { ServiceEndpoint } from "../core/topology";
import { defaultPostgresVersion, platformLabel, platformOf } from "../core/platforms";
import { readOsReleases } from "./host-facts";
import { ClusterShape, clusterShape, keptDatabasesAndRoles, transitionNotes, unsafeTransitions } from "../core/transitions";
import { BuiltCluster, ClusterBuildArgs, buildCluster } from "./cluster-build";
import { BackupSummary } from "./backup-repository";
import { ByNode, ManagedFile, ManagedUnit } from "./managed-manifest";
import { restorePlan } from "../core/render/restore";
import { vipByKeepalived } from "../core/topology";

/** One server, as in `pgha:nodes[]`. Its address and host key may be Outputs of other resources. */
export interface NodeArgs {
    /** Unique name: lowercase letters, digits and '-'. A node keeps its name for life. */
    readonly name: string;
    /** IPv4 address in the cluster network; the node's identity. */
    readonly address: pulumi.Input<string>;
    /** `etcd`, `postgres`, `haproxy`, `keepalived` (a subset). */
    readonly roles: readonly string[];
    /** The server's SSH host key (`ssh-ed25519 AAAA...`): verified on every connection. */
    readonly hostKey?: pulumi.Input<string>;
    /** Where SSH connects, when not `address` (a DNS name or another address). */
    readonly sshHost?: string;
    readonly sshPort?: number;
    readonly sshUser?: string;
    readonly keepalivedPriority?: number;
    /** Patroni tags: `nofailover`, `noloadbalance`, `nosync`, `clonefrom`. */
    readonly patroniTags?: Readonly<Record<string, boolean>>;
}

/**
 * The cluster, in the stack file's vocabulary (docs/stack-config.md): every key of the
 * `pgha:` namespace except the secrets, which are arguments of their own. Defaults are the
 * stack file's.
 */
export interface ClusterConfigArgs {
    /** Patroni scope and etcd cluster token (`pgsql`). */
    readonly clusterName?: string;
    /** `user`, `port`, `privateKeyPath`, `strictHostKeys` (true). */
    readonly ssh?: Readonly<Record<string, unknown>>;
    readonly nodes: readonly NodeArgs[];
    /** `address`, `prefixLength`, `interface`, `virtualRouterId`; absent: no keepalived. */
    readonly vip?: Readonly<Record<string, unknown>>;
    /** `version`, `port`, `parameters`, `allowedClientCidrs`, `dataDir`, `binDir`. */
    readonly postgres?: Readonly<Record<string, unknown>>;
    /** `profile`, `ttl`, `loopWait`, `retryTimeout`, `maximumLagOnFailover`, `synchronousMode`, `synchronousModeStrict`, `restApiPort`. */
    readonly patroni?: Readonly<Record<string, unknown>>;
    /** `clientPort`, `peerPort`, `dataDir`, `allowEvenMembers`. */
    readonly etcd?: Readonly<Record<string, unknown>>;
    /** `primaryPort`, `replicaPort`, `syncReplicaPort`, `asyncReplicaPort`, `statsPort`, `maxConn`, `serverMaxConn`, `pooled`. */
    readonly haproxy?: Readonly<Record<string, unknown>>;
    /** `install`, `aptProxy`. */
    readonly packages?: Readonly<Record<string, unknown>>;
    /** `deleteData` (false). */
    readonly destroy?: Readonly<Record<string, unknown>>;
    /** pgBackRest: `repository` {host, path}, `secondRepository`, `stanza`, `retention`, `schedule`, `encryption`, ...; absent: no backups. */
    readonly backup?: Readonly<Record<string, unknown>>;
    /** An in-place restore: `id` (a new id restores once), `target` (`latest` or an ISO 8601 time with a zone), `confirmDataLoss` (must be true). */
    readonly restore?: Readonly<Record<string, unknown>>;
    /** Databases created on the leader, never dropped: each `name`, `owner` (postgres), `encoding`, `locale`, `extensions`. */
    readonly databases?: readonly Readonly<Record<string, unknown>>[];
    /** Roles created on the leader, never dropped: each `name`, `login` (false), `memberOf`, `connectionLimit` (-1); passwords go in `rolePasswords`. */
    readonly roles?: readonly Readonly<Record<string, unknown>>[];
    /** PgBouncer on every PostgreSQL node: `port`, `poolMode`, `defaultPoolSize`, `maxClientConn`, `databases`; absent: none. */
    readonly pgbouncer?: Readonly<Record<string, unknown>>;
    /** `"node:/path"` or `"node:unit"` → a token: a new token repairs that file or unit on the next run (`npm run drift -- --fix`). */
    readonly repair?: Readonly<Record<string, string | number>>;
    /** Exporters on every node and Prometheus on `prometheusHost`: `prometheusPort`, `retention`, `scrapeInterval`, `alerts`, ...; absent: none. */
    readonly monitoring?: Readonly<Record<string, unknown>>;
}

/** What the previous deployment recorded: read back to refuse unsafe edits and to renew certificates. */
export interface PreviousDeployment {
    readonly clusterShape?: ClusterShape;
    readonly certificates?: unknown;
}

export interface PostgresHaClusterArgs {
    readonly config: ClusterConfigArgs;
    readonly superuserPassword: pulumi.Input<string>;
    readonly replicationPassword: pulumi.Input<string>;
    /** Needed with a VIP (keepalived uses its first 8 characters). */
    readonly keepalivedPassword?: pulumi.Input<string>;
    /** Basic auth of Patroni's unsafe REST endpoints; default: derived from the superuser password. */
    readonly restApiPassword?: pulumi.Input<string>;
    /** The SSH private key's content; default: the file at `config.ssh.privateKeyPath` (`~/.ssh/id_ed25519`). */
    readonly sshPrivateKey?: pulumi.Input<string>;
    /**
     * The pgBackRest repository passphrase (aes-256-cbc), required with `config.backup` unless
     * `backup.encryption` is false. It reaches the repository hosts only as secret stdin.
     */
    readonly backupCipherPassphrase?: pulumi.Input<string>;
    /** Passwords of `config.roles`, by role name; each reaches the nodes only as secret stdin, as a SCRAM verifier made there. */
    readonly rolePasswords?: Readonly<Record<string, pulumi.Input<string>>>;
    /** The password of PgBouncer's lookup role (`pgha_pgbouncer`), required with `config.pgbouncer`; it reaches the nodes only as secret stdin. */
    readonly pgbouncerAuthPassword?: pulumi.Input<string>;
    /** The password of postgres_exporter's role (`pgha_monitor`), required with `config.monitoring`; it reaches the nodes only as secret stdin. */
    readonly monitoringPassword?: pulumi.Input<string>;
    /**
     * The previous deployment's record. Default: read from this stack's own outputs
     * `clusterShape` and `certificates`, so export `cluster.clusterShape` and
     * `cluster.certificates` under those names (the guards need them); `null`: none.
     */
    readonly previous?: PreviousDeployment | null;
}

/** A cluster from an already validated spec (the pgha program's tests, advanced use). */
export type PostgresHaClusterSpecArgs = ClusterBuildArgs;

const isSpecArgs = (a: PostgresHaClusterArgs | PostgresHaClusterSpecArgs): a is PostgresHaClusterSpecArgs => "spec" in a;
const known = (v: unknown): v is string | undefined => v === undefined || typeof v === "string";

export class PostgresHaCluster extends pulumi.ComponentResource {
    /** `VIP:5000` (or the first balancer's address), read/write. */
    public readonly primaryEndpoint: pulumi.Output<string>;
    /** `VIP:5001`, read-only replicas. */
    public readonly replicaEndpoint: pulumi.Output<string>;
    /** `VIP:5002`, the synchronous standbys only; undefined without synchronous mode. */
    public readonly syncReplicaEndpoint: pulumi.Output<string | undefined>;
    /** `VIP:5003`, the asynchronous replicas only. */
    public readonly asyncReplicaEndpoint: pulumi.Output<string>;
    /** Every service by name (`primary`, `replica`, `syncReplica`, `asyncReplica`): `{address, pooled}`. */
    public readonly endpoints: pulumi.Output<Readonly<Partial<Record<HaproxyServiceName, ServiceEndpoint>>>>;
    /** With pgha:pgbouncer: each PostgreSQL member's PgBouncer (`address:port`); undefined without it. */
    public readonly pgbouncerEndpoints: pulumi.Output<string[] | undefined>;
    public readonly haproxyStatsUrl: pulumi.Output<string | undefined>;
    public readonly patroniApiUrls: pulumi.Output<string[]>;
    public readonly etcdEndpoints: pulumi.Output<string[]>;
    /** Secret: the superuser's URI, `sslmode=verify-full` with the CA saved as `pgha-ca.crt`. */
    public readonly connectionString: pulumi.Output<string>;
    /** What the last verification saw (etcd, leader, replicas streaming, HAProxy, VIP). */
    public readonly verification: pulumi.Output<string>;
    /** The cluster CA certificate (PEM), for clients using sslmode=verify-full. */
    public readonly caCertificate: pulumi.Output<string>;
    /** Per node: notAfter and generation of its certificate. Export as `certificates`. */
    public readonly certificates: pulumi.Output<Record<string, CertificateStatus>>;
    /** The deployment's shape (names, addresses, versions; no secrets). Export as `clusterShape`. */
    public readonly clusterShape: pulumi.Output<ClusterShape>;
    /** pgha:backup: stanza, repository (`host:path`), schedule (not secret); undefined without backups. */
    public readonly backup: pulumi.Output<BackupSummary | undefined>;
    /** What `npm run drift` compares, by node: every file pgha placed (path, sha256, owner, group, mode). */
    public readonly managedFiles: pulumi.Output<ByNode<ManagedFile>>;
    /** Secret: node → path → sha256 of each file holding secrets. */
    public readonly managedFileSecrets: pulumi.Output<Record<string, Record<string, string>>>;
    /** By node: every unit pgha runs (enabled, active). */
    public readonly managedUnits: pulumi.Output<ByNode<ManagedUnit>>;
    /** pgha:monitoring: Prometheus' web UI and API (`https://addr:9090/`, TLS with the cluster CA); undefined without it. */
    public readonly prometheusEndpoint: pulumi.Output<string | undefined>;

    constructor(name: string, args: PostgresHaClusterArgs | PostgresHaClusterSpecArgs, opts?: pulumi.ComponentResourceOptions) {
        super("pgha:cluster:PostgresHaCluster", name, {}, opts);
        // The built tree is held as is (its members are Outputs of their own): wrapping it in one
        // Output would make every member secret, as connectionString is.
        let built: pulumi.Output<{ tree: BuiltCluster; shape: ClusterShape }>;
        if (isSpecArgs(args)) {
            const held = { tree: buildCluster(this, args), shape: clusterShape(args.spec) };
            built = pulumi.output(true).apply(() => held) as unknown as pulumi.Output<{ tree: BuiltCluster; shape: ClusterShape }>;
        } else {
            const nodes = args.config.nodes ?? [];
            // Addresses and host keys may come from other resources: the tree is built once they are known.
            const resolved = nodes.every((n) => known(n.address) && known(n.hostKey))
                ? pulumi.output(nodes.map((n) => [n.address as string, n.hostKey as string | undefined] as const))
                : pulumi.all(nodes.map((n) => pulumi.all([pulumi.output(n.address), pulumi.output(n.hostKey)])));
            const previous = args.previous === undefined ? readOwnStackOutputs() : Promise.resolve(args.previous ?? {});
            // The key, for reading the servers' release when the version is left to it (unsecret: it never leaves the apply).
            const probeKey = args.config.postgres?.version === undefined && args.sshPrivateKey !== undefined ? pulumi.unsecret(pulumi.output(args.sshPrivateKey)) : pulumi.output(undefined);
            built = pulumi.all([resolved, previous, probeKey]).apply(async ([pairs, prev, key]) => {
                const config = { ...args.config, nodes: nodes.map((n, i) => withoutUndefined({ ...n, address: pairs[i][0], hostKey: pairs[i][1] })) };
                const spec = guardedSpec(config, args, prev, await resolvePostgresVersion(config, args, prev, key));
                const tree = buildCluster(this, {
                    spec,
                    secrets: secretsOf(args, spec),
                    sshPrivateKey: sshPrivateKeyOf(args, spec),
                    // Certificates near their end (by the last deployment's record) get a new generation: reissued.
                    certificateGenerations: certificateGenerations(spec, prev.certificates, new Date()),
                    ...(args.backupCipherPassphrase !== undefined ? { backupCipherPassphrase: backupCipherPassphraseOf(args.backupCipherPassphrase) } : {}),
                    ...(args.rolePasswords !== undefined ? { rolePasswords: rolePasswordsOf(args.rolePasswords, spec) } : {}),
                });
                return { tree, shape: clusterShape(spec) };
            }) as unknown as pulumi.Output<{ tree: BuiltCluster; shape: ClusterShape }>;
        }
        const member = <T>(f: (t: BuiltCluster) => pulumi.Input<T>): pulumi.Output<T> => built.apply((h) => f(h.tree)) as pulumi.Output<T>;
        this.primaryEndpoint = member((t) => t.primaryEndpoint);
        this.replicaEndpoint = member((t) => t.replicaEndpoint);
        this.syncReplicaEndpoint = member((t) => t.syncReplicaEndpoint);
        this.asyncReplicaEndpoint = member((t) => t.asyncReplicaEndpoint);
        this.endpoints = member((t) => t.endpoints);
        this.pgbouncerEndpoints = member((t) => t.pgbouncerEndpoints);
        this.haproxyStatsUrl = member((t) => t.haproxyStatsUrl);
        this.patroniApiUrls = member((t) => t.patroniApiUrls);
        this.etcdEndpoints = member((t) => t.etcdEndpoints);
        this.connectionString = pulumi.secret(member((t) => t.connectionString));
        this.verification = member((t) => t.verification);
        this.caCertificate = member((t) => t.caCertificate);
        this.certificates = member((t) => t.certificates);
        this.clusterShape = built.apply((h) => h.shape);
        this.backup = member((t) => t.backup);
        this.managedFiles = member((t) => t.managedFiles);
        this.managedFileSecrets = pulumi.secret(member((t) => t.managedFileSecrets));
        this.managedUnits = member((t) => t.managedUnits);
        this.prometheusEndpoint = member((t) => t.prometheusEndpoint);
        this.registerOutputs({
            primaryEndpoint: this.primaryEndpoint,
            replicaEndpoint: this.replicaEndpoint,
            syncReplicaEndpoint: this.syncReplicaEndpoint,
            asyncReplicaEndpoint: this.asyncReplicaEndpoint,
            endpoints: this.endpoints,
            pgbouncerEndpoints: this.pgbouncerEndpoints,
            haproxyStatsUrl: this.haproxyStatsUrl,
            patroniApiUrls: this.patroniApiUrls,
            etcdEndpoints: this.etcdEndpoints,
            connectionString: this.connectionString,
            backup: this.backup,
            prometheusEndpoint: this.prometheusEndpoint,
        });
    }
}

const withoutUndefined = <T extends object>(o: T): T => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;

/**
 * The spec of resolved arguments, or every problem at once as one RunError naming each key
 * path: bad values, and edits that cannot be applied in place after `previous`.
 */
export function guardedSpec(config: Record<string, unknown>, args: PostgresHaClusterArgs, previous: PreviousDeployment, postgresVersion?: number): ClusterSpec {
    const spec = validatedSpec(config, args, postgresVersion);
    // Edits that cannot be applied in place are refused before any server is touched.
    const unsafe = unsafeTransitions(previous.clusterShape, spec);
    if (spec.restore !== undefined && previous.clusterShape === undefined) {
        unsafe.push(`pgha:restore: the cluster is not deployed yet, so there is nothing to restore in place; a new cluster from a backup is pgha:backup.restoreFrom`);
    }
    if (unsafe.length > 0) throw new pulumi.RunError(formatConfigErrors(unsafe));
    // Databases and roles the stack no longer lists are kept: say so at preview and up.
    for (const w of keptDatabasesAndRoles(previous.clusterShape, spec)) pulumi.log.warn(w);
    // A restore this stack has not applied yet: say what it does and what is lost, at preview and up.
    if (spec.restore !== undefined && previous.clusterShape?.restoreId !== spec.restore.id) pulumi.log.warn(restorePlan(spec));
    for (const note of transitionNotes(previous.clusterShape, spec)) pulumi.log.warn(note);
    return spec;
}

/**
 * pgha:postgres.version when the stack leaves it unset (undefined when it is set): the
 * deployed cluster's major, else the one the PostgreSQL nodes' release ships, read from
 * the servers (all of them must agree). Problems name the nodes and are refused at preview.
 */
export async function resolvePostgresVersion(config: Record<string, unknown>, args: PostgresHaClusterArgs, previous: PreviousDeployment, key?: string): Promise<number | undefined> {
    const pg = config.postgres as Record<string, unknown> | undefined;
    if (pg?.version !== undefined) return undefined;
    if (previous.clusterShape?.postgresVersion !== undefined) return previous.clusterShape.postgresVersion;
    // Settings first (every problem at once); the probe needs the nodes and the SSH settings.
    const spec = validatedSpec(config, args, undefined, true);
    const privateKey = key ?? readPrivateKeyFile(spec);
    const pgNodes = nodesWithRole(spec, "postgres");
    const read = await readOsReleases(pgNodes, { privateKey, strictHostKeys: spec.ssh.strictHostKeys });
    const found = read.problems.length > 0 ? { problems: read.problems } : defaultPostgresVersion(read.releases);
    const why = "is unset, so pgha reads the PostgreSQL nodes' release to choose its default (set it to skip this)";
    if ("problems" in found) throw new pulumi.RunError(formatConfigErrors(found.problems.map((p) => `pgha:postgres.version ${why}: ${p}`)));
    const release = platformOf(read.releases.get(pgNodes[0].name) ?? "");
    const label = "platform" in release ? platformLabel(release.platform) : "their release";
    pulumi.log.info(`pgha:postgres.version is unset: PostgreSQL ${found.version}, the major of ${label}, which ${pgNodes.map((n) => n.name).join(", ")} run`);
    return found.version;
}

/** The spec, or every problem at once as one RunError naming each key path. */
function validatedSpec(config: Record<string, unknown>, args: PostgresHaClusterArgs, postgresVersion?: number, quiet = false): ClusterSpec {
    // The secrets are arguments: validation sees only whether each is given (their values are checked in secretsOf).
    const given = (v: unknown, present = "set") => (v === undefined ? undefined : present);
    // Role passwords are an argument of their own: validation sees a valid stand-in for each role given one.
    const roleList = Array.isArray(config.roles) ? (config.roles as unknown[]) : [];
    const passwordFor = (r: unknown): boolean =>
        typeof r === "object" && r !== null && typeof (r as { name?: unknown }).name === "string" && Object.hasOwn(args.rolePasswords ?? {}, (r as { name: string }).name);
    const inConfig = roleList.flatMap((r, i) =>
        typeof r === "object" && r !== null && Object.hasOwn(r, "password") ? [`pgha:roles[${i}].password: pass it in rolePasswords (a secret), not in config`] : [],
    );
    const unknownNames = Object.keys(args.rolePasswords ?? {}).filter((n) => !roleList.some((r) => (r as { name?: unknown })?.name === n));
    const argProblems = [...inConfig, ...unknownNames.map((n) => `rolePasswords[${JSON.stringify(n.slice(0, 64))}]: no role of that name in config.roles`)];
    if (argProblems.length > 0) throw new pulumi.RunError(formatConfigErrors(argProblems));
    const parsed = parseClusterConfig(
        {
            rolePasswords: Object.fromEntries(roleList.flatMap((r, i) => (passwordFor(r) ? [[i, "given-but-not-read-here"]] : []))),
            values: { ...config, generateMissingSecrets: false },
            secrets: withoutUndefined({
                superuserPassword: given(args.superuserPassword),
                replicationPassword: given(args.replicationPassword),
                keepalivedPassword: config.vip === undefined || (config.vip as { manager?: unknown }).manager === "vip-manager" ? undefined : given(args.keepalivedPassword),
                sshPrivateKey: given(args.sshPrivateKey, "-----BEGIN OPENSSH PRIVATE KEY-----\n-----END OPENSSH PRIVATE KEY-----"),
                // A stand-in of valid form: the value itself is checked in backupCipherPassphraseOf.
                backupCipherPassphrase: given(args.backupCipherPassphrase, "given-but-not-read-here"),
                pgbouncerAuthPassword: given(args.pgbouncerAuthPassword),
                monitoringPassword: given(args.monitoringPassword),
            }),
            homedir: os.homedir(),
        },
        { postgresVersion },
    );
    if (!parsed.ok) throw new pulumi.RunError(formatConfigErrors(parsed.errors));
    if (!quiet) for (const w of parsed.warnings) pulumi.log.warn(w);
    return parsed.spec;
}

/** The secret values, each checked when known (a problem names the argument, never the value). */
function secretsOf(args: PostgresHaClusterArgs, spec: ClusterSpec): pulumi.Output<Secrets> {
    const superuser = pulumi.output(args.superuserPassword);
    const values: Record<string, pulumi.Output<string>> = {
        superuserPassword: superuser,
        replicationPassword: pulumi.output(args.replicationPassword),
        keepalivedPassword: vipByKeepalived(spec) ? pulumi.output(args.keepalivedPassword ?? "") : pulumi.output(""),
        restApiPassword: args.restApiPassword !== undefined ? pulumi.output(args.restApiPassword) : superuser.apply(deriveRestApiPassword),
        pgbouncerAuthPassword: spec.pgbouncer ? pulumi.output(args.pgbouncerAuthPassword ?? "") : pulumi.output(""),
        monitoringPassword: spec.monitoring ? pulumi.output(args.monitoringPassword ?? "") : pulumi.output(""),
    };
    return pulumi.secret(
        pulumi.all(SECRET_NAMES.map((n) => values[n])).apply((vs) => {
            const s = Object.fromEntries(SECRET_NAMES.map((n, i) => [n, vs[i]])) as unknown as Secrets;
            // The same checks as for stack secrets; messages name the argument, never the value.
            const given = {
                ...s,
                keepalivedPassword: vipByKeepalived(spec) ? s.keepalivedPassword : undefined,
                restApiPassword: args.restApiPassword === undefined ? undefined : s.restApiPassword,
                pgbouncerAuthPassword: spec.pgbouncer ? s.pgbouncerAuthPassword : undefined,
                monitoringPassword: spec.monitoring ? s.monitoringPassword : undefined,
            };
            const check = checkSecrets({
                secrets: withoutUndefined(given),
                generateMissing: false,
                hasVip: vipByKeepalived(spec),
                hasPgbouncer: spec.pgbouncer !== undefined,
                hasMonitoring: spec.monitoring !== undefined,
            });
            if (check.errors.length > 0) throw new pulumi.RunError(formatConfigErrors(check.errors));
            for (const w of check.warnings) pulumi.log.warn(w);
            return s;
        }),
    );
}

/** The role passwords, secret, each checked once known (a message names the role, never the value). */
function rolePasswordsOf(given: Readonly<Record<string, pulumi.Input<string>>>, spec: ClusterSpec): pulumi.Output<RolePasswords> {
    const names = (spec.roles ?? []).filter((r) => r.hasPassword).map((r) => r.name);
    return pulumi.secret(
        pulumi.all(names.map((n) => pulumi.output(given[n]))).apply((values) => {
            const problems = names.flatMap((n, i) => {
                const problem = rolePasswordProblem(values[i]);
                return problem === undefined ? [] : [`rolePasswords.${n}: ${problem}`];
            });
            if (problems.length > 0) throw new pulumi.RunError(formatConfigErrors(problems));
            return Object.fromEntries(names.map((n, i) => [n, values[i]])) as RolePasswords;
        }),
    );
}

/** The passphrase, secret, checked once known (the message names the argument, never the value). */
function backupCipherPassphraseOf(value: pulumi.Input<string>): pulumi.Output<string> {
    return pulumi.secret(
        pulumi.output(value).apply((v) => {
            const problem = secretValueProblem("backupCipherPassphrase", v);
            if (problem !== undefined) throw new pulumi.RunError(formatConfigErrors([`backupCipherPassphrase: ${problem}`]));
            return v;
        }),
    );
}

function sshPrivateKeyOf(args: PostgresHaClusterArgs, spec: ClusterSpec): pulumi.Output<string> {
    if (args.sshPrivateKey !== undefined) return pulumi.secret(pulumi.output(args.sshPrivateKey));
    return pulumi.secret(readPrivateKeyFile(spec));
}

/** The key file at pgha:ssh.privateKeyPath; a problem names the key and the path, never the content. */
function readPrivateKeyFile(spec: ClusterSpec): string {
    const path = spec.ssh.privateKeyPath!;
    try {
        return fs.readFileSync(path, "utf8");
    } catch (e) {
        throw new pulumi.RunError(`pgha:ssh.privateKeyPath: cannot read ${path}: ${(e as Error).message}`);
    }
}

/** This stack's last deployed outputs `clusterShape` and `certificates` (empty before the first deployment). */
async function readOwnStackOutputs(): Promise<PreviousDeployment> {
    const self = new pulumi.StackReference(`${pulumi.getOrganization()}/${pulumi.getProject()}/${pulumi.getStack()}`);
    const shape = await self.getOutputDetails("clusterShape");
    const certificates = await self.getOutputDetails("certificates");
    // A stack written while these outputs were (wrongly) secret holds them as secretValue.
    return {
        clusterShape: (shape?.value ?? shape?.secretValue ?? undefined) as ClusterShape | undefined,
        certificates: certificates?.value ?? certificates?.secretValue,
    };
}
