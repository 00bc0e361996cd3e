// The command text every remote script is wrapped in, run by a real shell: strict mode, the
// exit status, and stdin drained before the command exits (a command that leaves stdin unread
// makes the SSH provider report EOF although it succeeded).
import { spawnSync } from "child_process";
import { wrapScript } from "../../components/ssh";

const runWrapped = (body: string, input: string) => spawnSync("sh", ["-c", wrapScript(body, { sudo: false, timeoutSec: 10, what: "test" })], { input, encoding: "utf8" });

test("a script that never reads stdin still has all of it read before the command exits", () => {
    // strace-free check: the outer shell reports how much stdin was left for it to drain.
    const text = wrapScript("true", { sudo: false, timeoutSec: 10, what: "test" });
    expect(text).toMatch(/; rc=\$\?\ncat >\/dev\/null 2>&1 \|\| true\n/);
    const big = "x".repeat(1 << 20);
    const r = spawnSync("sh", ["-c", `${text.replace("cat >/dev/null 2>&1 || true", "echo drained=$(wc -c)")}`], { input: big, encoding: "utf8" });
    expect(r.stdout.trim()).toBe(`drained=${big.length}`);
});

test("the script's exit status and its reading of stdin are kept", () => {
    expect(runWrapped("exit 3", "").status).toBe(3);
    const r = runWrapped('IFS= read -r first; echo "got $first"', "line1\nrest\n");
    expect(r.status).toBe(0);
    expect(r.stdout).toBe("got line1\n");
    // set -euo pipefail: a failing command stops the script.
    expect(runWrapped("false\necho not reached", "").status).toBe(1);
});
