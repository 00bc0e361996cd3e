// Issue 2: the toolchain npm run toolchain installed is the real engine at the
// pinned versions, and a trivial program runs up/destroy with a local file
// backend and a passphrase.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ROOT, run } from "./harness";

const pkgVersion = (name: string) => JSON.parse(fs.readFileSync(path.join(ROOT, "node_modules", name, "package.json"), "utf8")).version;
const bin = path.join(os.homedir(), ".pulumi", "bin");

describe("toolchain", () => {
    const work = fs.mkdtempSync(path.join(os.tmpdir(), "pgha-toolchain-"));
    const env = {
        PATH: `${bin}:${process.env.PATH}`,
        PULUMI_BACKEND_URL: `file://${work}/state`,
        PULUMI_CONFIG_PASSPHRASE: "toolchain-test",
        PULUMI_CONFIG_PASSPHRASE_FILE: "",
        PULUMI_SKIP_UPDATE_CHECK: "true",
        PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
    };
    afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

    test("pulumi version is the one @pulumi/pulumi pins, and the command plugin is installed", () => {
        expect(run("pulumi", ["version"], { env }).stdout.trim()).toBe(`v${pkgVersion("@pulumi/pulumi")}`);
        const plugins = run("pulumi", ["plugin", "ls"], { env }).stdout;
        expect(plugins).toMatch(new RegExp(`command\\s+resource\\s+${pkgVersion("@pulumi/command").replace(/\./g, "\\.")}`));
    });

    test("a one-command program runs preview, up, a no-change preview and destroy", () => {
        fs.mkdirSync(path.join(work, "state"));
        fs.writeFileSync(path.join(work, "Pulumi.yaml"), "name: toolchain-check\nruntime:\n  name: nodejs\n  options:\n    typescript: true\n");
        fs.writeFileSync(
            path.join(work, "index.ts"),
            [
                `import * as command from "@pulumi/command";`,
                `import * as pulumi from "@pulumi/pulumi";`,
                `const cfg = new pulumi.Config();`,
                `const hello = new command.local.Command("hello", { create: "printf 'hello from %s' \\"$(uname -s)\\"", stdin: cfg.requireSecret("token") });`,
                `export const said = hello.stdout;`,
            ].join("\n"),
        );
        fs.writeFileSync(path.join(work, "tsconfig.json"), JSON.stringify({ compilerOptions: { strict: true, target: "ES2020", module: "commonjs" } }));
        fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(work, "node_modules"));
        const r = (args: string[], input?: string) => run("pulumi", args, { env, timeoutSec: 300, input, cwd: work });
        r(["stack", "init", "t", "--secrets-provider", "passphrase"]);
        r(["config", "set", "--secret", "token"], "s3cr3t-token-value");
        expect(r(["preview"]).stdout).toMatch(/\+ 2 to create/);
        expect(r(["up", "--yes", "--skip-preview"]).stdout).toMatch(/\+ 2 created/);
        expect(r(["stack", "output", "said"]).stdout.trim()).toBe("hello from Linux");
        r(["preview", "--expect-no-changes"]);
        expect(r(["stack", "export"]).stdout).not.toContain("s3cr3t-token-value");
        expect(r(["destroy", "--yes", "--skip-preview"]).stdout).toMatch(/- 2 deleted/);
    });
});
