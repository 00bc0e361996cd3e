// pgBackRest (pgha:backup), placed and started. Per node (PgbackrestNode): its directories, its
// files from core/render/pgbackrest.ts and its TLS server, on every PostgreSQL node and every
// repository host. For the cluster (BackupRepository), on each repository host: the stanza
// (once the primary runs, before the dynamic config turns archiving on), then pgBackRest's
// check (archiving works), the first full backup (after the replicas: backup-standby copies
// from one) and the backup timers. Nothing here exists without pgha:backup, and nothing here
// deletes a backup: a removal stops the services and timers and keeps every repository.
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { RenderedFile } from "../core/render/file";
import {
    PGBACKREST_CIPHER_PATH,
    PGBACKREST_INCLUDE_DIR,
    PGBACKREST_LOG_PATH,
    PGBACKREST_SERVER_UNIT,
    PGBACKREST_USER,
    PLACEHOLDER_BACKUP_SECRETS,
    backupUnitName,
    localRepositories,
    pgbackrestServerNodes,
    renderPgbackrestFiles,
} from "../core/render/pgbackrest";
import { BackupSpec, ClusterSpec, NodeSpec, nodesWithRole } from "../core/spec";
import { NodeTlsFiles } from "./cluster-pki";
import { HostPrep } from "./host-prep";
import { PGBACKREST_STEPS } from "./pgha-tools";
import { PlacedFile, placeFile, serviceUnit } from "./remote-file";
import { NodeConnection, remoteScript, sha256, shq } from "./ssh";

/** How long the first full backup may take within one `pulumi up` (a service started by it goes on after that). */
export const FIRST_BACKUP_TIMEOUT_SEC = 3600;
const STEP_TIMEOUT_SEC = 300;

const steps = (args: readonly string[]): string => `bash ${PGBACKREST_STEPS.path} ${args.join(" ")}`;

/** The directories pgBackRest needs on `node`: its log, and on a repository host each repository it holds (postgres, 0750). */
export function pgbackrestDirsScript(spec: ClusterSpec, node: NodeSpec): string {
    const repos = node.roles.includes("backup") ? localRepositories(spec, node).map((r) => r.path) : [];
    const owned = (path: string) => `install -d -o ${PGBACKREST_USER} -g ${PGBACKREST_USER} -m 0750 ${shq(path)}`;
    return [
        // 0755 root as placeFile makes every parent directory (it would reset any other mode); the secret file in it is 0600.
        `install -d -m 0755 /etc/pgbackrest ${shq(PGBACKREST_INCLUDE_DIR)}`,
        owned(PGBACKREST_LOG_PATH),
        ...repos.map(owned),
    ].join("\n");
}

/** Start of pgBackRest's TLS server on `node`: enabled, started, and listening on its cluster address. */
export function pgbackrestServerStart(spec: ClusterSpec, node: NodeSpec): string {
    const b = spec.backup!;
    return steps(["server-start", `--unit ${PGBACKREST_SERVER_UNIT}`, `--address ${shq(node.address)}`, `--port ${b.port}`, "--timeout 60"]);
}

export interface PgbackrestNodeArgs {
    readonly spec: ClusterSpec;
    readonly conn: NodeConnection;
    readonly prep: HostPrep;
    /** The CA, and the certificate pgBackRest presents (postgres.crt, or pgbackrest.crt on a repository host). */
    readonly tls: NodeTlsFiles;
    /** pgha:backupCipherPassphrase (secret; stdin only). Needed on repository hosts while encryption is on. */
    readonly backupCipherPassphrase?: pulumi.Output<string>;
}

/** pgBackRest on one node: directories, files, and its TLS server (enabled, started; a changed file or certificate reloads it). */
export class PgbackrestNode extends pulumi.ComponentResource {
    public readonly server: command.remote.Command;
    /** Every file placed, for the digest of the cluster's check. */
    public readonly files: readonly PlacedFile[];
    /** The backup services and timers (repository hosts). */
    public readonly backupUnits: readonly PlacedFile[];
    public readonly dirs: command.remote.Command;

    constructor(name: string, args: PgbackrestNodeArgs, opts?: pulumi.ComponentResourceOptions) {
        super("pgha:backup:PgbackrestNode", name, {}, opts);
        const { spec, conn } = args;
        const node = conn.node;
        this.dirs = remoteScript(
            `${node.name}:pgbackrest-dirs`,
            { conn, what: `pgBackRest directories on ${node.name}`, create: pgbackrestDirsScript(spec, node), timeoutSec: 60 },
            { parent: this, dependsOn: [args.prep] },
        );
        const fileOpts = { parent: this, dependsOn: [args.prep, this.dirs] };
        // The redacted rendering: its hash goes into the command texts, the real cipher file only into stdin.
        const placed = renderPgbackrestFiles(spec, node, PLACEHOLDER_BACKUP_SECRETS).map((f): [RenderedFile, PlacedFile] => {
            if (f.path !== PGBACKREST_CIPHER_PATH) return [f, placeFile(conn, { file: f }, fileOpts)];
            const pass = args.backupCipherPassphrase;
            if (pass === undefined) throw new pulumi.RunError("pgha:backupCipherPassphrase: missing, and pgha:backup.encryption is true");
            const real = pass.apply((p) => renderPgbackrestFiles(spec, node, { backupCipherPassphrase: p }).find((x) => x.path === PGBACKREST_CIPHER_PATH)!.content);
            return [f, placeFile(conn, { file: f, secretContent: pulumi.secret(real) }, fileOpts)];
        });
        const isUnit = (f: RenderedFile) => /\/pgha-backup-(full|diff|incr)\.(service|timer)$/.test(f.path);
        this.files = placed.map(([, p]) => p);
        this.backupUnits = placed.filter(([f]) => isUnit(f)).map(([, p]) => p);
        const cert = args.tls.pgbackrest ?? args.tls.postgres ?? [];
        this.server = serviceUnit(
            `${node.name}:pgbackrest-server`,
            {
                conn,
                unit: PGBACKREST_SERVER_UNIT,
                files: [...placed.filter(([f]) => !isUnit(f)).map(([, p]) => p), args.tls.ca, ...cert],
                start: pgbackrestServerStart(spec, node),
                // SIGHUP: the server rereads its configuration and certificates (pgBackRest 2.37+).
                apply: [`systemctl daemon-reload`, `systemctl reload-or-restart ${PGBACKREST_SERVER_UNIT}`].join("\n"),
                stop: `systemctl disable --now ${PGBACKREST_SERVER_UNIT} >/dev/null 2>&1 || true`,
                timeoutSec: 120,
            },
            { parent: this, dependsOn: [args.prep, this.dirs] },
        );
        this.registerOutputs({ server: this.server.stdout });
    }
}

/** The command of each repository host's steps (server/pgha-pgbackrest.sh). */
export function stanzaCreateScript(b: BackupSpec): string {
    return steps(["stanza-create", `--stanza ${shq(b.stanza)}`, `--timeout ${STEP_TIMEOUT_SEC - 60}`]);
}

export function checkScript(b: BackupSpec, configDigest: string): string {
    // The digest makes the check run again whenever pgBackRest's files change anywhere.
    return [`# pgBackRest configuration ${configDigest}`, steps(["check", `--stanza ${shq(b.stanza)}`, `--timeout ${STEP_TIMEOUT_SEC - 60}`])].join("\n");
}

export function firstBackupScript(spec: ClusterSpec, node: NodeSpec): string {
    const b = spec.backup!;
    const repos = localRepositories(spec, node).map((r) => `--repo ${r.index}`);
    const unit = b.schedule.full !== undefined ? [`--unit ${backupUnitName("full")}.service`] : [];
    return steps(["first-backup", `--stanza ${shq(b.stanza)}`, ...repos, ...unit, `--timeout ${FIRST_BACKUP_TIMEOUT_SEC - 60}`]);
}

/** The backup timers pgha:backup.schedule turns on. */
export function scheduledTimers(spec: ClusterSpec): string[] {
    const b = spec.backup!;
    return (["full", "diff", "incr"] as const).filter((t) => b.schedule[t] !== undefined).map((t) => `${backupUnitName(t)}.timer`);
}

export function timersScript(spec: ClusterSpec): string {
    return steps(["timers", ...scheduledTimers(spec).map((t) => `--timer ${t}`)]);
}

export interface BackupRepositoryArgs {
    readonly spec: ClusterSpec;
    readonly conns: ReadonlyMap<string, NodeConnection>;
    /** Every node's pgBackRest pieces (PostgreSQL nodes and repository hosts). */
    readonly nodes: ReadonlyMap<string, PgbackrestNode>;
    /** The bootstrap member's Patroni: stanza-create needs the primary running. */
    readonly primary: pulumi.Resource;
}

/** What `pgha:backup` gives a deployment, as the stack output `backup` (no secret). */
export interface BackupSummary {
    readonly stanza: string;
    /** `<host>:<path>`. */
    readonly repository: string;
    readonly secondRepository?: string;
    /** systemd OnCalendar per backup type; a type without a timer is absent. */
    readonly schedule: Readonly<Record<string, string>>;
    readonly encryption: boolean;
}

export function backupSummary(spec: ClusterSpec): BackupSummary | undefined {
    const b = spec.backup;
    if (b === undefined) return undefined;
    const where = (i: number) => b.repositories.filter((r) => r.index === i).map((r) => `${r.host}:${r.path}`)[0];
    const second = where(2);
    return { stanza: b.stanza, repository: where(1)!, ...(second !== undefined ? { secondRepository: second } : {}), schedule: { ...b.schedule }, encryption: b.encryption };
}

/**
 * The cluster's backups, on each repository host, in two phases: the stanzas (constructor,
 * after every pgBackRest server and the primary; the dynamic config that turns archiving on
 * waits for them), then `finish`: check, first full backup, timers.
 */
export class BackupRepository extends pulumi.ComponentResource {
    public readonly stanzas: command.remote.Command[];
    /** What ends the backups' setup (the verification waits for it); set by `finish`. */
    public ready: pulumi.Resource[] = [];
    private readonly args: BackupRepositoryArgs;

    constructor(name: string, args: BackupRepositoryArgs, opts?: pulumi.ComponentResourceOptions) {
        super("pgha:backup:BackupRepository", name, {}, opts);
        this.args = args;
        const b = args.spec.backup!;
        const servers = pgbackrestServerNodes(args.spec).map((n) => args.nodes.get(n.name)!.server);
        this.stanzas = this.hosts().map((host) =>
            remoteScript(
                `${host.name}:stanza-create`,
                { conn: args.conns.get(host.name)!, what: `stanza-create of ${b.stanza} on ${host.name}`, create: stanzaCreateScript(b), timeoutSec: STEP_TIMEOUT_SEC },
                // No delete: a stanza holds the backups, which outlive the stack.
                { parent: this, dependsOn: [...servers, args.primary, ...args.nodes.get(host.name)!.files.map((f) => f.resource)] },
            ),
        );
    }

    /** The repository hosts, in name order. */
    private hosts(): NodeSpec[] {
        const names = new Set(this.args.spec.backup!.repositories.map((r) => r.host));
        return nodesWithRole(this.args.spec, "backup").filter((n) => names.has(n.name));
    }

    /** check after `archiving` (the dynamic config applied), the first full backup after `members` too (a standby to copy from), then the timers. */
    finish(archiving: readonly pulumi.Resource[], members: readonly pulumi.Resource[]): this {
        const { spec } = this.args;
        const b = spec.backup!;
        const digest = sha256(
            [...this.args.nodes.values()]
                .flatMap((n) => n.files)
                .map((f) => f.hash)
                .join(","),
        ).slice(0, 16);
        for (const host of this.hosts()) {
            const conn = this.args.conns.get(host.name)!;
            const pieces = this.args.nodes.get(host.name)!;
            const check = remoteScript(
                `${host.name}:pgbackrest-check`,
                { conn, what: `pgBackRest check of ${b.stanza} on ${host.name}`, create: checkScript(b, digest), timeoutSec: STEP_TIMEOUT_SEC },
                { parent: this, dependsOn: [...this.stanzas, ...archiving] },
            );
            const first = remoteScript(
                `${host.name}:first-full-backup`,
                { conn, what: `first full backup of ${b.stanza} on ${host.name}`, create: firstBackupScript(spec, host), timeoutSec: FIRST_BACKUP_TIMEOUT_SEC },
                { parent: this, dependsOn: [check, ...members, ...pieces.backupUnits.map((f) => f.resource)] },
            );
            this.ready.push(check, first);
            if (pieces.backupUnits.length === 0) continue;
            this.ready.push(
                serviceUnit(
                    `${host.name}:backup-timers`,
                    {
                        conn,
                        unit: "pgha-backup timers",
                        units: scheduledTimers(spec),
                        files: pieces.backupUnits,
                        start: timersScript(spec),
                        apply: timersScript(spec),
                        // With no --timer, every pgha-backup timer is disabled.
                        stop: steps(["timers"]),
                        timeoutSec: 60,
                    },
                    { parent: this, dependsOn: [first] },
                ),
            );
        }
        this.registerOutputs({ stanzas: this.stanzas.map((s) => s.stdout) });
        return this;
    }
}
