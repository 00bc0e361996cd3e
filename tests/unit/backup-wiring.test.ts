// pgha:backup's wiring (components/backup-repository.ts) under pulumi.runtime.setMocks.
import * as pulumi from "@pulumi/pulumi";
import { backupRefusals } from "../../components/cluster-build";
import { PostgresHaCluster } from "../../components/postgres-ha-cluster";
import { Secrets } from "../../core/spec";
import { backupSpec, backupValues, backupWith } from "./backup-fixtures";
import { FAKE_SECRETS, classicWith, specOf } from "./fixtures";
import { MOCK_SSH_KEY, Registered, changedSince, registerCluster as register, registerTree, remoteCommands as commands } from "./mock-cluster";
import { pinnedTree, treeFingerprint } from "./tree-snapshot";

// Each registration of a whole tree takes seconds; under a full, parallel unit run 10 s is not enough.
jest.setTimeout(60_000);

/** Configurations without pgha:backup whose trees are pinned as they were before backups existed. */
const UNCHANGED: Record<string, () => Record<string, unknown>> = {
    classic: () => classicWith(() => undefined),
    "deploy-user-pg4": () =>
        classicWith((v) => {
            v.ssh.user = "deploy";
            v.nodes.push({ name: "pg4", address: "172.51.216.84", roles: ["postgres"] });
        }),
};

describe("without pgha:backup, the tree is exactly as before backups existed", () => {
    for (const [name, values] of Object.entries(UNCHANGED)) {
        test(`${name}: every resource, parent, dependency and input as pinned`, async () => {
            const tree = await register(specOf(values()));
            expect(treeFingerprint(tree)).toEqual(pinnedTree(name, tree));
        });
    }
});

const PASS = "Distinct-Cipher-Passphrase-0123456789";
const DISTINCT: Secrets = {
    superuserPassword: "Sup3r-Distinct-PW",
    replicationPassword: "Repl-Distinct-PW",
    keepalivedPassword: "Kpd7x9Qz",
    restApiPassword: "Rest-Distinct-PW",
    pgbouncerAuthPassword: "Bouncer-Distinct-PW",
    monitoringPassword: "Monitor-Distinct-PW",
};
const withBackup = (values: Record<string, unknown> = backupValues(), secrets: Secrets = FAKE_SECRETS) => register(backupSpec(values), secrets, MOCK_SSH_KEY, PASS);
const texts = (c: Registered) => JSON.stringify([c.inputs.create, c.inputs.update, c.inputs.delete]);

describe("with pgha:backup (mocks)", () => {
    let classic: Map<string, Registered>;
    let tree: Map<string, Registered>;
    beforeAll(async () => {
        classic = await register(specOf());
        tree = await withBackup();
    });
    const deps = (n: string) => tree.get(n)!.deps;

    test("the repository host gets pgBackRest's files, server, stanza, check, first backup and timers, and nothing of the other roles", () => {
        const on = commands(tree)
            .map((c) => c.name)
            .filter((n) => n.startsWith("backup1:"))
            .sort();
        expect(on).toEqual(
            [
                "backup1:/etc/pgbackrest/conf.d/pgha-cipher.conf",
                "backup1:/etc/pgbackrest/pgbackrest.conf",
                "backup1:/etc/pgha/tls/ca.crt",
                "backup1:/etc/pgha/tls/pgbackrest.crt",
                "backup1:/etc/pgha/tls/pgbackrest.key",
                "backup1:/etc/systemd/system/pgha-backup-diff.service",
                "backup1:/etc/systemd/system/pgha-backup-diff.timer",
                "backup1:/etc/systemd/system/pgha-backup-full.service",
                "backup1:/etc/systemd/system/pgha-backup-full.timer",
                "backup1:/etc/systemd/system/pgha-pgbackrest-server.service",
                "backup1:/usr/local/libexec/pgha/pgha-host-prep.sh",
                "backup1:/usr/local/libexec/pgha/pgha-pgbackrest.sh",
                "backup1:/usr/local/libexec/pgha/pgha-restore.py",
                "backup1:/usr/local/libexec/pgha/pgha_progress.py",
                "backup1:backup-timers",
                "backup1:first-full-backup",
                "backup1:packages",
                "backup1:pgbackrest-check",
                "backup1:pgbackrest-dirs",
                "backup1:pgbackrest-server",
                "backup1:preflight",
                "backup1:stanza-create",
            ].sort(),
        );
        expect(String(tree.get("backup1:packages")!.inputs.create)).toContain(`--package '\\''pgbackrest'\\''`);
        // The key for the postgres user, 0600; the cipher file 0600 too.
        expect(String(tree.get("backup1:/etc/pgha/tls/pgbackrest.key")!.inputs.create)).toContain("mode 0600 postgres:postgres");
        expect(String(tree.get("backup1:/etc/pgbackrest/conf.d/pgha-cipher.conf")!.inputs.create)).toContain("mode 0600 postgres:postgres");
        expect(String(tree.get("backup1:/etc/pgbackrest/pgbackrest.conf")!.inputs.create)).toContain("mode 0640 root:postgres");
        expect(String(tree.get("backup1:pgbackrest-dirs")!.inputs.create)).toContain(`install -d -o postgres -g postgres -m 0750 '\\''/var/lib/pgbackrest'\\''`);
    });

    test("PostgreSQL nodes add pgBackRest's config, server unit, helper, directories and server; the etcd-only node is untouched", () => {
        const added = commands(tree)
            .map((c) => c.name)
            .filter((n) => !classic.has(n) && !n.startsWith("backup1:"))
            .sort();
        expect(added).toEqual(
            ["pg1", "pg2"]
                .flatMap((n) => [
                    `${n}:/etc/pgbackrest/pgbackrest.conf`,
                    `${n}:/etc/systemd/system/pgha-pgbackrest-server.service`,
                    `${n}:/usr/local/libexec/pgha/pgha-pgbackrest.sh`,
                    `${n}:/usr/local/libexec/pgha/pgha-restore.py`,
                    `${n}:pgbackrest-dirs`,
                    `${n}:pgbackrest-server`,
                ])
                .sort(),
        );
        for (const r of commands(tree).filter((c) => c.name.startsWith("pg3:"))) expect([r.name, texts(r)]).toEqual([r.name, texts(classic.get(r.name)!)]);
        expect(String(tree.get("pg1:packages")!.inputs.create)).toContain(`--package '\\''pgbackrest'\\''`);
        expect(String(tree.get("pg1:packages")!.inputs.create)).toContain(`--program '\\''/usr/bin/pgbackrest'\\''`);
        expect(String(tree.get("pg1:pgbackrest-server")!.inputs.create)).toContain(
            "pgha-pgbackrest.sh server-start --unit pgha-pgbackrest-server.service --address '\\''172.51.216.81'\\'' --port 8432 --timeout 60",
        );
        expect(String(tree.get("pg1:pgbackrest-server")!.inputs.update)).toContain("systemctl reload-or-restart pgha-pgbackrest-server.service");
        expect(String(tree.get("backup1:pgbackrest-server")!.inputs.delete)).toContain("systemctl disable --now pgha-pgbackrest-server.service");
    });

    test("certificates: the address also as a DNS name on pgBackRest nodes (pgBackRest 2.45), nothing else changes", () => {
        for (const [n, a] of [
            ["pg1", "172.51.216.81"],
            ["pg2", "172.51.216.82"],
            ["backup1", "172.51.216.84"],
        ]) {
            expect(String(tree.get(`${n}:tls-cert`)!.inputs.create)).toContain(`DNS:${n},DNS:localhost,DNS:${a}`);
        }
        expect(tree.get("pg3:tls-cert")!.inputs).toEqual(classic.get("pg3:tls-cert")!.inputs);
        // The server reads the node's certificate: a renewal reloads it.
        expect(deps("pg1:pgbackrest-server")).toEqual(
            expect.arrayContaining(["pg1:/etc/pgha/tls/postgres.crt", "pg1:/etc/pgha/tls/postgres.key", "pg1:/etc/pgha/tls/ca.crt", "pg1:/etc/pgbackrest/pgbackrest.conf"]),
        );
        expect(deps("backup1:pgbackrest-server")).toEqual(
            expect.arrayContaining(["backup1:/etc/pgha/tls/pgbackrest.crt", "backup1:/etc/pgha/tls/pgbackrest.key", "backup1:/etc/pgbackrest/conf.d/pgha-cipher.conf", "backup1:packages"]),
        );
    });

    test("order: servers and the primary → stanza-create → dynamic config (archiving) → check; replicas → first full backup → timers → verification", () => {
        expect(deps("backup1:stanza-create")).toEqual(expect.arrayContaining(["pg1:pgbackrest-server", "pg2:pgbackrest-server", "backup1:pgbackrest-server", "pg1:patroni"]));
        expect(deps("backup1:stanza-create")).not.toContain("pgsql:dynamic-config");
        expect(deps("pgsql:dynamic-config")).toContain("backup1:stanza-create");
        expect(deps("pg2:patroni")).toContain("pgsql:dynamic-config");
        expect(deps("backup1:pgbackrest-check")).toEqual(expect.arrayContaining(["backup1:stanza-create", "pgsql:dynamic-config"]));
        // backup-standby: the first backup copies from a replica, so every member runs first.
        expect(deps("backup1:first-full-backup")).toEqual(expect.arrayContaining(["backup1:pgbackrest-check", "pg1:patroni", "pg2:patroni", "backup1:/etc/systemd/system/pgha-backup-full.service"]));
        expect(deps("backup1:backup-timers")).toEqual(expect.arrayContaining(["backup1:first-full-backup", "backup1:/etc/systemd/system/pgha-backup-full.timer"]));
        expect(deps("pgsql:verify")).toEqual(expect.arrayContaining(["backup1:pgbackrest-check", "backup1:first-full-backup", "backup1:backup-timers"]));
        for (const n of ["pg1", "pg2", "backup1"]) {
            expect(deps(`${n}:pgbackrest-server`)).toEqual(expect.arrayContaining([`${n}:packages`, `${n}:pgbackrest-dirs`, `${n}:/usr/local/libexec/pgha/pgha-pgbackrest.sh`]));
            expect(deps(`${n}:/etc/pgbackrest/pgbackrest.conf`)).toContain(`${n}:pgbackrest-dirs`);
        }
        expect(tree.get("pgsql-backup")!.parentType).toBe("pgha:cluster:PostgresHaCluster");
        expect(tree.get("backup1:stanza-create")!.parentType).toBe("pgha:backup:BackupRepository");
        expect(tree.get("pg1:pgbackrest-server")!.parentType).toBe("pgha:backup:PgbackrestNode");
    });

    test("the steps' command texts: the helper, bounded, the first backup through the full backup's service", () => {
        const create = (n: string) => String(tree.get(n)!.inputs.create);
        expect(create("backup1:stanza-create")).toContain("pgha-pgbackrest.sh stanza-create --stanza '\\''pgsql'\\'' --timeout 240");
        expect(create("backup1:pgbackrest-check")).toMatch(/# pgBackRest configuration [0-9a-f]{16}\nbash \S+pgha-pgbackrest.sh check --stanza '\\''pgsql'\\'' --timeout 240/);
        expect(create("backup1:first-full-backup")).toContain("pgha-pgbackrest.sh first-backup --stanza '\\''pgsql'\\'' --repo 1 --unit pgha-backup-full.service --timeout 3540");
        expect(create("backup1:first-full-backup")).toContain("timeout --kill-after=10 3600 bash -c");
        expect(create("backup1:backup-timers")).toContain("pgha-pgbackrest.sh timers --timer pgha-backup-full.timer --timer pgha-backup-diff.timer");
        expect(String(tree.get("backup1:backup-timers")!.inputs.delete)).toMatch(/pgha-pgbackrest.sh timers\n/);
        // Nothing deletes a repository or a stanza.
        for (const n of ["backup1:stanza-create", "backup1:pgbackrest-dirs", "backup1:first-full-backup", "backup1:pgbackrest-check"]) expect(tree.get(n)!.inputs.delete).toBeUndefined();
        for (const c of commands(tree)) expect(c.inputs.create).toMatch(/timeout --kill-after=10 \d+ bash -c 'set -euo pipefail/);
    });

    test("Patroni: archiving in the dynamic config (stdin), replicas from the repository in config.yml", () => {
        const stdin = JSON.parse(String(tree.get("pgsql:dynamic-config")!.inputs.stdin));
        expect(stdin.config.postgresql.parameters).toEqual(expect.objectContaining({ archive_mode: "on", archive_command: "/usr/bin/pgbackrest --stanza=pgsql archive-push %p", archive_timeout: 60 }));
        expect(tree.get("pgsql:dynamic-config")!.inputs.create).toBe(classic.get("pgsql:dynamic-config")!.inputs.create);
        const config = JSON.stringify(tree.get("pg2:/etc/patroni/config.yml")!.inputs.stdin);
        expect(config).toContain("create_replica_methods:\\n    - pgbackrest\\n    - basebackup");
    });

    test("the passphrase and every other secret: in no command text, the passphrase only in the cipher file's stdin", async () => {
        const m = await withBackup(backupValues(), DISTINCT);
        for (const c of commands(m)) for (const s of [...Object.values(DISTINCT), PASS, "fake-key-material", "fake-tls-key-material"]) expect([c.name, texts(c).includes(s)]).toEqual([c.name, false]);
        const holding = commands(m)
            .filter((c) => JSON.stringify(c.inputs.stdin ?? "").includes(PASS))
            .map((c) => c.name);
        expect(holding).toEqual(["backup1:/etc/pgbackrest/conf.d/pgha-cipher.conf"]);
        expect(String(m.get("backup1:/etc/pgbackrest/conf.d/pgha-cipher.conf")!.inputs.create)).not.toContain(PASS);
        // A rotated passphrase rewrites the file and reloads that server, nothing else.
        const rotated = await register(backupSpec(), DISTINCT, MOCK_SSH_KEY, "Rotated-Cipher-Passphrase-987654321");
        expect(changedSince(m, rotated)).toEqual(["backup1:/etc/pgbackrest/conf.d/pgha-cipher.conf", "backup1:pgbackrest-server"]);
    });

    test("turning backups on for a running cluster: what changes there (reissued certificates, packages, Patroni, the dynamic config, the restarts archive_mode needs)", () => {
        expect(changedSince(classic, tree)).toEqual([
            "pg1:/etc/patroni/config.yml",
            "pg1:/etc/pgha/tls/etcd.crt",
            "pg1:/etc/pgha/tls/etcd.key",
            "pg1:/etc/pgha/tls/postgres.crt",
            "pg1:/etc/pgha/tls/postgres.key",
            "pg1:packages",
            "pg1:patroni",
            "pg1:preflight",
            "pg2:/etc/patroni/config.yml",
            "pg2:/etc/pgha/tls/etcd.crt",
            "pg2:/etc/pgha/tls/etcd.key",
            "pg2:/etc/pgha/tls/postgres.crt",
            "pg2:/etc/pgha/tls/postgres.key",
            "pg2:packages",
            "pg2:patroni",
            "pg2:preflight",
            "pgsql:dynamic-config",
            "pgsql:restart-pending",
            "pgsql:verify",
        ]);
        // archive_mode needs a restart: pgBackRest's check waits for the restart step.
        expect(tree.get("backup1:pgbackrest-check")!.deps).toEqual(expect.arrayContaining(["pgsql:dynamic-config", "pgsql:restart-pending"]));
        // The preflight checks the sources offer pgbackrest; the certificates are reissued (local commands).
        expect(String(tree.get("pg1:preflight")!.inputs.create)).toContain(`--package '\\''pgbackrest'\\''`);
        for (const n of ["pg1", "pg2"]) expect(tree.get(`${n}:tls-cert`)!.inputs.create).not.toEqual(classic.get(`${n}:tls-cert`)!.inputs.create);
        // etcd does not restart for a reissued certificate.
        expect(tree.get("pg1:etcd")!.inputs).toEqual(classic.get("pg1:etcd")!.inputs);
    });

    test("encryption off: no cipher file, no passphrase needed", async () => {
        const m = await register(
            backupSpec(
                backupWith((v) => (v.backup.encryption = false)),
                { ...FAKE_SECRETS },
            ),
        );
        expect(m.has("backup1:/etc/pgbackrest/conf.d/pgha-cipher.conf")).toBe(false);
        expect(m.has("backup1:pgbackrest-server")).toBe(true);
    });

    test("no full schedule: the first backup runs pgBackRest directly; the timers are the scheduled ones only", async () => {
        const m = await withBackup(backupWith((v) => (v.backup.schedule = { full: "", diff: "", incr: "*-*-* 03:00:00" })));
        expect(String(m.get("backup1:first-full-backup")!.inputs.create)).toContain("first-backup --stanza '\\''pgsql'\\'' --repo 1 --timeout 3540");
        expect(String(m.get("backup1:backup-timers")!.inputs.create)).toContain("timers --timer pgha-backup-incr.timer\n");
        const none = await withBackup(backupWith((v) => (v.backup.schedule = { full: "", diff: "", incr: "" })));
        expect(none.has("backup1:backup-timers")).toBe(false);
        expect(none.has("backup1:first-full-backup")).toBe(true);
    });

    test("a second repository on its own host: both hosts create the stanza before the dynamic config, each checks and backs up its own", async () => {
        const m = await withBackup(
            backupWith((v) => {
                v.nodes.push({ name: "backup2", address: "172.51.216.85", roles: ["backup"] });
                v.backup.secondRepository = { host: "backup2", path: "/srv/pgbackrest" };
            }),
        );
        expect(m.get("pgsql:dynamic-config")!.deps).toEqual(expect.arrayContaining(["backup1:stanza-create", "backup2:stanza-create"]));
        expect(String(m.get("backup2:first-full-backup")!.inputs.create)).toContain("--repo 2 ");
        expect(String(m.get("backup2:pgbackrest-dirs")!.inputs.create)).toContain("'\\''/srv/pgbackrest'\\''");
    });

    test("the stack output: stanza, repository and schedule, no secret", async () => {
        let summary: unknown;
        await registerTree(() => {
            const c = new PostgresHaCluster("pgsql", {
                spec: backupSpec(),
                secrets: pulumi.secret(pulumi.output(FAKE_SECRETS)),
                sshPrivateKey: pulumi.secret(MOCK_SSH_KEY),
                backupCipherPassphrase: pulumi.secret(PASS),
            });
            c.backup.apply((b) => (summary = b));
            return c;
        });
        expect(summary).toEqual({ stanza: "pgsql", repository: "backup1:/var/lib/pgbackrest", schedule: { full: "Sun *-*-* 01:00:00", diff: "Mon..Sat *-*-* 01:00:00" }, encryption: true });
        expect(JSON.stringify(summary)).not.toContain(PASS);
    });
});

describe("refused before any server is touched", () => {
    const spec = (edit: (v: any) => void) => backupSpec(backupWith(edit));
    test("pgha:restore and pgha:backup.restoreFrom are no longer refused (with the passphrase)", () => {
        const restore = spec((v) => (v.restore = { id: "r1", target: "latest", confirmDataLoss: true }));
        const from = spec((v) => (v.backup.restoreFrom = { stanza: "other", target: "latest" }));
        expect(backupRefusals(restore, true)).toEqual([]);
        expect(backupRefusals(from, true)).toEqual([]);
    });
    test("encryption without the passphrase", () => {
        expect(backupRefusals(backupSpec(), false)).toEqual([expect.stringMatching(/^pgha:backupCipherPassphrase: missing, and pgha:backup.encryption is true/)]);
        expect(backupRefusals(specOf(), false)).toEqual([]);
    });
});

describe("pgha:restore (mocks): one chain of steps, after the rest of the update and before the verification", () => {
    const restoreValues = (id: string) => backupWith((v) => (v.restore = { id, target: "2026-11-30T04:10:00+01:00", confirmDataLoss: true }));
    let plain: Map<string, Registered>;
    let tree: Map<string, Registered>;
    let again: Map<string, Registered>;
    let next: Map<string, Registered>;
    // Four whole trees: more than the default 10 s on a busy machine.
    beforeAll(async () => {
        plain = await withBackup();
        tree = await withBackup(restoreValues("r1"));
        again = await withBackup(restoreValues("r1"));
        next = await withBackup(restoreValues("r2"));
    }, 60_000);
    const steps = (t: Map<string, Registered>) =>
        commands(t)
            .filter((c) => c.name.includes(":restore-"))
            .map((c) => c.name)
            .sort();
    const deps = (n: string) => tree.get(n)!.deps;

    test("the steps: precheck on the repository host, stop everywhere, leader on the bootstrap member, a backup, the replicas", () => {
        expect(steps(tree)).toEqual([
            "backup1:restore-backup",
            "backup1:restore-precheck",
            "pg1:restore-flush",
            "pg1:restore-leader",
            "pg1:restore-stop",
            "pg2:restore-flush",
            "pg2:restore-replica",
            "pg2:restore-stop",
        ]);
        expect(steps(plain)).toEqual([]);
    });

    test("order: the leader's member stops last, the backup follows the leader, the replicas the backup; the verification waits for all", () => {
        expect(deps("pg2:restore-stop")).toContain("backup1:restore-precheck");
        expect(deps("pg1:restore-stop")).toEqual(expect.arrayContaining(["backup1:restore-precheck", "pg2:restore-stop"]));
        expect(deps("pg1:restore-leader")).toEqual(expect.arrayContaining(["pg1:restore-stop", "pg2:restore-stop"]));
        expect(deps("backup1:restore-backup")).toEqual(["pg1:restore-leader"]);
        expect(deps("pg2:restore-replica")).toEqual(["backup1:restore-backup"]);
        expect(deps("pgsql:verify")).toEqual(expect.arrayContaining(["pg1:restore-leader", "backup1:restore-backup", "pg2:restore-replica"]));
        // The flushes wait for everything else of the update (the first backup and the members included); the precheck for them.
        expect(deps("pg1:restore-flush")).toEqual(expect.arrayContaining(["pg1:patroni", "pg2:patroni", "backup1:first-full-backup", "pgsql:dynamic-config"]));
        expect(deps("backup1:restore-precheck")).toEqual(["pg1:restore-flush", "pg2:restore-flush"]);
    });

    test("the commands carry the id, the target in UTC and its epoch; secrets travel only on the leader step's stdin", () => {
        const leader = tree.get("pg1:restore-leader")!;
        expect(String(leader.inputs.create)).toContain(`--id '\\''r1'\\''`);
        expect(String(leader.inputs.create)).toContain(`--type=time "--target=2026-11-30 03:10:00+00" --target-action=promote`);
        expect(String(tree.get("backup1:restore-precheck")!.inputs.create)).toContain(`--target-epoch ${Date.UTC(2026, 10, 30, 3, 10) / 1000}`);
        for (const c of commands(tree).filter((x) => x.name.includes(":restore-"))) {
            expect(texts(c)).not.toContain(FAKE_SECRETS.superuserPassword);
            expect(texts(c)).not.toContain(FAKE_SECRETS.replicationPassword);
        }
        expect(JSON.stringify(leader.inputs.stdin)).toContain(FAKE_SECRETS.superuserPassword);
    });

    test("the same id changes nothing; a new id changes every step (and only the restore steps and the verification)", () => {
        expect(changedSince(tree, again)).toEqual([]);
        expect(changedSince(tree, next).sort()).toEqual([...steps(tree), "pgsql:verify"].sort());
        // Adding a restore changes nothing that exists: it only adds the steps (and re-runs the verification).
        expect(changedSince(plain, tree)).toEqual(["pgsql:verify"]);
    });
});

describe("pgha:backup.restoreFrom (mocks): a new cluster from another cluster's backup", () => {
    let tree: Map<string, Registered>;
    let plain: Map<string, Registered>;
    beforeAll(async () => {
        plain = await withBackup();
        tree = await withBackup(backupWith((v) => (v.backup.restoreFrom = { stanza: "prod", target: "2026-11-30T04:10:00Z" })));
    });

    test("the bootstrap member's wait is bounded by the data directory's growth; the replicas' is unchanged", () => {
        const first = String(tree.get("pg1:patroni")!.inputs.create);
        expect(first).toContain(`--progress-dir '\\''/var/lib/postgresql/15/pgsql'\\'' --stall 300`);
        // Their config.yml differs (its bootstrap section), so only the digest line may.
        const noDigest = (t: Map<string, Registered>) => String(t.get("pg2:patroni")!.inputs.create).replace(/# patroni config [0-9a-f]+/, "");
        expect(noDigest(tree)).toEqual(noDigest(plain));
    });

    test("this stack's role passwords are set again on the restored leader, before the dynamic config and so before any replica", () => {
        const step = tree.get("pg1:restored-role-passwords")!;
        expect(step.deps).toEqual(["pg1:patroni"]);
        expect(tree.get("pgsql:dynamic-config")!.deps).toContain("pg1:restored-role-passwords");
        expect(texts(step)).not.toContain(FAKE_SECRETS.superuserPassword);
        expect(JSON.stringify(step.inputs.stdin)).toContain(FAKE_SECRETS.replicationPassword);
        expect(plain.has("pg1:restored-role-passwords")).toBe(false);
    });
});
