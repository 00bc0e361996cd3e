// Issue 3 with the real engine: `pulumi preview` of the classic example shows
// the resource tree without touching a server, and a broken stack file is
// refused with every problem listed, before any resource exists.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import YAML from "yaml";
import { ROOT, run } from "./harness";

const work = fs.mkdtempSync(path.join(os.tmpdir(), "pgha-preview-"));
const env = {
    PATH: `${path.join(os.homedir(), ".pulumi", "bin")}:${process.env.PATH}`,
    PULUMI_BACKEND_URL: `file://${work}`,
    PULUMI_CONFIG_PASSPHRASE: "preview-test",
    PULUMI_CONFIG_PASSPHRASE_FILE: "",
    PULUMI_SKIP_UPDATE_CHECK: "true",
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
};
const pulumi = (args: string[], opts: { input?: string; allowFail?: boolean } = {}) => run("pulumi", args, { env, timeoutSec: 300, ...opts });

/** A stack whose file is the classic example with `edit` applied, all secrets set, a throwaway ssh key. */
function stackFrom(name: string, edit: (config: Record<string, any>) => void): void {
    const doc = YAML.parse(fs.readFileSync(path.join(ROOT, "Pulumi.dev.yaml"), "utf8"));
    const key = path.join(work, "id_test");
    fs.writeFileSync(key, "not a real key: preview never connects\n", { mode: 0o600 });
    doc.config["pgha:ssh"].privateKeyPath = key;
    edit(doc.config);
    pulumi(["stack", "init", name, "--secrets-provider", "passphrase"]);
    fs.writeFileSync(path.join(ROOT, `Pulumi.${name}.yaml`), YAML.stringify({ ...YAML.parse(fs.readFileSync(path.join(ROOT, `Pulumi.${name}.yaml`), "utf8")), config: doc.config }));
    for (const s of ["superuserPassword", "replicationPassword", "keepalivedPassword"]) pulumi(["config", "set", "--secret", `pgha:${s}`, "--stack", name], { input: `Preview-${s}-1` });
}

afterAll(() => {
    for (const s of ["e2e-preview-ok", "e2e-preview-bad", "e2e-preview-unset", "e2e-own"]) fs.rmSync(path.join(ROOT, `Pulumi.${s}.yaml`), { force: true });
    fs.rmSync(work, { recursive: true, force: true });
});

test("preview of the classic example shows the per-server resource tree and touches nothing", () => {
    stackFrom("e2e-preview-ok", () => undefined);
    const out = pulumi(["preview", "--stack", "e2e-preview-ok"]).stdout;
    for (const r of ["pg1:packages", "pg1:/etc/patroni/config.yml", "pg2:patroni", "pg3:etcd", "pg1:haproxy", "pg2:keepalived", "pgsql-etcd:etcd-health", "pgsql:verify"])
        expect(out).toContain(`command:remote:Command ${r}`);
    expect(out).not.toContain("pg3:patroni");
    // The stack, 15 components, 80 remote commands (files, services, TLS files, the server programs, a preflight per node; the etcd-leader-away helper,
    // HAProxy's open-files drop-in on pg1 and pg2, the progress module on pg1 and pg2, the cluster's restart step) and 4 local openssl commands (CA + one per node).
    expect(out).toMatch(/\+ 100 to create/);
    expect(out).toContain("command:remote:Command pg3:preflight");
    expect(out).toContain("command:local:Command pgsql:ca");
    expect(out).not.toMatch(/Preview-superuserPassword-1/);
});

test("a broken stack file is refused at preview with every problem and its key path", () => {
    stackFrom("e2e-preview-bad", (c) => {
        c["pgha:nodes"][2].address = "10.0.0.300";
        c["pgha:nodes"][1].name = "pg1";
        c["pgha:nodes"][2].roles = ["etcd", "etcd-ish"];
        c["pgha:haproxy"].replicaPort = 5000;
    });
    const r = pulumi(["preview", "--stack", "e2e-preview-bad"], { allowFail: true });
    const out = r.stdout + r.stderr;
    expect(r.status).not.toBe(0);
    expect(out).toContain('pgha:nodes[2].address: "10.0.0.300" is not an IPv4 address');
    expect(out).toMatch(/pgha:nodes\[1\]\.name: .*pg1/);
    expect(out).toMatch(/pgha:nodes\[2\]\.roles\[1\]: .*etcd-ish/);
    expect(out).toMatch(/pgha:haproxy\.replicaPort/);
    expect(out).not.toContain("command:remote:Command");
});

test("with pgha:postgres.version unset, preview reads the PostgreSQL nodes' release over SSH: nodes it cannot reach are named, and nothing else happens", () => {
    stackFrom("e2e-preview-unset", (c) => delete c["pgha:postgres"].version);
    const r = pulumi(["preview", "--stack", "e2e-preview-unset"], { allowFail: true });
    const out = r.stdout + r.stderr;
    expect(r.status).not.toBe(0);
    for (const n of ["pg1", "pg2"])
        expect(out).toMatch(
            new RegExp(
                `pgha:postgres.version is unset, so pgha reads the PostgreSQL nodes' release to choose its default \\(set it to skip this\\): ${n}: cannot read /etc/os-release over SSH \\(root@172\\.51\\.216\\.8${n.slice(2)}:22\\)`,
            ),
        );
    // pg3 holds no PostgreSQL: its release does not decide the major.
    expect(out).not.toMatch(/pg3: cannot read/);
    expect(out).not.toContain("command:remote:Command");
});

test("the README's own-servers steps work on a copy of Pulumi.dev.yaml (it carries no encryption salt of its own)", () => {
    // "Copy Pulumi.dev.yaml to Pulumi.prod.yaml, put in your addresses and host keys": here
    // only the key file changes (preview never connects), then exactly the README's commands.
    const text = fs.readFileSync(path.join(ROOT, "Pulumi.dev.yaml"), "utf8");
    expect(text).not.toMatch(/^encryptionsalt:/m);
    const key = path.join(work, "id_own");
    fs.writeFileSync(key, "not a real key: preview never connects\n", { mode: 0o600 });
    fs.writeFileSync(path.join(ROOT, "Pulumi.e2e-own.yaml"), text.replace("privateKeyPath: ~/.ssh/id_ed25519", `privateKeyPath: ${key}`));
    run("pulumi", ["stack", "init", "e2e-own"], { env, timeoutSec: 120 });
    for (const s of ["superuserPassword", "replicationPassword", "keepalivedPassword"])
        run("pulumi", ["config", "set", "--secret", `pgha:${s}`, "--stack", "e2e-own"], { env, input: `Own-${s}-1`, timeoutSec: 120 });
    const out = run("pulumi", ["preview", "--diff", "--stack", "e2e-own"], { env, timeoutSec: 300 }).stdout;
    expect(out).toMatch(/\+ \d+ to create/);
    expect(out).not.toContain("Own-superuserPassword-1");
});
