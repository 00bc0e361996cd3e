// npm run fleet (scripts/ops/fleet*.ts): the arguments, the bounded-parallel scheduler, the
// engine summary → counts, the table, the failure reason; the real engine runs in
// tests/e2e/fleet.e2e.test.ts.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { DEFAULT_PARALLEL, parseFleetArgs } from "../../scripts/ops/fleet-args";
import { runBounded } from "../../scripts/ops/fleet-pool";
import { StackOutcome, changeCounts, commandFailure, failureReason, finishedLine, formatChanges, formatDuration, oneLine, renderTable, taggedTail, tally } from "../../scripts/ops/fleet-report";
import { findProjectDir, onPath, redactUrl } from "../../scripts/ops/fleet";

describe("parseFleetArgs", () => {
    test("preview and up with their defaults", () => {
        expect(parseFleetArgs(["preview", "--stacks", "a,b,c"])).toEqual({ ok: true, command: { verb: "preview", stacks: ["a", "b", "c"], parallel: DEFAULT_PARALLEL, stream: false, tail: 20 } });
        expect(parseFleetArgs(["--stacks=prod-eu", "up", "--parallel=2", "--stream", "--tail", "0"])).toEqual({
            ok: true,
            command: { verb: "up", stacks: ["prod-eu"], parallel: 2, stream: true, tail: 0 },
        });
        expect(parseFleetArgs(["up", "--stacks", "org/pgha/prod, dev"])).toMatchObject({ ok: true, command: { stacks: ["org/pgha/prod", "dev"] } });
        expect(parseFleetArgs(["--help"])).toEqual({ ok: false, help: true });
    });
    test.each([
        [[], "say preview or up"],
        [["destroy", "--stacks", "a"], "unknown command destroy"],
        [["preview", "up", "--stacks", "a"], "one command only"],
        [["preview"], "--stacks NAME[,NAME...] is required"],
        [["preview", "--stacks"], "--stacks needs a value"],
        [["preview", "--stacks", "a,,b"], "is not a stack name"],
        [["preview", "--stacks", "a,b;rm"], "is not a stack name"],
        [["preview", "--stacks", "a,b,a"], "names a twice"],
        [["preview", "--stacks", "a", "--stacks", "b"], "--stacks given twice"],
        [["preview", "--stacks", "a", "--parallel", "0"], "--parallel must be a whole number"],
        [["preview", "--stacks", "a", "--parallel", "2.5"], "--parallel must be a whole number"],
        [["preview", "--stacks", "a", "--tail", "x"], "--tail must be a whole number"],
        [["preview", "--stacks", "a", "--yes"], "unknown option --yes"],
        [["preview", "--stacks", "a", "--stream", "--stream"], "--stream given twice"],
    ])("%j is refused: %s", (argv, message) => {
        const r = parseFleetArgs(argv as string[]);
        expect(r.ok).toBe(false);
        expect(r.ok === false && !r.help && r.message).toContain(message);
    });
});

describe("runBounded", () => {
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    test("never more than the limit at once, each started as a slot frees, results in the list's order", async () => {
        let now = 0;
        let peak = 0;
        const starts: string[] = [];
        const ms: Record<string, number> = { a: 40, b: 5, c: 5, d: 5, e: 5 };
        const out = await runBounded(Object.keys(ms), 2, {
            run: async (s) => {
                starts.push(s);
                peak = Math.max(peak, ++now);
                await sleep(ms[s]);
                now--;
                return s.toUpperCase();
            },
            failed: () => "failed",
            skipped: () => "skipped",
        });
        expect(out).toEqual(["A", "B", "C", "D", "E"]);
        expect(peak).toBe(2);
        expect(starts).toEqual(["a", "b", "c", "d", "e"]);
    });
    test("a throw is that item's failure, the others run", async () => {
        const out = await runBounded(["a", "bad", "c"], 3, {
            run: async (s) => {
                if (s === "bad") throw new Error("boom");
                return `ok ${s}`;
            },
            failed: (s, i, e) => `${s}#${i}: ${(e as Error).message}`,
            skipped: () => "skipped",
        });
        expect(out).toEqual(["ok a", "bad#1: boom", "ok c"]);
    });
    test("once cancelled, nothing more starts; the running ones finish", async () => {
        let cancelled = false;
        const out = await runBounded(["a", "b", "c", "d"], 2, {
            cancelled: () => cancelled,
            run: async (s) => {
                await sleep(s === "a" ? 5 : 20);
                if (s === "a") cancelled = true;
                return `ran ${s}`;
            },
            failed: () => "failed",
            skipped: (s) => `skipped ${s}`,
        });
        expect(out).toEqual(["ran a", "ran b", "skipped c", "skipped d"]);
    });
    test("fewer items than the limit, none, and a bad limit", async () => {
        const h = { run: async (s: string) => s, failed: () => "f", skipped: () => "s" };
        expect(await runBounded(["x"], 8, h)).toEqual(["x"]);
        expect(await runBounded([], 4, h)).toEqual([]);
        await expect(runBounded(["x"], 0, h)).rejects.toThrow(/limit/);
    });
});

describe("counts, lines and the table", () => {
    test("the engine summary → counts: a replacement once, the rest as other", () => {
        expect(changeCounts({ create: 96 })).toEqual({ create: 96, update: 0, replace: 0, delete: 0, same: 0, other: 0 });
        const c = changeCounts({ same: 90, update: 2, replace: 1, delete: 1, read: 1, import: 2 });
        expect(c).toEqual({ create: 0, update: 2, replace: 1, delete: 1, same: 90, other: 3 });
        expect(formatChanges(c)).toBe("~2 +-1 -1 other 3 =90");
        expect(formatChanges(changeCounts({ create: 96 }))).toBe("+96");
        expect(formatChanges(changeCounts({ same: 96 }))).toBe("=96");
        expect(formatChanges(changeCounts({}))).toBe("0");
        expect(formatChanges(undefined)).toBe("-");
    });
    test("durations", () => {
        expect(formatDuration(8612)).toBe("8.6 s");
        expect(formatDuration(59_940)).toBe("59.9 s");
        expect(formatDuration(125_400)).toBe("2 m 05 s");
    });
    test("the reason: the program's error diagnostic in one line, else pulumi's", () => {
        const diag = '<{%reset%}>pgha: the stack configuration has 1 problem:\n  - pgha:nodes[2].address: "10.0.0.300" is not an IPv4 address\n<{%reset%}>';
        expect(failureReason(["preview failed", diag], "ignored")).toBe('pgha: the stack configuration has 1 problem: - pgha:nodes[2].address: "10.0.0.300" is not an IPv4 address');
        expect(failureReason([], "error: no stack named 'x' found")).toBe("no stack named 'x' found");
        expect(oneLine("x".repeat(400))).toHaveLength(300);
        expect(oneLine("\u001b[31merror: red\u001b[0m")).toBe("red");
    });
    test("a failed remote command: its step and the reason its script printed, not the quoted command", () => {
        // The shape @pulumi/command 1.2.1 gives (remote/commandOutputs.go: "%w: running %q:\n%s"), as the lab's fleet-lab run saw it.
        const cmd =
            "# pgha: verify cluster pgsqlb (spec db48454a56054fd5) (update)\ntimeout --kill-after=10 240 bash -c 'set -euo pipefail\npython3 /usr/local/libexec/pgha/pgha-verify.py \\\n  --timeout 180'";
        const diag = `Process exited with status 1: running ${JSON.stringify(cmd)}:\npgha: verify: waiting for etcd\npgha: cluster not verified after 180 s: etcd health: https://198.18.0.14:2379 is healthy\nhttps://198.18.0.16:2379 is unhealthy: context deadline exceeded\n`;
        expect(failureReason(["update failed", diag], "ignored")).toBe(
            "verify cluster pgsqlb: exit 1: pgha: cluster not verified after 180 s: etcd health: https://198.18.0.14:2379 is healthy https://198.18.0.16:2379 is unhealthy: context deadline exceeded",
        );
        // No "pgha:" line: the output's last line; no output: the step and the status alone.
        expect(commandFailure(`Process exited with status 2: running "# pgha: install packages\napt-get install x":\nE: Unable to locate package x\n`)).toBe(
            "install packages: exit 2: E: Unable to locate package x",
        );
        expect(commandFailure(`Process exited with status 124: running "sleep 9":\n`)).toBe("remote command: exit 124");
        expect(commandFailure("pgha: the stack configuration has 1 problem")).toBeUndefined();
        // Pulumi's own stderr carries the same text after "error:".
        expect(failureReason([], `error: update failed\nerror: Process exited with status 1: running "# pgha: verify cluster c\nx":\npgha: verify: no leader\n`)).toBe(
            "verify cluster c: exit 1: pgha: verify: no leader",
        );
    });
    test("a failed stack's tail is tagged with its name", () => {
        expect(taggedTail("bad", "one\r\n\ntwo\nthree\n", 2)).toEqual(["  bad | two", "  bad | three"]);
        expect(taggedTail("bad", "one\n", 0)).toEqual([]);
    });
    test("the table: aligned, a reason column only when a stack has one, and the tally", () => {
        const ok: StackOutcome = { stack: "a", result: "succeeded", counts: changeCounts({ create: 96 }), ms: 8600 };
        expect(renderTable([ok]).split("\n")).toEqual(["stack  result     changes  time", "-----  ---------  -------  -----", "a      succeeded  +96      8.6 s"]);
        const rows: StackOutcome[] = [ok, { stack: "bad-one", result: "failed", ms: 7000, reason: "why" }, { stack: "c", result: "not started", reason: "interrupted before it started" }];
        expect(renderTable(rows).split("\n")).toEqual([
            "stack    result       changes  time   reason",
            "-------  -----------  -------  -----  -----------------------------",
            "a        succeeded    +96      8.6 s",
            "bad-one  failed       -        7.0 s  why",
            "c        not started  -        -      interrupted before it started",
        ]);
        expect(tally(rows)).toBe("1 succeeded, 1 failed, 1 not started");
        expect(finishedLine(rows[1], 2, 3)).toBe("fleet: [2/3] bad-one: failed, changes - in 7.0 s: why");
    });
});

describe("where it runs", () => {
    test("the project is the nearest directory with Pulumi.yaml, as pulumi finds it", () => {
        const root = path.resolve(__dirname, "..", "..");
        expect(findProjectDir(path.join(root, "docs"))).toBe(root);
        expect(findProjectDir(os.tmpdir())).toBeUndefined();
    });
    test("the pulumi run is the first executable on PATH", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fleet-path-"));
        try {
            for (const d of ["a", "b/bin", "c/bin"]) fs.mkdirSync(path.join(dir, d), { recursive: true });
            fs.writeFileSync(path.join(dir, "a", "pulumi"), "not executable", { mode: 0o644 });
            for (const d of ["b/bin", "c/bin"]) fs.writeFileSync(path.join(dir, d, "pulumi"), "#!/bin/sh\n", { mode: 0o755 });
            const PATH = ["", "a", "b/bin", "c/bin"].map((d) => path.join(dir, d)).join(":");
            expect(onPath("pulumi", PATH)).toBe(path.join(dir, "b", "bin", "pulumi"));
            expect(onPath("pulumi", path.join(dir, "a"))).toBeUndefined();
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
    test("a backend URL is printed without its credentials", () => {
        expect(redactUrl("postgres://pgha:s3cret@db:5432/state")).toBe("postgres://***@db:5432/state");
        expect(redactUrl("file:///var/state")).toBe("file:///var/state");
        expect(redactUrl("s3://bucket/path?region=x")).toBe("s3://bucket/path?region=x");
    });
});
