// Issue 15 with the real engine, no lab: `npm run fleet -- preview` over stacks of this project in
// a temporary file backend (the preview suite's way: Pulumi.dev.yaml with a throwaway key and set
// secrets; postgres.version is pinned there, so preview connects to no server). Good stacks
// succeed with their change counts, a broken one is failed in the table with its reason and
// makes the exit non-zero, and Ctrl-C stops what runs and starts nothing more. `up` runs in a
// small project of its own (the toolchain suite's one-command program): pgha's up needs servers.
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import YAML from "yaml";
import { ROOT, run } from "./harness";

const work = fs.mkdtempSync(path.join(os.tmpdir(), "pgha-fleet-"));
const env = {
    PATH: `${path.join(os.homedir(), ".pulumi", "bin")}:${process.env.PATH}`,
    PULUMI_BACKEND_URL: `file://${work}`,
    PULUMI_CONFIG_PASSPHRASE: "fleet-test",
    PULUMI_CONFIG_PASSPHRASE_FILE: "",
    PULUMI_SKIP_UPDATE_CHECK: "true",
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
};
const pulumi = (args: string[], input?: string) => run("pulumi", args, { env, input, timeoutSec: 120 });
const [A, B, BAD] = ["e2e-fleet-a", "e2e-fleet-b", "e2e-fleet-bad"];
const SECRET = (s: string) => `Fleet-${s}-1`;

function stackFrom(name: string, edit: (config: Record<string, any>) => void): void {
    const doc = YAML.parse(fs.readFileSync(path.join(ROOT, "Pulumi.dev.yaml"), "utf8"));
    const key = path.join(work, "id_test");
    fs.writeFileSync(key, "not a real key: preview never connects\n", { mode: 0o600 });
    doc.config["pgha:ssh"].privateKeyPath = key;
    edit(doc.config);
    pulumi(["stack", "init", name, "--secrets-provider", "passphrase"]);
    const file = path.join(ROOT, `Pulumi.${name}.yaml`);
    fs.writeFileSync(file, YAML.stringify({ ...YAML.parse(fs.readFileSync(file, "utf8")), config: doc.config }));
    for (const s of ["superuserPassword", "replicationPassword", "keepalivedPassword"]) pulumi(["config", "set", "--secret", `pgha:${s}`, "--stack", name], SECRET(s));
}

/** `npm --prefix ROOT run fleet -- <args>` from `cwd` (npm sets INIT_CWD to it, scripts/fleet.sh goes there): `cwd` need not be in this package. */
const fleet = (args: string[], cwd = ROOT) => {
    const t0 = Date.now();
    const r = run("npm", ["--prefix", ROOT, "run", "--silent", "fleet", "--", ...args], { env, cwd, timeoutSec: 600, allowFail: true });
    const out = r.stdout + r.stderr;
    process.stdout.write(`$ npm run fleet -- ${args.join(" ")}  (cwd ${path.relative(ROOT, cwd) || "."}, ${((Date.now() - t0) / 1000).toFixed(1)} s, exit ${r.status})\n${out}`);
    return { status: r.status, out };
};
/** The closing table's row of `stack`, as its cells. */
const row = (out: string, stack: string): string[] => (out.split("\n").find((l) => l.startsWith(`${stack} `)) ?? "").split(/ {2,}/).map((c) => c.trim());

beforeAll(() => {
    stackFrom(A, () => undefined);
    stackFrom(B, () => undefined);
    stackFrom(BAD, (c) => (c["pgha:nodes"][2].address = "10.0.0.300"));
});

afterAll(() => {
    for (const s of [A, B, BAD]) fs.rmSync(path.join(ROOT, `Pulumi.${s}.yaml`), { force: true });
    fs.rmSync(work, { recursive: true, force: true });
});

test("preview over two good stacks and a broken one, two at once: the good ones' counts, the broken one failed with its reason, exit 1", () => {
    const { status, out } = fleet(["preview", "--stacks", `${A},${B},${BAD}`, "--parallel", "2"]);
    expect(status).toBe(1);
    for (const s of [A, B]) expect(row(out, s)).toEqual([s, "succeeded", "+100", expect.stringMatching(/^\d+\.\d s$/)]);
    const bad = row(out, BAD);
    expect(bad.slice(0, 2)).toEqual([BAD, "failed"]);
    expect(bad[4]).toBe('pgha: the stack configuration has 1 problem: - pgha:nodes[2].address: "10.0.0.300" is not an IPv4 address');
    // Its output's last lines, tagged with its name, say the same.
    expect(out).toContain(`  ${BAD} |       - pgha:nodes[2].address: "10.0.0.300" is not an IPv4 address`);
    expect(out).toMatch(/fleet: preview: 2 succeeded, 1 failed, in /);
    // Bounded: the third stack starts only after one of the first two finished.
    const lines = out.split("\n");
    const third = lines.findIndex((l) => / preview started \(/.test(l) && l.includes(BAD));
    const firstDone = lines.findIndex((l) => l.startsWith("fleet: [1/3]"));
    expect(firstDone).toBeGreaterThan(-1);
    expect(third).toBeGreaterThan(firstDone);
    expect(out).not.toContain("Fleet-superuserPassword-1");
});

test("only good stacks, from a subdirectory of the project: exit 0, and the caller's current stack is left as it was", () => {
    pulumi(["stack", "select", BAD]);
    const { status, out } = fleet(["preview", "--stacks", `${A},${B}`], path.join(ROOT, "docs"));
    expect(status).toBe(0);
    expect(out).toContain(`project ${ROOT},`);
    for (const s of [A, B]) expect(row(out, s).slice(0, 3)).toEqual([s, "succeeded", "+100"]);
    expect(out).toMatch(/fleet: preview: 2 succeeded, in /);
    expect(pulumi(["stack", "--show-name"]).stdout.trim()).toBe(BAD);
});

test("a stack the backend does not have is failed without running anything; bad arguments exit 2", () => {
    const r = fleet(["preview", "--stacks", "e2e-fleet-none"]);
    expect(r.status).toBe(1);
    expect(row(r.out, "e2e-fleet-none")).toEqual(["e2e-fleet-none", "failed", "-", "-", `no stack named e2e-fleet-none in file://${work} (pulumi stack ls lists them)`]);
    expect(fleet(["preview", "--stacks", "a,a"]).status).toBe(2);
});

// "group": the SIGINT a terminal's Ctrl-C sends, to fleet and its engines alike; "fleet": a
// `kill -INT` of fleet alone, which then passes one ^C to its engine itself.
test.each(["group", "fleet"] as const)("Ctrl-C (SIGINT to the %s): the running preview is cancelled by its engine, nothing more starts, exit 130", async (target) => {
    const child = spawn("bash", ["scripts/fleet.sh", "preview", "--stacks", `${A},${B}`, "--parallel", "1", "--stream"], { cwd: ROOT, env: { ...process.env, ...env }, detached: true });
    let out = "";
    let signalled = false;
    const sent = new Promise<void>((resolve) => {
        const take = (d: Buffer) => {
            out += d.toString();
            // Once its engine runs the program: fleet then waits for the engine's cancel.
            if (!signalled && out.includes(`  ${A} | Previewing update`)) {
                signalled = true;
                setTimeout(() => {
                    process.kill(target === "group" ? -child.pid! : child.pid!, "SIGINT");
                    resolve();
                }, 1500);
            }
        };
        child.stdout.on("data", take);
        child.stderr.on("data", take);
    });
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    await sent;
    const t0 = Date.now();
    const status = await exited;
    process.stdout.write(`$ fleet preview --parallel 1 --stream, SIGINT to the ${target}: exit ${status}, ${((Date.now() - t0) / 1000).toFixed(1)} s after the signal\n${out}`);
    expect(status).toBe(130);
    expect(out).toContain(`  ${A} | ^C received; cancelling`);
    expect(out.match(/\^C received/g)).toHaveLength(1);
    expect(row(out, A).slice(0, 2)).toEqual([A, "cancelled"]);
    expect(row(out, B)).toEqual([B, "not started", "-", "-", "interrupted before it started"]);
});

test("up, in another project's directory: no prompt, each stack's lines tagged with its name, counts from the engine, a failing program failed with its reason", () => {
    const dir = path.join(work, "up-project");
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, "Pulumi.yaml"), "name: fleet-up\nruntime:\n  name: nodejs\n  options:\n    typescript: true\n");
    fs.writeFileSync(
        path.join(dir, "index.ts"),
        [
            `import * as command from "@pulumi/command";`,
            `import * as pulumi from "@pulumi/pulumi";`,
            `const cfg = new pulumi.Config();`,
            `const hello = new command.local.Command("hello", { create: "printf hello", stdin: cfg.requireSecret("token") });`,
            `export const said = hello.stdout;`,
        ].join("\n"),
    );
    fs.writeFileSync(path.join(dir, "tsconfig.json"), JSON.stringify({ compilerOptions: { strict: true, target: "ES2020", module: "commonjs" } }));
    fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(dir, "node_modules"));
    for (const s of ["one", "two", "untokened"]) run("pulumi", ["stack", "init", s, "--secrets-provider", "passphrase"], { env, cwd: dir, timeoutSec: 120 });
    for (const s of ["one", "two"]) run("pulumi", ["config", "set", "--secret", "token", "--stack", s], { env, cwd: dir, input: `Fleet-token-${s}`, timeoutSec: 120 });
    const first = fleet(["up", "--stacks", "one,two,untokened", "--stream"], dir);
    expect(first.status).toBe(1);
    expect(first.out).toContain(`project ${dir},`);
    for (const s of ["one", "two"]) {
        expect(row(first.out, s).slice(0, 3)).toEqual([s, "succeeded", "+2"]);
        expect(first.out).toMatch(new RegExp(`^  ${s} \\| Updating \\(${s}\\)`, "m"));
    }
    expect(row(first.out, "untokened").slice(0, 2)).toEqual(["untokened", "failed"]);
    expect(row(first.out, "untokened")[4]).toMatch(/Missing required configuration variable 'fleet-up:token'/);
    expect(first.out).not.toMatch(/Fleet-token-/);
    const again = fleet(["up", "--stacks", "one,two"], dir);
    expect(again.status).toBe(0);
    for (const s of ["one", "two"]) expect(row(again.out, s).slice(0, 3)).toEqual([s, "succeeded", "=2"]);
});
