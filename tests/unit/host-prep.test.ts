// pgha-host-prep.sh (server/), the packages step, run for real by bash in a sandbox:
// policy-rc.d redirected into a temp dir (PGHA_POLICY_RC_D), dpkg-query and apt-get
// stand-ins on PATH. No role flag is given, so nothing touches this machine's services.
// And the command text hostPrepScript gives each node.

import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { hostPrepScript, packagesFor, preflightScript } from "../../components/host-prep";
import { PLATFORMS, platformLabel, supportedPlatformsText } from "../../core/platforms";
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
                `  --node 'pg3' --install --apt-proxy 'http://10.0.0.1:3142/' --etcd --stall 300 \\`,
                `  ${packages.map((p) => `--package '${p}'`).join(" ")} \\`,
                `  ${programs.map((p) => `--program '${p}'`).join(" ")}`,
            ].join("\n"),
        );
        expect(hostPrepScript(spec, spec.nodes[0]).split("\n")[1]).toBe(`  --node 'pg1' --install --apt-proxy 'http://10.0.0.1:3142/' --postgres --etcd --keepalived --stall 300 \\`);
        const preinstalled = specOf(classicWith((v) => (v.packages = { install: false })));
        expect(hostPrepScript(preinstalled, pg3).split("\n")[1]).toBe(`  --node 'pg3' --etcd --stall 300 \\`);
        // pgha:progress.stallTimeout bounds the install.
        expect(hostPrepScript(specOf(classicWith((v) => (v.progress = { stallTimeout: 900 }))), pg3).split("\n")[1]).toBe(`  --node 'pg3' --install --etcd --stall 900 \\`);
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
                // PGHA_APT_SCRIPT: what the install prints and how long it takes (progress tests).
                `  eval "\${PGHA_APT_SCRIPT:-}"`,
                `  exit "$PGHA_APT_RC";;`,
                `esac`,
                ``,
            ].join("\n"),
            { mode: 0o755 },
        );
    });
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    const run = (aptInstallRc = 0, args = ["--install"], env: Record<string, string> = {}) =>
        spawnSync("bash", [SCRIPT, "--node", "pg1", ...args, "--package", "etcd-server", "--package", "python3", "--program", process.execPath], {
            encoding: "utf8",
            env: { ...process.env, PATH: `${path.join(dir, "bin")}:${process.env.PATH}`, PGHA_POLICY_RC_D: policy, PGHA_DIR: dir, PGHA_APT_RC: String(aptInstallRc), ...env },
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
                "apt-get -o Acquire::http::Proxy=http://10.0.0.1:3142/ -q -o Dpkg::Use-Pty=0 -o APT::Status-Fd=3 update",
                "apt-get -o Acquire::http::Proxy=http://10.0.0.1:3142/ -q -y -o Dpkg::Use-Pty=0 -o APT::Status-Fd=3 --no-install-recommends install etcd-server python3",
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

    test("while apt-get installs: a line every PGHA_PROGRESS_SEC with apt's status (download, then dpkg), no time limit while it prints", () => {
        // apt's status on fd 3 (APT::Status-Fd=3), its messages on stdout, as the real one does.
        const script = [
            "echo 'dlstatus:1:0.0000:Retrieving file 1 of 3' >&3",
            "sleep 1.2",
            "echo 'Get:1 http://deb.debian.org/debian bookworm/main amd64 etcd-server 3.4.23 [5,120 kB]'",
            "echo 'dlstatus:2:42.5000:Retrieving file 2 of 3' >&3",
            "sleep 1.2",
            "echo 'pmstatus:etcd-server:60.0000:Unpacking etcd-server (amd64)' >&3",
            "sleep 1.2",
            "echo 'Setting up etcd-server'",
            "sleep 1.2",
        ].join("; ");
        const r = run(0, ["--install", "--stall", "3"], { PGHA_APT_SCRIPT: script, PGHA_PROGRESS_SEC: "1" });
        expect([r.status, r.stderr]).toEqual([0, ""]);
        const lines = r.stdout.split("\n").filter((l) => l.startsWith("pgha: pg1: apt-get install: "));
        expect(lines.length).toBeGreaterThanOrEqual(3);
        expect(lines).toContain("pgha: pg1: apt-get install: downloading 42% (Retrieving file 2 of 3)");
        expect(lines).toContain("pgha: pg1: apt-get install: installing 60% (Unpacking etcd-server (amd64))");
        expect(r.stdout.endsWith("pgha: pg1: packages ready\n")).toBe(true);
    });

    test("an apt-get that prints nothing for --stall seconds is stopped: the step fails, saying where apt was; policy-rc.d put back", () => {
        fs.writeFileSync(policy, ADMINS, { mode: 0o755 });
        const t0 = Date.now();
        const r = run(0, ["--install", "--stall", "2"], { PGHA_APT_SCRIPT: "echo 'dlstatus:3:87.2000:Retrieving file 3 of 3'; sleep 60" });
        expect(Date.now() - t0).toBeLessThan(20_000);
        expect(r.status).toBe(1);
        expect(r.stderr).toContain("pgha: pg1: apt-get install printed nothing for 2 s (pgha:progress.stallTimeout): stopped; it was at: downloading 87% (Retrieving file 3 of 3)\n");
        expect(r.stderr).toContain("pgha: pg1: apt-get install failed");
        expect(fs.readFileSync(policy, "utf8")).toBe(ADMINS);
    });

    test("a program the packages should have provided is missing: named, exit 1", () => {
        const r = spawnSync("bash", [SCRIPT, "--node", "pg1", "--program", path.join(dir, "no-such-program")], { encoding: "utf8" });
        expect([r.status, r.stderr]).toEqual([1, `pgha: pg1: required program ${path.join(dir, "no-such-program")} is missing\n`]);
    });
});

describe("preflightScript: what each node's preflight runs", () => {
    const KEY = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQINBGPfake\n=abcd\n-----END PGP PUBLIC KEY BLOCK-----\n";
    const REPO = { uri: "https://apt.postgresql.org/pub/repos/apt", suites: ["trixie-pgdg"], components: ["main"], signingKey: KEY };
    const supported = PLATFORMS.map((p) => `--supported '${p.id}:${p.versionId}:${platformLabel(p)}'`).join(" ");

    test("the sources hash first, then the node quoted, --install, the supported releases and the node's packages", () => {
        const spec = specOf();
        const pg3 = spec.nodes[2];
        expect(preflightScript(spec, pg3, "0123456789abcdef")).toBe(
            [
                "# apt sources sha256:0123456789abcdef",
                `bash ${HOST_PREP.path} \\`,
                `  --preflight --node 'pg3' --install \\`,
                `  ${supported} \\`,
                `  ${packagesFor(spec, pg3.roles)
                    .packages.map((p) => `--package '${p}'`)
                    .join(" ")}`,
            ].join("\n"),
        );
        // Every supported release is listed, in PLATFORMS' order.
        expect(PLATFORMS.length).toBeGreaterThanOrEqual(2);
        expect(
            preflightScript(spec, pg3, "x")
                .split("\n")[3]
                .match(/--supported/g),
        ).toHaveLength(PLATFORMS.length);
        // Another hash, another command text (so the preflight runs again).
        expect(preflightScript(spec, pg3, "fedcba9876543210")).not.toBe(preflightScript(spec, pg3, "0123456789abcdef"));
    });

    test("--postgres-version only on postgres nodes, the stack's major", () => {
        const spec = specOf(classicWith((v) => (v.postgres.version = 17)));
        const second = (n: number) => preflightScript(spec, spec.nodes[n], "h").split("\n")[2];
        expect(second(0)).toBe(`  --preflight --node 'pg1' --install --postgres-version 17 \\`);
        expect(second(1)).toBe(`  --preflight --node 'pg2' --install --postgres-version 17 \\`);
        expect(second(2)).not.toContain("--postgres-version");
        expect(preflightScript(spec, spec.nodes[0], "h")).toContain("--package 'postgresql-17'");
    });

    test("--refresh only with pgha:packages.repositories; the apt proxy as the packages step has it; no --install when install is false", () => {
        const withRepo = specOf(classicWith((v) => ((v.packages.repositories = [REPO]), (v.packages.aptProxy = "http://10.0.0.1:3142/"))));
        expect(preflightScript(withRepo, withRepo.nodes[2], "h").split("\n")[2]).toBe(`  --preflight --node 'pg3' --install --apt-proxy 'http://10.0.0.1:3142/' --refresh \\`);
        expect(preflightScript(specOf(), specOf().nodes[2], "h")).not.toContain("--refresh");
        const preinstalled = specOf(classicWith((v) => (v.packages = { install: false })));
        expect(preflightScript(preinstalled, preinstalled.nodes[0], "h").split("\n")[2]).toBe(`  --preflight --node 'pg1' --postgres-version 15 \\`);
    });

    test("a node name is a quoted word", () => {
        const spec = specOf(classicWith((v) => (v.nodes[2].name = "db-3")));
        const line = preflightScript(
            spec,
            spec.nodes.find((n) => n.name === "db-3")!,
            "h",
        ).split("\n")[2];
        expect(line).toContain("--node 'db-3' ");
    });
});

// The preflight run by bash: os-release read from PGHA_OS_RELEASE; dpkg-query, apt-get and
// apt-cache stand-ins on PATH (the first two as above), mktemp's files in the sandbox.
describe("pgha-host-prep.sh --preflight (bash, sandboxed)", () => {
    const OS_RELEASES: Record<string, string> = {
        trixie: 'PRETTY_NAME="Debian GNU/Linux 13 (trixie)"\nNAME="Debian GNU/Linux"\nVERSION_ID="13"\nVERSION="13 (trixie)"\nVERSION_CODENAME=trixie\nID=debian\n',
        bookworm: 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nVERSION="12 (bookworm)"\nVERSION_CODENAME=bookworm\nID=debian\n',
        noble: 'PRETTY_NAME="Ubuntu 24.04.1 LTS"\nNAME="Ubuntu"\nVERSION_ID="24.04"\nVERSION_CODENAME=noble\nID=ubuntu\nID_LIKE=debian\n',
    };
    const SOURCES = ["http://deb.debian.org/debian trixie main", "http://deb.debian.org/debian trixie main", "http://security.debian.org/debian-security trixie-security main"];
    let dir = "";
    let policyStat: fs.Stats | undefined;
    beforeEach(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgha-preflight-"));
        for (const d of ["bin", "tmp"]) fs.mkdirSync(path.join(dir, d));
        const bin = (name: string, lines: string[]) => fs.writeFileSync(path.join(dir, "bin", name), ["#!/bin/bash", ...lines, ""].join("\n"), { mode: 0o755 });
        // Installed: the packages named in PGHA_INSTALLED.
        bin("dpkg-query", ['p="${!#}"', 'case " $PGHA_INSTALLED " in *" $p "*) printf "install ok installed";; *) exit 1;; esac']);
        bin("apt-get", [
            'echo "apt-get $*" >>"$PGHA_DIR/apt-log"',
            'case " $* " in',
            '  *" update "*) [ ! -f "$PGHA_DIR/update-out" ] || cat "$PGHA_DIR/update-out"; exit "$PGHA_UPDATE_RC";;',
            `  *" indextargets "*) printf '%s\\n' ${SOURCES.map((x) => `'${x}'`).join(" ")};;`,
            "  *) exit 99;;",
            "esac",
        ]);
        // A candidate for every package but those in PGHA_NO_CANDIDATE.
        bin("apt-cache", [
            'echo "apt-cache $*" >>"$PGHA_DIR/apt-cache-log"',
            '[ "$1" = policy ] || exit 99',
            'p=$2; echo "$p:"; echo "  Installed: (none)"',
            'case " $PGHA_NO_CANDIDATE " in *" $p "*) echo "  Candidate: (none)";; *) echo "  Candidate: 1.0-1"; echo "  Version table:";; esac',
        ]);
        policyStat = fs.existsSync("/usr/sbin/policy-rc.d") ? fs.statSync("/usr/sbin/policy-rc.d") : undefined;
    });
    afterEach(() => {
        // Nothing left behind in the sandbox's temp dir, no policy-rc.d placed, the host's own untouched.
        expect(fs.readdirSync(path.join(dir, "tmp"))).toEqual([]);
        expect(fs.existsSync(path.join(dir, "policy-rc.d"))).toBe(false);
        const now = fs.existsSync("/usr/sbin/policy-rc.d") ? fs.statSync("/usr/sbin/policy-rc.d") : undefined;
        expect([now?.mtimeMs, now?.size]).toEqual([policyStat?.mtimeMs, policyStat?.size]);
        fs.rmSync(dir, { recursive: true, force: true });
    });

    interface Setup {
        release: string;
        installed?: string[];
        noCandidate?: string[];
        updateRc?: number;
        updateOut?: string;
    }
    const SUPPORTED = PLATFORMS.flatMap((p) => ["--supported", `${p.id}:${p.versionId}:${platformLabel(p)}`]);
    const PACKAGES = ["postgresql-17", "patroni", "etcd-server"];
    const run = (s: Setup, flags: string[]) => {
        const osRelease = path.join(dir, "os-release");
        fs.writeFileSync(osRelease, OS_RELEASES[s.release]);
        if (s.updateOut !== undefined) fs.writeFileSync(path.join(dir, "update-out"), s.updateOut);
        return spawnSync("bash", [SCRIPT, "--preflight", "--node", "pg1", ...flags, ...SUPPORTED, ...PACKAGES.flatMap((p) => ["--package", p])], {
            encoding: "utf8",
            cwd: dir,
            env: {
                ...process.env,
                PATH: `${path.join(dir, "bin")}:${process.env.PATH}`,
                TMPDIR: path.join(dir, "tmp"),
                PGHA_OS_RELEASE: osRelease,
                PGHA_POLICY_RC_D: path.join(dir, "policy-rc.d"),
                PGHA_DIR: dir,
                PGHA_INSTALLED: (s.installed ?? []).join(" "),
                PGHA_NO_CANDIDATE: (s.noCandidate ?? []).join(" "),
                PGHA_UPDATE_RC: String(s.updateRc ?? 0),
            },
        });
    };
    const log = (name: string) => (fs.existsSync(path.join(dir, name)) ? fs.readFileSync(path.join(dir, name), "utf8") : "");

    test("an unsupported release: refused, naming the node, what it runs and the supported list; no apt-get", () => {
        const r = run({ release: "noble" }, ["--install", "--refresh", "--postgres-version", "17"]);
        expect([r.status, r.stdout, r.stderr]).toEqual([1, "", `pgha: pg1: runs Ubuntu 24.04.1 LTS, which pgha does not support; it supports ${supportedPlatformsText()}\n`]);
        expect(log("apt-log")).toBe("");
        expect(log("apt-cache-log")).toBe("");
    });

    test("a supported release with nothing missing and no --refresh: passes without apt", () => {
        for (const release of ["bookworm", "trixie"]) {
            const r = run({ release, installed: PACKAGES }, ["--install", "--postgres-version", "17"]);
            const p = PLATFORMS.find((x) => x.codename === release)!;
            expect([r.status, r.stderr, r.stdout]).toEqual([0, "", `pgha: pg1: platform debian ${p.versionId} (${release})\npgha: pg1: preflight passed\n`]);
        }
        expect(log("apt-log")).toBe("");
        expect(log("apt-cache-log")).toBe("");
    });

    test("--refresh with nothing missing: apt-get update all the same (through the proxy), then passes", () => {
        const r = run({ release: "trixie", installed: PACKAGES }, ["--install", "--apt-proxy", "http://10.0.0.1:3142/", "--refresh"]);
        expect([r.status, r.stderr]).toEqual([0, ""]);
        expect(r.stdout).toContain("pgha: pg1: preflight passed\n");
        expect(log("apt-log")).toBe("apt-get -o Acquire::http::Proxy=http://10.0.0.1:3142/ -q -o Dpkg::Use-Pty=0 --error-on=any update\n");
    });

    test("missing packages that the sources have: apt-get update with --error-on=any, a candidate each, nothing installed", () => {
        const r = run({ release: "trixie", installed: ["etcd-server"] }, ["--install", "--postgres-version", "17"]);
        expect([r.status, r.stderr]).toEqual([0, ""]);
        expect(r.stdout).toMatch(/preflight passed\n$/);
        expect(log("apt-log")).toBe("apt-get -q -o Dpkg::Use-Pty=0 --error-on=any update\n");
        expect(log("apt-cache-log")).toBe("apt-cache policy postgresql-17\napt-cache policy patroni\n");
    });

    test("missing packages without a candidate: refused, naming them, the PostgreSQL major and the sources read", () => {
        const r = run({ release: "bookworm", installed: ["etcd-server"], noCandidate: ["postgresql-17"] }, ["--install", "--postgres-version", "17"]);
        expect(r.status).toBe(1);
        expect(r.stdout).not.toContain("preflight passed");
        expect(r.stderr).toBe(
            `pgha: pg1: Debian GNU/Linux 12 (bookworm) cannot install postgresql-17 (PostgreSQL 17: pgha:postgres.version) from its package sources: ` +
                `${[...new Set(SOURCES)].sort().join(";")}; add one that has them with pgha:packages.repositories\n`,
        );
        expect(log("apt-log").split("\n")[0]).toBe("apt-get -q -o Dpkg::Use-Pty=0 --error-on=any update");
        // Every one without a candidate is named; no PostgreSQL major when the node has none.
        const both = run({ release: "bookworm", noCandidate: ["postgresql-17", "etcd-server"] }, ["--install"]);
        expect(both.status).toBe(1);
        expect(both.stderr).toMatch(/^pgha: pg1: Debian GNU\/Linux 12 \(bookworm\) cannot install postgresql-17 etcd-server from its package sources: /);
        expect(both.stderr).not.toContain("patroni");
    });

    test("apt-get update failing (a source unreadable or not verifying): refused, apt's E: and W: lines shown", () => {
        const out = [
            "Hit:1 http://deb.debian.org/debian trixie InRelease",
            "Get:2 http://10.0.0.5:8080 pgha-lab InRelease [1234 B]",
            "Err:2 http://10.0.0.5:8080 pgha-lab InRelease",
            "  The following signatures couldn't be verified because the public key is not available: NO_PUBKEY 0123456789ABCDEF",
            "W: GPG error: http://10.0.0.5:8080 pgha-lab InRelease: The following signatures couldn't be verified because the public key is not available: NO_PUBKEY 0123456789ABCDEF",
            "E: The repository 'http://10.0.0.5:8080 pgha-lab InRelease' is not signed.",
            "",
        ].join("\n");
        const r = run({ release: "trixie", installed: PACKAGES, updateRc: 100, updateOut: out }, ["--install", "--refresh"]);
        expect(r.status).toBe(1);
        const lines = r.stderr.trimEnd().split("\n");
        expect(lines).toEqual([out.split("\n")[4], out.split("\n")[5], "pgha: pg1: apt-get update failed: a package source above cannot be read or does not verify with its key"]);
        expect(log("apt-cache-log")).toBe("");
    });

    test("apt-get update failing without E:/W: lines: the end of its output is shown", () => {
        const r = run({ release: "trixie", installed: ["patroni"], updateRc: 100, updateOut: "Reading package lists...\nsomething odd happened\n" }, ["--install"]);
        expect(r.status).toBe(1);
        expect(r.stderr).toBe("Reading package lists...\nsomething odd happened\npgha: pg1: apt-get update failed: a package source above cannot be read or does not verify with its key\n");
    });

    test("missing packages without --install (pgha:packages.install false): refused, naming them; no apt", () => {
        const r = run({ release: "trixie", installed: ["patroni"] }, ["--refresh", "--postgres-version", "17"]);
        expect([r.status, r.stderr]).toEqual([1, "pgha: pg1: pgha:packages.install is false, but these packages are missing: postgresql-17 etcd-server\n"]);
        expect(log("apt-log")).toBe("");
        expect(log("apt-cache-log")).toBe("");
    });

    test("the command text preflightScript gives runs as is", () => {
        const spec = specOf(classicWith((v) => (v.postgres.version = 17)));
        const node = spec.nodes[0];
        fs.writeFileSync(path.join(dir, "os-release"), OS_RELEASES.noble);
        const r = spawnSync("bash", ["-c", preflightScript(spec, node, "h").replace(HOST_PREP.path, SCRIPT)], {
            encoding: "utf8",
            env: { ...process.env, PATH: `${path.join(dir, "bin")}:${process.env.PATH}`, TMPDIR: path.join(dir, "tmp"), PGHA_OS_RELEASE: path.join(dir, "os-release"), PGHA_DIR: dir },
        });
        expect([r.status, r.stderr]).toEqual([1, `pgha: pg1: runs Ubuntu 24.04.1 LTS, which pgha does not support; it supports ${supportedPlatformsText()}\n`]);
    });
});
