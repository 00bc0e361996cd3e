// Calls one function of a Python program in server/ with JSON arguments, in a python3 of
// its own (the program is loaded as a module: its `if __name__ == "__main__"` part does
// not run), and returns what it returned, what it raised, or the SystemExit it exited with.
import { spawnSync } from "child_process";
import * as path from "path";
import { SERVER_DIR } from "../../components/pgha-tools";

export type PyResult = { ok: unknown } | { exit: string | number | null } | { raised: string; message: string };

const HARNESS = `import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("program", sys.argv[1])
m = importlib.util.module_from_spec(spec)
spec.loader.exec_module(m)
req = json.load(sys.stdin)
try:
    out = {"ok": getattr(m, req["fn"])(*req["args"])}
except SystemExit as e:
    out = {"exit": e.code}
except Exception as e:
    out = {"raised": type(e).__name__, "message": str(e)}
print(json.dumps(out))`;

export const hasPython3 = spawnSync("python3", ["--version"], { stdio: "ignore" }).status === 0;

/** `program`: a file name in server/. Environment additions in `env`. */
export function callPython(program: string, fn: string, args: unknown[] = [], env: Record<string, string> = {}): PyResult {
    const r = spawnSync("python3", ["-c", HARNESS, path.join(SERVER_DIR, program)], {
        input: JSON.stringify({ fn, args }),
        encoding: "utf8",
        // No __pycache__ in server/: every file there is installed on the servers.
        env: { ...process.env, PYTHONDONTWRITEBYTECODE: "1", ...env },
    });
    if (r.status !== 0) throw new Error(`python3 ${program} ${fn}: exit ${r.status}\n${r.stderr}`);
    return JSON.parse(r.stdout) as PyResult;
}

/** Runs `code` with the program loaded as the module `m`; sys.argv[1:] is `argv`. Returns what it printed. */
export function withProgram(program: string, code: string, argv: string[] = []): string {
    const load = `import importlib.util, sys
_spec = importlib.util.spec_from_file_location("program", sys.argv.pop(1))
m = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(m)
`;
    const r = spawnSync("python3", ["-c", load + code, path.join(SERVER_DIR, program), ...argv], {
        encoding: "utf8",
        env: { ...process.env, PYTHONDONTWRITEBYTECODE: "1" },
    });
    if (r.status !== 0) throw new Error(`python3 ${program}: exit ${r.status}\n${r.stderr}`);
    return r.stdout;
}

/** The function's return value; throws when it raised or exited. */
export function pyOk(program: string, fn: string, ...args: unknown[]): unknown {
    const r = callPython(program, fn, args);
    if (!("ok" in r)) throw new Error(`${program} ${fn}(${JSON.stringify(args)}): ${JSON.stringify(r)}`);
    return r.ok;
}
