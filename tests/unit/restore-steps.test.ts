// The in-place restore's pure core (core/render/restore.ts: step commands, the preview's plan)
// and its server program's decisions (server/pgha-restore.py, run by python3): when a target
// can be reached, what counts as running, the markers that make each step happen once, and
// the waits bounded by progress. Also patroni-dcs-apply.py waiting out Patroni's 502 on an
// emptied DCS.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { asideDir, leaderCommand, precheckCommand, restorePlan, targetEpoch } from "../../core/render/restore";
import { backupSpec, backupWith } from "./backup-fixtures";
import { hasPython3, pyOk, withProgram } from "./server-python";

const TOOL = "pgha-restore.py";
const spec = (target = "2026-11-30T05:10:00+01:00", id = "r1") => backupSpec(backupWith((v) => (v.restore = { id, target, confirmDataLoss: true })));

describe("restore steps (pure)", () => {
    test("a time target's epoch; latest is 0", () => {
        expect(targetEpoch({ type: "time", time: "2026-11-30 04:10:00+00" })).toBe(Date.UTC(2026, 10, 30, 4, 10) / 1000);
        expect(targetEpoch({ type: "time", time: "2026-11-30 04:10:00.5+00" })).toBe(Date.UTC(2026, 10, 30, 4, 10, 0, 500) / 1000);
        expect(targetEpoch({ type: "latest" })).toBe(0);
    });

    test("precheck and leader commands: the target in UTC, pgBackRest's options for it, every value quoted", () => {
        const s = spec();
        expect(precheckCommand(s)).toBe(
            `python3 /usr/local/libexec/pgha/pgha-restore.py precheck --id 'r1' --stanza 'pgsql' --target-type time --target '2026-11-30 04:10:00+00' --target-epoch ${Date.UTC(2026, 10, 30, 4, 10) / 1000}`,
        );
        expect(leaderCommand(s)).toContain(`--restore-options '--type=time "--target=2026-11-30 04:10:00+00" --target-action=promote'`);
        expect(leaderCommand(spec("latest"))).toContain(`--restore-options '' `);
        expect(leaderCommand(s)).toContain(`--member 'pg1' --api 'https://172.51.216.81:8008'`);
    });

    test("the plan names every member, the aside directory and what is lost", () => {
        const plan = restorePlan(spec());
        expect(plan).toContain("pgha:restore r1: this update restores cluster pgsql IN PLACE to 2026-11-30 04:10:00+00, from stanza pgsql in backup1:/var/lib/pgbackrest.");
        expect(plan).toContain("stops Patroni and PostgreSQL on pg1, pg2");
        expect(plan).toContain(`moves pg1's data directory aside to ${asideDir(spec(), "r1")} (kept, not deleted)`);
        expect(plan).toContain("removes the old copies on pg2 and re-creates them from that backup");
        expect(plan).toContain("Every change committed after the target will be gone from the cluster");
    });
});

(hasPython3 ? describe : describe.skip)("pgha-restore.py (python3)", () => {
    const backups = [
        { label: "B2", timestamp: { start: 2000, stop: 2100 } },
        { label: "B1", timestamp: { start: 1000, stop: 1100 } },
    ];
    const info = JSON.stringify([
        { name: "other", backup: [] },
        { name: "pgsql", backup: backups },
    ]);

    test("backups_of: the stanza's backups, oldest first", () => {
        expect((pyOk(TOOL, "backups_of", info, "pgsql") as { label: string }[]).map((b) => b.label)).toEqual(["B1", "B2"]);
        expect(pyOk(TOOL, "backups_of", info, "nope")).toEqual([]);
    });

    test("precheck_problem: no backup, a time before the oldest backup's end, a time in the future; latest needs only a backup", () => {
        const sorted = pyOk(TOOL, "backups_of", info, "pgsql");
        expect(pyOk(TOOL, "precheck_problem", [], "latest", 0, 5000)).toBe("the repository holds no backup of this stanza");
        expect(pyOk(TOOL, "precheck_problem", sorted, "latest", 0, 5000)).toBeNull();
        expect(pyOk(TOOL, "precheck_problem", sorted, "time", 1100, 5000)).toBeNull();
        expect(pyOk(TOOL, "precheck_problem", sorted, "time", 1099, 5000)).toMatch(/^the target 1970-01-01 00:18:19\+00 lies before the end of the oldest backup \(B1, 1970-01-01 00:18:20\+00\)/);
        expect(pyOk(TOOL, "precheck_problem", sorted, "time", 5001, 5000)).toMatch(/lies in the future/);
    });

    test("running_members: members patronictl shows with PostgreSQL up", () => {
        const list = JSON.stringify([
            { Member: "a", State: "running" },
            { Member: "b", State: "streaming" },
            { Member: "c", State: "stopped" },
            { Member: "d", State: "starting" },
        ]);
        expect(pyOk(TOOL, "running_members", list)).toEqual(["a", "b", "d"]);
        expect(pyOk(TOOL, "running_members", "[]")).toEqual([]);
    });

    test("a re-created replica (patroni-wait.py, which the replica step runs) counts once it streams (or, Patroni 3.0.2, once it runs without a state)", () => {
        const streaming = (st: string) => pyOk("patroni-wait.py", "ready", "replica", st);
        expect(["replica streaming streaming", "replica running streaming", "replica running -"].map(streaming)).toEqual([true, true, true]);
        expect(["replica running in archive recovery", "replica starting -", "unreachable URLError", "primary running -"].map(streaming)).toEqual([false, false, false, false]);
    });

    test("markers: a step of an id runs once per host; another id is another restore", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgha-restore-marker-"));
        try {
            const out = withProgram(
                TOOL,
                `m.MARKER_DIR = sys.argv[1]
print(m.done_already("r1", "stop"))
m.mark_done("r1")
print(m.done_already("r1", "stop"))
print(m.done_already("r2", "stop"))`,
                [dir],
            );
            expect(out.split("\n").filter((l) => !l.startsWith("pgha:"))).toEqual(["False", "True", "False", ""]);
            expect(out).toContain(`pgha: restore r1: stop already done on this host (marker ${dir}/r1.done): nothing to do`);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    test("wait_progress: goes on while progress changes, fails after the stall without change, returns when finished", () => {
        const out = withProgram(
            TOOL,
            `m.POLL_SEC = 0.01
seen = iter([(False, 1), (False, 2), (False, 3), (True, "done")])
print(m.wait_progress("x", lambda: next(seen), 0.5))
try:
    m.wait_progress("the replay", lambda: (False, "0/5000028"), 0.2)
except SystemExit as e:
    print(e.code)`,
        );
        expect(out).toBe("done\npgha: the replay: no progress for 0 s (last seen: 0/5000028)\n");
    });

    test("wait_progress: a line every report with bytes of the total and the rate; bytes moving by less than 1 MiB are no progress", () => {
        const out = withProgram(
            TOOL,
            `m.POLL_SEC = 0
clock = iter(range(0, 1000, 5))
m.time.monotonic = lambda: next(clock)
MiB = 1 << 20
seen = iter([(False, 0), (False, 2 * MiB), (False, 4 * MiB), (False, 6 * MiB), (False, 7 * MiB), (False, 7 * MiB + 100), (True, "done")])
print(m.wait_progress("pgbackrest restore", lambda: next(seen), 60, 8 * MiB))
stuck = iter([(False, 6 * MiB + i * 1000) for i in range(100)])
try:
    m.wait_progress("the full backup", lambda: next(stuck), 12)
except SystemExit as e:
    print(e.code)`,
        );
        expect(out).toBe(
            [
                // Clock: 0 at the start, then 5 s per sample; a report every 15 s at most.
                "pgha: pgbackrest restore: 4.0 MiB of 8.0 MiB (50%)",
                "pgha: pgbackrest restore: 7.0 MiB of 8.0 MiB (87%), 204 KiB/s",
                "done",
                "pgha: the full backup: no progress for 12 s (last seen: 6.0 MiB)",
                "",
            ].join("\n"),
        );
    });

    test("backup_size: the newest backup's size, from pgbackrest info; None when there is none or it cannot be read", () => {
        const withSize = JSON.stringify([
            {
                name: "pgsql",
                backup: [
                    { label: "B2", timestamp: { start: 2000, stop: 2100 }, info: { size: 5368709120 } },
                    { label: "B1", timestamp: { start: 1000, stop: 1100 }, info: { size: 1024 } },
                ],
            },
        ]);
        expect(pyOk(TOOL, "backup_size", withSize, "pgsql")).toBe(5368709120);
        expect(pyOk(TOOL, "backup_size", withSize, "other")).toBeNull();
        expect(pyOk(TOOL, "backup_size", info, "pgsql")).toBeNull();
        expect(pyOk(TOOL, "backup_size", "", "pgsql")).toBeNull();
    });
});

(hasPython3 ? describe : describe.skip)("patroni-dcs-apply.py current_config (python3)", () => {
    const run = (answers: [number, string][], seconds: number) =>
        withProgram(
            "patroni-dcs-apply.py",
            `import json
answers = iter(json.loads(sys.argv[1]))
m.api = "https://pg1:8008"
m.call = lambda method, url, body=None: next(answers)
m.time.sleep = lambda s: None
try:
    print(json.dumps(m.current_config(float(sys.argv[2]))))
except SystemExit as e:
    print(e.code)`,
            [JSON.stringify(answers), String(seconds)],
        ).trim();

    test("502 (no configuration in the DCS yet) is retried; 200 returns the configuration", () => {
        expect(
            run(
                [
                    [502, "bad gateway"],
                    [502, "bad gateway"],
                    [200, '{"ttl": 30}'],
                ],
                60,
            ),
        ).toBe('{"ttl": 30}');
    });

    test("another status fails at once; 502 past the bound fails with it", () => {
        expect(run([[401, "no"]], 60)).toBe("pgha: GET https://pg1:8008/config answered 401: no");
        expect(run([[502, "bad gateway"]], 0)).toBe("pgha: GET https://pg1:8008/config answered 502: bad gateway");
    });
});
