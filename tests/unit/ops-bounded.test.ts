// npm run status and drift end to end on this machine, with a stand-in `ssh` first on PATH: the
// whole command each node gets (wrapScript, the program on stdin, its JSON back), a node that
// is down (ssh exits 255: "unreachable"), and one that accepts the connection and then never
// answers (ssh killed by the kill timer: the run does not hang). The stand-in runs the command
// locally; only read-only probes run (a backup-only node's status, drift on temporary files).
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { checkNode } from "../../scripts/ops/drift";
import { sha256 } from "../../components/ssh";
import { askNode } from "../../scripts/ops/status";
import { CliConfig, specFromCli } from "../../scripts/ops/stack";
import { SshSession } from "../../scripts/ops/ssh";
import { hasPython3 } from "./server-python";

jest.setTimeout(30_000);

const CONFIG: CliConfig = JSON.parse(fs.readFileSync(path.join(__dirname, "backup-ops", "pulumi-config-bk.json"), "utf8"));
const spec = specFromCli("bk", CONFIG);
// A documentation address (TEST-NET-1): should the stand-in not be found, no real host is reached.
const lab4 = { ...spec.nodes.find((n) => n.name === "lab4")!, sshHost: "192.0.2.14" };

const FAKE_SSH = `#!/bin/bash
# The last argument is the command text; FAKE_SSH says how the "node" behaves.
case "$FAKE_SSH" in
  down) echo "ssh: connect to host 192.0.2.14 port 22: Connection timed out" >&2; exit 255 ;;
  hang) exec sleep 600 ;;
  *) exec sh -c "\${@: -1}" ;;
esac
`;

(hasPython3 ? describe : describe.skip)("status and drift through a stand-in ssh", () => {
    let dir: string;
    let session: SshSession;
    const oldPath = process.env.PATH;
    beforeAll(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgha-fake-ssh-"));
        fs.writeFileSync(path.join(dir, "ssh"), FAKE_SSH, { mode: 0o755 });
        process.env.PATH = `${dir}:${oldPath}`;
        session = new SshSession(spec.nodes, "not-a-key", true);
    });
    afterAll(() => {
        session.close();
        process.env.PATH = oldPath;
        delete process.env.FAKE_SSH;
        fs.rmSync(dir, { recursive: true, force: true });
    });

    test("status: the program arrives on stdin, runs, and its JSON comes back (probes that fail here are reported, not fatal)", async () => {
        process.env.FAKE_SSH = "local";
        const r = await askNode(session, spec, lab4);
        expect("answer" in r).toBe(true);
        if (!("answer" in r)) return;
        expect(r.answer.node).toBe("lab4");
        expect(r.answer.certs!.map((c) => c.path)).toEqual(["/etc/pgha/tls/ca.crt", "/etc/pgha/tls/pgbackrest.crt"]);
        expect(Object.keys(r.answer)).not.toContain("patroni");
    });

    test("a node that is down: unreachable, with ssh's reason", async () => {
        process.env.FAKE_SSH = "down";
        expect(await askNode(session, spec, lab4)).toEqual({
            node: "lab4",
            roles: ["backup"],
            problem: "unreachable (SSH to root@192.0.2.14:22 failed: ssh: connect to host 192.0.2.14 port 22: Connection timed out)",
        });
    });

    test("a node that never answers: ssh is killed by the kill timer", async () => {
        process.env.FAKE_SSH = "hang";
        const started = Date.now();
        const r = await session.run(lab4, "true", { what: "test", timeoutSec: 1, killAfterSec: 1 });
        expect(r.status).toBe(255);
        expect(Date.now() - started).toBeLessThan(5000);
    });

    test("drift: program and manifest on one stdin, split by head -c; the differences come back", async () => {
        process.env.FAKE_SSH = "local";
        const f = path.join(dir, "placed.conf");
        fs.writeFileSync(f, "edited by hand\n", { mode: 0o644 });
        fs.chmodSync(f, 0o644);
        const me = os.userInfo().username;
        const group = execFileSync("id", ["-gn"], { encoding: "utf8" }).trim();
        const r = await checkNode(session, lab4, { files: [{ path: f, sha256: sha256("as placed\n"), owner: me, group, mode: "0644", secret: true }], units: [] });
        expect(r).toEqual({ node: "lab4", differences: [{ path: f, what: "content", expected: null, found: null }] });
    });
});
