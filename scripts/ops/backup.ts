// npm run backup -- take --stack NAME [--type full|diff|incr]
// npm run backup -- info --stack NAME [--json]
//
// Backups of a deployed stack (pgha:backup), on demand, from the Pulumi project of the current
// directory with the caller's Pulumi environment (scripts/backup.sh). `take` runs a backup on
// each repository host now, through the scheduled unit when the host has it (server/
// pgha-pgbackrest.sh take), and returns when it is complete; `info` shows what each repository
// holds and whether the primary's WAL archiving is current (scripts/ops/backup-report.ts).
// Exit status: 0 done, 1 failed (one line says why), 2 bad arguments.
import { backupUnitName } from "../../core/render/pgbackrest";
import { BACKUP_TYPES, BackupType, ClusterSpec, NodeSpec, nodesWithRole } from "../../core/spec";
import { PGBACKREST_STEPS } from "../../components/pgha-tools";
import { formatKeyPath } from "../../core/config";
import {
    ArchiverRow,
    BackupReport,
    BackupSummary,
    NodeArchiver,
    PgbackrestStanzaInfo,
    RepositoryRef,
    backupReport,
    formatBytes,
    parsePgbackrestInfo,
    renderReport,
    repositoryReport,
} from "./backup-report";
import { OpsError, Stack, nodeNamed, openStack } from "./stack";
import { RemoteResult, SshSession, sshFailure, withSsh } from "./ssh";

export const USAGE = ["usage: npm run backup -- take --stack NAME [--type full|diff|incr]", "       npm run backup -- info --stack NAME [--json]"].join("\n");

/** How long one host's `take` may run (a full backup of a large database takes hours). */
export const TAKE_TIMEOUT_SEC = 24 * 3600;
const QUERY_TIMEOUT_SEC = 120;

export type BackupCommand = { readonly verb: "take"; readonly stack: string; readonly type: BackupType } | { readonly verb: "info"; readonly stack: string; readonly json: boolean };
export type ParsedArgs = { readonly ok: true; readonly command: BackupCommand } | { readonly ok: false; readonly help: true } | { readonly ok: false; readonly help: false; readonly message: string };

/** The command line (after `--`); `take` backs up `full` unless --type says otherwise. */
export function parseBackupArgs(argv: readonly string[]): ParsedArgs {
    const bad = (message: string): ParsedArgs => ({ ok: false, help: false, message });
    if (argv.includes("-h") || argv.includes("--help")) return { ok: false, help: true };
    const positional: string[] = [];
    const values = new Map<string, string>();
    let json = false;
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        if (a === "--json") {
            if (json) return bad("--json given twice");
            json = true;
            continue;
        }
        const m = /^(--stack|--type)(?:=(.*))?$/.exec(a);
        if (m !== null) {
            const v = m[2] ?? argv[++i];
            if (v === undefined || v === "" || v.startsWith("-")) return bad(`${m[1]} needs a value`);
            if (values.has(m[1])) return bad(`${m[1]} given twice`);
            values.set(m[1], v);
            continue;
        }
        if (a.startsWith("-")) return bad(`unknown option ${a}`);
        positional.push(a);
    }
    if (positional.length === 0) return bad("say take or info");
    if (positional.length > 1) return bad(`one command only, got ${positional.join(" ")}`);
    const verb = positional[0];
    const stack = values.get("--stack");
    if (verb !== "take" && verb !== "info") return bad(`unknown command ${verb} (take or info)`);
    if (stack === undefined) return bad("--stack NAME is required");
    if (verb === "info") {
        if (values.has("--type")) return bad("--type is for take");
        return { ok: true, command: { verb, stack, json } };
    }
    if (json) return bad("--json is for info");
    const type = values.get("--type") ?? "full";
    if (!(BACKUP_TYPES as readonly string[]).includes(type)) return bad(`--type must be full, diff or incr, not ${type}`);
    return { ok: true, command: { verb, stack, type: type as BackupType } };
}

/** What pgha:backup deployed, from the stack output `backup`. */
export interface DeployedBackup {
    readonly stanza: string;
    readonly repositories: readonly RepositoryRef[];
    readonly schedule: Readonly<Partial<Record<BackupType, string>>>;
}

/** The stack's deployed backups, or why there are none: no pgha:backup, or not deployed yet. */
export function deployedBackup(stack: string, spec: ClusterSpec, outputs: Readonly<Record<string, unknown>>): DeployedBackup {
    if (spec.backup === undefined) {
        throw new OpsError(`stack ${stack} has no ${formatKeyPath(["backup"])} (set ${formatKeyPath(["backup", "repository", "host"])} to a node with the backup role, then pulumi up)`);
    }
    const out = outputs.backup as { stanza?: unknown; repository?: unknown; secondRepository?: unknown; schedule?: unknown } | undefined;
    if (out === undefined || out === null || typeof out !== "object" || typeof out.stanza !== "string" || typeof out.repository !== "string") {
        throw new OpsError(`stack ${stack}: ${formatKeyPath(["backup"])} is set but not deployed (no stack output backup): run pulumi up --stack ${stack} first`);
    }
    const ref = (repo: number, where: string): RepositoryRef => {
        const i = where.indexOf(":");
        if (i <= 0) throw new OpsError(`stack ${stack}: the stack output backup names its repository ${JSON.stringify(where)}, not host:path`);
        return { repo, host: where.slice(0, i), path: where.slice(i + 1) };
    };
    const schedule = (typeof out.schedule === "object" && out.schedule !== null ? out.schedule : {}) as Record<string, unknown>;
    return {
        stanza: out.stanza,
        repositories: [ref(1, out.repository), ...(typeof out.secondRepository === "string" ? [ref(2, out.secondRepository)] : [])],
        schedule: Object.fromEntries(BACKUP_TYPES.filter((t) => typeof schedule[t] === "string").map((t) => [t, schedule[t] as string])),
    };
}

/** The repository hosts, each with the repositories it holds, in repository order. */
export function repositoryHosts(repos: readonly RepositoryRef[]): { host: string; repos: number[] }[] {
    const out: { host: string; repos: number[] }[] = [];
    for (const r of repos) {
        const h = out.find((x) => x.host === r.host);
        if (h === undefined) out.push({ host: r.host, repos: [r.repo] });
        else h.repos.push(r.repo);
    }
    return out;
}

/** The `pgha-pgbackrest.sh take` arguments for one repository host. */
export function takeArgs(stanza: string, type: BackupType, repos: readonly number[]): string[] {
    return ["take", "--stanza", stanza, "--type", type, "--unit", `${backupUnitName(type)}.service`, ...repos.flatMap((r) => ["--repo", String(r)])];
}

const lastLine = (text: string): string => text.trim().split("\n").filter(Boolean).slice(-1)[0] ?? "";

/** The one line that says why a take failed: the first ERROR line of pgBackRest (its own, before the log's tail), else the last line. */
export function failureReason(r: { status: number; stdout: string; stderr: string }): string {
    const error = r.stderr
        .split("\n")
        .map((l) => l.trim())
        .find((l) => /\bERROR: \[\d+\]/.test(l));
    const why = error?.replace(/^.*?\bERROR: /, "ERROR: ") ?? (lastLine(r.stderr) || `exit ${r.status}`);
    return `${why} (the last lines of its log are above)`;
}

/** What `take` says of the backup it made. */
export function newestLine(n: BackupSummary): string {
    const wal = `${n.walStart ?? "-"}…${n.walStop ?? "-"}`;
    return `${n.label} (${n.type}), database ${formatBytes(n.databaseBytes)}, backed up ${formatBytes(n.backupBytes)}, stored ${formatBytes(n.repoBackupBytes)}, WAL ${wal}`;
}

/** A remote result that must have succeeded: an OpsError with the one-line reason otherwise. */
function ok(node: NodeSpec, r: RemoteResult, what: string): RemoteResult {
    const unreachable = sshFailure(node, r);
    if (unreachable !== undefined) throw new OpsError(unreachable);
    if (r.status !== 0) throw new OpsError(`${what} on ${node.name} failed (exit ${r.status}): ${lastLine(r.stderr) || lastLine(r.stdout) || "no output"}`);
    return r;
}

const NOT_THIS_CHECKOUTS = /is not this checkout's/;

/** The hosts whose installed pgha-pgbackrest.sh is not this checkout's (see toolBody): one note on stderr. */
function noteOlderPrograms(nodes: readonly string[]): void {
    if (nodes.length === 0) return;
    console.error(`backup: note: ${PGBACKREST_STEPS.path} on ${nodes.join(", ")} is not this checkout's; this checkout's copy ran there (the next pulumi up installs it)`);
}

async function infoOf(ssh: SshSession, node: NodeSpec, stanza: string, older: string[]): Promise<PgbackrestStanzaInfo[]> {
    const r = ok(node, await ssh.runTool(node, PGBACKREST_STEPS, ["info", "--stanza", stanza], { what: `pgBackRest info of ${stanza}`, timeoutSec: QUERY_TIMEOUT_SEC }), "pgbackrest info");
    if (NOT_THIS_CHECKOUTS.test(r.stderr)) older.push(node.name);
    try {
        return parsePgbackrestInfo(r.stdout);
    } catch (e) {
        throw new OpsError(`pgbackrest info on ${node.name} printed no readable JSON: ${(e as Error).message}`);
    }
}

async function archiverOf(ssh: SshSession, spec: ClusterSpec, node: NodeSpec, older: string[]): Promise<NodeArchiver> {
    const args = ["archive-status", "--port", String(spec.postgres.port), "--bin", spec.postgres.binDir];
    const r = await ssh.runTool(node, PGBACKREST_STEPS, args, { what: "pg_stat_archiver", timeoutSec: 30 });
    if (NOT_THIS_CHECKOUTS.test(r.stderr)) older.push(node.name);
    const unreachable = sshFailure(node, r);
    if (unreachable !== undefined) return { node: node.name, problem: unreachable.slice(node.name.length + 2) };
    if (r.status !== 0) return { node: node.name, problem: lastLine(r.stderr) || `exit ${r.status}` };
    try {
        return { node: node.name, row: JSON.parse(lastLine(r.stdout)) as ArchiverRow };
    } catch {
        return { node: node.name, problem: `no readable answer: ${lastLine(r.stdout).slice(0, 200)}` };
    }
}

/** The `info` report, over an open session (npm run status shows its newest backup too). */
export async function collectBackupReport(ssh: SshSession, stack: Stack, b: DeployedBackup, older: string[]): Promise<BackupReport> {
    const { spec } = stack;
    const hosts = repositoryHosts(b.repositories).map((h) => nodeNamed(stack, h.host, "the stack output backup"));
    const [infos, archivers] = await Promise.all([
        Promise.all(hosts.map((n) => infoOf(ssh, n, b.stanza, older))),
        Promise.all(nodesWithRole(spec, "postgres").map((n) => archiverOf(ssh, spec, n, older))),
    ]);
    return backupReport({
        stack: stack.name,
        stanza: b.stanza,
        checkedAt: new Date().toISOString(),
        schedule: b.schedule,
        repositories: b.repositories,
        infoByHost: new Map(hosts.map((n, i) => [n.name, infos[i]])),
        archivers,
        archiveTimeoutSec: spec.backup!.archiveTimeout,
    });
}

async function info(stack: Stack, b: DeployedBackup, json: boolean): Promise<void> {
    const { spec } = stack;
    const older: string[] = [];
    const report = await withSsh(spec.nodes, stack.privateKey(), spec.ssh.strictHostKeys, (ssh) => collectBackupReport(ssh, stack, b, older));
    noteOlderPrograms([...new Set(older)].sort());
    process.stdout.write(json ? `${JSON.stringify(report, null, 2)}\n` : renderReport(report));
}

async function take(stack: Stack, b: DeployedBackup, type: BackupType): Promise<void> {
    const { spec } = stack;
    const hosts = repositoryHosts(b.repositories).map((h) => ({ node: nodeNamed(stack, h.host, "the stack output backup"), repos: h.repos }));
    await withSsh(spec.nodes, stack.privateKey(), spec.ssh.strictHostKeys, async (ssh) => {
        for (const { node, repos } of hosts) {
            const started = Date.now();
            console.log(`backup: ${type} backup of stanza ${b.stanza} on ${node.name} (repo ${repos.join(", ")}), started ${new Date(started).toISOString()}`);
            const r = await ssh.runTool(node, PGBACKREST_STEPS, takeArgs(b.stanza, type, repos), {
                what: `${type} backup of ${b.stanza}`,
                timeoutSec: TAKE_TIMEOUT_SEC,
                onLine: (stream, line) => (stream === "stderr" ? console.error : console.log)(`  ${node.name}: ${line}`),
            });
            const took = `${((Date.now() - started) / 1000).toFixed(1)} s`;
            const unreachable = sshFailure(node, r);
            // A backup through the unit goes on without the connection.
            if (unreachable !== undefined) throw new OpsError(r.stdout === "" ? unreachable : `${unreachable} (after ${took}; the backup it had started may still run: info shows it)`);
            if (r.status !== 0) throw new OpsError(`the ${type} backup of ${b.stanza} on ${node.name} failed after ${took}: ${failureReason(r)}`);
            try {
                const stanza = (await infoOf(ssh, node, b.stanza, [])).find((s) => s.name === b.stanza);
                for (const ref of b.repositories.filter((x) => repos.includes(x.repo))) {
                    const n = repositoryReport(ref, stanza).newest;
                    if (n !== null) console.log(`backup: repo${ref.repo} on ${node.name}: newest ${newestLine(n)}`);
                }
            } catch (e) {
                console.error(`backup: the backup is done, but reading what the repository holds failed: ${(e as Error).message}`);
            }
            console.log(`backup: the ${type} backup of ${b.stanza} on ${node.name} is complete, in ${took}`);
        }
    });
}

export async function main(argv: readonly string[]): Promise<number> {
    const parsed = parseBackupArgs(argv);
    if (!parsed.ok) {
        if (parsed.help) {
            console.log(USAGE);
            return 0;
        }
        console.error(`backup: ${parsed.message}\n${USAGE}`);
        return 2;
    }
    const { command } = parsed;
    try {
        const stack = openStack(command.stack);
        const b = deployedBackup(stack.name, stack.spec, stack.outputs);
        if (command.verb === "take") await take(stack, b, command.type);
        else await info(stack, b, command.json);
        return 0;
    } catch (e) {
        console.error(`backup: ${e instanceof Error ? e.message : String(e)}`);
        return 1;
    }
}

if (require.main === module) {
    main(process.argv.slice(2)).then((code) => process.exit(code));
}
