// The settings remoteScript gives every remote.Command of a cluster, under mocks: what the
// provider does around the script (environment, logging, the phases it runs).
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { wrapScript } from "../../components/ssh";
import { specOf } from "./fixtures";
import { Registered, registerCluster, remoteCommands } from "./mock-cluster";

describe("every remote command of the classic cluster (mocks)", () => {
    let commands: Registered[];
    beforeAll(async () => {
        commands = remoteCommands(await registerCluster(specOf()));
    });

    // With addPreviousOutputInEnv the provider sends the previous stdout/stderr with SSH `setenv`
    // (PULUMI_COMMAND_STDOUT/STDERR), which a stock sshd refuses (its AcceptEnv lists LANG and
    // LC_* only); pgha's scripts never read them.
    test("never asks for its previous output in the environment", () => {
        expect(commands.length).toBeGreaterThan(40);
        for (const c of commands) expect([c.name, c.inputs.addPreviousOutputInEnv]).toEqual([c.name, false]);
    });

    test("logs stdout and stderr, and has a create and an update script", () => {
        for (const c of commands) {
            expect([c.name, c.inputs.logging]).toEqual([c.name, "stdoutAndStderr"]);
            expect([c.name, typeof c.inputs.create, typeof c.inputs.update]).toEqual([c.name, "string", "string"]);
        }
    });
});

describe("the time bound of a wrapped script, run by sh", () => {
    const run = (body: string, what: string, cwd?: string) => spawnSync("sh", ["-c", wrapScript(body, { sudo: false, timeoutSec: 1, what })], { cwd, input: "", encoding: "utf8" });

    test("a script over its time is stopped, exits 124 and says what timed out", () => {
        const started = Date.now();
        const r = run("sleep 20", "write pg1:/etc/x (create)");
        expect(Date.now() - started).toBeLessThan(8000);
        expect([r.status, r.stderr]).toEqual([124, "pgha: write pg1:/etc/x (create): timed out after 1s\n"]);
    });

    test("a script killed (137, as after --kill-after) is named too; other failures are not called timeouts", () => {
        // (timeout re-raises the signal, and the login shell may print "Killed" first.)
        const killed = run("kill -KILL $$", "etcd on pg1 (update)");
        expect(killed.status).toBe(137);
        expect(killed.stderr).toMatch(/(^|\n)pgha: etcd on pg1 \(update\): timed out after 1s\n$/);
        expect([run("exit 3", "x").status, run("exit 3", "x").stderr]).toEqual([3, ""]);
        expect([run("exit 125", "x").status, run("exit 125", "x").stderr]).toEqual([125, ""]);
    });

    test("the description is text in the message, never expanded by the login shell", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgha-wrap-"));
        const r = run("sleep 20", 'a"; touch one; echo "$(touch two)`touch three`\\', dir);
        expect(r.status).toBe(124);
        expect(r.stderr).toBe("pgha: a; touch one; echo (touch two)touch three: timed out after 1s\n");
        expect(fs.readdirSync(dir)).toEqual([]);
        fs.rmSync(dir, { recursive: true });
    });
});
