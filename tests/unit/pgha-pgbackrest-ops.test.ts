// server/pgha-pgbackrest.sh's operations (npm run backup): take, info and archive-status, run
// by bash against stand-ins for systemctl, runuser, journalctl, pgbackrest and psql on PATH.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

describe("server/pgha-pgbackrest.sh take, info, archive-status (stand-ins for systemctl, runuser, journalctl, pgbackrest, psql)", () => {
    let dir: string;
    const script = path.join(__dirname, "..", "..", "server", "pgha-pgbackrest.sh");
    const stub = (name: string, body: string) => fs.writeFileSync(path.join(dir, "bin", name), `#!/bin/bash\necho "${name} $*" >>"$CALLS"\n${body}\n`, { mode: 0o755 });
    const run = (args: string[], env: Record<string, string> = {}) => {
        fs.writeFileSync(path.join(dir, "calls"), "");
        const r = spawnSync("bash", [script, ...args], {
            encoding: "utf8",
            env: {
                ...process.env,
                PATH: `${dir}/bin:${process.env.PATH}`,
                CALLS: path.join(dir, "calls"),
                PGHA_PGBACKREST: path.join(dir, "bin", "pgbackrest"),
                PGHA_PGBACKREST_LOG: path.join(dir, "log"),
                ...env,
            },
        });
        return { status: r.status, stdout: r.stdout, stderr: r.stderr, calls: fs.readFileSync(path.join(dir, "calls"), "utf8").trim().split("\n").filter(Boolean) };
    };

    beforeAll(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgha-take-"));
        fs.mkdirSync(path.join(dir, "bin"));
        fs.mkdirSync(path.join(dir, "log"));
        stub("systemctl", 'case "$1" in show) echo "${UNIT_STATE:-loaded}";; start) exit "${START_RC:-0}";; esac');
        stub("runuser", 'shift 3; exec "$@"');
        stub("journalctl", 'echo "journal: ERROR: [050]: unable to acquire lock"');
        stub("pgbackrest", 'if [ "${PGBR_RC:-0}" -ne 0 ]; then echo "ERROR: [050]: stand-in failure" >&2; exit "$PGBR_RC"; fi; echo "[]"');
        stub("psql", 'echo "{\\"in_recovery\\" : false}"');
    });
    afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

    const take = ["take", "--stanza", "pgsql", "--repo", "1", "--repo", "2"];
    const unit = ["--unit", "pgha-backup-full.service"];

    test("through the unit when it is installed: systemctl start, pgBackRest not called here", () => {
        const r = run([...take, "--type", "full", ...unit]);
        expect([r.status, r.calls]).toEqual([0, ["systemctl show -p LoadState --value pgha-backup-full.service", "systemctl start pgha-backup-full.service"]]);
        expect(r.stdout).toMatch(/full backup of pgsql on .* \(repo 1 2\) through pgha-backup-full.service\n.*is complete\n$/);
    });

    test("without the unit: pgBackRest as postgres, each repository in turn", () => {
        const r = run([...take, "--type", "incr", "--unit", "pgha-backup-incr.service"], { UNIT_STATE: "not-found" });
        expect([r.status, r.calls.slice(1)]).toEqual([
            0,
            [
                `runuser -u postgres -- ${dir}/bin/pgbackrest --stanza=pgsql --repo=1 --type=incr backup`,
                `pgbackrest --stanza=pgsql --repo=1 --type=incr backup`,
                `runuser -u postgres -- ${dir}/bin/pgbackrest --stanza=pgsql --repo=2 --type=incr backup`,
                `pgbackrest --stanza=pgsql --repo=2 --type=incr backup`,
            ],
        ]);
        expect(r.stdout).toContain("(pgha-backup-incr.service is not installed here: pgBackRest directly)");
    });

    test("a failure stops there, exits 1 and shows why: pgBackRest's log from this run's start, or the unit's journal", () => {
        const stamp = (d: Date) => `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")} ${d.toTimeString().slice(0, 8)}.123`;
        const earlier = stamp(new Date(Date.now() - 3600_000));
        const now = stamp(new Date(Date.now() + 60_000));
        fs.writeFileSync(
            path.join(dir, "log", "pgsql-backup.log"),
            [
                `${earlier} P00   INFO: an earlier run`,
                `                  its continuation`,
                "",
                "-------------------PROCESS START-------------------",
                `${now} P00   INFO: backup command begin ${"x".repeat(400)}`,
                `${now} P00  ERROR: [050]: this run`,
                `                  HINT: its continuation`,
                "",
            ].join("\n"),
        );
        const direct = run([...take, "--type", "diff"], { PGBR_RC: "50" });
        expect([direct.status, direct.calls.filter((c) => c.startsWith("pgbackrest")).length]).toEqual([1, 1]);
        expect(direct.stderr).toMatch(/ERROR: \[050\]: stand-in failure\npgha: the diff backup of pgsql on .* failed \(exit 50\); the last lines of its log:\n/);
        const tail = direct.stderr.split("the last lines of its log:\n")[1];
        const begin = `${now} P00   INFO: backup command begin ${"x".repeat(400)}`;
        expect(tail).toBe(`${begin.slice(0, 300)}\n${now} P00  ERROR: [050]: this run\n                  HINT: its continuation\n`);
        const viaUnit = run([...take, "--type", "full", ...unit], { START_RC: "1" });
        expect(viaUnit.status).toBe(1);
        expect(viaUnit.calls).toContain("journalctl -u pgha-backup-full.service --since " + viaUnit.calls.find((c) => c.startsWith("journalctl"))!.split("--since ")[1]);
        expect(viaUnit.stderr).toContain("journal: ERROR: [050]: unable to acquire lock");
    });

    test("bad arguments exit 2", () => {
        expect(run([...take, "--type", "weekly"]).status).toBe(2);
        expect(run(["take", "--stanza", "pgsql", "--type", "full"]).status).toBe(2);
        expect(run(["take", "--repo", "1", "--type", "full"]).status).toBe(2);
        expect(run(["archive-status", "--port", "5432"]).status).toBe(2);
    });

    test("info: pgBackRest's JSON info of the stanza, as postgres", () => {
        const r = run(["info", "--stanza", "pgsql"]);
        expect([r.status, r.stdout, r.calls[0]]).toEqual([0, "[]\n", `runuser -u postgres -- ${dir}/bin/pgbackrest --stanza=pgsql --output=json info`]);
    });

    test("archive-status: one psql call as postgres over the socket, on the given port, with the given binaries", () => {
        const r = run(["archive-status", "--port", "5433", "--bin", `${dir}/bin`]);
        expect([r.status, r.stdout]).toEqual([0, '{"in_recovery" : false}\n']);
        expect(r.calls[0]).toMatch(new RegExp(`^runuser -u postgres -- ${dir}/bin/psql -XAtq -h /var/run/postgresql -p 5433 -d postgres -v ON_ERROR_STOP=1 -c select json_build_object\\(`));
        expect(r.calls.join("\n")).toContain("from pg_stat_archiver a");
    });
});
