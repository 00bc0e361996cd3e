// components/host-facts.ts (reading /etc/os-release over SSH) and resolvePostgresVersion
// (components/postgres-ha-cluster.ts), against a stand-in `ssh` first on PATH: it logs its
// arguments and what the key and known_hosts files held when it ran, and prints the
// os-release of the host it was asked for (or fails like ssh for the hosts told to).

import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { readOsReleases } from "../../components/host-facts";
import { resolvePostgresVersion } from "../../components/postgres-ha-cluster";
import { clusterShape } from "../../core/transitions";
import { PLATFORMS, platformLabel } from "../../core/platforms";
import { NodeSpec } from "../../core/spec";
import { FAKE_SECRETS, classicValues, classicWith, placeholderHostKey, specOf } from "./fixtures";
import { MOCK_SSH_KEY } from "./mock-cluster";

// Jest gives each test file its own copy of process.env, which child_process (Node's own)
// does not see: ssh is spawned with this file's environment, so the PATH set here decides.
jest.mock("child_process", () => {
    const actual = jest.requireActual("child_process");
    return { ...actual, spawn: (cmd: string, args: string[], opts: Record<string, unknown>) => actual.spawn(cmd, args, { ...opts, env: process.env }) };
});

const OS_RELEASE: Record<string, string> = {
    bookworm: 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nVERSION="12 (bookworm)"\nVERSION_CODENAME=bookworm\nID=debian\n',
    trixie: 'PRETTY_NAME="Debian GNU/Linux 13 (trixie)"\nNAME="Debian GNU/Linux"\nVERSION_ID="13"\nVERSION="13 (trixie)"\nVERSION_CODENAME=trixie\nID=debian\n',
};

interface SshCall {
    argv: string[];
    host: string;
    key: { path: string; mode: number; dirMode: number; content: string } | null;
    knownHosts: { path: string; content: string } | null;
}

const FAKE_SSH = `#!${process.execPath}
const fs = require("fs");
const path = require("path");
const argv = process.argv.slice(2);
const opt = (name) => argv.map((a, i) => (argv[i - 1] === "-o" && a.startsWith(name + "=") ? a.slice(name.length + 1) : undefined)).find((v) => v !== undefined);
const i = argv.indexOf("-i");
const keyPath = i >= 0 ? argv[i + 1] : undefined;
const kh = opt("UserKnownHostsFile");
const host = argv[argv.length - 2];
const call = {
    argv,
    host,
    key: keyPath && fs.existsSync(keyPath) ? { path: keyPath, mode: fs.statSync(keyPath).mode & 0o777, dirMode: fs.statSync(path.dirname(keyPath)).mode & 0o777, content: fs.readFileSync(keyPath, "utf8") } : null,
    knownHosts: kh && kh !== "/dev/null" && fs.existsSync(kh) ? { path: kh, content: fs.readFileSync(kh, "utf8") } : null,
};
fs.appendFileSync(process.env.FAKE_SSH_LOG, JSON.stringify(call) + "\\n");
const fail = (process.env.FAKE_SSH_FAIL || "").split(" ");
if (fail.includes(host)) {
    process.stderr.write("Warning: something earlier\\nssh: connect to host " + host + " port 22: Connection refused\\n");
    process.exit(255);
}
const releases = JSON.parse(process.env.FAKE_SSH_RELEASES || "{}");
process.stdout.write(releases[host] ?? "");
`;

let sandbox = "";
let savedEnv: NodeJS.ProcessEnv = {};
const logFile = () => path.join(sandbox, "ssh-log");
const calls = (): SshCall[] =>
    fs.existsSync(logFile())
        ? fs
              .readFileSync(logFile(), "utf8")
              .trim()
              .split("\n")
              .map((l) => JSON.parse(l) as SshCall)
        : [];
/** What each host answers: its os-release, by the release's codename. */
const answer = (byHost: Record<string, string>, failing: string[] = []) => {
    process.env.FAKE_SSH_RELEASES = JSON.stringify(Object.fromEntries(Object.entries(byHost).map(([h, r]) => [h, OS_RELEASE[r]])));
    process.env.FAKE_SSH_FAIL = failing.join(" ");
};
const optionValue = (argv: string[], name: string) => argv.find((a, i) => argv[i - 1] === "-o" && a.startsWith(`${name}=`))?.slice(name.length + 1);

beforeAll(() => {
    pulumi.runtime.setMocks({ newResource: (a) => ({ id: `${a.name}-id`, state: a.inputs }), call: (a) => a.inputs }, "pgha", "unit", false);
});
beforeEach(() => {
    sandbox = fs.mkdtempSync(path.join(os.tmpdir(), "pgha-facts-test-"));
    fs.mkdirSync(path.join(sandbox, "bin"));
    fs.writeFileSync(path.join(sandbox, "bin", "ssh"), FAKE_SSH, { mode: 0o755 });
    savedEnv = { PATH: process.env.PATH, FAKE_SSH_LOG: process.env.FAKE_SSH_LOG, FAKE_SSH_RELEASES: process.env.FAKE_SSH_RELEASES, FAKE_SSH_FAIL: process.env.FAKE_SSH_FAIL };
    process.env.PATH = `${path.join(sandbox, "bin")}:${process.env.PATH}`;
    process.env.FAKE_SSH_LOG = logFile();
});
afterEach(() => {
    for (const [k, v] of Object.entries(savedEnv)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
    }
    fs.rmSync(sandbox, { recursive: true, force: true });
});

describe("readOsReleases", () => {
    test("pinned host keys: StrictHostKeyChecking=yes against a known_hosts of exactly the nodes' keys, [host]:port off port 22", async () => {
        const spec = specOf(classicWith((v) => ((v.nodes[1].sshPort = 2222), (v.nodes[2].sshHost = "db-3.example.com"))));
        answer({ "172.51.216.81": "trixie", "172.51.216.82": "bookworm", "db-3.example.com": "trixie" });
        const r = await readOsReleases(spec.nodes, { privateKey: MOCK_SSH_KEY, strictHostKeys: true });
        expect(r.problems).toEqual([]);
        expect([...r.releases]).toEqual([
            ["pg1", OS_RELEASE.trixie],
            ["pg2", OS_RELEASE.bookworm],
            ["pg3", OS_RELEASE.trixie],
        ]);
        const seen = calls();
        expect(seen.map((c) => c.host).sort()).toEqual(["172.51.216.81", "172.51.216.82", "db-3.example.com"]);
        const knownHosts = [`172.51.216.81 ${placeholderHostKey("pg1")}`, `[172.51.216.82]:2222 ${placeholderHostKey("pg2")}`, `db-3.example.com ${placeholderHostKey("pg3")}`, ""].join("\n");
        for (const c of seen) {
            expect(optionValue(c.argv, "StrictHostKeyChecking")).toBe("yes");
            expect(optionValue(c.argv, "GlobalKnownHostsFile")).toBe("/dev/null");
            expect(optionValue(c.argv, "BatchMode")).toBe("yes");
            expect(c.knownHosts?.content).toBe(knownHosts);
            expect(path.dirname(c.knownHosts!.path)).toBe(path.dirname(c.key!.path));
        }
        // Each connects as the node's user, to its port.
        const pg2 = seen.find((c) => c.host === "172.51.216.82")!;
        expect(pg2.argv.slice(pg2.argv.indexOf("-p"), pg2.argv.indexOf("-p") + 4)).toEqual(["-p", "2222", "-l", "root"]);
    });

    test("the key is written 0600 in a 0700 directory, with a final newline, and removed afterwards", async () => {
        const spec = specOf();
        answer({ "172.51.216.81": "trixie", "172.51.216.82": "trixie", "172.51.216.83": "trixie" });
        await readOsReleases(spec.nodes, { privateKey: MOCK_SSH_KEY, strictHostKeys: true });
        const seen = calls();
        expect(seen).toHaveLength(3);
        for (const c of seen) {
            expect(c.key).toEqual({ path: seen[0].key!.path, mode: 0o600, dirMode: 0o700, content: `${MOCK_SSH_KEY}\n` });
            expect(c.argv.slice(0, 2)).toEqual(["-i", c.key!.path]);
            expect(optionValue(c.argv, "IdentitiesOnly")).toBe("yes");
        }
        expect(fs.existsSync(path.dirname(seen[0].key!.path))).toBe(false);
        // A key that already ends in a newline gets no second one.
        fs.rmSync(logFile());
        await readOsReleases(spec.nodes.slice(0, 1), { privateKey: `${MOCK_SSH_KEY}\n`, strictHostKeys: true });
        expect(calls()[0].key!.content).toBe(`${MOCK_SSH_KEY}\n`);
    });

    test("strictHostKeys false: a node without hostKey is not verified, one with a hostKey still is", async () => {
        const spec = specOf(classicWith((v) => ((v.ssh.strictHostKeys = false), delete v.nodes[0].hostKey)));
        // specOf gives a node without hostKey its placeholder; take it away again for pg1.
        const nodes: NodeSpec[] = spec.nodes.map((n) => (n.name === "pg1" ? { ...n, hostKey: undefined } : n));
        answer({ "172.51.216.81": "trixie", "172.51.216.82": "trixie", "172.51.216.83": "trixie" });
        const r = await readOsReleases(nodes, { privateKey: MOCK_SSH_KEY, strictHostKeys: false });
        expect(r.problems).toEqual([]);
        const byHost = new Map(calls().map((c) => [c.host, c]));
        const pg1 = byHost.get("172.51.216.81")!;
        expect([optionValue(pg1.argv, "StrictHostKeyChecking"), optionValue(pg1.argv, "UserKnownHostsFile")]).toEqual(["no", "/dev/null"]);
        const pg2 = byHost.get("172.51.216.82")!;
        expect(optionValue(pg2.argv, "StrictHostKeyChecking")).toBe("yes");
        // The unpinned node is not in known_hosts.
        expect(pg2.knownHosts!.content).toBe(`172.51.216.82 ${placeholderHostKey("pg2")}\n172.51.216.83 ${placeholderHostKey("pg3")}\n`);
    });

    test("the command run is exactly `cat /etc/os-release`, after the host, with ssh's own config ignored", async () => {
        const spec = specOf();
        answer({ "172.51.216.81": "bookworm" });
        await readOsReleases(spec.nodes.slice(0, 1), { privateKey: MOCK_SSH_KEY, strictHostKeys: true });
        const [c] = calls();
        expect(c.argv.slice(-2)).toEqual(["172.51.216.81", "cat /etc/os-release"]);
        expect(c.argv.filter((a) => a.includes("os-release"))).toEqual(["cat /etc/os-release"]);
        expect(c.argv[c.argv.indexOf("-F") + 1]).toBe("/dev/null");
    });

    test("a host that cannot be read: a problem naming the node, user@host:port and ssh's error; the others are still read", async () => {
        const spec = specOf(classicWith((v) => ((v.nodes[1].sshPort = 2222), (v.nodes[1].sshUser = "deploy"))));
        answer({ "172.51.216.81": "trixie", "172.51.216.83": "bookworm" }, ["172.51.216.82"]);
        const r = await readOsReleases(spec.nodes, { privateKey: MOCK_SSH_KEY, strictHostKeys: true });
        expect([...r.releases.keys()]).toEqual(["pg1", "pg3"]);
        expect(r.releases.get("pg3")).toBe(OS_RELEASE.bookworm);
        expect(r.problems).toEqual([
            "pg2: cannot read /etc/os-release over SSH (deploy@172.51.216.82:2222): Warning: something earlier ssh: connect to host 172.51.216.82 port 22: Connection refused",
        ]);
        expect(fs.existsSync(path.dirname(calls()[0].key!.path))).toBe(false);
    });

    test("no ssh at all: each node is a problem saying so", async () => {
        process.env.PATH = path.join(sandbox, "empty");
        const r = await readOsReleases(specOf().nodes.slice(0, 2), { privateKey: MOCK_SSH_KEY, strictHostKeys: true });
        expect(r.releases.size).toBe(0);
        expect(r.problems).toHaveLength(2);
        expect(r.problems[0]).toMatch(/^pg1: cannot read \/etc\/os-release over SSH \(root@172\.51\.216\.81:22\): cannot run ssh: /);
    });
});

describe("resolvePostgresVersion: pgha:postgres.version when the stack leaves it unset", () => {
    /** Library arguments: the classic config without privateKeyPath (the key is an argument), `edit` applied. */
    const argsOf = (edit: (v: any) => void = () => undefined) => {
        const values = classicWith((v) => {
            delete v.ssh.privateKeyPath;
            delete v.postgres.version;
            edit(v);
        });
        return { config: values as any, ...FAKE_SECRETS, sshPrivateKey: MOCK_SSH_KEY, previous: null };
    };
    const resolve = (args: ReturnType<typeof argsOf>, previous = {}) => resolvePostgresVersion(args.config, args, previous, MOCK_SSH_KEY);
    const trixie = PLATFORMS.find((p) => p.codename === "trixie")!;
    const bookworm = PLATFORMS.find((p) => p.codename === "bookworm")!;

    test("set in the stack: undefined (nothing to resolve), no ssh", async () => {
        answer({ "172.51.216.81": "trixie", "172.51.216.82": "trixie" });
        expect(await resolve(argsOf((v) => (v.postgres.version = 16)))).toBeUndefined();
        expect(calls()).toEqual([]);
    });

    test("recorded by the deployed cluster: that major, no ssh", async () => {
        answer({ "172.51.216.81": "trixie", "172.51.216.82": "trixie" });
        const recorded = clusterShape(specOf(classicWith((v) => (v.postgres.version = 16))));
        expect(await resolve(argsOf(), { clusterShape: recorded })).toBe(16);
        expect(calls()).toEqual([]);
    });

    test("nothing recorded: the PostgreSQL nodes' release decides, only they are read", async () => {
        const info = jest.spyOn(pulumi.log, "info").mockImplementation(() => Promise.resolve());
        answer({ "172.51.216.81": "trixie", "172.51.216.82": "trixie", "172.51.216.83": "bookworm" });
        expect(await resolve(argsOf())).toBe(trixie.postgresVersion);
        expect(info.mock.calls.map((c) => c[0])).toEqual(["pgha:postgres.version is unset: PostgreSQL 17, the major of Debian 13 (trixie), which pg1, pg2 run"]);
        info.mockRestore();
        expect(trixie.postgresVersion).toBe(17);
        // pg3 has no postgres role: its release does not count, and it is not asked.
        expect(
            calls()
                .map((c) => c.host)
                .sort(),
        ).toEqual(["172.51.216.81", "172.51.216.82"]);
        fs.rmSync(logFile());
        answer({ "172.51.216.81": "bookworm", "172.51.216.82": "bookworm" });
        expect(await resolve(argsOf())).toBe(bookworm.postgresVersion);
    });

    test("the key of pgha:ssh.privateKeyPath when no key is handed over", async () => {
        const keyFile = path.join(sandbox, "id_test");
        fs.writeFileSync(keyFile, `${MOCK_SSH_KEY}-from-file\n`, { mode: 0o600 });
        const args = argsOf((v) => (v.ssh.privateKeyPath = keyFile));
        answer({ "172.51.216.81": "trixie", "172.51.216.82": "trixie" });
        const noKeyArgs = { ...args, sshPrivateKey: undefined };
        expect(await resolvePostgresVersion(noKeyArgs.config, noKeyArgs, {})).toBe(17);
        expect(calls()[0].key!.content).toBe(`${MOCK_SSH_KEY}-from-file\n`);
        const missing = { ...noKeyArgs, config: { ...noKeyArgs.config, ssh: { ...noKeyArgs.config.ssh, privateKeyPath: path.join(sandbox, "nope") } } };
        await expect(resolvePostgresVersion(missing.config, missing, {})).rejects.toThrow(`pgha:ssh.privateKeyPath: cannot read ${path.join(sandbox, "nope")}`);
    });

    test("mixed releases: a RunError naming the nodes, their releases and majors", async () => {
        answer({ "172.51.216.81": "trixie", "172.51.216.82": "bookworm" });
        const err = await resolve(argsOf()).then(
            () => undefined,
            (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(pulumi.RunError);
        const message = (err as Error).message;
        expect(message).toContain("pgha:postgres.version is unset");
        expect(message).toContain(`PostgreSQL ${trixie.postgresVersion} on pg1 (${platformLabel(trixie)})`);
        expect(message).toContain(`PostgreSQL ${bookworm.postgresVersion} on pg2 (${platformLabel(bookworm)})`);
    });

    test("a PostgreSQL node that cannot be read: a RunError naming it", async () => {
        answer({ "172.51.216.81": "trixie" }, ["172.51.216.82"]);
        await expect(resolve(argsOf())).rejects.toThrow(/pgha:postgres\.version is unset[^\n]*: pg2: cannot read \/etc\/os-release over SSH \(root@172\.51\.216\.82:22\)/);
    });

    test("bad settings are refused first, with their key paths, before any ssh", async () => {
        answer({ "172.51.216.81": "trixie", "172.51.216.82": "trixie" });
        await expect(resolve(argsOf((v) => (v.nodes[0].address = "10.0.0.300")))).rejects.toThrow(/pgha:nodes\[0\]\.address: "10\.0\.0\.300" is not an IPv4 address/);
        expect(calls()).toEqual([]);
    });

    test("the classic values as such (version set) are untouched", async () => {
        const args = { config: classicValues() as any, ...FAKE_SECRETS, previous: null };
        expect(await resolvePostgresVersion(args.config, args, {})).toBeUndefined();
        expect(calls()).toEqual([]);
    });
});
