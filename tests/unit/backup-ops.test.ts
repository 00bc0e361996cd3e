// npm run backup (scripts/ops/backup.ts, scripts/ops/backup-report.ts): the arguments, what
// the stack deployed, the report and its table, the "archiving current" rule. The inputs in
// tests/unit/backup-ops/ were captured from the lab's stack bk (PostgreSQL 17, pgBackRest
// 2.55.1, Debian 13): `pulumi config --json`, the stack outputs, `pgbackrest --output=json
// info` after a few backups (and once while one ran), and `pgha-pgbackrest.sh archive-status`
// on the primary and on a replica.
import * as fs from "fs";
import * as path from "path";
import { USAGE, deployedBackup, failureReason, parseBackupArgs, repositoryHosts, takeArgs } from "../../scripts/ops/backup";
import {
    ArchiverRow,
    archivingLimitSec,
    archivingReport,
    archivingVerdict,
    backupReport,
    columns,
    formatBytes,
    formatDuration,
    parsePgbackrestInfo,
    renderReport,
} from "../../scripts/ops/backup-report";
import { CliConfig, specFromCli } from "../../scripts/ops/stack";

const DIR = path.join(__dirname, "backup-ops");
const text = (f: string): string => fs.readFileSync(path.join(DIR, f), "utf8");
const json = (f: string): any => JSON.parse(text(f));
const CONFIG: CliConfig = json("pulumi-config-bk.json");
const OUTPUTS: Record<string, unknown> = json("pulumi-stack-output-bk.json");
const PRIMARY: ArchiverRow = json("archive-status-lab1.json");
const REPLICA: ArchiverRow = json("archive-status-lab2.json");
const spec = specFromCli("bk", CONFIG, { homedir: "/root", postgresVersion: 17 });

/** The primary's row, `seconds` later by its clock, with `edit` applied. */
const primaryAt = (seconds: number, edit: Partial<ArchiverRow> = {}): ArchiverRow => ({
    ...PRIMARY,
    now: new Date(Date.parse(PRIMARY.now) + seconds * 1000).toISOString(),
    ...edit,
});

describe("parseBackupArgs", () => {
    test.each([
        [["take", "--stack", "bk"], { verb: "take", stack: "bk", type: "full" }],
        [["take", "--stack=bk", "--type", "incr"], { verb: "take", stack: "bk", type: "incr" }],
        [["--type=diff", "take", "--stack", "prod"], { verb: "take", stack: "prod", type: "diff" }],
        [["info", "--stack", "bk"], { verb: "info", stack: "bk", json: false }],
        [["info", "--json", "--stack", "bk"], { verb: "info", stack: "bk", json: true }],
    ])("%j", (argv, command) => {
        expect(parseBackupArgs(argv)).toEqual({ ok: true, command });
    });

    test.each([
        [[], "say take or info"],
        [["--stack", "bk"], "say take or info"],
        [["restore", "--stack", "bk"], "unknown command restore (take or info)"],
        [["take", "info", "--stack", "bk"], "one command only, got take info"],
        [["take"], "--stack NAME is required"],
        [["take", "--stack"], "--stack needs a value"],
        [["take", "--stack", "--type", "full"], "--stack needs a value"],
        [["take", "--stack="], "--stack needs a value"],
        [["take", "--stack", "a", "--stack", "b"], "--stack given twice"],
        [["take", "--stack", "bk", "--type", "weekly"], "--type must be full, diff or incr, not weekly"],
        [["take", "--stack", "bk", "--json"], "--json is for info"],
        [["info", "--stack", "bk", "--type", "full"], "--type is for take"],
        [["info", "--stack", "bk", "--json", "--json"], "--json given twice"],
        [["info", "--stack", "bk", "-v"], "unknown option -v"],
    ])("%j is refused: %s", (argv, message) => {
        expect(parseBackupArgs(argv)).toEqual({ ok: false, help: false, message });
    });

    test("--help and -h ask for the usage, which names both commands", () => {
        expect(parseBackupArgs(["take", "--help"])).toEqual({ ok: false, help: true });
        expect(parseBackupArgs(["-h"])).toEqual({ ok: false, help: true });
        expect(USAGE).toContain("take --stack NAME [--type full|diff|incr]");
        expect(USAGE).toContain("info --stack NAME [--json]");
    });
});

describe("deployedBackup", () => {
    test("the lab's output: stanza, repo1 on lab4, the schedule", () => {
        expect(deployedBackup("bk", spec, OUTPUTS)).toEqual({
            stanza: "pgsql",
            repositories: [{ repo: 1, host: "lab4", path: "/var/lib/pgbackrest" }],
            schedule: { full: "Sun *-*-* 01:00:00", diff: "Mon..Sat *-*-* 01:00:00" },
        });
    });

    test("a second repository, on another host or the same", () => {
        const out = { backup: { ...(OUTPUTS.backup as object), secondRepository: "lab5:/srv/pgbackrest2" } };
        const b = deployedBackup("bk", spec, out);
        expect(b.repositories).toEqual([
            { repo: 1, host: "lab4", path: "/var/lib/pgbackrest" },
            { repo: 2, host: "lab5", path: "/srv/pgbackrest2" },
        ]);
        expect(repositoryHosts(b.repositories)).toEqual([
            { host: "lab4", repos: [1] },
            { host: "lab5", repos: [2] },
        ]);
        expect(repositoryHosts([...b.repositories.slice(0, 1), { repo: 2, host: "lab4", path: "/b" }])).toEqual([{ host: "lab4", repos: [1, 2] }]);
    });

    test("a stack without pgha:backup says so and names the key", () => {
        const nodes = JSON.parse(CONFIG["pgha:nodes"].value!).filter((n: any) => n.name !== "lab4");
        const noBackup = specFromCli("plain", {
            ...CONFIG,
            "pgha:nodes": { value: JSON.stringify(nodes), secret: false },
            "pgha:backup": { value: "{}", secret: false },
            "pgha:backupCipherPassphrase": { value: "", secret: false },
        });
        expect(() => deployedBackup("plain", noBackup, OUTPUTS)).toThrow("stack plain has no pgha:backup (set pgha:backup.repository.host to a node with the backup role, then pulumi up)");
    });

    test("pgha:backup set but never deployed: run pulumi up first", () => {
        expect(() => deployedBackup("bk", spec, { clusterShape: {} })).toThrow("stack bk: pgha:backup is set but not deployed (no stack output backup): run pulumi up --stack bk first");
    });

    test("take's arguments: the unit of the type, each repository of the host", () => {
        expect(takeArgs("pgsql", "diff", [1, 2])).toEqual(["take", "--stanza", "pgsql", "--type", "diff", "--unit", "pgha-backup-diff.service", "--repo", "1", "--repo", "2"]);
    });
});

describe("pgBackRest's info (2.55.1, captured)", () => {
    const info = parsePgbackrestInfo(text("pgbackrest-info-2.55.json"));

    test("the 64-bit system-id is kept exactly, as a string", () => {
        expect((info[0] as any).db[0]["system-id"]).toBe("7713809893019062927");
    });

    const report = backupReport({
        stack: "bk",
        stanza: "pgsql",
        checkedAt: "2026-11-30T04:09:44.000Z",
        schedule: { full: "Sun *-*-* 01:00:00", diff: "Mon..Sat *-*-* 01:00:00" },
        repositories: [{ repo: 1, host: "lab4", path: "/var/lib/pgbackrest" }],
        infoByHost: new Map([["lab4", info]]),
        archivers: [
            { node: "lab1", row: PRIMARY },
            { node: "lab2", row: REPLICA },
            { node: "lab3", problem: "SSH to root@198.18.0.13:22 failed: Connection refused" },
        ],
        archiveTimeoutSec: 60,
    });

    test("each type's newest backup, with times, sizes and WAL; counts; the archived WAL range", () => {
        const r = report.repositories[0];
        expect(r.status).toEqual({ code: 0, message: "ok" });
        expect(r.cipher).toBe("aes-256-cbc");
        expect(r.counts).toEqual({ full: 2, diff: 1, incr: 4 });
        expect(r.wal).toEqual({ min: "000000010000000000000005", max: "000000010000000000000016" });
        expect(r.latest.full).toEqual({
            label: "20261130-040916F",
            type: "full",
            start: "2026-11-30T04:09:16Z",
            stop: "2026-11-30T04:09:18Z",
            durationSec: 2,
            databaseBytes: 23536575,
            backupBytes: 23536575,
            repoSetBytes: 2825328,
            repoBackupBytes: 2825328,
            walStart: "000000010000000000000010",
            walStop: "000000010000000000000010",
            prior: null,
            error: false,
        });
        expect(r.latest.diff?.label).toBe("20261130-040232F_20261130-040905D");
        expect(r.latest.diff?.prior).toBe("20261130-040232F");
        expect(r.latest.incr?.label).toBe("20261130-040916F_20261130-040938I");
        expect(r.newest?.label).toBe("20261130-040916F_20261130-040938I");
        expect(report.status).toEqual({ code: 0, message: "ok", backupRunning: false });
        expect(report.schedule).toEqual({ full: "Sun *-*-* 01:00:00", diff: "Mon..Sat *-*-* 01:00:00", incr: null });
    });

    test("`info --json`: the fields the README documents, no more, no fewer", () => {
        const keys = (o: object) => Object.keys(o).sort();
        expect(keys(report)).toEqual(["archiving", "checkedAt", "repositories", "schedule", "schemaVersion", "stack", "stanza", "status"]);
        expect(report.schemaVersion).toBe(1);
        expect(keys(report.status)).toEqual(["backupRunning", "code", "message"]);
        expect(keys(report.repositories[0])).toEqual(["cipher", "counts", "host", "latest", "newest", "path", "repo", "status", "wal"]);
        expect(keys(report.repositories[0].latest.full!)).toEqual([
            "backupBytes",
            "databaseBytes",
            "durationSec",
            "error",
            "label",
            "prior",
            "repoBackupBytes",
            "repoSetBytes",
            "start",
            "stop",
            "type",
            "walStart",
            "walStop",
        ]);
        expect(keys(report.archiving)).toEqual([
            "archiveTimeoutSec",
            "archivedCount",
            "countingSince",
            "currentWal",
            "failedCount",
            "lastArchivedAgeSec",
            "lastArchivedAt",
            "lastArchivedWal",
            "lastFailedAt",
            "lastFailedWal",
            "limitSec",
            "primary",
            "problems",
            "reason",
            "state",
            "waitingSegments",
        ]);
    });

    test("archiving: the one primary's pg_stat_archiver, the others' problems kept", () => {
        expect(report.archiving).toEqual({
            state: "current",
            reason: "no failure since the last success, nothing waiting",
            primary: "lab1",
            lastArchivedWal: "000000010000000000000016.00000028.backup",
            lastArchivedAt: "2026-11-30T04:09:40.388Z",
            lastArchivedAgeSec: 3,
            archivedCount: 31,
            failedCount: 0,
            lastFailedWal: null,
            lastFailedAt: null,
            countingSince: "2026-11-30T04:02:02.439Z",
            waitingSegments: 0,
            currentWal: "000000010000000000000017",
            archiveTimeoutSec: 60,
            limitSec: 120,
            problems: ["lab3: SSH to root@198.18.0.13:22 failed: Connection refused"],
        });
    });

    test("the table", () => {
        expect(renderReport(report)).toBe(
            [
                "stack bk, stanza pgsql: ok",
                "schedule: full Sun *-*-* 01:00:00; diff Mon..Sat *-*-* 01:00:00; incr none",
                "",
                "repo1  lab4:/var/lib/pgbackrest  ok, aes-256-cbc  (2 full, 1 diff, 4 incr)",
                "  last  label                              started (UTC)        took  database     backup    stored",
                "  full  20261130-040916F                   2026-11-30 04:09:16   2 s  22.4 MiB   22.4 MiB   2.7 MiB",
                "  diff  20261130-040232F_20261130-040905D  2026-11-30 04:09:05   1 s  22.4 MiB  496.3 KiB  83.9 KiB",
                "  incr  20261130-040916F_20261130-040938I  2026-11-30 04:09:38   2 s  22.4 MiB    8.3 KiB     400 B",
                "  WAL   000000010000000000000005 … 000000010000000000000016",
                "",
                "archiving (primary lab1): current: no failure since the last success, nothing waiting",
                "  last archived  000000010000000000000016.00000028.backup at 2026-11-30 04:09:40 UTC (3 s ago); writing 000000010000000000000017",
                "  failures       0 (counted since 2026-11-30 04:02:02 UTC)",
                "  rule           current = no failure since the last success, and nothing waiting or the last success within 120 s (2 × archiveTimeout 60 s)",
                "",
            ].join("\n"),
        );
    });

    test("while a backup runs (the lock held), the status says so", () => {
        const running = backupReport({
            stack: "bk",
            stanza: "pgsql",
            checkedAt: "",
            schedule: {},
            repositories: [{ repo: 1, host: "lab4", path: "/var/lib/pgbackrest" }],
            infoByHost: new Map([["lab4", parsePgbackrestInfo(text("pgbackrest-info-2.55-backup-running.json"))]]),
            archivers: [],
            archiveTimeoutSec: 60,
        });
        expect(running.status.backupRunning).toBe(true);
        expect(running.repositories[0].counts.incr).toBe(3);
        expect(renderReport(running).split("\n")[0]).toBe("stack bk, stanza pgsql: ok; a backup is running");
    });

    test("a host that reports no stanza, and a repository its host does not report", () => {
        const r = backupReport({
            stack: "bk",
            stanza: "pgsql",
            checkedAt: "",
            schedule: {},
            repositories: [
                { repo: 1, host: "lab4", path: "/var/lib/pgbackrest" },
                { repo: 2, host: "lab4", path: "/srv/two" },
                { repo: 1, host: "lab5", path: "/x" },
            ],
            infoByHost: new Map([
                ["lab4", info],
                ["lab5", []],
            ]),
            archivers: [],
            archiveTimeoutSec: 60,
        });
        expect(r.repositories.map((x) => x.status)).toEqual([
            { code: 0, message: "ok" },
            { code: 99, message: "lab4 does not report repo2" },
            { code: 99, message: "lab5 reported no stanza" },
        ]);
        expect(r.repositories[1].latest).toEqual({ full: null, diff: null, incr: null });
        expect(r.status).toEqual({ code: 99, message: "lab5 reported no stanza pgsql", backupRunning: false });
        expect(renderReport(r)).toContain(
            "repo2  lab4:/srv/two  lab4 does not report repo2 (code 99)  (0 full, 0 diff, 0 incr)\n  last  label  started (UTC)  took  database  backup  stored\n  full  -\n",
        );
    });
});

describe("archiving: the rule", () => {
    test("the limit: 2 × archiveTimeout, 300 s without one", () => {
        expect(archivingLimitSec(60)).toBe(120);
        expect(archivingLimitSec(0)).toBe(300);
    });

    test("nothing waiting is current however old the last success (an idle primary switches no segment)", () => {
        expect(archivingVerdict(primaryAt(3600), 60)).toEqual({ state: "current", reason: "no failure since the last success, nothing waiting", ageSec: 3603 });
    });

    test("segments waiting: current while the last success is within the limit, behind after", () => {
        expect(archivingVerdict(primaryAt(117, { ready: 2 }), 60)).toEqual({
            state: "current",
            reason: "no failure since the last success, 2 segments waiting, the last success 120 s ago (limit 120 s)",
            ageSec: 120,
        });
        expect(archivingVerdict(primaryAt(118, { ready: 1 }), 60)).toEqual({ state: "behind", reason: "1 segment waiting, the last success 121 s ago (limit 120 s)", ageSec: 121 });
        expect(archivingVerdict(primaryAt(0, { ready: 1, archived_count: 0, last_archived_wal: null, last_archived_time: null }), 60)).toEqual({
            state: "behind",
            reason: "1 segment waiting, nothing archived yet",
            ageSec: null,
        });
    });

    test("a failure after the last success is failing, whatever waits; a success after it clears it", () => {
        const failedAt = (s: number) => new Date(Date.parse(PRIMARY.last_archived_time!) + s * 1000).toISOString();
        const failing = primaryAt(10, { failed_count: 3, last_failed_wal: "000000010000000000000017", last_failed_time: failedAt(2), ready: 0 });
        expect(archivingVerdict(failing, 60)).toEqual({ state: "failing", reason: "the last attempt failed (000000010000000000000017) and nothing was archived since", ageSec: 13 });
        expect(archivingVerdict({ ...failing, last_failed_time: failedAt(-2) }, 60).state).toBe("current");
        expect(archivingVerdict({ ...failing, last_archived_time: null, last_archived_wal: null }, 60).state).toBe("failing");
    });

    test("archive_mode off", () => {
        expect(archivingVerdict({ ...PRIMARY, archive_mode: "off" }, 60).state).toBe("off");
    });

    test("no primary, or two: unknown, with each node's problem", () => {
        const none = archivingReport(
            [
                { node: "lab1", problem: "psql: error: connection to server on socket failed" },
                { node: "lab2", row: REPLICA },
            ],
            60,
        );
        expect([none.state, none.primary, none.reason]).toEqual(["unknown", null, "no PostgreSQL node answered as primary: lab1: psql: error: connection to server on socket failed"]);
        const two = archivingReport(
            [
                { node: "lab1", row: PRIMARY },
                { node: "lab2", row: { ...REPLICA, in_recovery: false } },
            ],
            0,
        );
        expect([two.state, two.reason, two.limitSec]).toEqual(["unknown", "more than one node answered as primary (lab1, lab2)", 300]);
    });
});

describe("formatting", () => {
    test("bytes in binary units, durations in s / min / h", () => {
        expect([0, 400, 1024, 23454653, 5 * 1024 ** 4].map(formatBytes)).toEqual(["0 B", "400 B", "1.0 KiB", "22.4 MiB", "5.0 TiB"]);
        expect(formatBytes(null)).toBe("-");
        expect([0, 59, 60, 252, 3600, 3720].map(formatDuration)).toEqual(["0 s", "59 s", "1 min 0 s", "4 min 12 s", "1 h 0 min", "1 h 2 min"]);
    });

    test("columns: padded to the widest cell, short rows and no trailing blanks", () => {
        expect(columns([["a", "bbb", "c"], ["dddd"], ["e", "f", "g"]])).toEqual(["a     bbb  c", "dddd", "e     f    g"]);
        expect(
            columns(
                [
                    ["n", "size"],
                    ["x", "1 B"],
                    ["yy", "10 KiB"],
                ],
                [1],
            ),
        ).toEqual(["n     size", "x      1 B", "yy  10 KiB"]);
    });

    test("a failed take names pgBackRest's own error first, else its last line", () => {
        const stderr = [
            "2026-11-30 04:09:29.574 P00  ERROR: [050]: unable to acquire lock on file '/tmp/pgbackrest/pgsql-backup-1.lock': Resource temporarily unavailable",
            "pgha: the incr backup of pgsql on lab4 failed (exit 50); the last lines of its log:",
            "2026-11-30 04:00:00.000 P00  ERROR: [999]: an older run",
        ].join("\n");
        expect(failureReason({ status: 1, stdout: "", stderr })).toBe(
            "ERROR: [050]: unable to acquire lock on file '/tmp/pgbackrest/pgsql-backup-1.lock': Resource temporarily unavailable (the last lines of its log are above)",
        );
        expect(failureReason({ status: 1, stdout: "", stderr: "Job for pgha-backup-full.service failed.\n" })).toBe("Job for pgha-backup-full.service failed. (the last lines of its log are above)");
    });
});
