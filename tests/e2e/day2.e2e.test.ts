// Issue 5: day-2 changes by stack edits, on one lab deployment. Each edit's
// preview lists exactly the resources it implies, and its `up` changes only
// that: PostgreSQL restarts are counted by postmaster start time, and writes
// through the VIP are probed every 200 ms.
import { ChildProcess, spawn } from "child_process";
import * as path from "path";
import { CA_CERT_PATH, ETCD_TLS } from "../../core/pki";
import { caFile } from "./client-services";
import { PrometheusApi } from "./prometheus";
import { opsScript, statusJson } from "./ops-scripts";
import { ROOT, configureStack, previewOpsOf, labStackLifecycle, upStack, patronictlList, psql, pulumi, ssh, steps, superuserPassword, waitFor } from "./harness";

const STACK = "e2e-day2";
const VIP = "198.18.0.100";
/** etcd speaks only TLS with client certificates: lab1's own (it is an etcd member throughout). */
const ETCDCTL_TLS = `etcdctl --endpoints=https://198.18.0.11:2379 --cacert=${CA_CERT_PATH} --cert=${ETCD_TLS.cert} --key=${ETCD_TLS.key}`;
const step = steps();
const CLASSIC = "lab1=etcd+postgres+haproxy+keepalived,lab2=etcd+postgres+haproxy+keepalived,lab3=etcd";
let password = "";

// Debian 12: day-2 edits are proven on the older release (the cluster suite covers Debian 13).
labStackLifecycle(STACK, 5, [`--roles=${CLASSIC}`], ["--release", "bookworm"]);

const setConfig = (key: string, value: string) => pulumi(["config", "set", "--path", key, value, "--stack", STACK], { echo: false });

const previewOps = () => previewOpsOf(STACK);

function postmasterStart(host: string): string {
    return ssh(host, `cd / && runuser -u postgres -- psql -AtXc "select pg_postmaster_start_time()"`).stdout.trim();
}

/** Writes through the VIP every 200 ms while `fn` runs; returns the longest gap between acknowledged writes. */
async function withWriteProbe(fn: () => void): Promise<{ longestOutageMs: number; writes: number }> {
    const probe: ChildProcess = spawn("node", [path.join(ROOT, "scripts", "write-probe.js"), VIP, "5000"], { env: { ...process.env, PGPASSWORD: password } });
    let out = "";
    probe.stdout!.on("data", (d) => (out += d));
    await new Promise((r) => setTimeout(r, 2000));
    try {
        fn();
    } finally {
        probe.kill("SIGTERM");
        await new Promise((r) => probe.once("exit", r));
    }
    const result = JSON.parse(out);
    process.stdout.write(`write probe: ${result.writes} acknowledged, ${result.failed} failed, longest gap ${result.longestOutageMs} ms\n`);
    return result;
}

const up = () => upStack(STACK);

// Issue 13 on Debian 12 (Prometheus 2.42, the 0.11 and 1.5 exporters): monitoring on from the
// start, Prometheus on lab3 (etcd only). A day-2 edit that changes what is scraped changes, of
// monitoring's, only the targets file and Prometheus' reload.
const PROM_HOST = "lab3";
const SCRAPE_CHANGE = [`${PROM_HOST}:/etc/pgha/prometheus/targets.json`, `${PROM_HOST}:prometheus`];
let prom: PrometheusApi;
const prometheusPid = () => ssh(PROM_HOST, "systemctl show -p MainPID --value prometheus").stdout.trim();

step(
    "deploy the classic cluster (lab4 stands by), with monitoring: every target up",
    async () => {
        setConfig("pgha:monitoring.prometheusHost", PROM_HOST);
        setConfig("pgha:monitoring.scrapeInterval", "5s");
        up();
        password = superuserPassword(STACK);
        expect(psql(VIP, 5000, password, "select pg_is_in_recovery()").stdout.trim()).toBe("f");
        prom = PrometheusApi.ofStack(STACK, caFile(STACK));
        const { value: targets } = await prom.until("every target up", 90, async (api) => {
            const t = await api.targets();
            return t.length > 0 && t.every((x) => x.health === "up") ? t : undefined;
        });
        // etcd x3, node x3, patroni x2, postgres x2, haproxy x2, the VIP, Prometheus itself.
        expect(targets.map((t) => `${t.job} ${t.node ?? "-"}`).sort()).toEqual(
            [
                ...["lab1", "lab2", "lab3"].flatMap((h) => [`etcd ${h}`, `node ${h}`]),
                ...["lab1", "lab2"].flatMap((h) => [`patroni ${h}`, `postgres ${h}`, `haproxy ${h}`]),
                `prometheus ${PROM_HOST}`,
                "vip -",
            ].sort(),
        );
    },
    1200,
);

step(
    "a reload-only parameter goes to the DCS once, with 0 restarts",
    async () => {
        const before = ["lab1", "lab2"].map(postmasterStart);
        setConfig("pgha:postgres.parameters.work_mem", "24MB");
        expect(previewOps()).toEqual({ "pgsql:dynamic-config": "update", "pgsql:verify": "update" });
        const probe = await withWriteProbe(up);
        expect(["lab1", "lab2"].map(postmasterStart)).toEqual(before);
        for (const h of ["lab1", "lab2"]) expect(ssh(h, `cd / && runuser -u postgres -- psql -AtXc "show work_mem"`).stdout.trim()).toBe("24MB");
        expect(probe.longestOutageMs).toBeLessThan(2000);
    },
    600,
);

step(
    "Patroni timings and synchronous mode change through the DCS without restarts",
    () => {
        const before = ["lab1", "lab2"].map(postmasterStart);
        setConfig("pgha:patroni.ttl", "35");
        expect(previewOps()).toEqual({ "pgsql:dynamic-config": "update", "pgsql:verify": "update" });
        up();
        const dcs = ssh("lab1", "patronictl -c /etc/patroni/config.yml show-config").stdout;
        expect(dcs).toMatch(/^ttl: 35$/m);
        expect(["lab1", "lab2"].map(postmasterStart)).toEqual(before);
    },
    600,
);

step(
    "a restart-requiring parameter rolls: replica, then one switchover (the demoted leader restarts again only if still pending)",
    async () => {
        const leaderBefore = patronictlList("lab1").find((m) => m.Role === "Leader")!.Member;
        const before = ["lab1", "lab2"].map(postmasterStart);
        setConfig("pgha:postgres.parameters.shared_buffers", "160MB");
        // The PATCH, then the one cluster-level restart step (issue 18), once every member's config is placed.
        expect(previewOps()).toEqual({ "pgsql:dynamic-config": "update", "pgsql:restart-pending": "update", "pgsql:verify": "update" });
        const probe = await withWriteProbe(up);
        const after = ["lab1", "lab2"].map(postmasterStart);
        expect(after[0]).not.toBe(before[0]);
        expect(after[1]).not.toBe(before[1]);
        for (const h of ["lab1", "lab2"]) expect(ssh(h, `cd / && runuser -u postgres -- psql -AtXc "show shared_buffers"`).stdout.trim()).toBe("160MB");
        expect(patronictlList("lab1").find((m) => m.Role === "Leader")!.Member).not.toBe(leaderBefore);
        // Target 5 s (issue 5); the bound here guards against regressions such as a lost primary.
        expect(probe.longestOutageMs).toBeLessThan(8000);
    },
    900,
);

step(
    "add a replica: only the new host's resources, HAProxy reloads, no restart elsewhere",
    async () => {
        const before = ["lab1", "lab2"].map(postmasterStart);
        configureStack(STACK, [`--roles=${CLASSIC},lab4=postgres`]);
        for (const [k, v] of [
            ["pgha:postgres.parameters.work_mem", "24MB"],
            ["pgha:patroni.ttl", "35"],
            ["pgha:postgres.parameters.shared_buffers", "160MB"],
        ])
            setConfig(k, v);
        const ops = previewOps();
        const changed = Object.entries(ops)
            .filter(([, op]) => op !== "create")
            .map(([n]) => n)
            .sort();
        expect(changed).toEqual(["lab1:/etc/haproxy/haproxy.cfg", "lab1:haproxy", "lab2:/etc/haproxy/haproxy.cfg", "lab2:haproxy", ...SCRAPE_CHANGE, "pgsql:dynamic-config", "pgsql:verify"].sort());
        for (const [n, op] of Object.entries(ops)) if (op === "create") expect(n).toMatch(/^(lab4[:-]|pgha:)/);
        const promPid = prometheusPid();
        const probe = await withWriteProbe(up);
        // lab4 is scraped after this up; Prometheus was reloaded, not restarted.
        const { seconds } = await prom.until("lab4's node, postgres and patroni targets up", 90, async (api) => {
            const t = (await api.targets()).filter((x) => x.node === "lab4" && x.health === "up");
            return t.length === 3 ? true : undefined;
        });
        process.stdout.write(`lab4 scraped (node, postgres, patroni all up) ${seconds.toFixed(0)} s after the up\n`);
        expect(prometheusPid()).toBe(promPid);
        expect(["lab1", "lab2"].map(postmasterStart)).toEqual(before);
        expect(probe.longestOutageMs).toBeLessThan(2000);
        const lab4 = patronictlList("lab1").find((m) => m.Member === "lab4");
        expect(lab4?.Role).toBe("Replica");
        const stats = ssh("lab1", "python3 -c \"import urllib.request;print(urllib.request.urlopen('http://127.0.0.1:7000/;csv').read().decode())\"", { allowFail: true }).stdout;
        expect(stats).toMatch(/^replicas,lab4,/m);
    },
    900,
);

step(
    "remove the leader: it hands over first, then leaves the cluster and HAProxy",
    async () => {
        const leader = patronictlList("lab1").find((m) => m.Role === "Leader")!.Member;
        ssh("lab1", `patronictl -c /etc/patroni/config.yml switchover --leader ${leader} --candidate lab4 --force`);
        await waitFor("lab4 leading", 60, () => (patronictlList("lab1").find((m) => m.Role === "Leader")?.Member === "lab4" ? true : undefined));
        await waitFor("writes through the VIP", 30, () => (psql(VIP, 5000, password, "select 1", { allowFail: true }).status === 0 ? true : undefined));
        configureStack(STACK, [`--roles=${CLASSIC}`]);
        for (const [k, v] of SETTINGS) setConfig(k, v);
        const probe = await withWriteProbe(up);
        expect(probe.longestOutageMs).toBeLessThan(8000);
        expect(["lab1", "lab2"]).toContain(patronictlList("lab1").find((m) => m.Role === "Leader")!.Member);
        await waitFor("lab4 gone from the cluster", 90, () => (patronictlList("lab1").some((m) => m.Member === "lab4") ? undefined : true));
        expect(ssh("lab4", "systemctl is-active patroni", { allowFail: true }).stdout.trim()).not.toBe("active");
    },
    900,
);

const SETTINGS: [string, string][] = [
    ["pgha:postgres.parameters.work_mem", "24MB"],
    ["pgha:patroni.ttl", "35"],
    ["pgha:postgres.parameters.shared_buffers", "160MB"],
];

step(
    "rotate the passwords: set in PostgreSQL first, replication keeps streaming, no restart",
    async () => {
        const before = ["lab1", "lab2"].map(postmasterStart);
        // Every statement is logged: a password sent in ALTER ROLE would land in the log.
        setConfig("pgha:postgres.parameters.log_statement", "all");
        const replication = `Repl'"$(id)\`;#-${Date.now()}`;
        pulumi(["config", "set", "--secret", "pgha:replicationPassword", "--stack", STACK], { input: replication, echo: false });
        const probe = await withWriteProbe(up);
        expect(probe.longestOutageMs).toBeLessThan(2000);
        // Force the replica to reconnect: it must log in with the new password.
        const leader = patronictlList("lab1").find((m) => m.Role === "Leader")!.Member;
        const replica = leader === "lab1" ? "lab2" : "lab1";
        ssh(leader, `cd / && runuser -u postgres -- psql -AtXc "select pg_terminate_backend(pid) from pg_stat_replication"`);
        await waitFor(`${replica} streaming again with the new password`, 60, () =>
            ssh(leader, `cd / && runuser -u postgres -- psql -AtXc "select application_name from pg_stat_replication where state = 'streaming'"`).stdout.includes(replica) ? true : undefined,
        );
        const oldSuperuser = password;
        pulumi(["config", "set", "--secret", "pgha:superuserPassword", "--stack", STACK], { input: `Sup3r '"$HOME\`;${Date.now()}`, echo: false });
        pulumi(["config", "set", "--secret", "pgha:keepalivedPassword", "--stack", STACK], { input: "n3wVrrp1", echo: false });
        up();
        password = superuserPassword(STACK);
        expect(psql(VIP, 5000, password, "select pg_is_in_recovery()").stdout.trim()).toBe("f");
        expect(psql(VIP, 5000, oldSuperuser, "select 1", { allowFail: true }).status).not.toBe(0);
        expect(ssh("lab1", "grep -c 'auth_pass n3wVrrp1' /etc/keepalived/keepalived.conf").stdout.trim()).toBe("1");
        expect(["lab1", "lab2"].map(postmasterStart)).toEqual(before);
        // PostgreSQL logged the ALTER ROLEs (to Patroni's journal), with SCRAM verifiers and no password.
        const logs = (h: string) => ssh(h, `journalctl -u patroni --no-pager -q; cat /var/lib/postgresql/15/pgsql/log/* 2>/dev/null || true`, { timeoutSec: 60 }).stdout;
        const all = ["lab1", "lab2"].map(logs).join("\n");
        expect(all).toMatch(/ALTER ROLE .*PASSWORD 'SCRAM-SHA-256\$4096:/);
        // The quote-free tail of each password (a quote would be doubled in a logged SQL literal).
        for (const secret of [replication, password]) expect(all).not.toContain(secret.slice(-13));
    },
    600,
);

step(
    "unsafe edits are refused at preview, before any server is touched",
    () => {
        setConfig("pgha:clusterName", "renamed");
        const r = pulumi(["preview", "--stack", STACK], { allowFail: true });
        expect(r.status).not.toBe(0);
        expect(r.stdout + r.stderr).toContain('pgha:clusterName: changing "pgsql" to "renamed" in place is refused');
        setConfig("pgha:clusterName", "pgsql");
        pulumi(["preview", "--expect-no-changes", "--stack", STACK]);
        // A node renamed in place would get new resources, then lose its files and services to the old ones' deletes.
        setConfig("pgha:nodes[1].name", "lab2b");
        const renamed = pulumi(["preview", "--stack", STACK], { allowFail: true });
        expect(renamed.status).not.toBe(0);
        expect(renamed.stdout + renamed.stderr).toContain('pgha:nodes: the node "lab2b" has the address 198.18.0.12 of the running node "lab2"; renaming a node is refused');
        setConfig("pgha:nodes[1].name", "lab2");
        pulumi(["preview", "--expect-no-changes", "--stack", STACK]);
    },
    300,
);

step(
    "add a balancer: it joins the VRRP group; remove it again: the VIP stays up",
    () => {
        configureStack(STACK, [`--roles=lab1=etcd+postgres+haproxy+keepalived,lab2=etcd+postgres+haproxy+keepalived,lab3=etcd+haproxy+keepalived`]);
        for (const [k, v] of SETTINGS) setConfig(k, v);
        const ops = previewOps();
        const existing = Object.entries(ops)
            .filter(([, op]) => op !== "create")
            .map(([n]) => n)
            .sort();
        expect(existing).toEqual(
            [
                "lab1:/etc/keepalived/keepalived.conf",
                "lab1:keepalived",
                "lab2:/etc/keepalived/keepalived.conf",
                "lab2:keepalived",
                "lab3:packages",
                // lab3's packages change (haproxy, keepalived): its preflight checks them again first.
                "lab3:preflight",
                ...SCRAPE_CHANGE,
                "pgsql:dynamic-config",
                "pgsql:verify",
            ].sort(),
        );
        up();
        expect(ssh("lab3", "systemctl is-active haproxy keepalived").stdout.trim().split("\n")).toEqual(["active", "active"]);
        expect(ssh("lab3", "journalctl -u keepalived --no-pager | grep -cE 'Entering (BACKUP|MASTER) STATE'", { allowFail: true }).stdout.trim()).not.toBe("0");
        configureStack(STACK, [`--roles=${CLASSIC}`]);
        for (const [k, v] of SETTINGS) setConfig(k, v);
        up();
        expect(ssh("lab3", "systemctl is-active keepalived", { allowFail: true }).stdout.trim()).not.toBe("active");
        expect(psql(VIP, 5000, password, "select pg_is_in_recovery()").stdout.trim()).toBe("f");
    },
    900,
);

/** etcd's view of its members: name → started. */
function etcdMemberList(): Record<string, boolean> {
    const out = JSON.parse(ssh("lab1", `ETCDCTL_API=3 ${ETCDCTL_TLS} member list -w json`).stdout);
    return Object.fromEntries((out.members ?? []).map((m: { name?: string; clientURLs?: string[] }) => [m.name ?? "(unstarted)", (m.clientURLs ?? []).length > 0]));
}

step(
    "etcd 3 -> 5 -> 3 by runtime reconfiguration, one member at a time, without losing quorum",
    async () => {
        const before = ["lab1", "lab2"].map(postmasterStart);
        // An even count is refused at preview.
        configureStack(STACK, [`--roles=${CLASSIC},lab4=etcd`]);
        for (const [k, v] of SETTINGS) setConfig(k, v);
        const even = pulumi(["preview", "--stack", STACK], { allowFail: true });
        expect(even.status).not.toBe(0);
        expect(even.stdout + even.stderr).toMatch(/etcd/);

        configureStack(STACK, [`--roles=${CLASSIC},lab4=etcd,lab5=etcd`]);
        for (const [k, v] of SETTINGS) setConfig(k, v);
        const grow = await withWriteProbe(up);
        expect(etcdMemberList()).toEqual({ lab1: true, lab2: true, lab3: true, lab4: true, lab5: true });
        expect(ssh("lab1", `ETCDCTL_API=3 ${ETCDCTL_TLS} endpoint health --cluster`).status).toBe(0);
        // Patroni learns the new hosts by a reload only.
        expect(["lab1", "lab2"].map(postmasterStart)).toEqual(before);
        expect(grow.longestOutageMs).toBeLessThan(2000);

        configureStack(STACK, [`--roles=${CLASSIC}`]);
        for (const [k, v] of SETTINGS) setConfig(k, v);
        const shrink = await withWriteProbe(up);
        expect(etcdMemberList()).toEqual({ lab1: true, lab2: true, lab3: true });
        for (const h of ["lab4", "lab5"]) expect(ssh(h, "systemctl is-active etcd", { allowFail: true }).stdout.trim()).not.toBe("active");
        expect(["lab1", "lab2"].map(postmasterStart)).toEqual(before);
        expect(shrink.longestOutageMs).toBeLessThan(2000);
    },
    1200,
);

step(
    "move the VIP: keepalived reloads, the postgres nodes' certificates name the new VIP (Patroni reloads), nothing restarts",
    async () => {
        const before = ["lab1", "lab2"].map(postmasterStart);
        setConfig("pgha:vip.address", "198.18.0.101");
        const changed = Object.keys(previewOps()).sort();
        // The VIP is in the postgres nodes' certificate (sslmode=verify-full through it): reissued,
        // placed, and read by a Patroni reload; etcd reads its copy per handshake (no restart).
        const reissued = (n: string) => [
            `${n}:tls-cert`,
            `${n}:/etc/pgha/tls/etcd.crt`,
            `${n}:/etc/pgha/tls/etcd.key`,
            `${n}:/etc/pgha/tls/postgres.crt`,
            `${n}:/etc/pgha/tls/postgres.key`,
            `${n}:patroni`,
        ];
        expect(changed).toEqual(
            [
                "lab1:/etc/keepalived/keepalived.conf",
                "lab1:keepalived",
                "lab2:/etc/keepalived/keepalived.conf",
                "lab2:keepalived",
                "pgsql:verify",
                ...reissued("lab1"),
                ...reissued("lab2"),
                // The exporters' copy of the reissued certificate and its new end date; the VIP target and its alert's text.
                ...["lab1", "lab2"].flatMap((n) => [`${n}:/etc/pgha/tls/prometheus.crt`, `${n}:/etc/pgha/tls/prometheus.key`, `${n}:/var/lib/pgha/node-exporter/pgha-certificates.prom`]),
                `${PROM_HOST}:/etc/pgha/prometheus/rules.yml`,
                ...SCRAPE_CHANGE,
            ].sort(),
        );
        up();
        expect(psql("198.18.0.101", 5000, password, "select pg_is_in_recovery()").stdout.trim()).toBe("f");
        expect(psql(VIP, 5000, password, "select 1", { allowFail: true }).status).not.toBe(0);
        expect(["lab1", "lab2"].map(postmasterStart)).toEqual(before);
        await prom.until("the new VIP scraped and up", 60, async (api) =>
            (await api.targets()).some((t) => t.job === "vip" && t.instance.startsWith("198.18.0.101:") && t.health === "up") ? true : undefined,
        );
    },
    600,
);

// Issue 13 on Debian 12: the status view and drift on the cluster the edits above left.
step(
    "npm run status and npm run drift on Debian 12: every member, no problem, no drift",
    () => {
        const { report, status, seconds } = statusJson(STACK);
        process.stdout.write(`status --json: exit ${status} in ${seconds.toFixed(1)} s; problems: ${JSON.stringify(report.problems)}\n`);
        expect(report.problems).toEqual([]);
        expect(status).toBe(0);
        expect(report.patroni.members.map((m) => m.name).sort()).toEqual(["lab1", "lab2"]);
        const drift = opsScript("drift", ["--stack", STACK]);
        process.stdout.write(drift.stdout);
        expect(drift.status).toBe(0);
    },
    300,
);
