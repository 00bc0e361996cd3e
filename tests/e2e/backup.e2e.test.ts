// Issue 12: backups and point-in-time recovery with pgBackRest, on one 4-host lab (Debian 13):
// lab1, lab2 PostgreSQL + etcd + HAProxy + keepalived, lab3 etcd (then a PostgreSQL replica
// made from the repository), lab4 the repository host. One deployment carries every check:
// encryption at rest, `npm run backup`, an in-place restore to a time, a refused restore,
// what the archive holds when the primary's host dies, and a new cluster from the
// repository once the first is destroyed.
import { ChildProcess, spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { opsScript, statusJson } from "./ops-scripts";
import { E2E_ENV, ROOT, configureStack, labStackLifecycle, lab, patronictlList, psql, pulumi, run, ssh, steps, superuserPassword, upStack, waitFor } from "./harness";

const STACK = "e2e-backup";
const DR_STACK = "e2e-backup-dr";
const VIP = "198.18.0.100";
const ROLES = "--roles=lab1=etcd+postgres+haproxy+keepalived,lab2=etcd+postgres+haproxy+keepalived,lab3=etcd,lab4=backup";
const ARCHIVE_TIMEOUT = 10;
// npm test runs it on Debian 13; PGHA_E2E_BACKUP_RELEASE=bookworm runs the same suite on Debian 12
// (PostgreSQL 15, Patroni 3.0.2, pgBackRest 2.45).
const RELEASE = process.env.PGHA_E2E_BACKUP_RELEASE ?? "trixie";
const PG = RELEASE === "bookworm" ? 15 : 17;
const DATA = `/var/lib/postgresql/${PG}/pgsql`;
const REPO = "/var/lib/pgbackrest";
const step = steps();
let password = "";
/** The restore target of the in-place restore and of the new cluster: 100 rows before it, 50 after. */
let target = "";

labStackLifecycle(STACK, 4, [ROLES, "--backup=lab4"], ["--release", RELEASE]);

function editStack(stack: string, edit: (config: Record<string, any>) => void): void {
    const file = path.join(ROOT, `Pulumi.${stack}.yaml`);
    const doc = YAML.parse(fs.readFileSync(file, "utf8"));
    edit(doc.config);
    fs.writeFileSync(file, YAML.stringify(doc));
}

const sql = (q: string) => psql(VIP, 5000, password, q).stdout.trim();
const noChanges = (stack = STACK) => pulumi(["preview", "--expect-no-changes", "--stack", stack]);
const pgbackrest = (args: string) => ssh("lab4", `cd / && runuser -u postgres -- pgbackrest ${args}`).stdout;
const backupInfo = (stanza = "pgsql") => JSON.parse(pgbackrest(`--stanza=${stanza} --output=json info`))[0];
const backupCmd = (args: string[]) => run("bash", ["scripts/backup.sh", ...args], { env: E2E_ENV, timeoutSec: 900, echo: true });
const postmasterStart = (host: string) => ssh(host, `cd / && runuser -u postgres -- psql -AtXc "select pg_postmaster_start_time()"`).stdout.trim();

/** Leader and streaming replicas, as patronictl sees them from `host`. */
function healthy(host: string, members: string[]): boolean {
    const list = patronictlList(host);
    const leaders = list.filter((m) => m.Role === "Leader" && m.State === "running");
    // Patroni 3.0.2 (Debian 12) reports a streaming replica as "running".
    const streaming = list.filter((m) => m.Role === "Replica" && (m.State === "streaming" || (RELEASE === "bookworm" && m.State === "running")));
    return leaders.length === 1 && streaming.length === members.length - 1 && list.length === members.length;
}

step(
    "deploy with backups: the stanza, a first full backup copied from the replica, the timers, archiving on",
    () => {
        editStack(STACK, (c) => (c["pgha:backup"].archiveTimeout = ARCHIVE_TIMEOUT));
        const up = upStack(STACK);
        expect(up.stdout).toMatch(/verified: .*answers as the primary/);
        expect(up.stdout).toContain("pgha: check of pgsql passed");
        password = superuserPassword(STACK);
        const out = JSON.parse(pulumi(["stack", "output", "backup", "--json", "--stack", STACK], { echo: false }).stdout);
        expect(out).toEqual({ stanza: "pgsql", repository: `lab4:${REPO}`, schedule: { full: "Sun *-*-* 01:00:00", diff: "Mon..Sat *-*-* 01:00:00" }, encryption: true });
        const info = backupInfo();
        expect(info.status.code).toBe(0);
        expect(info.cipher).toBe("aes-256-cbc");
        expect(info.backup.map((b: { type: string }) => b.type)).toEqual(["full"]);
        // backup-standby: the copy came from the replica (pgBackRest waits for its replay first).
        expect(ssh("lab4", "cat /var/log/pgbackrest/pgsql-backup.log").stdout).toContain("replay on the standby reached");
        expect(ssh("lab4", "systemctl is-enabled pgha-backup-full.timer pgha-backup-diff.timer").stdout.trim().split("\n")).toEqual(["enabled", "enabled"]);
        expect(sql("show archive_mode")).toBe("on");
        expect(sql("show archive_timeout")).toBe(`${ARCHIVE_TIMEOUT}s`);
        noChanges();
    },
    1500,
);

step(
    "a replica added after the full backup is made from the repository (Patroni's log says so), not streamed from the primary",
    async () => {
        editStack(STACK, (c) => (c["pgha:nodes"].find((n: { name: string }) => n.name === "lab3").roles = ["etcd", "postgres"]));
        upStack(STACK);
        expect(ssh("lab3", "journalctl -u patroni --no-pager").stdout).toContain("replica has been created using pgbackrest");
        await waitFor("lab3 streaming", 60, () => (healthy("lab1", ["lab1", "lab2", "lab3"]) ? true : undefined));
        noChanges();
    },
    1200,
);

step(
    "npm run backup: take an incremental backup now, then info --json shows it and archiving current",
    () => {
        backupCmd(["take", "--stack", STACK, "--type", "incr"]);
        const info = JSON.parse(backupCmd(["info", "--stack", STACK, "--json"]).stdout);
        expect(info.stanza).toBe("pgsql");
        expect(info.repositories[0].counts).toEqual({ full: 1, diff: 0, incr: 1 });
        expect(info.repositories[0].latest.incr.prior).toBe(info.repositories[0].latest.full.label);
        expect(info.archiving.state).toBe("current");
        const bad = run("bash", ["scripts/backup.sh", "take", "--stack", STACK, "--type", "weekly"], { env: E2E_ENV, allowFail: true });
        expect(bad.status).toBe(2);
    },
    600,
);

// Issue 13 with backups configured: the status view names that backup, and drift covers pgBackRest's files too.
step(
    "npm run status shows that incremental backup as the newest and archiving current; npm run drift is clean with backups configured",
    () => {
        const info = JSON.parse(backupCmd(["info", "--stack", STACK, "--json"]).stdout);
        const { report, status, seconds } = statusJson(STACK);
        process.stdout.write(`status --json: exit ${status} in ${seconds.toFixed(1)} s; backup: ${JSON.stringify(report.backup)}; problems: ${JSON.stringify(report.problems)}\n`);
        expect(report.problems).toEqual([]);
        expect(status).toBe(0);
        expect(report.backup).toMatchObject({ newest: { label: info.repositories[0].latest.incr.label, type: "incr" }, archiving: "current" });
        const drift = opsScript("drift", ["--stack", STACK]);
        process.stdout.write(drift.stdout);
        expect(drift.status).toBe(0);
        expect(drift.stdout).toMatch(/no drift on 4 nodes/);
        // What it compared includes pgBackRest's configuration on the repository host.
        const managed = JSON.parse(pulumi(["stack", "output", "managedFiles", "--json", "--stack", STACK], { echo: false }).stdout) as Record<string, { path: string }[]>;
        expect(managed.lab4.map((f) => f.path)).toContain("/etc/pgbackrest/pgbackrest.conf");
    },
    300,
);

step(
    "the repository holds no plain text: every file is encrypted (openssl's Salted__ header) and a marker row is nowhere in it",
    () => {
        const marker = `PGHA-E2E-MARKER-${Date.now()}`;
        sql(`create table secret_rows(note text); insert into secret_rows select '${marker}-' || g from generate_series(1, 2000) g`);
        sql("select pg_switch_wal()");
        backupCmd(["take", "--stack", STACK, "--type", "diff"]);
        // Sanity: the marker is in the primary's data files (so the grep can find it).
        ssh("lab1", `cd / && runuser -u postgres -- psql -AtXc checkpoint`);
        expect(ssh("lab1", `grep -rl --binary-files=text ${marker} ${DATA}/base | head -1`).stdout.trim()).not.toBe("");
        expect(ssh("lab4", `grep -rl --binary-files=text ${marker} ${REPO} || true`).stdout.trim()).toBe("");
        const plain = ssh("lab4", `find ${REPO} -type f -size +0 | while read -r f; do [ "$(head -c 8 "$f")" = Salted__ ] || echo "$f"; done`).stdout.trim();
        expect(plain).toBe("");
        expect(Number(ssh("lab4", `find ${REPO} -type f | wc -l`).stdout.trim())).toBeGreaterThan(10);
    },
    600,
);

step(
    "in place, to a time: refused at preview without confirmDataLoss; with it, the preview says what is lost, and 100 rows written before the time are back, none after",
    async () => {
        sql("create table orders(id int primary key, note text)");
        sql("insert into orders select g, 'before' from generate_series(1, 100) g");
        await new Promise((r) => setTimeout(r, 1500));
        target = new Date().toISOString().replace(/\.\d+Z$/, "Z");
        await new Promise((r) => setTimeout(r, 1500));
        sql("insert into orders select g, 'after' from generate_series(101, 150) g");
        sql("drop table orders");
        editStack(STACK, (c) => (c["pgha:restore"] = { id: "r1", target }));
        const refused = pulumi(["preview", "--stack", STACK], { allowFail: true });
        expect(refused.status).not.toBe(0);
        expect(refused.stdout + refused.stderr).toContain("pgha:restore.confirmDataLoss: must be true");
        editStack(STACK, (c) => (c["pgha:restore"].confirmDataLoss = true));
        const preview = pulumi(["preview", "--stack", STACK]).stdout;
        expect(preview).toContain(`pgha:restore r1: this update restores cluster pgsql IN PLACE to ${target.replace("T", " ").replace("Z", "+00")}`);
        expect(preview).toContain(`Every change committed after the target will be gone from the cluster (it stays only in lab1:${DATA}.pre-restore-r1)`);
        const up = upStack(STACK);
        expect(up.stdout).toContain("pgha: restore r1: lab1 leads the restored cluster");
        expect(up.stdout).toMatch(/verified: .*answers as the primary/);
        expect(sql("select count(*), min(id), max(id), count(*) filter (where note = 'before') from orders")).toBe("100|1|100|100");
        expect(healthy("lab1", ["lab1", "lab2", "lab3"])).toBe(true);
        // Every member on the restored timeline; the pre-restore data kept aside on lab1.
        expect(new Set(patronictlList("lab1").map((m) => (m as unknown as { TL: number }).TL)).size).toBe(1);
        expect(ssh("lab1", `test -f ${DATA}.pre-restore-r1/PG_VERSION && echo kept`).stdout.trim()).toBe("kept");
        noChanges();
    },
    1500,
);

step(
    "the same restore id again does nothing, even after the key was removed and put back: no member is stopped",
    () => {
        const started = postmasterStart("lab1");
        editStack(STACK, (c) => delete c["pgha:restore"]);
        upStack(STACK);
        editStack(STACK, (c) => (c["pgha:restore"] = { id: "r1", target, confirmDataLoss: true }));
        const up = upStack(STACK);
        expect(up.stdout).toContain("restore r1: leader already done on this host");
        expect(postmasterStart("lab1")).toBe(started);
        expect(sql("select count(*) from orders")).toBe("100");
        noChanges();
    },
    900,
);

step(
    "a target before the oldest backup is refused with that reason before anything is stopped",
    () => {
        const started = postmasterStart("lab1");
        editStack(STACK, (c) => (c["pgha:restore"] = { id: "too-old", target: "2020-01-01T00:00:00Z", confirmDataLoss: true }));
        const r = pulumi(["up", "--yes", "--skip-preview", "--stack", STACK], { allowFail: true });
        expect(r.status).not.toBe(0);
        expect(r.stdout + r.stderr).toContain("restore too-old refused before anything was stopped: the target 2020-01-01 00:00:00+00 lies before the end of the oldest backup");
        expect(postmasterStart("lab1")).toBe(started);
        expect(healthy("lab1", ["lab1", "lab2", "lab3"])).toBe(true);
        editStack(STACK, (c) => delete c["pgha:restore"]);
        upStack(STACK);
        noChanges();
    },
    900,
);

step(
    `the primary's host dies while writing: every commit older than archiveTimeout (${ARCHIVE_TIMEOUT} s) + 5 s is in the repository (restored into a scratch directory)`,
    async () => {
        // No failover: the replicas' Patroni stops, so the repository holds only what the dying primary archived.
        const probe: ChildProcess = spawn("node", [path.join(ROOT, "scripts", "write-probe.js"), VIP, "5000"], { env: { ...process.env, PGPASSWORD: password } });
        let out = "";
        probe.stdout!.on("data", (d) => (out += d));
        await new Promise((r) => setTimeout(r, 3000));
        for (const h of ["lab2", "lab3"]) ssh(h, "systemctl stop patroni");
        await new Promise((r) => setTimeout(r, 3 * ARCHIVE_TIMEOUT * 1000));
        const killedAt = Date.now();
        lab("kill", "lab1");
        probe.kill("SIGTERM");
        await new Promise((r) => probe.once("exit", r));
        const written: { run: number; ids: number[]; ackedAtMs: number[] } = JSON.parse(out);
        const scratch = "/var/lib/postgresql/pgha-scratch";
        try {
            ssh("lab2", `rm -rf ${scratch} && install -d -o postgres -g postgres -m 0700 ${scratch} && cd / && runuser -u postgres -- pgbackrest --stanza=pgsql --pg1-path=${scratch} restore`, {
                timeoutSec: 600,
            });
            const opts = `-c port=5499 -c listen_addresses='' -c unix_socket_directories=/tmp -c archive_mode=off -c ssl=off -c hba_file=${scratch}/pg_hba.conf`;
            ssh("lab2", `cd / && runuser -u postgres -- /usr/lib/postgresql/${PG}/bin/pg_ctl -D ${scratch} -l /tmp/pgha-scratch.log -w -t 300 -o "${opts}" start`, { timeoutSec: 400 });
            const q = (s: string) => ssh("lab2", `cd / && runuser -u postgres -- psql -h /tmp -p 5499 -AtXc "${s}"`).stdout.trim();
            await waitFor("the scratch copy promoted", 300, () => (q("select pg_is_in_recovery()") === "f" ? true : undefined));
            const restored = new Set(q(`select id from pgha_probe where run = ${written.run}`).split("\n").filter(Boolean).map(Number));
            const due = written.ids.filter((_, i) => written.ackedAtMs[i] < killedAt - (ARCHIVE_TIMEOUT + 5) * 1000);
            const lastRestoredAt = Math.max(...written.ids.map((id, i) => (restored.has(id) ? written.ackedAtMs[i] : 0)));
            process.stdout.write(
                `archive RPO: ${written.ids.length} writes acknowledged, ${restored.size} in the repository; ${due.length} were due; the newest restored was acknowledged ${((killedAt - lastRestoredAt) / 1000).toFixed(1)} s before the kill\n`,
            );
            expect(due.length).toBeGreaterThan(50);
            expect(due.filter((id) => !restored.has(id))).toEqual([]);
        } finally {
            ssh("lab2", `cd / && runuser -u postgres -- /usr/lib/postgresql/${PG}/bin/pg_ctl -D ${scratch} -m immediate stop; rm -rf ${scratch}`, { allowFail: true });
        }
        lab("start", "lab1");
        await waitFor("lab1 leads again", 180, () => (patronictlList("lab1").some((m) => m.Member === "lab1" && m.Role === "Leader" && m.State === "running") ? true : undefined));
        for (const h of ["lab2", "lab3"]) ssh(h, "systemctl start patroni");
        await waitFor("every replica streaming", 300, () => (healthy("lab1", ["lab1", "lab2", "lab3"]) ? true : undefined));
        noChanges();
    },
    1500,
);

step(
    "destroy keeps the repository; a new stack made from it at the same time has exactly the 100 rows, and archives to its own stanza only",
    async () => {
        const passphrase = pulumi(["config", "get", "pgha:backupCipherPassphrase", "--stack", STACK], { echo: false }).stdout.trim();
        pulumi(["destroy", "--yes", "--skip-preview", "--stack", STACK]);
        // pgBackRest's configuration left with the stack; the backup sets stayed (read as files).
        const kept = ssh("lab4", `find ${REPO}/backup/pgsql -maxdepth 1 -type d -name '2*' | wc -l`).stdout.trim();
        expect(Number(kept)).toBeGreaterThan(1);
        expect(ssh("lab4", "test -e /etc/pgbackrest/pgbackrest.conf && echo present || echo absent").stdout.trim()).toBe("absent");
        pulumi(["stack", "rm", "--yes", "--force", DR_STACK], { allowFail: true });
        configureStack(DR_STACK, ["--roles=lab1=etcd+postgres+haproxy+keepalived,lab2=etcd+postgres+haproxy+keepalived,lab3=etcd+postgres,lab4=backup", "--backup=lab4"]);
        try {
            pulumi(["config", "set", "--secret", "pgha:backupCipherPassphrase", "--stack", DR_STACK], { input: passphrase, echo: false });
            editStack(DR_STACK, (c) => {
                c["pgha:clusterName"] = "pgsql2";
                c["pgha:backup"].restoreFrom = { stanza: "pgsql", target };
            });
            const up = upStack(DR_STACK);
            expect(up.stdout).toMatch(/verified: .*answers as the primary/);
            password = superuserPassword(DR_STACK);
            expect(sql("select count(*), min(id), max(id), count(*) filter (where note = 'before') from orders")).toBe("100|1|100|100");
            await waitFor("every replica streaming", 120, () => (healthy("lab1", ["lab1", "lab2", "lab3"]) ? true : undefined));
            // Its own stanza has its first full backup; the source's archive does not move while it writes.
            expect(backupInfo("pgsql2").backup.map((b: { type: string }) => b.type)).toEqual(["full"]);
            const sourceWal = backupInfo("pgsql").archive[0].max;
            sql("create table after_restore(id int); insert into after_restore select generate_series(1, 1000)");
            sql("select pg_switch_wal()");
            pgbackrest("--stanza=pgsql2 check");
            expect(backupInfo("pgsql").archive[0].max).toBe(sourceWal);
            noChanges(DR_STACK);
        } finally {
            pulumi(["destroy", "--yes", "--skip-preview", "--stack", DR_STACK], { allowFail: true, timeoutSec: 600 });
            pulumi(["stack", "rm", "--yes", "--force", DR_STACK], { allowFail: true });
            fs.rmSync(path.join(ROOT, `Pulumi.${DR_STACK}.yaml`), { force: true });
        }
    },
    2400,
);
