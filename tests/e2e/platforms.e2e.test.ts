// Issue 14: one cluster on two Debian releases, and package sources the user controls.
// PostgreSQL on Debian 12 (lab1, lab2: Patroni 3.0.2 with pgha's fix, PostgreSQL 15), etcd
// and the balancers on Debian 13 (lab3..lab5: etcd 3.5, HAProxy 3.0, keepalived 2.3), and
// a signed apt repository that lab5 serves itself. Every refusal happens in the preflight,
// before any host installs or starts anything.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import {
    LabHosts,
    Member,
    ROOT,
    configureStack,
    lab,
    labHosts,
    labStackLifecycle,
    patroniPatchState,
    patronictlList,
    psql,
    pulumi,
    run,
    ssh,
    steps,
    superuserPassword,
    upStack,
    waitFor,
} from "./harness";

const STACK = "e2e-platforms";
const VIP = "198.18.0.100";
const ROLES = "--roles=lab1=postgres,lab2=postgres,lab3=etcd+haproxy+keepalived,lab4=etcd+haproxy+keepalived,lab5=etcd";
const LAB_ARGS = ["--release", "trixie", "--host-release", "lab1=bookworm,lab2=bookworm"];
const REPO_HOST = "lab5";
const REPO_URI = "http://198.18.0.15/";
const step = steps();
let hosts: LabHosts;
let repo = "";
let password = "";

labStackLifecycle(STACK, 5, [ROLES], LAB_ARGS);
beforeAll(() => {
    hosts = labHosts();
    repo = fs.mkdtempSync(path.join(os.tmpdir(), "pgha-apt-repo-"));
    run("bash", ["tests/e2e/fixtures/apt-repo.sh", repo], { timeoutSec: 120 });
    // Port 80: the hosts reach it through the lab's apt proxy, as they reach Debian's mirror.
    lab("serve", REPO_HOST, repo, "80");
}, 300 * 1000);
afterAll(() => {
    fs.rmSync(repo, { recursive: true, force: true });
});

/** Edits the stack file's config (the lab-stack.js settings stay). */
function editStack(edit: (config: Record<string, any>) => void): void {
    const file = path.join(ROOT, `Pulumi.${STACK}.yaml`);
    const doc = YAML.parse(fs.readFileSync(file, "utf8"));
    edit(doc.config);
    fs.writeFileSync(file, YAML.stringify(doc));
}

const repository = (key: string) => ({ uri: REPO_URI, suites: ["pgha-lab"], components: ["main"], signingKey: fs.readFileSync(path.join(repo, key), "utf8") });
const installed = (host: string, pkg: string) => ssh(host, `dpkg-query -W -f='\${Status}' ${pkg} 2>/dev/null || true`).stdout.trim() === "install ok installed";
const leaderOf = (members: Member[]) => members.find((m) => m.Role === "Leader")?.Member;

step(
    "the hosts run the releases of the layout",
    () => {
        const release = (h: string) => ssh(h, ". /etc/os-release && echo $VERSION_CODENAME").stdout.trim();
        expect(hosts.hosts.map((h) => `${h.name}=${release(h.name)}`)).toEqual(["lab1=bookworm", "lab2=bookworm", "lab3=trixie", "lab4=trixie", "lab5=trixie"]);
    },
    60,
);

step(
    "a PostgreSQL major the Debian 12 nodes cannot install is refused by their preflight, naming the version and their sources; nothing is installed anywhere",
    () => {
        editStack((c) => (c["pgha:postgres"].version = 17));
        const r = pulumi(["up", "--yes", "--skip-preview", "--stack", STACK], { allowFail: true });
        const out = r.stdout + r.stderr;
        expect(r.status).not.toBe(0);
        for (const n of ["lab1", "lab2"])
            expect(out).toMatch(
                new RegExp(
                    `pgha: ${n}: Debian GNU/Linux 12 \\(bookworm\\) cannot install postgresql-17 postgresql-client-17 \\(PostgreSQL 17: pgha:postgres.version\\) from its package sources: http://\\S+ bookworm main`,
                ),
            );
        for (const h of hosts.hosts) for (const p of ["patroni", "etcd-server", "haproxy", "keepalived"]) expect(`${h.name}:${p}:${installed(h.name, p)}`).toBe(`${h.name}:${p}:false`);
    },
    900,
);

step(
    "a repository whose signing key is wrong is refused by every node's preflight (apt's reason shown); nothing is installed anywhere",
    () => {
        editStack((c) => {
            delete c["pgha:postgres"].version;
            c["pgha:packages"].repositories = [repository("wrong.asc")];
        });
        const r = pulumi(["up", "--yes", "--skip-preview", "--stack", STACK], { allowFail: true });
        const out = r.stdout + r.stderr;
        expect(r.status).not.toBe(0);
        for (const h of hosts.hosts) expect(out).toContain(`pgha: ${h.name}: apt-get update failed`);
        expect(out).toMatch(/is not signed|NO_PUBKEY|Missing key/);
        for (const h of hosts.hosts) for (const p of ["patroni", "etcd-server", "haproxy", "keepalived"]) expect(`${h.name}:${p}:${installed(h.name, p)}`).toBe(`${h.name}:${p}:false`);
    },
    900,
);

step(
    "with the right key: a mixed cluster, Debian 12's PostgreSQL 15 and Patroni 3.0.2 (patched) behind Debian 13's etcd 3.5 and HAProxy 3.0",
    () => {
        editStack((c) => (c["pgha:packages"].repositories = [repository("good.asc")]));
        const up = upStack(STACK);
        expect(up.stdout).toMatch(/verified: .*answers as the primary/);
        expect(up.stdout).toContain("pgha:postgres.version is unset: PostgreSQL 15");
        password = superuserPassword(STACK);
        expect(psql(VIP, 5000, password, "show server_version_num").stdout.trim()).toMatch(/^15\d{4}$/);
        for (const n of ["lab1", "lab2"]) {
            expect(ssh(n, "patroni --version").stdout.trim()).toBe("patroni 3.0.2");
            expect(patroniPatchState(n)).toBe("patched");
        }
        for (const n of ["lab3", "lab4", "lab5"]) expect(ssh(n, "etcd --version | head -1").stdout.trim()).toBe("etcd Version: 3.5.16");
        expect(ssh("lab3", "haproxy -v | head -1").stdout).toMatch(/^HAProxy version 3\.0\./);
        // The source and its key, the key usable by this source only; apt sees the package.
        for (const h of hosts.hosts) {
            const src = ssh(h.name, "cat /etc/apt/sources.list.d/pgha-*.sources").stdout;
            const keyFile = /^Signed-By: (\/etc\/apt\/keyrings\/pgha-[0-9a-f]{12}\.asc)$/m.exec(src)?.[1];
            expect(keyFile).toBeDefined();
            expect(src).toContain(`URIs: ${REPO_URI}`);
            expect(ssh(h.name, `cat ${keyFile}`).stdout).toBe(fs.readFileSync(path.join(repo, "good.asc"), "utf8").trim() + "\n");
            expect(ssh(h.name, "apt-cache policy pgha-lab-probe").stdout).toMatch(/Candidate: 1\.0/);
        }
        psql(VIP, 5000, password, "create table mixed_probe(id int primary key); insert into mixed_probe values (1)");
    },
    1800,
);

step(
    "nothing left to do: preview --expect-no-changes",
    () => {
        pulumi(["preview", "--expect-no-changes", "--stack", STACK]);
    },
    300,
);

step(
    "failover: kill the Debian 12 leader's host; the other takes writes through Debian 13's VIP and HAProxy; the old one rejoins",
    async () => {
        const before = leaderOf(patronictlList("lab1"))!;
        const survivor = before === "lab1" ? "lab2" : "lab1";
        lab("kill", before);
        await waitFor("a new leader", 120, () => (leaderOf(patronictlList(survivor)) === survivor ? true : undefined));
        await waitFor("a write through the VIP", 120, () => (psql(VIP, 5000, password, "insert into mixed_probe values (2)", { allowFail: true }).status === 0 ? true : undefined));
        lab("start", before);
        await waitFor(`${before} streaming again`, 180, () => {
            const m = patronictlList(survivor).find((x) => x.Member === before);
            return m && /^(running|streaming)$/.test(m.State) ? true : undefined;
        });
        expect(psql(VIP, 5001, password, "select count(*) from mixed_probe").stdout.trim()).toBe("2");
        pulumi(["preview", "--expect-no-changes", "--stack", STACK]);
    },
    600,
);

step(
    "a new stack whose PostgreSQL nodes run releases with different majors, and no version set, is refused at preview naming them",
    () => {
        const other = "e2e-platforms-mixed";
        pulumi(["stack", "rm", "--yes", "--force", other], { allowFail: true });
        configureStack(other, ["--roles=lab1=etcd+postgres+haproxy+keepalived,lab3=etcd+postgres+haproxy+keepalived,lab5=etcd"]);
        try {
            const r = pulumi(["preview", "--stack", other], { allowFail: true });
            const out = r.stdout + r.stderr;
            expect(r.status).not.toBe(0);
            expect(out).toContain("pgha:postgres.version is unset");
            expect(out).toMatch(/PostgreSQL 15 on lab1 \(Debian 12 \(bookworm\)\); PostgreSQL 17 on lab3 \(Debian 13 \(trixie\)\)/);
            expect(out).not.toContain("command:remote:Command");
        } finally {
            pulumi(["stack", "rm", "--yes", "--force", other], { allowFail: true });
            fs.rmSync(path.join(ROOT, `Pulumi.${other}.yaml`), { force: true });
        }
    },
    300,
);
