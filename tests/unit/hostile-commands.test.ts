// The most hostile configuration pgha accepts, built under Pulumi mocks: no
// secret reaches any command text, every command (the outer text the login
// shell runs and the script inside `bash -c '…'`) passes `bash -n`, hostile
// values sit only in comments there, and the data that travels on stdin
// carries them intact.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parse as parseYaml } from "yaml";
import { PATRONI_CONFIG_PATH } from "../../core/render/patroni";
import { KEEPALIVED_CONFIG_PATH } from "../../core/render/keepalived";
import { Secrets } from "../../core/spec";
import { classicWith, specOf } from "./fixtures";
import { MOCK_SSH_KEY, Registered, registerCluster, remoteCommands } from "./mock-cluster";

// Each secret carries a marker that survives any quoting (letters only), so a secret
// cannot hide in a command text by being escaped.
const SECRETS: Secrets = {
    superuserPassword: `SuperMarkQ it's "q" \\ $(touch /tmp/pgha-pwned) \`id\`; a && b || c # : {{#each nodes}} %s ü 🔑 `,
    replicationPassword: `ReplMarkQ '; DROP ROLE postgres; -- \\' \${HOME} <<EOF > /etc/passwd | tee ~/x *?[a] {{> p}}`,
    keepalivedPassword: "Kv7;&(|)<>%^*",
    restApiPassword: `RestMarkQ "; $(id) \\ :x: # {{x}} 🔑`,
    pgbouncerAuthPassword: `BouncerMarkQ "" '\\ $(id) ; # {{x}} ü`,
    // No blanks, quotes or backslashes: postgres_exporter cannot read them (core/config-secrets.ts).
    monitoringPassword: "MonitorMarkQ$(id);#{{x}}&|<>",
};
const SSH_KEY = MOCK_SSH_KEY.replace("fake-key-material-for-tests", "SshKeyMarkQ'$(id)`x`");
const SECRET_MARKERS = ["SuperMarkQ", "ReplMarkQ", "RestMarkQ", "SshKeyMarkQ", SECRETS.keepalivedPassword.slice(0, 8)];

// Hostile but valid non-secret values (each with a marker, to find where they land).
const APP_NAME = `ParamMarkQ it's "app" \\ #1 $(touch /tmp/pgha-pwned) \`id\` {{x}} ü; rm -rf / && echo '`;
const SEARCH_PATH = `"$user", public; ParamMark2`;
const CLIENT_CIDR = "198.51.100.77/32";
const HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB7x HostKeyMarkQ it's {{constructor}} $(id) `id`; #";
const HOSTILE = specOf(
    classicWith((v) => {
        v.clusterName = "x-1";
        v.ssh.user = "deploy"; // every script through sudo -n
        v.nodes[0].sshHost = "bastion-1.example.com";
        v.nodes[0].sshPort = 2222;
        v.nodes[1].hostKey = HOST_KEY;
        v.vip.interface = "br-lan.100:1";
        v.packages.aptProxy = "http://Apt-Cache-1.internal.:3142/";
        v.postgres.parameters = { application_name: APP_NAME, search_path: SEARCH_PATH, log_line_prefix: "%m [%p] %q%u@%d ", jit: false, work_mem: "4MB" };
        v.postgres.allowedClientCidrs = [CLIENT_CIDR];
        v.postgres.dataDir = "/srv/pg+data/15-main";
        v.postgres.binDir = "/opt/pg_15/bin";
        v.etcd = { dataDir: "/srv/etcd-data.d/x_1" };
        v.destroy.deleteData = true; // the rm -rf paths are in the delete commands
    }),
);
const HOSTILE_MARKERS = ["ParamMarkQ", "ParamMark2", "HostKeyMarkQ"];
/** Settings the stack passes through (PostgreSQL parameters, client networks): data, never command text. */
const SETTING_MARKERS = ["ParamMarkQ", "ParamMark2", "%q%u@%d", "198.51.100.77"];

/** The word after `bash -c ` in a command text, unquoted (the inverse of shq). */
function innerScript(text: string): string {
    const start = text.indexOf("bash -c '");
    if (start < 0) throw new Error(`no bash -c in:\n${text}`);
    let i = start + "bash -c '".length;
    let out = "";
    for (;;) {
        const end = text.indexOf("'", i);
        if (end < 0) throw new Error("unterminated quote");
        out += text.slice(i, end);
        if (text.startsWith("'\\''", end)) {
            out += "'";
            i = end + 4;
        } else return out;
    }
}

interface Script {
    readonly where: string;
    readonly text: string;
}

function scriptsOf(commands: readonly Registered[]): { outer: Script[]; inner: Script[] } {
    const outer: Script[] = [];
    const inner: Script[] = [];
    for (const c of commands) {
        for (const phase of ["create", "update", "delete"] as const) {
            const text = c.inputs[phase];
            if (text === undefined) continue;
            expect(typeof text).toBe("string");
            outer.push({ where: `${c.name} (${phase})`, text: text as string });
            inner.push({ where: `${c.name} (${phase}, inside bash -c)`, text: innerScript(text as string) });
        }
    }
    return { outer, inner };
}

/** `<shell> -n` on every script, in one process; returns the failures. */
function syntaxFailures(shell: string, scripts: readonly Script[]): string[] {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgha-syntax-"));
    scripts.forEach((s, i) => fs.writeFileSync(path.join(dir, `${i}.sh`), s.text));
    const loop = `for f in "$1"/*.sh; do ${shell} -n "$f" 2>"$f.err" || echo "$(basename "$f" .sh)"; done`;
    const r = spawnSync("bash", ["-c", loop, "check", dir], { encoding: "utf8" });
    const failed = r.stdout
        .split("\n")
        .filter((l) => l !== "")
        .map(Number);
    const out = failed.map((i) => `${scripts[i].where}: ${fs.readFileSync(path.join(dir, `${i}.sh.err`), "utf8")}`);
    fs.rmSync(dir, { recursive: true });
    expect(r.status).toBe(0);
    return out;
}

/** An input as the mocks hand it over: plain, or wrapped as a secret. */
function unwrap(v: unknown): unknown {
    return v && typeof v === "object" && SECRET_SIG in v ? (v as Record<string, unknown>).value : v;
}
/** Pulumi's marker of a secret value in serialized inputs. */
const SECRET_SIG = "4dabf18193072939515e22adb298388d";

function stdinText(v: unknown): string {
    const u = unwrap(v);
    if (typeof u !== "string") throw new Error(`unexpected stdin ${JSON.stringify(v)}`);
    return u;
}

const has = (cmd: string, ...args: string[]): boolean => spawnSync(cmd, args, { stdio: "ignore" }).status === 0;

describe("the most hostile accepted configuration, under mocks", () => {
    let commands: Registered[];
    let scripts: { outer: Script[]; inner: Script[] };
    beforeAll(async () => {
        commands = remoteCommands(await registerCluster(HOSTILE, SECRETS, SSH_KEY));
        scripts = scriptsOf(commands);
    }, 60_000);

    test("builds the whole cluster", () => {
        const names = commands.map((c) => c.name);
        for (const n of ["pg1", "pg2"]) {
            expect(names).toEqual(expect.arrayContaining([`${n}:packages`, `${n}:patroni`, `${n}:haproxy`, `${n}:keepalived`, `${n}:${PATRONI_CONFIG_PATH}`]));
        }
        expect(names).toEqual(expect.arrayContaining(["x-1:dynamic-config", "x-1:verify", "x-1-etcd:etcd-health"]));
        expect(scripts.outer.length).toBeGreaterThan(40);
    });

    test("no command text holds a secret, nor any part of the SSH key", () => {
        for (const s of [...scripts.outer, ...scripts.inner]) {
            for (const secret of [...Object.values(SECRETS), ...SECRET_MARKERS, "-----BEGIN OPENSSH"]) {
                expect([s.where, s.text.includes(secret)]).toEqual([s.where, false]);
            }
        }
        // The connection carries the key (as a secret), never a command.
        for (const c of commands) expect(JSON.stringify(c.inputs.connection)).not.toContain("SuperMarkQ");
    });

    test("bash -n accepts every command text and every script inside it", () => {
        expect(syntaxFailures("bash", scripts.outer)).toEqual([]);
        expect(syntaxFailures("bash", scripts.inner)).toEqual([]);
    });

    (has("sh", "-c", "true") ? test : test.skip)("the login shell's part is POSIX sh (sh -n)", () => {
        expect(syntaxFailures("sh", scripts.outer)).toEqual([]);
    });

    // Command texts are visible to every local user in `ps` and are logged by sudo: a value the
    // stack passes through may hold anything, so it travels on stdin, not even as a comment.
    test("no parameter value or other passed-through setting appears in any command text", () => {
        for (const s of [...scripts.outer, ...scripts.inner]) {
            for (const marker of SETTING_MARKERS) expect([s.where, marker, s.text.includes(marker)]).toEqual([s.where, marker, false]);
        }
    });

    test("hostile values reach scripts only as comments", () => {
        for (const s of [...scripts.outer, ...scripts.inner]) {
            for (const marker of HOSTILE_MARKERS) {
                for (const line of s.text.split("\n").filter((l) => l.includes(marker))) {
                    expect([s.where, line.trimStart().startsWith("#")]).toEqual([s.where, true]);
                }
            }
        }
        // Outside the quoted script, the outer text holds no hostile value at all.
        for (const s of scripts.outer) {
            const outside = s.text.replace(/bash -c '(?:[^']|'\\'')*'/, "bash -c <script>");
            for (const marker of HOSTILE_MARKERS) expect([s.where, outside.includes(marker)]).toEqual([s.where, false]);
        }
        // The host key pins the connection and appears nowhere else.
        const pinned = commands.filter((c) => JSON.stringify(c.inputs).includes("HostKeyMarkQ"));
        expect(pinned.length).toBeGreaterThan(0);
        for (const c of pinned) expect([c.name, (unwrap(c.inputs.connection) as { hostKey?: string }).hostKey]).toEqual([c.name, HOST_KEY]);
        for (const s of [...scripts.outer, ...scripts.inner]) expect(s.text.includes("HostKeyMarkQ")).toBe(false);
    });

    // Root writing to a name others can predict in a world-writable directory can be made to
    // follow a planted symlink: temporary files come from mktemp, under a trap that removes them.
    test("no command, helper or template uses a fixed path under /tmp", () => {
        const fixedTmp = /\/(?:var\/)?tmp\/[A-Za-z0-9_.-]/;
        for (const s of [...scripts.outer, ...scripts.inner]) expect([s.where, fixedTmp.exec(s.text)?.[0]]).toEqual([s.where, undefined]);
        const root = path.join(__dirname, "..", "..");
        for (const dir of ["server", "templates"]) {
            for (const f of fs.readdirSync(path.join(root, dir)).filter((f) => /\.(py|hbs|sh)$/.test(f))) {
                expect([f, fixedTmp.exec(fs.readFileSync(path.join(root, dir, f), "utf8"))?.[0]]).toEqual([f, undefined]);
            }
        }
    });

    test("paths and the apt proxy are single-quoted words where a script uses them", () => {
        const all = scripts.inner.map((s) => s.text).join("\n");
        expect(all).toContain(`rm -rf -- '/srv/pg+data/15-main'`);
        expect(all).toContain(`--apt-proxy 'http://Apt-Cache-1.internal.:3142/'`);
        expect(all).toContain(`'/opt/pg_15/bin/postgres'`);
        for (const s of scripts.outer) expect(s.text).toMatch(/sudo -n timeout --kill-after=10 \d+ bash -c '/);
    });

    test("the data on stdin carries every hostile value intact", () => {
        const byName = new Map(commands.map((c) => [c.name, c]));
        const dynamic = JSON.parse(stdinText(byName.get("x-1:dynamic-config")!.inputs.stdin));
        expect(dynamic.config.postgresql.parameters).toMatchObject({ application_name: APP_NAME, search_path: SEARCH_PATH, jit: false });
        for (const n of ["pg1", "pg2"]) {
            const patroni = parseYaml(stdinText(byName.get(`${n}:${PATRONI_CONFIG_PATH}`)!.inputs.stdin), { version: "1.1" });
            expect(patroni.postgresql.authentication.superuser.password).toBe(SECRETS.superuserPassword);
            expect(patroni.postgresql.authentication.replication.password).toBe(SECRETS.replicationPassword);
            const keepalived = stdinText(byName.get(`${n}:${KEEPALIVED_CONFIG_PATH}`)!.inputs.stdin);
            expect(keepalived.split("\n").filter((l) => l.includes("auth_pass"))).toEqual([`        auth_pass ${SECRETS.keepalivedPassword.slice(0, 8)}`]);
        }
        // The verification reads the superuser password as one line (`IFS= read -r`).
        expect(stdinText(byName.get("x-1:verify")!.inputs.stdin)).toBe(`${SECRETS.superuserPassword}\n`);
    });
});
