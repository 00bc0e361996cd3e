// hostPrepScript's package step, run for real by bash in a sandbox: /usr/sbin/policy-rc.d
// redirected into a temp dir, dpkg-query and apt-get stubbed. Only the package block runs
// (the script is cut before the program checks and the distro-default steps).

import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { hostPrepScript } from "../../components/host-prep";
import { specOf } from "./fixtures";

const POLICY = "/usr/sbin/policy-rc.d";
const ADMINS = "#!/bin/sh\n# the admin's own policy\nexit 0\n";

describe("hostPrepScript: packages and policy-rc.d (bash, sandboxed)", () => {
    const spec = specOf();
    const full = hostPrepScript(spec, spec.nodes[0]);
    const packageStep = full.slice(0, full.indexOf("\nfor prog in "));
    let dir = "";
    let policy = "";
    let saved = "";
    beforeEach(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgha-hostprep-"));
        policy = path.join(dir, "policy-rc.d");
        saved = `${policy}.pgha-saved`;
    });
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    /** Runs the package step; apt-get records what policy-rc.d says while it installs. */
    const run = (aptInstallRc = 0) => {
        const stubs = [
            `dpkg-query() { return 1; }`,
            `apt-get() {`,
            `  case " $* " in *" install "*)`,
            `    rc=0; "$PGHA_POLICY" pgha-test start || rc=$?; echo "$rc" >"$PGHA_DIR/policy-rc-during-install"`,
            `    return "$PGHA_APT_RC";;`,
            `  esac`,
            `}`,
        ].join("\n");
        const script = `set -euo pipefail\n${stubs}\n${packageStep.split(POLICY).join(policy)}\n`;
        expect(script).not.toContain(POLICY);
        return spawnSync("bash", ["-c", script], {
            encoding: "utf8",
            env: { ...process.env, PGHA_POLICY: policy, PGHA_DIR: dir, PGHA_APT_RC: String(aptInstallRc) },
        });
    };
    const during = () => fs.readFileSync(path.join(dir, "policy-rc-during-install"), "utf8").trim();

    test("without a policy-rc.d: one that denies every start while apt-get installs, none afterwards", () => {
        const r = run();
        expect([r.status, r.stderr]).toEqual([0, ""]);
        expect(during()).toBe("101");
        expect(fs.existsSync(policy)).toBe(false);
        expect(fs.existsSync(saved)).toBe(false);
    });

    test("an existing policy-rc.d is moved aside while apt-get installs and put back as it was", () => {
        fs.writeFileSync(policy, ADMINS, { mode: 0o750 });
        const r = run();
        expect([r.status, r.stderr]).toEqual([0, ""]);
        expect(during()).toBe("101");
        expect(fs.readFileSync(policy, "utf8")).toBe(ADMINS);
        expect(fs.statSync(policy).mode & 0o777).toBe(0o750);
        expect(fs.existsSync(saved)).toBe(false);
    });

    test("...also when apt-get fails", () => {
        fs.writeFileSync(policy, ADMINS, { mode: 0o755 });
        const r = run(100);
        expect(r.status).toBe(1);
        expect(r.stderr).toContain("apt-get install failed");
        expect(fs.readFileSync(policy, "utf8")).toBe(ADMINS);
        expect(fs.existsSync(saved)).toBe(false);
    });

    test("a run killed before its cleanup: the next one removes pgha's policy and puts the saved one back", () => {
        // What a killed run leaves: the admin's policy saved, pgha's in its place.
        fs.writeFileSync(saved, ADMINS, { mode: 0o755 });
        const mark = /prc_mark='([^']*)'/.exec(packageStep)![1];
        fs.writeFileSync(policy, `#!/bin/sh\n${mark}\nexit 101\n`, { mode: 0o755 });
        const r = run();
        expect([r.status, r.stderr]).toEqual([0, ""]);
        expect(during()).toBe("101");
        expect(fs.readFileSync(policy, "utf8")).toBe(ADMINS);
        expect(fs.existsSync(saved)).toBe(false);
    });

    test("a policy-rc.d beside a saved one that is not pgha's: refused, both kept", () => {
        fs.writeFileSync(policy, ADMINS, { mode: 0o755 });
        fs.writeFileSync(saved, "#!/bin/sh\nexit 1\n", { mode: 0o755 });
        const r = run();
        expect(r.status).toBe(1);
        expect(r.stderr).toContain("policy-rc.d.pgha-saved");
        expect(fs.readFileSync(policy, "utf8")).toBe(ADMINS);
        expect(fs.readFileSync(saved, "utf8")).toBe("#!/bin/sh\nexit 1\n");
    });
});
