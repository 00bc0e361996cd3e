// `npm run backup -- info`: what the repositories hold and whether WAL archiving is current,
// from pgBackRest's `info --output=json` (each repository host) and pg_stat_archiver (the
// primary). Pure: scripts/ops/backup.ts gathers the inputs; tests/unit/backup-ops.test.ts
// feeds it a real pgBackRest 2.55 info.
import { BACKUP_TYPES, BackupType } from "../../core/spec";

// ---------------------------------------------------------------------------
// Inputs

/** One backup in pgBackRest's info JSON (the fields used here; 2.45 and 2.55 alike). */
export interface PgbackrestBackup {
    readonly label: string;
    readonly type: BackupType;
    readonly prior?: string | null;
    readonly error?: boolean;
    readonly archive?: { readonly start?: string | null; readonly stop?: string | null };
    readonly database?: { readonly id?: number; readonly "repo-key"?: number };
    readonly info?: { readonly size?: number; readonly delta?: number; readonly repository?: { readonly size?: number; readonly delta?: number } };
    readonly lsn?: { readonly start?: string; readonly stop?: string };
    readonly timestamp: { readonly start: number; readonly stop: number };
}

export interface PgbackrestStanzaInfo {
    readonly name: string;
    readonly cipher?: string;
    readonly status: {
        readonly code: number;
        readonly message: string;
        readonly lock?: { readonly backup?: { readonly held?: boolean; readonly size?: number; readonly "size-cplt"?: number } };
    };
    readonly repo?: readonly { readonly key: number; readonly cipher?: string; readonly status: { readonly code: number; readonly message: string } }[];
    readonly backup?: readonly PgbackrestBackup[];
    readonly archive?: readonly { readonly database?: { readonly id?: number; readonly "repo-key"?: number }; readonly id?: string; readonly min?: string | null; readonly max?: string | null }[];
}

/**
 * pgBackRest's info JSON: an array of stanzas. Its system-id is a 64-bit integer, beyond what a
 * JavaScript number holds exactly: it is read as a string.
 */
export function parsePgbackrestInfo(text: string): PgbackrestStanzaInfo[] {
    const parsed: unknown = JSON.parse(text.replace(/"system-id"\s*:\s*(\d+)/g, '"system-id":"$1"'));
    if (!Array.isArray(parsed)) throw new Error("pgBackRest's info is not a JSON array");
    return parsed as PgbackrestStanzaInfo[];
}

/** The JSON line of `pgha-pgbackrest.sh archive-status` (pg_stat_archiver's columns, plus what it needs around them). */
export interface ArchiverRow {
    readonly in_recovery: boolean;
    readonly archive_mode: string;
    /** The server's clock, when it answered: ages are measured on it. */
    readonly now: string;
    readonly archived_count: number;
    readonly last_archived_wal: string | null;
    readonly last_archived_time: string | null;
    readonly failed_count: number;
    readonly last_failed_wal: string | null;
    readonly last_failed_time: string | null;
    readonly stats_reset: string | null;
    /** Segments waiting to be archived (.ready files in pg_wal/archive_status). */
    readonly ready: number;
    /** The WAL segment being written (null on a replica). */
    readonly current_wal: string | null;
}

/** What one PostgreSQL node answered (or why it did not). */
export type NodeArchiver = { readonly node: string; readonly row: ArchiverRow } | { readonly node: string; readonly problem: string };

/** A repository as the stack output `backup` names it. */
export interface RepositoryRef {
    readonly repo: number;
    readonly host: string;
    readonly path: string;
}

// ---------------------------------------------------------------------------
// Archiving: the rule

export type ArchivingState = "current" | "behind" | "failing" | "off" | "unknown";

/** How old the last archived segment may be while segments wait: 2 × archiveTimeout (one to switch, one to push), 300 s when archiveTimeout is 0. */
export function archivingLimitSec(archiveTimeoutSec: number): number {
    return archiveTimeoutSec > 0 ? 2 * archiveTimeoutSec : 300;
}

const ms = (t: string | null): number | undefined => (t === null ? undefined : Date.parse(t));

/**
 * Whether the primary's archiving is current:
 * - `off`: archive_mode is off;
 * - `failing`: the last failure is as recent as the last success or more (or there was a failure and never a success);
 * - `current`: otherwise, when no segment waits to be archived (an idle primary switches no
 *   segment, so an old last success is fine then), or the last success is at most
 *   archivingLimitSec(archiveTimeout) old;
 * - `behind`: segments wait and the last success is older than that.
 */
export function archivingVerdict(row: ArchiverRow, archiveTimeoutSec: number): { state: ArchivingState; reason: string; ageSec: number | null } {
    const limit = archivingLimitSec(archiveTimeoutSec);
    const now = Date.parse(row.now);
    const archived = ms(row.last_archived_time);
    const failed = ms(row.last_failed_time);
    const ageSec = archived === undefined ? null : Math.max(0, Math.round((now - archived) / 1000));
    if (row.archive_mode === "off") return { state: "off", reason: "archive_mode is off", ageSec };
    if (failed !== undefined && (archived === undefined || failed >= archived)) {
        return { state: "failing", reason: `the last attempt failed (${row.last_failed_wal ?? "?"}) and nothing was archived since`, ageSec };
    }
    const waiting = `${row.ready} segment${row.ready === 1 ? "" : "s"} waiting`;
    if (row.ready === 0) return { state: "current", reason: "no failure since the last success, nothing waiting", ageSec };
    if (ageSec !== null && ageSec <= limit) return { state: "current", reason: `no failure since the last success, ${waiting}, the last success ${ageSec} s ago (limit ${limit} s)`, ageSec };
    const since = ageSec === null ? "nothing archived yet" : `the last success ${ageSec} s ago (limit ${limit} s)`;
    return { state: "behind", reason: `${waiting}, ${since}`, ageSec };
}

export interface ArchivingReport {
    readonly state: ArchivingState;
    readonly reason: string;
    /** The node that answered as primary; null when none (or more than one) did. */
    readonly primary: string | null;
    readonly lastArchivedWal: string | null;
    readonly lastArchivedAt: string | null;
    readonly lastArchivedAgeSec: number | null;
    readonly archivedCount: number | null;
    readonly failedCount: number | null;
    readonly lastFailedWal: string | null;
    readonly lastFailedAt: string | null;
    /** Since when the counters count (pg_stat_archiver's stats_reset). */
    readonly countingSince: string | null;
    readonly waitingSegments: number | null;
    readonly currentWal: string | null;
    readonly archiveTimeoutSec: number;
    readonly limitSec: number;
    /** Nodes that did not answer, with why. */
    readonly problems: readonly string[];
}

const iso = (t: string | null): string | null => (t === null ? null : new Date(t).toISOString());

/** "120 s (2 × archiveTimeout 60 s)", or why the limit is what it is without archiveTimeout. */
export const limitText = (a: { limitSec: number; archiveTimeoutSec: number }): string =>
    a.archiveTimeoutSec > 0 ? `${a.limitSec} s (2 × archiveTimeout ${a.archiveTimeoutSec} s)` : `${a.limitSec} s (archiveTimeout is 0)`;

/** The archiving report from every PostgreSQL node's answer: the one primary's pg_stat_archiver under archivingVerdict. */
export function archivingReport(answers: readonly NodeArchiver[], archiveTimeoutSec: number): ArchivingReport {
    const problems = answers.flatMap((a) => ("problem" in a ? [`${a.node}: ${a.problem}`] : []));
    const primaries = answers.flatMap((a) => ("row" in a && !a.row.in_recovery ? [{ node: a.node, row: a.row }] : []));
    const base = { archiveTimeoutSec, limitSec: archivingLimitSec(archiveTimeoutSec), problems };
    if (primaries.length !== 1) {
        const reason = primaries.length === 0 ? "no PostgreSQL node answered as primary" : `more than one node answered as primary (${primaries.map((p) => p.node).join(", ")})`;
        return {
            state: "unknown",
            reason: problems.length > 0 ? `${reason}: ${problems.join("; ")}` : reason,
            primary: null,
            lastArchivedWal: null,
            lastArchivedAt: null,
            lastArchivedAgeSec: null,
            archivedCount: null,
            failedCount: null,
            lastFailedWal: null,
            lastFailedAt: null,
            countingSince: null,
            waitingSegments: null,
            currentWal: null,
            ...base,
        };
    }
    const { node, row } = primaries[0];
    const v = archivingVerdict(row, archiveTimeoutSec);
    return {
        state: v.state,
        reason: v.reason,
        primary: node,
        lastArchivedWal: row.last_archived_wal,
        lastArchivedAt: iso(row.last_archived_time),
        lastArchivedAgeSec: v.ageSec,
        archivedCount: row.archived_count,
        failedCount: row.failed_count,
        lastFailedWal: row.last_failed_wal,
        lastFailedAt: iso(row.last_failed_time),
        countingSince: iso(row.stats_reset),
        waitingSegments: row.ready,
        currentWal: row.current_wal,
        ...base,
    };
}

// ---------------------------------------------------------------------------
// Repositories

export interface BackupSummary {
    readonly label: string;
    readonly type: BackupType;
    /** UTC, ISO 8601. */
    readonly start: string;
    readonly stop: string;
    readonly durationSec: number;
    /** The database's size, and what this backup copied of it (all of it for a full backup). */
    readonly databaseBytes: number | null;
    readonly backupBytes: number | null;
    /** In the repository (compressed, encrypted): the whole set it restores from, and what this backup added. */
    readonly repoSetBytes: number | null;
    readonly repoBackupBytes: number | null;
    readonly walStart: string | null;
    readonly walStop: string | null;
    /** The backup it depends on (null for a full backup). */
    readonly prior: string | null;
    /** pgBackRest found a page checksum error while copying. */
    readonly error: boolean;
}

export interface RepositoryReport {
    readonly repo: number;
    readonly host: string;
    readonly path: string;
    readonly status: { readonly code: number; readonly message: string };
    readonly cipher: string | null;
    /** The archived WAL of the current database: the first and last segment the repository holds. */
    readonly wal: { readonly min: string | null; readonly max: string | null } | null;
    readonly counts: Readonly<Record<BackupType, number>>;
    /** The newest backup of each type. */
    readonly latest: Readonly<Record<BackupType, BackupSummary | null>>;
    /** The newest backup of any type. */
    readonly newest: BackupSummary | null;
}

/** `info --json`'s schemaVersion: raised when a field changes meaning or goes away (fields may be added). */
export const REPORT_SCHEMA_VERSION = 1;

export interface BackupReport {
    readonly schemaVersion: typeof REPORT_SCHEMA_VERSION;
    readonly stack: string;
    readonly stanza: string;
    readonly checkedAt: string;
    readonly status: { readonly code: number; readonly message: string; readonly backupRunning: boolean };
    readonly schedule: Readonly<Record<BackupType, string | null>>;
    readonly repositories: readonly RepositoryReport[];
    readonly archiving: ArchivingReport;
}

const epochIso = (s: number): string => new Date(s * 1000).toISOString().replace(/\.000Z$/, "Z");
const num = (v: number | undefined): number | null => (typeof v === "number" ? v : null);

export function summariseBackup(b: PgbackrestBackup): BackupSummary {
    return {
        label: b.label,
        type: b.type,
        start: epochIso(b.timestamp.start),
        stop: epochIso(b.timestamp.stop),
        durationSec: b.timestamp.stop - b.timestamp.start,
        databaseBytes: num(b.info?.size),
        backupBytes: num(b.info?.delta),
        repoSetBytes: num(b.info?.repository?.size),
        repoBackupBytes: num(b.info?.repository?.delta),
        walStart: b.archive?.start ?? null,
        walStop: b.archive?.stop ?? null,
        prior: b.prior ?? null,
        error: b.error === true,
    };
}

/** One repository's part of its host's info (the stanza entry of that host's `pgbackrest info`). */
export function repositoryReport(ref: RepositoryRef, info: PgbackrestStanzaInfo | undefined): RepositoryReport {
    const own = <T extends { readonly database?: { readonly "repo-key"?: number } }>(xs: readonly T[] | undefined): T[] => (xs ?? []).filter((x) => (x.database?.["repo-key"] ?? 1) === ref.repo);
    const repo = info?.repo?.find((r) => r.key === ref.repo);
    const backups = own(info?.backup).sort((a, b) => a.timestamp.stop - b.timestamp.stop);
    // The current database's archive: the highest database id (a stanza-upgrade adds one).
    const archive = own(info?.archive).sort((a, b) => (b.database?.id ?? 0) - (a.database?.id ?? 0))[0];
    const newestOf = (type?: BackupType): BackupSummary | null => {
        const b = backups.filter((x) => type === undefined || x.type === type).pop();
        return b === undefined ? null : summariseBackup(b);
    };
    const counts = Object.fromEntries(BACKUP_TYPES.map((t) => [t, backups.filter((b) => b.type === t).length])) as Record<BackupType, number>;
    const latest = Object.fromEntries(BACKUP_TYPES.map((t) => [t, newestOf(t)])) as Record<BackupType, BackupSummary | null>;
    return {
        ...ref,
        status: repo?.status ?? (info === undefined ? { code: 99, message: `${ref.host} reported no stanza` } : { code: 99, message: `${ref.host} does not report repo${ref.repo}` }),
        cipher: repo?.cipher ?? null,
        wal: archive === undefined ? null : { min: archive.min ?? null, max: archive.max ?? null },
        counts,
        latest,
        newest: newestOf(),
    };
}

export interface ReportInput {
    readonly stack: string;
    readonly stanza: string;
    readonly checkedAt: string;
    readonly schedule: Readonly<Partial<Record<BackupType, string>>>;
    readonly repositories: readonly RepositoryRef[];
    /** Each repository host's `pgbackrest info --output=json`, parsed. */
    readonly infoByHost: ReadonlyMap<string, readonly PgbackrestStanzaInfo[]>;
    readonly archivers: readonly NodeArchiver[];
    readonly archiveTimeoutSec: number;
}

export function backupReport(input: ReportInput): BackupReport {
    const stanzaOn = (host: string): PgbackrestStanzaInfo | undefined => input.infoByHost.get(host)?.find((s) => s.name === input.stanza);
    const hosts = [...new Set(input.repositories.map((r) => r.host))];
    const statuses = hosts.map((h) => stanzaOn(h)?.status ?? { code: 99, message: `${h} reported no stanza ${input.stanza}` });
    const worst = statuses.find((s) => s.code !== 0) ?? statuses[0] ?? { code: 99, message: "no repository" };
    return {
        schemaVersion: REPORT_SCHEMA_VERSION,
        stack: input.stack,
        stanza: input.stanza,
        checkedAt: input.checkedAt,
        status: { code: worst.code, message: worst.message, backupRunning: statuses.some((s) => "lock" in s && s.lock?.backup?.held === true) },
        schedule: Object.fromEntries(BACKUP_TYPES.map((t) => [t, input.schedule[t] ?? null])) as Record<BackupType, string | null>,
        repositories: input.repositories.map((r) => repositoryReport(r, stanzaOn(r.host))),
        archiving: archivingReport(input.archivers, input.archiveTimeoutSec),
    };
}

// ---------------------------------------------------------------------------
// Rendering

/** 23454653 → "22.4 MiB". */
export function formatBytes(n: number | null): string {
    if (n === null) return "-";
    const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let v = n;
    let i = 0;
    while (v >= 1024 && i < units.length - 1) {
        v /= 1024;
        i++;
    }
    return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}

/** 3 → "3 s", 252 → "4 min 12 s", 3720 → "1 h 2 min". */
export function formatDuration(sec: number): string {
    const s = Math.round(sec);
    if (s < 60) return `${s} s`;
    if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
    return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

/** An ISO time as "2026-11-30 04:02:32" (UTC). */
export const utc = (t: string | null): string => (t === null ? "-" : t.replace("T", " ").replace(/(\.\d+)?Z$/, ""));

/** Columns two spaces apart, padded to their widest cell (right-aligned: the columns in `right`); no trailing blanks. */
export function columns(rows: readonly (readonly string[])[], right: readonly number[] = []): string[] {
    const widths: number[] = [];
    for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
    const cell = (c: string, i: number, last: boolean): string => (right.includes(i) ? c.padStart(widths[i]) : last ? c : c.padEnd(widths[i]));
    return rows.map((r) =>
        r
            .map((c, i) => cell(c, i, i === r.length - 1))
            .join("  ")
            .trimEnd(),
    );
}

const status = (s: { code: number; message: string }): string => (s.code === 0 ? s.message : `${s.message} (code ${s.code})`);

function repositoryLines(r: RepositoryReport): string[] {
    const count = BACKUP_TYPES.map((t) => `${r.counts[t]} ${t}`).join(", ");
    const head = `repo${r.repo}  ${r.host}:${r.path}  ${status(r.status)}${r.cipher !== null && r.cipher !== "none" ? `, ${r.cipher}` : ""}  (${count})`;
    const rows = [
        ["last", "label", "started (UTC)", "took", "database", "backup", "stored"],
        ...BACKUP_TYPES.map((t) => {
            const b = r.latest[t];
            if (b === null) return [t, "-"];
            return [
                t,
                `${b.label}${b.error ? " (page errors)" : ""}`,
                utc(b.start),
                formatDuration(b.durationSec),
                formatBytes(b.databaseBytes),
                formatBytes(b.backupBytes),
                formatBytes(b.repoBackupBytes),
            ];
        }),
    ];
    const wal = r.wal === null ? "none archived" : `${r.wal.min ?? "-"} … ${r.wal.max ?? "-"}`;
    return [head, ...columns(rows, [3, 4, 5, 6]).map((l) => `  ${l}`), `  WAL   ${wal}`];
}

function archivingLines(a: ArchivingReport): string[] {
    const where = a.primary === null ? "" : ` (primary ${a.primary})`;
    const out = [`archiving${where}: ${a.state}: ${a.reason}`];
    if (a.primary !== null) {
        const age = a.lastArchivedAgeSec === null ? "" : ` (${formatDuration(a.lastArchivedAgeSec)} ago)`;
        out.push(`  last archived  ${a.lastArchivedWal ?? "none"}${a.lastArchivedAt !== null ? ` at ${utc(a.lastArchivedAt)} UTC${age}` : ""}; writing ${a.currentWal ?? "-"}`);
        const lastFail = a.lastFailedAt !== null ? `, last ${a.lastFailedWal ?? "?"} at ${utc(a.lastFailedAt)} UTC` : "";
        out.push(`  failures       ${a.failedCount ?? 0}${lastFail} (counted since ${utc(a.countingSince)} UTC)`);
    } else {
        for (const p of a.problems) out.push(`  ${p}`);
    }
    out.push(`  rule           current = no failure since the last success, and nothing waiting or the last success within ${limitText(a)}`);
    return out;
}

/** The readable table of `npm run backup -- info`. */
export function renderReport(r: BackupReport): string {
    const running = r.status.backupRunning ? "; a backup is running" : "";
    const schedule = BACKUP_TYPES.map((t) => `${t} ${r.schedule[t] ?? "none"}`).join("; ");
    return [
        `stack ${r.stack}, stanza ${r.stanza}: ${status(r.status)}${running}`,
        `schedule: ${schedule}`,
        "",
        ...r.repositories.flatMap((x) => [...repositoryLines(x), ""]),
        ...archivingLines(r.archiving),
        "",
    ].join("\n");
}
