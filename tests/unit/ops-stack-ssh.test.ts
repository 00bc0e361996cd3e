// scripts/ops/stack.ts and scripts/ops/ssh.ts, shared by the operational scripts (npm run
// backup, ...): a stack's configuration read from `pulumi config --json` (the lab's stack bk,
// captured in tests/unit/backup-ops/) into the ClusterSpec `pulumi up` deploys from, without
// reading a secret; ssh's arguments from the stack's settings; a server program run from its
// installed copy or from this checkout's.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { PGBACKREST_STEPS } from "../../components/pgha-tools";
import { secretValueProblem } from "../../core/config";
import { NodeSpec } from "../../core/spec";
import { knownHostsText, sshArgv, sshFailure, toolBody } from "../../scripts/ops/ssh";
import { CliConfig, OpsError, UNREAD_SECRETS, pulumiErrorReason, rawConfigFromCli, specFromCli, sshKeyInSecret, withSecretObjectsFromStackFile } from "../../scripts/ops/stack";

const CONFIG: CliConfig = JSON.parse(fs.readFileSync(path.join(__dirname, "backup-ops", "pulumi-config-bk.json"), "utf8"));
const spec = specFromCli("bk", CONFIG, { homedir: "/root", postgresVersion: 17 });

describe("the stack, read as pulumi shows it", () => {
    test("the lab's `pulumi config --json` validates into its spec, no secret value read", () => {
        expect(spec.nodes.map((n) => [n.name, n.sshUser, n.sshHost, n.sshPort, n.roles.join("+")])).toEqual([
            ["lab1", "root", "198.18.0.11", 22, "etcd+postgres+haproxy+keepalived"],
            ["lab2", "root", "198.18.0.12", 22, "etcd+postgres+haproxy+keepalived"],
            ["lab3", "root", "198.18.0.13", 22, "etcd+postgres"],
            ["lab4", "root", "198.18.0.14", 22, "backup"],
        ]);
        expect(spec.ssh).toEqual({ user: "root", port: 22, privateKeyPath: "/root/.cache/pgha/lab/id_ed25519", strictHostKeys: true });
        expect(spec.backup).toMatchObject({ stanza: "pgsql", archiveTimeout: 60, encryption: true });
        expect(spec.postgres.binDir).toBe("/usr/lib/postgresql/17/bin");
        expect(sshKeyInSecret(CONFIG)).toBe(false);
    });

    test("a set secret gets a stand-in that passes its own check; an unset one stays unset", () => {
        const raw = rawConfigFromCli(CONFIG, "/root");
        expect(raw.secrets.superuserPassword).toBe(UNREAD_SECRETS.superuserPassword);
        expect(raw.secrets.sshPrivateKey).toBe("");
        expect(raw.secretKeysMarkedSecret).toEqual(["backupCipherPassphrase", "keepalivedPassword", "replicationPassword", "restApiPassword", "superuserPassword"]);
        for (const [name, value] of Object.entries(UNREAD_SECRETS)) expect([name, secretValueProblem(name as any, value)]).toEqual([name, undefined]);
    });

    test("pgha:sshPrivateKey set as a secret: the key comes from it, not from a path", () => {
        const { "pgha:ssh": _, ...rest } = CONFIG;
        const cfg: CliConfig = { ...rest, "pgha:sshPrivateKey": { secret: true } };
        expect(sshKeyInSecret(cfg)).toBe(true);
        expect(specFromCli("bk", cfg).ssh.privateKeyPath).toBeUndefined();
    });

    test("a configuration that does not validate is one line: the first problem and how many more", () => {
        const cfg: CliConfig = { ...CONFIG, "pgha:clusterName": { value: "Bad Name", secret: false }, "pgha:superuserPassword": { value: "plain", secret: false } };
        expect(() => specFromCli("bk", cfg)).toThrow(OpsError);
        expect(() => specFromCli("bk", cfg)).toThrow(/^stack bk: its configuration does not validate: pgha:clusterName: .* \(and 1 more: pulumi preview --stack bk lists them\)$/);
    });

    test("pgha:roles with a --secret --path password (pulumi config --json shows the key without a value): read from the stack file, nothing decrypted", () => {
        // The drill suite's deployment: `npm run status` refused it ("app is neither a role of pgha:roles").
        const cfg: CliConfig = {
            ...CONFIG,
            "pgha:roles": { secret: true },
            "pgha:databases": { value: JSON.stringify([{ name: "appdb", owner: "app" }]), secret: false },
        };
        expect(() => specFromCli("bk", cfg, { homedir: "/root", postgresVersion: 17 })).toThrow(/app is neither a role/);
        const stackFile = [
            "config:",
            "  pgha:roles:",
            "    - name: app",
            "      login: true",
            "      password:",
            "        secure: v1:abc:def",
            "  pgha:superuserPassword:",
            "    secure: v1:x:y",
            "",
        ].join("\n");
        const read = withSecretObjectsFromStackFile(cfg, stackFile);
        expect(read["pgha:roles"]).toEqual({ value: JSON.stringify([{ name: "app", login: true, password: "unread-secret-value" }]), secret: true });
        // pgha's own secrets keep their stand-ins; the ciphertext is in nothing the script holds.
        expect(read["pgha:superuserPassword"]).toEqual(CONFIG["pgha:superuserPassword"]);
        expect(JSON.stringify(read)).not.toContain("v1:abc:def");
        const s = specFromCli("bk", read, { homedir: "/root", postgresVersion: 17 });
        expect(s.roles?.map((r) => [r.name, r.login])).toEqual([["app", true]]);
        // No stack file, or one without the key: unchanged.
        expect(withSecretObjectsFromStackFile(cfg, undefined)).toBe(cfg);
        expect(withSecretObjectsFromStackFile(cfg, "config: {}\n")["pgha:roles"]).toEqual({ secret: true });
    });

    test("pulumi's reason: its last error line", () => {
        expect(pulumiErrorReason("warning: x\nerror: no stack named 'nope' found\n")).toBe("no stack named 'nope' found");
        expect(pulumiErrorReason("something odd\n")).toBe("something odd");
        expect(pulumiErrorReason("")).toBe("no output");
    });
});

describe("ssh with the stack's settings", () => {
    const node = (edit: Partial<NodeSpec> = {}): NodeSpec => ({ ...spec.nodes[3], ...edit });
    const files = { key: "/tmp/k/id", knownHosts: "/tmp/k/known_hosts" };

    test("the node's own host, port and user; the stack's key only; the pinned key verified", () => {
        const argv = sshArgv(node({ sshHost: "bastion.example", sshPort: 2222, sshUser: "pgha" }), files, true, "true");
        expect(argv.slice(-6)).toEqual(["-p", "2222", "-l", "pgha", "bastion.example", "true"]);
        expect(argv.join(" ")).toContain("-F /dev/null -i /tmp/k/id -o IdentitiesOnly=yes -o BatchMode=yes -o GlobalKnownHostsFile=/dev/null");
        expect(argv.join(" ")).toContain("-o StrictHostKeyChecking=yes -o UserKnownHostsFile=/tmp/k/known_hosts");
    });

    test("strictHostKeys false: a node without hostKey accepts any key; one with a hostKey is still verified", () => {
        expect(sshArgv(node({ hostKey: undefined }), files, false, "true").join(" ")).toContain("-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null");
        expect(sshArgv(node(), files, false, "true").join(" ")).toContain("StrictHostKeyChecking=yes");
    });

    test("known_hosts: pinned keys only, [host]:port off port 22", () => {
        expect(knownHostsText([node(), node({ name: "x", sshHost: "10.0.0.9", sshPort: 2222 }), node({ hostKey: undefined })])).toBe(
            `198.18.0.14 ${spec.nodes[3].hostKey}\n[10.0.0.9]:2222 ${spec.nodes[3].hostKey}\n`,
        );
    });

    test("an ssh failure (exit 255) names the node and the connection; a remote failure is not one", () => {
        expect(sshFailure(node(), { status: 255, stdout: "", stderr: "ssh: connect to host 198.18.0.14 port 22: No route to host\n" })).toBe(
            "lab4: SSH to root@198.18.0.14:22 failed: ssh: connect to host 198.18.0.14 port 22: No route to host",
        );
        expect(sshFailure(node(), { status: 1, stdout: "", stderr: "x" })).toBeUndefined();
    });

    test("a server program runs from its installed copy when it is this checkout's, else from the copy sent on stdin (and says so)", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgha-ops-test-"));
        try {
            const content = '#!/bin/bash\necho "ran $0 with [$1] [$2]"\n';
            const installed = path.join(dir, "tool.sh");
            fs.writeFileSync(installed, content);
            const run = (toolPath: string, stdin: string) =>
                spawnSync("bash", ["-c", `set -euo pipefail\n${toolBody({ ...PGBACKREST_STEPS, path: toolPath, content }, ["a b", "it's"])}`], { input: stdin, encoding: "utf8" });
            const same = run(installed, content);
            expect([same.status, same.stdout, same.stderr]).toEqual([0, `ran ${installed} with [a b] [it's]\n`, ""]);
            fs.writeFileSync(installed, "echo older\n");
            const older = run(installed, content);
            expect([older.status, older.stdout.replace(/\/tmp\/pgha-ops\.\w+/, "TMP")]).toEqual([0, "ran TMP with [a b] [it's]\n"]);
            expect(older.stderr).toContain(`pgha: ${installed} on ${os.hostname()} is not this checkout's (the next pulumi up installs it): ran this checkout's copy`);
            const missing = run(path.join(dir, "absent.sh"), content);
            const copy = /^ran (\/tmp\/pgha-ops\.\w+) /.exec(missing.stdout)?.[1];
            expect([missing.status, copy !== undefined]).toEqual([0, true]);
            // The copy is removed once it has run.
            expect(fs.existsSync(copy!)).toBe(false);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});
