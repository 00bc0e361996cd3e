// core/render/pgbackrest.ts: pgBackRest's files, units and Patroni additions, pinned by golden
// files for the classic example with a repository host (tests/unit/golden-backup).

import * as fs from "fs";
import * as path from "path";
import { parse as parseYaml } from "yaml";
import { ClusterSpec } from "../../core/spec";
import { nodeSubjectAltNames } from "../../core/pki";
import { renderPatroniConfig, patroniDynamicConfig } from "../../core/render/patroni";
import { RenderedFile } from "../../core/render/file";
import {
    BACKUP_TLS,
    PLACEHOLDER_BACKUP_SECRETS,
    archiveParameters,
    inPlaceRestoreCommand,
    patroniConfigObjectWithBackup,
    patroniDynamicConfigWithBackup,
    pgbackrestServerNodes,
    pgbackrestSubjectAltNames,
    renderBackupUnits,
    renderPatroniConfigWithBackup,
    renderPgbackrestCipherConfig,
    renderPgbackrestFiles,
    renderPgbackrestPostgresConfig,
    renderPgbackrestRepositoryConfig,
    restoreBootstrapCommand,
} from "../../core/render/pgbackrest";
import { FAKE_PASSPHRASE, backupSpec, backupWith } from "./backup-fixtures";
import { FAKE_SECRETS, specOf } from "./fixtures";

const GOLDEN_DIR = path.join(__dirname, "golden-backup");
const UPDATE = process.env.UPDATE_GOLDEN === "1";
const PATRONI_SECRETS = { superuserPassword: FAKE_SECRETS.superuserPassword, replicationPassword: FAKE_SECRETS.replicationPassword, restApiPassword: FAKE_SECRETS.restApiPassword };

const spec = backupSpec();
const node = (s: ClusterSpec, name: string) => {
    const n = s.nodes.find((x) => x.name === name);
    if (n === undefined) throw new Error(name);
    return n;
};

function goldenFiles(): { name: string; file: RenderedFile }[] {
    const out: { name: string; file: RenderedFile }[] = [];
    for (const n of spec.nodes) {
        const files = [...renderPgbackrestFiles(spec, n, PLACEHOLDER_BACKUP_SECRETS), ...(n.roles.includes("postgres") ? [renderPatroniConfigWithBackup(spec, n, PATRONI_SECRETS)] : [])];
        for (const file of files) out.push({ name: `${n.name}${file.path.replace(/\//g, "_")}.golden`, file });
    }
    return out;
}

function checkGolden(name: string, actual: string): void {
    const p = path.join(GOLDEN_DIR, name);
    if (UPDATE) {
        fs.mkdirSync(GOLDEN_DIR, { recursive: true });
        fs.writeFileSync(p, actual);
        return;
    }
    if (!fs.existsSync(p)) throw new Error(`missing golden file ${name}: run UPDATE_GOLDEN=1 npx jest --selectProjects unit --runTestsByPath tests/unit/pgbackrest-render.test.ts`);
    expect(actual).toBe(fs.readFileSync(p, "utf8"));
}

describe("golden files of the classic example with backups", () => {
    const all = goldenFiles();
    test.each(all.map(({ name, file }) => [name, file] as const))("%s", (name, file) => {
        checkGolden(name, file.content);
    });

    test("manifest (path, mode, owner) and no stale golden files", () => {
        checkGolden("manifest.golden", all.map(({ name, file }) => `${name} ${file.mode} ${file.owner}:${file.group}`).join("\n") + "\n");
        const expected = new Set([...all.map(({ name }) => name), "manifest.golden"]);
        expect(fs.readdirSync(GOLDEN_DIR).filter((f) => !expected.has(f))).toEqual([]);
    });
});

describe("without pgha:backup nothing changes", () => {
    const classic = specOf();
    test("no pgBackRest file, no serving node", () => {
        for (const n of classic.nodes) expect(renderPgbackrestFiles(classic, n, PLACEHOLDER_BACKUP_SECRETS)).toEqual([]);
        expect(pgbackrestServerNodes(classic)).toEqual([]);
    });

    test("Patroni's config and dynamic config are exactly the existing ones", () => {
        for (const n of classic.nodes.filter((x) => x.roles.includes("postgres"))) {
            expect(renderPatroniConfigWithBackup(classic, n, PATRONI_SECRETS)).toEqual(renderPatroniConfig(classic, n, PATRONI_SECRETS));
        }
        expect(patroniDynamicConfigWithBackup(classic)).toEqual(patroniDynamicConfig(classic));
    });

    test("certificates keep their names", () => {
        for (const n of classic.nodes) expect(pgbackrestSubjectAltNames(classic, n)).toEqual(nodeSubjectAltNames(classic, n));
    });

    test("renderers that need pgha:backup say so", () => {
        expect(() => archiveParameters(classic)).toThrow("pgha:backup is not set");
        expect(restoreBootstrapCommand(classic)).toBeUndefined();
        expect(inPlaceRestoreCommand(classic)).toBeUndefined();
    });
});

describe("pgbackrest.conf", () => {
    const pg1 = renderPgbackrestPostgresConfig(spec, node(spec, "pg1")).content;
    const repo = renderPgbackrestRepositoryConfig(spec, node(spec, "backup1")).content;

    test("a PostgreSQL node reaches the repository host over TLS with its own certificate", () => {
        for (const l of [
            "repo1-host=172.51.216.84",
            "repo1-host-type=tls",
            "repo1-host-port=8432",
            "repo1-host-ca-file=/etc/pgha/tls/ca.crt",
            "repo1-host-cert-file=/etc/pgha/tls/postgres.crt",
            "repo1-host-key-file=/etc/pgha/tls/postgres.key",
            "archive-async=n",
            "tls-server-address=172.51.216.81",
            "tls-server-auth=backup1=pgsql",
            "[pgsql]\npg1-path=/var/lib/postgresql/15/pgsql\npg1-port=5432\npg1-socket-path=/var/run/postgresql",
        ])
            expect(pg1).toContain(l);
        // The passphrase lives only on the repository host.
        expect(pg1).not.toContain("cipher");
    });

    test("the repository host lists every PostgreSQL node, backs up from a standby, authorises each node's CN", () => {
        for (const l of [
            "repo1-path=/var/lib/pgbackrest",
            "repo1-retention-full=2",
            "repo1-retention-diff=6",
            "repo1-cipher-type=aes-256-cbc",
            "backup-standby=y",
            "start-fast=y",
            "process-max=2",
            "compress-type=zst",
            "tls-server-cert-file=/etc/pgha/tls/pgbackrest.crt",
            "tls-server-auth=pg1=pgsql\ntls-server-auth=pg2=pgsql",
            "pg1-host=172.51.216.81\npg1-host-type=tls",
            "pg2-host=172.51.216.82\npg2-host-type=tls",
            "pg2-host-cert-file=/etc/pgha/tls/pgbackrest.crt",
        ])
            expect(repo).toContain(l);
        expect(repo).not.toContain("pg3-host");
        expect(repo).not.toContain("cipher-pass");
    });

    test("one PostgreSQL node: no backup-standby", () => {
        const one = backupSpec(backupWith((v) => (v.nodes[1].roles = ["etcd", "haproxy", "keepalived"])));
        expect(renderPgbackrestRepositoryConfig(one, node(one, "backup1")).content).not.toContain("backup-standby");
    });

    test("the passphrase: a 0600 file for postgres on the repository host only; none without encryption", () => {
        const f = renderPgbackrestCipherConfig(spec, node(spec, "backup1"), { backupCipherPassphrase: FAKE_PASSPHRASE });
        expect(f).toMatchObject({ path: "/etc/pgbackrest/conf.d/pgha-cipher.conf", mode: "0600", owner: "postgres", group: "postgres" });
        expect(f?.content).toContain(`[global]\nrepo1-cipher-pass=${FAKE_PASSPHRASE}\n`);
        expect(() => renderPgbackrestCipherConfig(spec, node(spec, "backup1"), { backupCipherPassphrase: "x\ny-long-enough-to-pass" })).toThrow(/backupCipherPassphrase contains a control character/);
        expect(() => renderPgbackrestCipherConfig(spec, node(spec, "backup1"), { backupCipherPassphrase: "x\ny-long-enough-to-pass" })).not.toThrow(/long-enough/);
        const plain = backupSpec(
            backupWith((v) => (v.backup.encryption = false)),
            { ...FAKE_SECRETS },
        );
        expect(renderPgbackrestCipherConfig(plain, node(plain, "backup1"), PLACEHOLDER_BACKUP_SECRETS)).toBeUndefined();
        expect(renderPgbackrestRepositoryConfig(plain, node(plain, "backup1")).content).not.toContain("cipher");
    });

    test("a second repository on another host: each host holds and backs up its own", () => {
        const two = backupSpec(
            backupWith((v) => {
                v.nodes.push({ name: "backup2", address: "172.51.216.85", roles: ["backup"] });
                v.backup.secondRepository = { host: "backup2", path: "/srv/repo2" };
            }),
        );
        const pg = renderPgbackrestPostgresConfig(two, node(two, "pg1")).content;
        expect(pg).toContain("repo2-host=172.51.216.85");
        expect(pg).toContain("tls-server-auth=backup1=pgsql\ntls-server-auth=backup2=pgsql");
        const r2 = renderPgbackrestRepositoryConfig(two, node(two, "backup2")).content;
        expect(r2).toContain("repo2-path=/srv/repo2");
        expect(r2).not.toContain("repo1-path");
        expect(renderBackupUnits(two, node(two, "backup2"))[0].content).toContain("ExecStart=/usr/bin/pgbackrest --stanza=pgsql --repo=2 --type=full backup");
    });

    test("a second repository on the same host: one unit backs up both in turn", () => {
        const same = backupSpec(backupWith((v) => (v.backup.secondRepository = { path: "/srv/repo2" })));
        const full = renderBackupUnits(same, node(same, "backup1")).find((f) => f.path.endsWith("pgha-backup-full.service"));
        expect(full?.content).toContain("ExecStart=/usr/bin/pgbackrest --stanza=pgsql --repo=1 --type=full backup\nExecStart=/usr/bin/pgbackrest --stanza=pgsql --repo=2 --type=full backup\n");
    });

    test("renderers refuse a node without the role", () => {
        expect(() => renderPgbackrestRepositoryConfig(spec, node(spec, "pg1"))).toThrow("lacks the backup role");
        expect(() => renderPgbackrestPostgresConfig(spec, node(spec, "backup1"))).toThrow("lacks the postgres role");
        expect(renderPgbackrestFiles(spec, node(spec, "pg3"), PLACEHOLDER_BACKUP_SECRETS)).toEqual([]);
    });
});

describe("certificates", () => {
    test("serving nodes also carry their address as a DNS name (pgBackRest 2.45 matches DNS names only)", () => {
        expect(pgbackrestServerNodes(spec).map((n) => n.name)).toEqual(["backup1", "pg1", "pg2"]);
        expect(pgbackrestSubjectAltNames(spec, node(spec, "backup1"))).toEqual({ ips: ["172.51.216.84", "127.0.0.1"], dns: ["backup1", "localhost", "172.51.216.84"] });
        expect(pgbackrestSubjectAltNames(spec, node(spec, "pg3"))).toEqual(nodeSubjectAltNames(spec, node(spec, "pg3")));
        expect(BACKUP_TLS).toEqual({ cert: "/etc/pgha/tls/pgbackrest.crt", key: "/etc/pgha/tls/pgbackrest.key", owner: "postgres" });
    });
});

describe("Patroni", () => {
    test("WAL archiving in the dynamic configuration, after the user's parameters", () => {
        const dyn = patroniDynamicConfigWithBackup(spec) as any;
        expect(dyn.postgresql.parameters).toMatchObject({
            max_connections: 200,
            archive_mode: "on",
            archive_command: "/usr/bin/pgbackrest --stanza=pgsql archive-push %p",
            archive_timeout: 60,
        });
        const { archive_mode, archive_command, archive_timeout, ...rest } = dyn.postgresql.parameters;
        expect([archive_mode, archive_command, archive_timeout].every((x) => x !== undefined)).toBe(true);
        expect(rest).toEqual((patroniDynamicConfig(spec) as any).postgresql.parameters);
    });

    test("replicas from the repository first, then pg_basebackup", () => {
        const cfg = patroniConfigObjectWithBackup(spec, node(spec, "pg1"), PATRONI_SECRETS) as any;
        expect(cfg.postgresql.create_replica_methods).toEqual(["pgbackrest", "basebackup"]);
        expect(cfg.postgresql.pgbackrest).toEqual({ command: "/usr/bin/pgbackrest --stanza=pgsql --delta restore", keep_data: true, no_params: true });
        expect(cfg.postgresql.basebackup).toEqual([{ checkpoint: "fast" }]);
        expect(cfg.postgresql.recovery_conf).toEqual({ restore_command: '/usr/bin/pgbackrest --stanza=pgsql archive-get %f "%p"' });
        expect(cfg.bootstrap.method).toBeUndefined();
    });

    test.each([
        ["latest", "/usr/bin/pgbackrest --stanza=old --pg1-path=/var/lib/postgresql/15/pgsql --repo=1 restore"],
        [
            "2025-01-31T13:00:00+01:00",
            '/usr/bin/pgbackrest --stanza=old --pg1-path=/var/lib/postgresql/15/pgsql --repo=1 --type=time "--target=2025-01-31 12:00:00+00" --target-action=promote restore',
        ],
        ["name:before-upgrade", "/usr/bin/pgbackrest --stanza=old --pg1-path=/var/lib/postgresql/15/pgsql --repo=1 --type=name --target=before-upgrade --target-action=promote restore"],
        ["xid:4242", "/usr/bin/pgbackrest --stanza=old --pg1-path=/var/lib/postgresql/15/pgsql --repo=1 --type=xid --target=4242 --target-action=promote restore"],
    ])("a new cluster from a backup, target %s: a custom bootstrap method", (target, command) => {
        const s = backupSpec(backupWith((v) => (v.backup.restoreFrom = { stanza: "old", target })));
        expect(restoreBootstrapCommand(s)).toBe(command);
        const cfg = patroniConfigObjectWithBackup(s, node(s, "pg1"), PATRONI_SECRETS) as any;
        expect(cfg.bootstrap.method).toBe("pgbackrest_restore");
        expect(cfg.bootstrap.pgbackrest_restore).toEqual({ command, keep_existing_recovery_conf: true, no_params: true });
        // Archiving stays on this cluster's own stanza; the source is only read.
        expect(archiveParameters(s).archive_command).toBe("/usr/bin/pgbackrest --stanza=pgsql archive-push %p");
        // The repository host lets the PostgreSQL nodes read the source stanza.
        expect(renderPgbackrestRepositoryConfig(s, node(s, "backup1")).content).toContain("tls-server-auth=pg1=pgsql,old\n");
        // The YAML round-trips (the quoted target stays one argument for shlex).
        const yaml = parseYaml(renderPatroniConfigWithBackup(s, node(s, "pg1"), PATRONI_SECRETS).content);
        expect(yaml.bootstrap.pgbackrest_restore.command).toBe(command);
    });

    test("an in-place restore command", () => {
        const s = backupSpec(backupWith((v) => (v.restore = { id: "r1", target: "2025-06-01T08:30:00Z", confirmDataLoss: true })));
        expect(inPlaceRestoreCommand(s)).toBe('/usr/bin/pgbackrest --stanza=pgsql --delta --type=time "--target=2025-06-01 08:30:00+00" --target-action=promote restore');
        const latest = backupSpec(backupWith((v) => (v.restore = { id: "r2", target: "latest", confirmDataLoss: true })));
        expect(inPlaceRestoreCommand(latest)).toBe("/usr/bin/pgbackrest --stanza=pgsql --delta restore");
    });
});

describe("systemd units", () => {
    test("timers for the scheduled types only, as postgres", () => {
        const units = renderBackupUnits(spec, node(spec, "backup1"));
        expect(units.map((u) => u.path)).toEqual([
            "/etc/systemd/system/pgha-backup-full.service",
            "/etc/systemd/system/pgha-backup-full.timer",
            "/etc/systemd/system/pgha-backup-diff.service",
            "/etc/systemd/system/pgha-backup-diff.timer",
        ]);
        expect(units[0].content).toContain("User=postgres\n");
        expect(units[1].content).toContain("OnCalendar=Sun *-*-* 01:00:00\n");
        const incr = backupSpec(backupWith((v) => (v.backup.schedule = { incr: "hourly" })));
        expect(renderBackupUnits(incr, node(incr, "backup1")).map((u) => path.basename(u.path))).toEqual([
            "pgha-backup-full.service",
            "pgha-backup-full.timer",
            "pgha-backup-diff.service",
            "pgha-backup-diff.timer",
            "pgha-backup-incr.service",
            "pgha-backup-incr.timer",
        ]);
    });
});
