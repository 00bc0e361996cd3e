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

    test("the language host and the command provider are the official ones, built from the upstream archives", () => {
        // Function names survive stripping: upstream package paths prove whose code it is.
        const has = (file: string, needle: string) => fs.readFileSync(file).includes(Buffer.from(needle));
        const plugin = path.join(os.homedir(), ".pulumi", "plugins", `resource-command-v${pkgVersion("@pulumi/command")}`, "pulumi-resource-command");
        expect(has(plugin, "github.com/pulumi/pulumi-command/provider/pkg/provider/remote.(*Command).Create")).toBe(true);
        expect(has(path.join(bin, "pulumi-language-nodejs"), "github.com/pulumi/pulumi/sdk/v3/nodejs/npm.")).toBe(true);
        // The stamps record which archive each was built from.
        const upstream = path.join(ROOT, "..", "shared", "upstream");
        const sum = (f: string) => run("sha256sum", [path.join(upstream, f)]).stdout.slice(0, 16);
        expect(fs.readFileSync(`${path.dirname(plugin)}.pgha-stamp`, "utf8").trim()).toBe(
            `${sum(`pulumi-command-v${pkgVersion("@pulumi/command")}-provider-src.tar.gz`)}-${pkgVersion("@pulumi/command")}`,
        );
        expect(fs.readFileSync(path.join(bin, ".pgha-language-nodejs.stamp"), "utf8").trim()).toBe(
            `${sum(`pulumi-v${pkgVersion("@pulumi/pulumi")}-language-nodejs-src.tar.gz`)}-v${pkgVersion("@pulumi/pulumi")}`,
        );
    });

    test("without the upstream archives, the installer stops and names what is missing", () => {
        // A machine with only the CLI: the plugins must be built, and their source is absent.
        const home = fs.mkdtempSync(path.join(os.tmpdir(), "pgha-nohome-"));
        try {
            fs.mkdirSync(path.join(home, "cli"));
            fs.copyFileSync(path.join(bin, "pulumi"), path.join(home, "cli", "pulumi"));
            fs.chmodSync(path.join(home, "cli", "pulumi"), 0o755);
            const r = run("bash", ["toolchain/install.sh"], {
                env: { HOME: home, PATH: `${home}/cli:/usr/bin:/bin`, PGHA_UPSTREAM_DIR: path.join(home, "nowhere") },
                allowFail: true,
                timeoutSec: 120,
            });
            expect(r.status).not.toBe(0);
            expect(r.stderr).toContain(`the upstream source archive pulumi-v${pkgVersion("@pulumi/pulumi")}-language-nodejs-src.tar.gz is missing from ${home}/nowhere`);
            expect(r.stderr).toContain("PGHA_UPSTREAM_DIR");
        } finally {
            fs.rmSync(home, { recursive: true, force: true });
        }
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
