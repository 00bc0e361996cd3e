// Issue 4: pulumi up delivers a verified HA cluster on real Debian hosts,
// is idempotent, fails over, and destroy is careful. Real clients only.
// Issue 14: on Debian 13 (Patroni 4, PostgreSQL 17, etcd 3.5), the release a new user
// picks; Debian 12 is deployed by the security, day-2 and library suites, and the
// platforms suite mixes both in one cluster.
import {
    LabHosts,
    Member,
    configureStack,
    lab,
    patroniPatchState,
    previewOpsOf,
    labHosts,
    labStackLifecycle,
    upStack,
    patronictlList,
    psql,
    pulumi,
    ssh,
    sshLogins,
    steps,
    superuserPassword,
    waitFor,
} from "./harness";

const STACK = "e2e";
const VIP = "198.18.0.100";
const step = steps();
let hosts: LabHosts;
let password = "";
const pgNodes = () => hosts.hosts.slice(0, 2).map((h) => h.name);

labStackLifecycle(STACK, 3, [], ["--release", "trixie"]);
beforeAll(() => {
    hosts = labHosts();
});

/** application_name of every replica streaming from `leader`, read on the leader with psql. */
function streamingReplicas(leader: string): string[] {
    const out = ssh(leader, `runuser -u postgres -- psql -AtXc "select application_name from pg_stat_replication where state = 'streaming' order by 1"`).stdout.trim();
    return out ? out.split("\n") : [];
}

function leaderOf(members: Member[]): string {
    const leaders = members.filter((m) => m.Role === "Leader");
    if (leaders.length !== 1) throw new Error(`expected one leader, got ${JSON.stringify(members)}`);
    return leaders[0].Member;
}

step(
    "1. cold deploy from bare Debian hosts through the apt proxy",
    async () => {
        const up = upStack(STACK);
        expect(up.stdout).toMatch(/verified: .*answers as the primary/);
        password = superuserPassword(STACK);
        psql(VIP, 5000, password, "create table if not exists e2e_probe(id int primary key, note text); insert into e2e_probe values (1, 'written through the VIP')");
        const members = patronictlList("lab1");
        expect(members.map((m) => m.Member).sort()).toEqual(pgNodes());
        const leader = leaderOf(members);
        // Streaming is proven on the leader (pg_stat_replication), as pgha's verification does.
        expect(streamingReplicas(leader)).toEqual(pgNodes().filter((n) => n !== leader));
        // Patroni 4 also says so: a replica's state becomes "streaming" (not 3.0.2's "running")
        // once Patroni's loop has seen its WAL receiver stream, within a loop_wait or two of the start.
        await waitFor("Patroni 4 reporting every replica as streaming", 60, () =>
            patronictlList("lab1")
                .filter((m) => m.Role !== "Leader")
                .every((m) => m.State === "streaming")
                ? true
                : undefined,
        );
        // Debian 13's own versions, chosen by pgha from the hosts' release (the stack sets no version).
        expect(psql(VIP, 5000, password, "show server_version_num").stdout.trim()).toMatch(/^17\d{4}$/);
        for (const n of pgNodes()) {
            expect(ssh(n, "patroni --version").stdout.trim()).toBe("patroni 4.0.7");
            expect(patroniPatchState(n)).toBe("untouched");
        }
    },
    1800,
);

step(
    "1b. a read through VIP:5001 lands on a replica and sees the row",
    async () => {
        const out = await waitFor("replica read", 30, () => {
            const r = psql(VIP, 5001, password, "select pg_is_in_recovery(), (select note from e2e_probe where id = 1)").stdout.trim();
            return r === "t|written through the VIP" ? r : undefined;
        });
        expect(out).toBe("t|written through the VIP");
    },
    60,
);

step(
    "2. idempotence: preview --expect-no-changes, and a second up runs no remote command",
    () => {
        pulumi(["preview", "--expect-no-changes", "--stack", STACK]);
        const since = Math.floor(Date.now() / 1000);
        const up = pulumi(["up", "--yes", "--skip-preview", "--stack", STACK]);
        const until = Math.ceil(Date.now() / 1000);
        expect(up.stdout).toMatch(/\d+ unchanged/);
        expect(up.stdout).not.toMatch(/\d+ (created|updated|deleted|replaced)/);
        expect(sshLogins(hosts.hosts, since, until)).toEqual(Object.fromEntries(hosts.hosts.map((h) => [h.name, 0])));
    },
    600,
);

step(
    "3. failover: kill the leader's host, a new leader takes writes through the VIP, the old one rejoins",
    async () => {
        const before = leaderOf(patronictlList(pgNodes()[0]));
        const survivor = pgNodes().find((n) => n !== before)!;
        lab("kill", before);
        const killedAt = Date.now();
        await waitFor("a new leader", 120, () => (leaderOf(patronictlList(survivor)) === survivor ? true : undefined));
        await waitFor("a write through the VIP", 120, () =>
            psql(VIP, 5000, password, `insert into e2e_probe values (2, 'after failover') on conflict (id) do update set note = excluded.note`).status === 0 ? true : undefined,
        );
        process.stdout.write(`failover: writes through the VIP resumed ${((Date.now() - killedAt) / 1000).toFixed(1)} s after the kill\n`);
        lab("start", before);
        await waitFor(`${before} back as a streaming replica`, 240, () => {
            const m = patronictlList(survivor).find((x) => x.Member === before);
            return m && m.Role !== "Leader" && streamingReplicas(survivor).includes(before) ? true : undefined;
        });
        // The rejoined member replays what the new leader took while it was down.
        await waitFor("the post-failover row on the rejoined member", 60, () =>
            ssh(before, `runuser -u postgres -- psql -AtXc "select note from e2e_probe where id = 2"`).stdout.trim() === "after failover" ? true : undefined,
        );
    },
    900,
);

const setConfig = (key: string, value: string) => pulumi(["config", "set", "--path", key, value, "--stack", STACK], { echo: false });
const DATA_HOSTS = ["lab1", "lab2", "lab3"];
const markers = () => DATA_HOSTS.filter((h) => ssh(h, "test -e /etc/pgha/delete-data && echo marked || true").stdout.trim() === "marked");

step(
    "4a. deleteData is recorded on each data node by up (only the markers change), and turning it off again removes the record",
    () => {
        setConfig("pgha:destroy.deleteData", "true");
        expect(previewOpsOf(STACK)).toEqual({ ...Object.fromEntries(DATA_HOSTS.map((h) => [`${h}:/etc/pgha/delete-data`, "create"])), "pgsql:verify": "update" });
        upStack(STACK);
        expect(markers()).toEqual(DATA_HOSTS);
        setConfig("pgha:destroy.deleteData", "false");
        upStack(STACK);
        expect(markers()).toEqual([]);
        pulumi(["preview", "--expect-no-changes", "--stack", STACK]);
    },
    600,
);

step(
    "4. destroy (deleteData was on, then turned off) stops and disables the services, keeps the data, leaves no resources",
    () => {
        pulumi(["destroy", "--yes", "--skip-preview", "--stack", STACK]);
        for (const h of hosts.hosts) {
            const units = h.name === "lab3" ? ["etcd"] : ["etcd", "patroni", "haproxy", "keepalived", "pgha-etcd-leader-away"];
            for (const u of units) {
                expect(ssh(h.name, `systemctl is-active ${u}`, { allowFail: true }).stdout.trim()).not.toBe("active");
                expect(ssh(h.name, `systemctl is-enabled ${u}`, { allowFail: true }).stdout.trim()).not.toBe("enabled");
            }
            expect(ssh(h.name, "test -d /var/lib/etcd/pgha-pgsql/member && echo kept").stdout.trim()).toBe("kept");
            if (h.name !== "lab3") expect(ssh(h.name, "test -f /var/lib/postgresql/17/pgsql/PG_VERSION && echo kept").stdout.trim()).toBe("kept");
        }
        const state = JSON.parse(pulumi(["stack", "export", "--stack", STACK], { echo: false }).stdout);
        expect(state.deployment.resources ?? []).toHaveLength(0);
    },
    900,
);

step(
    "5. pre-installed hosts with packages.install=false deploy without apt",
    () => {
        pulumi(["stack", "rm", "--yes", "--force", STACK], { allowFail: true });
        lab("down");
        lab("up", "--nodes", "3", "--preinstalled", "--release", "trixie");
        hosts = labHosts();
        const aptBefore = hosts.hosts.map((h) => ssh(h.name, "stat -c %Y /var/log/apt/history.log 2>/dev/null || echo none").stdout.trim());
        configureStack(STACK, ["--install=false"]);
        const up = upStack(STACK);
        expect(up.stdout).toMatch(/verified: .*answers as the primary/);
        password = superuserPassword(STACK);
        psql(VIP, 5000, password, "create table if not exists e2e_pre(id int); insert into e2e_pre values (1)");
        const aptAfter = hosts.hosts.map((h) => ssh(h.name, "stat -c %Y /var/log/apt/history.log 2>/dev/null || echo none").stdout.trim());
        expect(aptAfter).toEqual(aptBefore);
    },
    1800,
);

step(
    "6. with deleteData recorded, destroy deletes the data directories",
    () => {
        setConfig("pgha:destroy.deleteData", "true");
        upStack(STACK);
        expect(markers()).toEqual(DATA_HOSTS);
        pulumi(["destroy", "--yes", "--skip-preview", "--stack", STACK]);
        for (const h of DATA_HOSTS) {
            expect(ssh(h, "test -e /var/lib/etcd/pgha-pgsql && echo present || echo gone").stdout.trim()).toBe("gone");
            if (h !== "lab3") expect(ssh(h, "test -e /var/lib/postgresql/17/pgsql && echo present || echo gone").stdout.trim()).toBe("gone");
            expect(ssh(h, "test -e /etc/pgha/delete-data && echo present || echo gone").stdout.trim()).toBe("gone");
        }
    },
    900,
);
