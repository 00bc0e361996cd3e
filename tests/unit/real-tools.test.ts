// Checks rendered files with the real programs when this machine has them
// (Debian 12: haproxy, python3-yaml, bash). Each block is skipped otherwise.

import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { CA_CERT_PATH, caScript, parseCaOutput } from "../../core/pki";
import { renderHaproxyConfig } from "../../core/render/haproxy";
import { renderHaproxyCheckScript } from "../../core/render/keepalived";
import { patroniConfigObject, renderPatroniConfig } from "../../core/render/patroni";
import { FAKE_SECRETS, classicWith, specOf } from "./fixtures";

const has = (cmd: string, ...args: string[]): boolean => spawnSync(cmd, args, { stdio: "ignore" }).status === 0;
const tmp = (): string => fs.mkdtempSync(path.join(os.tmpdir(), "pgha-unit-"));

(has("haproxy", "-v") ? describe : describe.skip)("haproxy -c", () => {
    test("accepts the rendered configuration", () => {
        const dir = tmp();
        const file = path.join(dir, "haproxy.cfg");
        // haproxy -c loads the CA file the health checks verify with: a real one, here.
        const ca = parseCaOutput(execFileSync("bash", ["-c", caScript("pgsql")]).toString()).cert;
        fs.writeFileSync(path.join(dir, "ca.crt"), ca);
        const content = renderHaproxyConfig(specOf()).content;
        expect(content).toContain(`ca-file ${CA_CERT_PATH} verifyhost pg1`);
        fs.writeFileSync(file, content.split(CA_CERT_PATH).join(path.join(dir, "ca.crt")));
        // -V: HAProxy 3.0 (Debian 13) says "Configuration file is valid" only when verbose; 2.6 says it either way.
        const r = spawnSync("haproxy", ["-c", "-V", "-f", file], { encoding: "utf8" });
        expect(r.stdout + r.stderr).toContain("Configuration file is valid");
        expect(r.status).toBe(0);
        fs.rmSync(dir, { recursive: true });
    });
});

(has("python3", "-c", "import yaml") ? describe : describe.skip)("PyYAML (Patroni's reader)", () => {
    test("reads the Patroni config as the object it was built from", () => {
        const secrets = { ...FAKE_SECRETS, superuserPassword: `it's "q": yes # on` };
        const spec = specOf(classicWith((v) => (v.postgres.parameters = { jit: "off", search_path: "y" })));
        const text = renderPatroniConfig(spec, spec.nodes[0], secrets).content;
        const json = execFileSync("python3", ["-c", "import sys, json, yaml; print(json.dumps(yaml.safe_load(sys.stdin)))"], { input: text });
        expect(JSON.parse(json.toString())).toEqual(patroniConfigObject(spec, spec.nodes[0], secrets));
    });
});

(has("bash", "-c", "command -v timeout") ? describe : describe.skip)("check-haproxy.sh", () => {
    test("succeeds while something listens on the stats port, fails otherwise", async () => {
        const server = net.createServer((s) => s.destroy());
        await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
        const port = (server.address() as net.AddressInfo).port;
        const dir = tmp();
        const script = path.join(dir, "check.sh");
        // Primary port 1: nothing listens there.
        const spec = specOf(classicWith((v) => (v.haproxy = { statsPort: port, primaryPort: 1, replicaPort: 2 })));
        fs.writeFileSync(script, renderHaproxyCheckScript(spec).content, { mode: 0o755 });
        expect(spawnSync("bash", [script]).status).toBe(0);
        await new Promise<void>((resolve) => server.close(() => resolve()));
        expect(spawnSync("bash", [script]).status).toBe(1);
        fs.rmSync(dir, { recursive: true });
    });
});
