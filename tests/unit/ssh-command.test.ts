// The settings remoteScript gives every remote.Command of a cluster, under mocks: what the
// provider does around the script (environment, logging, the phases it runs).
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
