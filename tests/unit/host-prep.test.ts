// pgha-host-prep.sh (server/), the packages step, run for real by bash in a sandbox:
// policy-rc.d redirected into a temp dir (PGHA_POLICY_RC_D), dpkg-query and apt-get
// stand-ins on PATH. No role flag is given, so nothing touches this machine's services.
// And the command text hostPrepScript gives each node.

import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { hostPrepScript, packagesFor } from "../../components/host-prep";
import { HOST_PREP, SERVER_DIR } from "../../components/pgha-tools";
import { classicWith, specOf } from "./fixtures";

const SCRIPT = path.join(SERVER_DIR, path.basename(HOST_PREP.path));
const ADMINS = "#!/bin/sh\n# the admin's own policy\nexit 0\n";

describe("hostPrepScript: what each node's packages step runs", () => {
    test("the node's packages, programs and roles, each a quoted word; the apt proxy when set", () => {
        const spec = specOf(classicWith((v) => (v.packages.aptProxy = "http://10.0.0.1:3142/")));
        const pg3 = spec.nodes[2];
        const { packages, programs } = packagesFor(spec, pg3.roles);
        expect(hostPrepScript(spec, pg3)).toBe(
            [
                `bash ${HOST_PREP.path} \\`,
                `  --node 'pg3' --install --apt-proxy 'http://10.0.0.1:3142/' --etcd \\`,
                `  ${packages.map((p) => `--package '${p}'`).join(" ")} \\`,
                `  ${programs.map((p) => `--program '${p}'`).join(" ")}`,
            ].join("\n"),
        );
        expect(hostPrepScript(spec, spec.nodes[0]).split("\n")[1]).toBe(`  --node 'pg1' --install --apt-proxy 'http://10.0.0.1:3142/' --postgres --etcd --keepalived \\`);
        const preinstalled = specOf(classicWith((v) => (v.packages = { install: false })));
        expect(hostPrepScript(preinstalled, pg3).split("\n")[1]).toBe(`  --node 'pg3' --etcd \\`);
    });
});

describe("pgha-host-prep.sh: packages and policy-rc.d (bash, sandboxed)", () => {
    let dir = "";
    let policy = "";
    let saved = "";
    beforeEach(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgha-hostprep-"));
        policy = path.join(dir, "policy-rc.d");
        saved = `${policy}.pgha-saved`;
        fs.mkdirSync(path.join(dir, "bin"));
        // Every package is missing; apt-get records what policy-rc.d says while it installs.
        fs.writeFileSync(path.join(dir, "bin", "dpkg-query"), "#!/bin/sh\nexit 1\n", { mode: 0o755 });
        fs.writeFileSync(
            path.join(dir, "bin", "apt-get"),
            [
                `#!/bin/bash`,
                `echo "apt-get $*" >>"$PGHA_DIR/apt-log"`,
                `case " $* " in *" install "*)`,
                `  rc=0; "$PGHA_POLICY_RC_D" pgha-test start || rc=$?; echo "$rc" >"$PGHA_DIR/policy-rc-during-install"`,
                `  exit "$PGHA_APT_RC";;`,
                `esac`,
                ``,
            ].join("\n"),
            { mode: 0o755 },
        );
    });
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    const run = (aptInstallRc = 0, args = ["--install"]) =>
        spawnSync("bash", [SCRIPT, "--node", "pg1", ...args, "--package", "etcd-server", "--package", "python3", "--program", process.execPath], {
            encoding: "utf8",
            env: { ...process.env, PATH: `${path.join(dir, "bin")}:${process.env.PATH}`, PGHA_POLICY_RC_D: policy, PGHA_DIR: dir, PGHA_APT_RC: String(aptInstallRc) },
        });
    const during = () => fs.readFileSync(path.join(dir, "policy-rc-during-install"), "utf8").trim();

    test("without a policy-rc.d: one that denies every start while apt-get installs, none afterwards", () => {
        const r = run(0, ["--install", "--apt-proxy", "http://10.0.0.1:3142/"]);
        expect([r.status, r.stderr, r.stdout]).toEqual([0, "", "pgha: pg1: installing etcd-server python3\npgha: pg1: packages ready\n"]);
        expect(during()).toBe("101");
        expect(fs.existsSync(policy)).toBe(false);
        expect(fs.existsSync(saved)).toBe(false);
        expect(fs.readFileSync(path.join(dir, "apt-log"), "utf8")).toBe(
            [
                "apt-get -o Acquire::http::Proxy=http://10.0.0.1:3142/ -q -o Dpkg::Use-Pty=0 update",
                "apt-get -o Acquire::http::Proxy=http://10.0.0.1:3142/ -q -y -o Dpkg::Use-Pty=0 --no-install-recommends install etcd-server python3",
                "",
            ].join("\n"),
        );
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
        expect(r.stderr).toContain("pgha: pg1: apt-get install failed");
        expect(fs.readFileSync(policy, "utf8")).toBe(ADMINS);
        expect(fs.existsSync(saved)).toBe(false);
    });

    test("a run killed before its cleanup: the next one removes pgha's policy and puts the saved one back", () => {
        // What a killed run leaves: the admin's policy saved, pgha's in its place.
        fs.writeFileSync(saved, ADMINS, { mode: 0o755 });
        const mark = /prc_mark='([^']*)'/.exec(fs.readFileSync(SCRIPT, "utf8"))![1];
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

    test("without --install (pgha:packages.install false): missing packages are named, nothing installed", () => {
        const r = run(0, []);
        expect([r.status, r.stdout, r.stderr]).toEqual([1, "", "pgha: pg1: pgha:packages.install is false, but these packages are missing: etcd-server python3\n"]);
        expect(fs.existsSync(path.join(dir, "apt-log"))).toBe(false);
    });

    test("a program the packages should have provided is missing: named, exit 1", () => {
        const r = spawnSync("bash", [SCRIPT, "--node", "pg1", "--program", path.join(dir, "no-such-program")], { encoding: "utf8" });
        expect([r.status, r.stderr]).toEqual([1, `pgha: pg1: required program ${path.join(dir, "no-such-program")} is missing\n`]);
    });
});
