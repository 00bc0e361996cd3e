// pgha:backup, pgha:restore, the backup role and pgha:backupCipherPassphrase in the configuration.

import { calendarProblem, normaliseTargetTime, parseRestoreTarget } from "../../core/config-schema";
import { rolePackages } from "../../core/platforms";
import { ROLES } from "../../core/spec";
import { BACKUP_SECRETS, FAKE_PASSPHRASE, backupErrors, backupParse, backupSpec, backupValues, backupWith } from "./backup-fixtures";
import { FAKE_SECRETS, classicValues, parse, specOf } from "./fixtures";

describe("the backup role", () => {
    test("is a role, after the four of the cluster itself (other roles keep their order; monitor came later)", () => {
        expect(ROLES).toEqual(["etcd", "postgres", "haproxy", "keepalived", "backup", "monitor"]);
    });

    test("a repository host needs only pgbackrest", () => {
        expect(rolePackages(["backup"], { version: 15, binDir: "/usr/lib/postgresql/15/bin" })).toEqual({ packages: ["pgbackrest"], programs: ["/usr/bin/pgbackrest"] });
    });

    test("no backup key: no backup and no restore in the spec", () => {
        const spec = specOf();
        expect(spec.backup).toBeUndefined();
        expect(spec.restore).toBeUndefined();
        expect("backup" in spec).toBe(false);
    });

    test("{} (the Pulumi.yaml default) means no backup and no restore", () => {
        const spec = specOf({ ...classicValues(), backup: {}, restore: {} });
        expect(spec.backup).toBeUndefined();
        expect(spec.restore).toBeUndefined();
    });
});

describe("pgha:backup", () => {
    test("defaults", () => {
        const spec = backupSpec();
        expect(spec.nodes.find((n) => n.name === "backup1")?.roles).toEqual(["backup"]);
        expect(spec.backup).toEqual({
            stanza: "pgsql",
            repositories: [{ index: 1, host: "backup1", path: "/var/lib/pgbackrest" }],
            retention: { full: 2, diff: 6 },
            schedule: { full: "Sun *-*-* 01:00:00", diff: "Mon..Sat *-*-* 01:00:00" },
            encryption: true,
            archiveTimeout: 60,
            processMax: 2,
            compressType: "zst",
            port: 8432,
        });
    });

    test("every field set, CLI strings included", () => {
        const spec = backupSpec(
            backupWith((v) => {
                v.nodes.push({ name: "backup2", address: "172.51.216.85", roles: ["backup"] });
                v.backup = {
                    stanza: "main",
                    repository: { host: "backup1", path: "/srv/pgbackrest//" },
                    secondRepository: { host: "backup2", path: "/srv/repo2" },
                    retention: { full: "4", diff: 10 },
                    schedule: { full: "daily", diff: "", incr: "*-*-* *:00/15" },
                    encryption: "false",
                    archiveTimeout: 0,
                    processMax: 8,
                    compressType: "lz4",
                    port: "8433",
                };
            }),
            { ...FAKE_SECRETS },
        );
        expect(spec.backup).toEqual({
            stanza: "main",
            repositories: [
                { index: 1, host: "backup1", path: "/srv/pgbackrest" },
                { index: 2, host: "backup2", path: "/srv/repo2" },
            ],
            retention: { full: 4, diff: 10 },
            schedule: { full: "daily", incr: "*-*-* *:00/15" },
            encryption: false,
            archiveTimeout: 0,
            processMax: 8,
            compressType: "lz4",
            port: 8433,
        });
    });

    test("a second repository defaults to the same host", () => {
        const spec = backupSpec(backupWith((v) => (v.backup.secondRepository = { path: "/srv/repo2" })));
        expect(spec.backup?.repositories).toEqual([
            { index: 1, host: "backup1", path: "/var/lib/pgbackrest" },
            { index: 2, host: "backup1", path: "/srv/repo2" },
        ]);
    });

    test("restoreFrom: the target is normalised", () => {
        const spec = backupSpec(backupWith((v) => (v.backup.restoreFrom = { stanza: "old", target: "2025-01-31T13:00:00+01:00" })));
        expect(spec.backup?.restoreFrom).toEqual({ stanza: "old", repo: 1, target: { type: "time", time: "2025-01-31 12:00:00+00" } });
    });

    const refused: [string, (v: any) => void, string][] = [
        [
            "a backup node with another role",
            (v) => (v.nodes[3].roles = ["backup", "haproxy"]),
            "pgha:nodes[3].roles: the backup role must be the node's only role (a repository host runs no etcd, PostgreSQL, HAProxy or keepalived); it also has haproxy",
        ],
        [
            "a repository path that is not absolute",
            (v) => (v.backup.repository.path = "var/lib/pgbackrest"),
            'pgha:backup.repository.path: "var/lib/pgbackrest" is not an absolute path made of letters, digits and . _ - + /',
        ],
        ["a repository path with ..", (v) => (v.backup.repository.path = "/var/lib/../pgbackrest"), 'pgha:backup.repository.path: "/var/lib/../pgbackrest" must not contain "." or ".." segments'],
        ["repository.host naming no node", (v) => (v.backup.repository.host = "backup9"), '"backup9" names no node'],
        [
            "repository.host naming a node without the backup role",
            (v) => (v.backup.repository.host = "pg3"),
            "pgha:backup.repository.host: pg3 is pgha:nodes[2] (pg3), which lacks the backup role; a repository host is a node with only the backup role",
        ],
        ["a missing repository.host", (v) => delete v.backup.repository.host, "pgha:backup.repository.host: missing"],
        ["a missing repository", (v) => (v.backup = { processMax: 2 }), "pgha:backup.repository: missing"],
        [
            "a backup node no repository names",
            (v) => v.nodes.push({ name: "backup2", address: "172.51.216.85", hostKey: v.nodes[3].hostKey, roles: ["backup"] }),
            "pgha:nodes[4].roles: has the backup role, but neither pgha:backup.repository.host nor pgha:backup.secondRepository.host names it",
        ],
        [
            "a second repository overlapping the first on the same host",
            (v) => (v.backup.secondRepository = { path: "/var/lib/pgbackrest/two" }),
            'pgha:backup.secondRepository.path: "/var/lib/pgbackrest/two" overlaps pgha:backup.repository.path "/var/lib/pgbackrest" on the same host; a second repository must be a separate directory',
        ],
        ["a bad schedule", (v) => (v.backup.schedule = { full: "every sunday" }), 'pgha:backup.schedule.full: "every sunday" is not a systemd OnCalendar time pgha accepts'],
        ["an hour out of range", (v) => (v.backup.schedule = { diff: "*-*-* 25:00:00" }), 'pgha:backup.schedule.diff: "*-*-* 25:00:00" has a hour outside 0..23'],
        ["a retention of 0", (v) => (v.backup.retention = { full: 0 }), "pgha:backup.retention.full: 0 is not an integer in 1..9999999"],
        ["an unknown compression", (v) => (v.backup.compressType = "xz"), 'pgha:backup.compressType: "xz" is not a compression type (expected one of none, gz, bz2, lz4, zst)'],
        ["an unknown key", (v) => (v.backup.retentionFull = 3), "pgha:backup.retentionFull: unknown key"],
        [
            "restoreFrom naming this cluster's own stanza",
            (v) => (v.backup.restoreFrom = { stanza: "pgsql", target: "latest" }),
            "pgha:backup.restoreFrom.stanza: \"pgsql\" is this cluster's own stanza: a cluster made from a backup archives to its own stanza, never to the source's",
        ],
        [
            "restoreFrom with a bad time",
            (v) => (v.backup.restoreFrom = { stanza: "old", target: "2025-02-30T10:00:00Z" }),
            'pgha:backup.restoreFrom.target: "2025-02-30T10:00:00Z" is not a valid time',
        ],
        [
            "restoreFrom with a time without a zone",
            (v) => (v.backup.restoreFrom = { stanza: "old", target: "2025-01-30T10:00:00" }),
            'pgha:backup.restoreFrom.target: "2025-01-30T10:00:00" is not a valid time',
        ],
        [
            "restoreFrom from repo 2 without a second repository",
            (v) => (v.backup.restoreFrom = { stanza: "old", repo: 2, target: "latest" }),
            "pgha:backup.restoreFrom.repo: is 2, but there is no pgha:backup.secondRepository",
        ],
        [
            "archive_command in postgres.parameters",
            (v) => (v.postgres.parameters.archive_command = "/bin/true"),
            "pgha:postgres.parameters.archive_command: cannot be set together with pgha:backup: pgBackRest's WAL archiving sets it",
        ],
        ["the TLS server port on the PostgreSQL port", (v) => (v.backup.port = 5432), "pgha:backup.port: 5432 clashes with pgha:postgres.port on pg1, pg2 (both listen there)"],
    ];
    test.each(refused)("refused with its key path: %s", (_name, edit, message) => {
        const errors = backupErrors(backupWith(edit));
        const hits = errors.filter((e) => e.includes(message));
        expect(hits).toHaveLength(1);
        // Nothing else, but for a repository host that the edit left unnamed.
        expect(errors.filter((e) => !e.includes(message) && !e.includes("has the backup role, but neither"))).toEqual([]);
    });

    test("a backup node without pgha:backup", () => {
        const v = backupValues();
        delete v.backup;
        expect(backupErrors(v, { ...FAKE_SECRETS })).toEqual(["pgha:nodes[3].roles: has the backup role, but pgha:backup is not set (a backup node holds the pgBackRest repository it names)"]);
    });

    test("the passphrase is required while encryption is on, and never generated", () => {
        const errors = backupErrors(backupValues(), { ...FAKE_SECRETS });
        expect(errors).toHaveLength(1);
        expect(errors[0]).toMatch(/^pgha:backupCipherPassphrase: missing, and pgha:backup.encryption is true/);
        expect(errors[0]).toContain("pulumi config set --secret pgha:backupCipherPassphrase");
    });

    test("the passphrase is required even when the rest does not parse", () => {
        const errors = backupErrors(
            backupWith((v) => (v.backup.processMax = 0)),
            { ...FAKE_SECRETS },
        );
        expect(errors.some((e) => e.startsWith("pgha:backupCipherPassphrase: missing"))).toBe(true);
    });

    test("encryption false needs no passphrase; one set anyway is warned about", () => {
        const r = backupParse(backupWith((v) => (v.backup.encryption = false)));
        expect(r.ok).toBe(true);
        if (r.ok) {
            expect(r.secretsToGenerate).not.toContain("backupCipherPassphrase");
            expect(r.warnings).toContain("pgha:backupCipherPassphrase: set but unused, as pgha:backup.encryption is false");
        }
        const none = parse(classicValues(), BACKUP_SECRETS);
        expect(none.ok && none.warnings).toContain("pgha:backupCipherPassphrase: set but unused, as there is no pgha:backup");
    });

    test.each([
        ["too short", "short-pass"],
        ["with a newline", `${FAKE_PASSPHRASE}\n`],
        ["with an outer blank", ` ${FAKE_PASSPHRASE}`],
    ])("a passphrase %s is refused without showing it", (_name, pass) => {
        const errors = backupErrors(backupValues(), { ...FAKE_SECRETS, backupCipherPassphrase: pass });
        expect(errors).toHaveLength(1);
        expect(errors[0]).toMatch(/^pgha:backupCipherPassphrase: /);
        expect(errors[0]).not.toContain(pass.trim());
    });

    test("a passphrase stored in plain text is refused", () => {
        const r = parseWithMarks(["superuserPassword", "replicationPassword", "keepalivedPassword", "restApiPassword"]);
        expect(r.ok).toBe(false);
        if (!r.ok) expect(r.errors).toContain("pgha:backupCipherPassphrase: stored in plain text; set it with `pulumi config set --secret pgha:backupCipherPassphrase …`");
    });
});

function parseWithMarks(marked: string[]) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { parseClusterConfig } = require("../../core/config") as typeof import("../../core/config");
    return parseClusterConfig({ values: backupValues(), secrets: BACKUP_SECRETS, secretKeysMarkedSecret: marked }, { homedir: "/home/tester" });
}

describe("pgha:restore", () => {
    test("a confirmed in-place restore", () => {
        const spec = backupSpec(backupWith((v) => (v.restore = { id: "r1", target: "2025-06-01T08:30:00Z", confirmDataLoss: true })));
        expect(spec.restore).toEqual({ id: "r1", target: { type: "time", time: "2025-06-01 08:30:00+00" } });
        expect(backupSpec(backupWith((v) => (v.restore = { id: "r2", target: "latest", confirmDataLoss: "true" }))).restore).toEqual({ id: "r2", target: { type: "latest" } });
    });

    test("refused at preview without confirmDataLoss: true", () => {
        expect(backupErrors(backupWith((v) => (v.restore = { id: "r1", target: "latest" })))).toEqual([
            "pgha:restore.confirmDataLoss: must be true: an in-place restore replaces the running cluster's data with the backup's, and every change after the target is lost",
        ]);
    });

    test("a target that is not a valid time, or a name or xid target, is refused", () => {
        expect(backupErrors(backupWith((v) => (v.restore = { id: "r1", target: "yesterday", confirmDataLoss: true })))).toEqual([
            'pgha:restore.target: "yesterday" is not a restore target (expected latest, an ISO 8601 time with a zone (2025-01-31T12:00:00Z))',
        ]);
        expect(backupErrors(backupWith((v) => (v.restore = { id: "r1", target: "2025-13-01T00:00:00Z", confirmDataLoss: true })))[0]).toMatch(
            /^pgha:restore.target: "2025-13-01T00:00:00Z" is not a valid time/,
        );
        expect(backupErrors(backupWith((v) => (v.restore = { id: "r1", target: "name:before", confirmDataLoss: true })))[0]).toMatch(/^pgha:restore.target: "name:before" is not a restore target/);
    });

    test("needs pgha:backup, and is not combined with restoreFrom", () => {
        expect(backupErrors({ ...classicValues(), restore: { id: "r1", target: "latest", confirmDataLoss: true } }, { ...FAKE_SECRETS })).toEqual([
            "pgha:restore: needs pgha:backup: the repository to restore from",
        ]);
        const both = backupErrors(
            backupWith((v) => {
                v.backup.restoreFrom = { stanza: "old", target: "latest" };
                v.restore = { id: "r1", target: "latest", confirmDataLoss: true };
            }),
        );
        expect(both).toHaveLength(1);
        expect(both[0]).toMatch(/^pgha:restore: cannot be combined with pgha:backup.restoreFrom/);
    });
});

describe("restore targets", () => {
    test.each([
        ["2025-01-31T12:00:00Z", "2025-01-31 12:00:00+00"],
        ["2025-01-31 12:00Z", "2025-01-31 12:00:00+00"],
        ["2025-01-31T00:30:00+01:00", "2025-01-30 23:30:00+00"],
        ["2025-01-31T23:30:00-0230", "2025-02-01 02:00:00+00"],
        ["2024-02-29T12:00:00.123456Z", "2024-02-29 12:00:00.123456+00"],
        ["2025-12-31T23:59:59-05", "2026-01-01 04:59:59+00"],
        // Unquoted in a stack file, a time is a YAML timestamp, which Pulumi passes on in Go's form.
        ["2026-11-30 04:51:00 +0000 UTC", "2026-11-30 04:51:00+00"],
        ["2026-11-30 05:51:00.25 +0100 +0100", "2026-11-30 04:51:00.25+00"],
        ["2026-11-30 04:51:00.123456789 +0000 UTC", "2026-11-30 04:51:00.123456+00"],
    ])("%s is %s", (input, utc) => {
        expect(normaliseTargetTime(input)).toBe(utc);
    });

    test.each([
        "2025-02-29T12:00:00Z",
        "2025-01-31T24:00:00Z",
        "2025-01-31T12:60:00Z",
        "2025-01-31T12:00:00",
        "2025-01-31",
        "2025-01-31T12:00:00+15:00",
        "31.01.2025 12:00 UTC",
        "2026-11-30 04:51:00 UTC",
    ])("%s is not a valid time", (input) => {
        expect(normaliseTargetTime(input)).toBeUndefined();
    });

    test("names and transaction ids (for a new cluster only)", () => {
        const all = ["latest", "time", "name", "xid"] as const;
        expect(parseRestoreTarget("name:before-migration", all)).toEqual({ target: { type: "name", name: "before-migration" } });
        expect(parseRestoreTarget("xid:123456", all)).toEqual({ target: { type: "xid", xid: "123456" } });
        expect(parseRestoreTarget("name:bad name", all)).toHaveProperty("problem");
        expect(parseRestoreTarget("name:x;rm -rf /", all)).toHaveProperty("problem");
        expect(parseRestoreTarget("xid:12a", all)).toHaveProperty("problem");
    });
});

describe("OnCalendar schedules", () => {
    test.each(["", "daily", "weekly", "Sun *-*-* 01:00:00", "Mon..Sat *-*-* 01:00", "Mon,Wed,Fri *-*-* 23:15:00", "*-*-01 03:00:00", "*-*-* *:00/15", "2026-01..06-1,15 02:30"])(
        "accepted: %j",
        (s) => {
            expect(calendarProblem(s)).toBeUndefined();
        },
    );
    test.each(["Sunday 01:00", "*-*-* 1", "Sun *-*-* 01:00:00; rm -rf /", "*-13-* 01:00", "*-*-32 01:00", "*-*-* 01:61", "minutely", "Sun  *-*-* 01:00"])("refused: %j", (s) => {
        expect(calendarProblem(s)).toBeDefined();
    });
});
