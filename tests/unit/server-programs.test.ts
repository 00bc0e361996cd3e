// server/ is the one home of the programs pgha runs on servers (templates/ aside): every file
// there is installed by components/pgha-tools.ts, says what it is in its first lines, and
// passes the linters this machine has (python3's compiler, pyflakes, bash -n, shellcheck); components
// hold no program text of their own, only short command lines calling these.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import * as tools from "../../components/pgha-tools";
import { RenderedFile } from "../../core/render/file";
import { hasPython3 } from "./server-python";

const ROOT = path.join(__dirname, "..", "..");
const files = fs
    .readdirSync(tools.SERVER_DIR, { withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => e.name)
    .sort();
const python = files.filter((f) => f.endsWith(".py"));
const shell = files.filter((f) => f.endsWith(".sh"));
const installed = Object.values(tools).filter((v): v is RenderedFile => typeof v === "object" && v !== null && "path" in v && "content" in v);

/** pyflakes as Debian packages it (python3-pyflakes: a module for /usr/bin/python3), or as pip does. */
const pyflakes = ["/usr/bin/python3", "python3"].find((py) => spawnSync(py, ["-m", "pyflakes", "--version"], { stdio: "ignore" }).status === 0);

describe("server/: pgha's programs for the servers", () => {
    test("every file there is installed into /usr/local/libexec/pgha by pgha-tools.ts, from that file (the operational scripts' read-only programs aside)", () => {
        expect(files.length).toBeGreaterThan(5);
        expect(files.every((f) => /\.(py|sh)$/.test(f))).toBe(true);
        expect([...installed.map((t) => path.basename(t.path)), ...tools.OPS_PROGRAMS].sort()).toEqual(files);
        for (const t of installed) {
            expect(path.dirname(t.path)).toBe(tools.TOOLS_DIR);
            expect(t.content).toBe(fs.readFileSync(path.join(tools.SERVER_DIR, path.basename(t.path)), "utf8"));
        }
    });

    test("every program says what it is: a comment at the top", () => {
        for (const f of files) {
            const lines = fs.readFileSync(path.join(tools.SERVER_DIR, f), "utf8").split("\n");
            const first = lines[0].startsWith("#!") ? lines[1] : lines[0];
            expect([f, first.startsWith("# ")]).toEqual([f, true]);
        }
    });

    (hasPython3 ? test : test.skip)("the Python compiles (nothing written beside it)", () => {
        const r = spawnSync("python3", ["-c", "import sys\nfor f in sys.argv[1:]:\n    compile(open(f).read(), f, 'exec')", ...python.map((f) => path.join(tools.SERVER_DIR, f))], {
            encoding: "utf8",
        });
        expect([r.status, r.stderr]).toEqual([0, ""]);
    });

    (pyflakes ? test : test.skip)("pyflakes finds nothing (unused imports, undefined names)", () => {
        const r = spawnSync(pyflakes!, ["-m", "pyflakes", ...python.map((f) => path.join(tools.SERVER_DIR, f))], { encoding: "utf8", env: { ...process.env, PYTHONDONTWRITEBYTECODE: "1" } });
        expect([r.status, r.stdout + r.stderr]).toEqual([0, ""]);
    });

    test("shell programs pass bash -n", () => {
        expect(shell.length).toBeGreaterThan(0);
        for (const f of shell) expect([f, spawnSync("bash", ["-n", path.join(tools.SERVER_DIR, f)], { encoding: "utf8" }).stderr]).toEqual([f, ""]);
    });

    (spawnSync("shellcheck", ["--version"], { stdio: "ignore" }).status === 0 ? test : test.skip)("shellcheck finds nothing in the shell programs", () => {
        const r = spawnSync(
            "shellcheck",
            shell.map((f) => path.join(tools.SERVER_DIR, f)),
            { encoding: "utf8" },
        );
        expect([r.status, r.stdout + r.stderr]).toEqual([0, ""]);
    });

    test("components embed no program: no python3 -c, no heredoc", () => {
        const dir = path.join(ROOT, "components");
        for (const f of fs.readdirSync(dir).filter((f) => f.endsWith(".ts"))) {
            const text = fs.readFileSync(path.join(dir, f), "utf8");
            expect([f, /python3 -c|python3 - |<<-?\s*['"]?[A-Z]/.exec(text)?.[0]]).toEqual([f, undefined]);
        }
    });
});
