// pgha as a library: the packed package (`npm run pack`) installed into the example program
// examples/composed, which composes PostgresHaCluster with another resource that provides a
// server's address and host key, deployed on the lab with the real engine.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import YAML from "yaml";
import { ROOT, lab, labHosts, patronictlList, psql, run, steps } from "./harness";

const step = steps();
const VIP = "198.18.0.100";
const STACK = "e2e-lib";
const work = fs.mkdtempSync(path.join(os.tmpdir(), "pgha-example-"));
const env = {
    PATH: `${path.join(os.homedir(), ".pulumi", "bin")}:${process.env.PATH}`,
    PULUMI_BACKEND_URL: `file://${work}/state`,
    PULUMI_CONFIG_PASSPHRASE: "example-test",
    PULUMI_CONFIG_PASSPHRASE_FILE: "",
    PULUMI_SKIP_UPDATE_CHECK: "true",
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
};
const pulumi = (args: string[], opts: { input?: string; allowFail?: boolean; timeoutSec?: number } = {}) =>
    run("pulumi", [...args, "--stack", STACK], { env, cwd: path.join(work, "app"), timeoutSec: opts.timeoutSec ?? 900, echo: true, ...opts });
let superuser = "";

beforeAll(() => {
    lab("down");
    lab("up", "--nodes", "3", "--release", "bookworm");
}, 1800 * 1000);
afterAll(() => {
    pulumi(["destroy", "--yes", "--skip-preview"], { allowFail: true, timeoutSec: 600 });
    lab("down");
    fs.rmSync(work, { recursive: true, force: true });
}, 900 * 1000);

step(
    "npm run pack makes a package that the example program installs",
    () => {
        const tgz = run("bash", ["scripts/pack-library.sh"], { timeoutSec: 300 }).stdout.trim().split("\n").pop()!;
        expect(tgz).toMatch(/^dist\/pgha-\d+\.\d+\.\d+\.tgz$/);
        fs.cpSync(path.join(ROOT, "examples", "composed"), path.join(work, "app"), { recursive: true });
        const pkgFile = path.join(work, "app", "package.json");
        const pkg = JSON.parse(fs.readFileSync(pkgFile, "utf8"));
        pkg.dependencies.pgha = `file:${path.join(ROOT, tgz)}`;
        fs.writeFileSync(pkgFile, JSON.stringify(pkg, null, 2));
        run("npm", ["install", "--no-audit", "--no-fund"], { cwd: path.join(work, "app"), timeoutSec: 600 });
        // One copy of the Pulumi SDK: the library's components register with the program's runtime.
        expect(fs.existsSync(path.join(work, "app", "node_modules", "pgha", "node_modules", "@pulumi"))).toBe(false);
    },
    900,
);

step(
    "the example composes the cluster with a stand-in VM: preview, up, a verified cluster answering through the VIP",
    () => {
        fs.mkdirSync(path.join(work, "state"));
        const hosts = labHosts();
        pulumi(["stack", "init", "--secrets-provider", "passphrase"]);
        const file = path.join(work, "app", `Pulumi.${STACK}.yaml`);
        const doc = YAML.parse(fs.readFileSync(file, "utf8")) ?? {};
        doc.config = {
            "composed:servers": hosts.hosts.map((h) => ({ name: `db${h.name.slice(3)}`, address: h.address, hostKey: h.hostKey })),
            "composed:privateKeyPath": hosts.hosts[0].privateKeyPath,
            "composed:cluster": {
                vip: { address: VIP, prefixLength: 24, interface: "eth0", virtualRouterId: 52 },
                postgres: { version: 15, allowedClientCidrs: [`${hosts.gateway}/32`] },
                packages: { install: true, aptProxy: hosts.aptProxy ?? "" },
                // The lab caps a process at 20000 open files; HAProxy's default maxConn (100000) needs 201024.
                haproxy: { maxConn: 8000 },
            },
        };
        fs.writeFileSync(file, YAML.stringify(doc));
        superuser = `Lib-${Date.now()}-su`;
        for (const [k, v] of [
            ["superuserPassword", superuser],
            ["replicationPassword", `Lib-${Date.now()}-repl`],
            ["keepalivedPassword", "libvrrp1"],
        ])
            pulumi(["config", "set", "--secret", `composed:${k}`], { input: v });
        // Before the stand-in VM exists its outputs are unknown: the preview shows it.
        expect(pulumi(["preview"]).stdout).toContain("command:local:Command vm");
        const up = pulumi(["up", "--yes", "--skip-preview"], { timeoutSec: 1500 });
        expect(up.stdout).toMatch(/verified: .*answers as the primary/);
        expect(psql(VIP, 5000, superuser, "select pg_is_in_recovery()").stdout.trim()).toBe("f");
        expect(
            patronictlList("lab1")
                .map((m) => m.Member)
                .sort(),
        ).toEqual(["db1", "db2"]);
    },
    1800,
);

step(
    "an unchanged program changes nothing; the guards inside the component refuse an unsafe edit",
    () => {
        pulumi(["preview", "--expect-no-changes"]);
        pulumi(["config", "set", "--path", "composed:cluster.postgres.version", "16"]);
        const r = pulumi(["preview"], { allowFail: true });
        expect(r.status).not.toBe(0);
        expect(r.stdout + r.stderr).toContain("pgha:postgres.version: a major version change (15 -> 16) cannot be done in place");
        pulumi(["config", "set", "--path", "composed:cluster.postgres.version", "15"]);
        pulumi(["preview", "--expect-no-changes"]);
    },
    600,
);
