// Component wiring with pulumi.runtime.setMocks: which resources each role gets,
// their parents and dependencies, no secret in any command text, and that a
// change to one file's content touches only that file's resources.
import { Secrets } from "../../core/spec";
import { FAKE_SECRETS, classicWith, specOf } from "./fixtures";
import { Registered, changedSince, registerCluster as register, remoteCommands as commands } from "./mock-cluster";

describe("PostgresHaCluster wiring (mocks)", () => {
    let classic: Map<string, Registered>;
    beforeAll(async () => {
        classic = await register(specOf());
    });

    test("each node gets exactly the resources of its roles", () => {
        const names = commands(classic).map((c) => c.name);
        const on = (node: string) => names.filter((n) => n.startsWith(`${node}:`)).sort();
        expect(on("pg3")).toEqual([
            "pg3:/etc/etcd/pgha-etcd.yml",
            "pg3:/etc/pgha/tls/ca.crt",
            "pg3:/etc/pgha/tls/etcd.crt",
            "pg3:/etc/pgha/tls/etcd.key",
            "pg3:/etc/systemd/system/etcd.service.d/pgha.conf",
            "pg3:/usr/local/libexec/pgha/etcd-member.py",
            "pg3:/usr/local/libexec/pgha/pgha-host-prep.sh",
            "pg3:etcd",
            "pg3:packages",
            "pg3:preflight",
        ]);
        for (const n of ["pg1", "pg2"]) {
            expect(on(n)).toEqual(
                [
                    `${n}:/etc/etcd/pgha-etcd.yml`,
                    `${n}:/etc/haproxy/haproxy.cfg`,
                    `${n}:/etc/keepalived/keepalived.conf`,
                    `${n}:/etc/patroni/config.yml`,
                    `${n}:/etc/pgha/tls/ca.crt`,
                    `${n}:/etc/pgha/tls/etcd.crt`,
                    `${n}:/etc/pgha/tls/etcd.key`,
                    `${n}:/etc/pgha/tls/postgres.crt`,
                    `${n}:/etc/pgha/tls/postgres.key`,
                    `${n}:/etc/systemd/system/etcd.service.d/pgha.conf`,
                    `${n}:/etc/systemd/system/haproxy.service.d/pgha.conf`,
                    `${n}:/usr/local/libexec/pgha/pgha_rest.py`,
                    `${n}:/usr/local/libexec/pgha/pgha_progress.py`,
                    `${n}:/usr/local/libexec/pgha/check-haproxy.sh`,
                    `${n}:etcd`,
                    `${n}:haproxy`,
                    `${n}:keepalived`,
                    `${n}:packages`,
                    `${n}:preflight`,
                    `${n}:patroni`,
                    `${n}:/usr/local/libexec/pgha/etcd-member.py`,
                    `${n}:/usr/local/libexec/pgha/patroni-dcs-apply.py`,
                    `${n}:/usr/local/libexec/pgha/patroni-handover.py`,
                    `${n}:/usr/local/libexec/pgha/patroni-run.py`,
                    `${n}:/usr/local/libexec/pgha/patroni-wait.py`,
                    `${n}:/usr/local/libexec/pgha/pgha-verify.py`,
                    `${n}:/usr/local/libexec/pgha/pgha-host-prep.sh`,
                    `${n}:/etc/systemd/system/patroni.service.d/pgha.conf`,
                    `${n}:/usr/local/libexec/pgha/pg-set-passwords.py`,
                    `${n}:role-passwords`,
                    // etcd and PostgreSQL on one host: etcd's leadership is kept off the primary's host.
                    `${n}:/usr/local/libexec/pgha/etcd-leader-away.py`,
                    `${n}:/etc/systemd/system/pgha-etcd-leader-away.service`,
                    `${n}:etcd-leader-away`,
                ].sort(),
            );
        }
        expect(names).toContain("pgsql-etcd:etcd-health");
        expect(names).toContain("pgsql:verify");
        expect(names).toContain("pgsql:dynamic-config");
    });

    test("every resource has a pgha component as parent, and the components hang off the cluster", () => {
        for (const r of classic.values()) {
            if (r.type === "pulumi:pulumi:Stack" || r.type === "pgha:cluster:PostgresHaCluster") continue;
            if (r.type.startsWith("pgha:")) expect(r.parentType).toBe("pgha:cluster:PostgresHaCluster");
            else expect(r.parentType).toMatch(/^pgha:/);
        }
        expect(classic.get("pg1:patroni")!.parentType).toBe("pgha:patroni:PatroniNode");
        expect(classic.get("pg1:haproxy")!.parentType).toBe("pgha:haproxy:HaproxyBalancer");
        expect(classic.get("pg1:keepalived")!.parentType).toBe("pgha:keepalived:KeepalivedPair");
        expect(classic.get("pg3:etcd")!.parentType).toBe("pgha:etcd:EtcdCluster");
    });

    test("order: packages → etcd healthy → leader → replicas → HAProxy → keepalived → verification", () => {
        const deps = (n: string) => classic.get(n)!.deps;
        expect(deps("pg1:etcd")).toEqual(expect.arrayContaining(["pg1:packages", "pg1:/etc/etcd/pgha-etcd.yml"]));
        expect(deps("pgsql-etcd:etcd-health")).toEqual(expect.arrayContaining(["pg1:etcd", "pg2:etcd", "pg3:etcd"]));
        expect(deps("pg1:patroni")).toEqual(expect.arrayContaining(["pgsql-etcd:etcd-health", "pg1:/etc/patroni/config.yml"]));
        expect(deps("pgsql:dynamic-config")).toEqual(expect.arrayContaining(["pg1:patroni"]));
        expect(deps("pg2:etcd-leader-away")).toEqual(expect.arrayContaining(["pg2:patroni", "pg2:/etc/pgha/tls/etcd.key", "pg2:/etc/systemd/system/pgha-etcd-leader-away.service"]));
        expect(deps("pg2:patroni")).toEqual(expect.arrayContaining(["pgsql-etcd:etcd-health", "pg1:patroni", "pgsql:dynamic-config"]));
        expect(deps("pg1:haproxy")).toEqual(expect.arrayContaining(["pg1:patroni", "pg2:patroni"]));
        expect(deps("pg1:keepalived")).toEqual(expect.arrayContaining(["pg1:haproxy", "pg2:haproxy"]));
        expect(deps("pgsql:verify")).toEqual(expect.arrayContaining(["pg1:keepalived", "pg2:keepalived", "pg1:haproxy", "pg2:patroni"]));
    });

    test("the packages step, the wait after Patroni's start and the verification call pgha's helpers, placed before they run", () => {
        const deps = (n: string) => classic.get(n)!.deps;
        for (const n of ["pg1", "pg2", "pg3"]) {
            // Every node's preflight passes before any node installs anything.
            expect(deps(`${n}:packages`).sort()).toEqual([`${n}:/usr/local/libexec/pgha/pgha-host-prep.sh`, "pg1:preflight", "pg2:preflight", "pg3:preflight"].sort());
            expect(deps(`${n}:preflight`)).toEqual([`${n}:/usr/local/libexec/pgha/pgha-host-prep.sh`]);
            expect(String(classic.get(`${n}:preflight`)!.inputs.create)).toContain(`--preflight --node '\\''${n}'\\'' --install `);
            expect(String(classic.get(`${n}:packages`)!.inputs.create)).toContain(`bash /usr/local/libexec/pgha/pgha-host-prep.sh \\\n  --node '\\''${n}'\\'' --install `);
            // The host prep script needs nothing installed; the other helpers come after the packages.
            expect(deps(`${n}:/usr/local/libexec/pgha/pgha-host-prep.sh`)).toEqual([]);
            expect(deps(`${n}:/usr/local/libexec/pgha/etcd-member.py`)).toEqual([`${n}:packages`]);
        }
        // Runs on the bootstrap member, pg1.
        expect(deps("pgsql:verify")).toContain("pg1:/usr/local/libexec/pgha/pgha-verify.py");
        expect(String(classic.get("pgsql:verify")!.inputs.create)).toMatch(/python3 \/usr\/local\/libexec\/pgha\/pgha-verify\.py \\\n {2}--timeout 180 \\\n/);
        for (const [n, role] of [
            ["pg1", "leader"],
            ["pg2", "replica"],
        ]) {
            expect(deps(`${n}:patroni`)).toContain(`${n}:/usr/local/libexec/pgha/patroni-wait.py`);
            const create = String(classic.get(`${n}:patroni`)!.inputs.create);
            // The wait restarts Patroni itself (--start), unless an interrupted earlier run left it creating the member.
            expect(create).toContain(`systemctl enable patroni >/dev/null 2>&1\npython3 /usr/local/libexec/pgha/patroni-wait.py --start --member '\\''${n}'\\'' --role ${role} --timeout `);
            expect(create).not.toContain("systemctl restart patroni");
        }
    });

    test("no secret value appears in any command text", () => {
        const distinct: Secrets = {
            superuserPassword: "Sup3r-Distinct-PW",
            replicationPassword: "Repl-Distinct-PW",
            keepalivedPassword: "Kpd7x9Qz",
            restApiPassword: "Rest-Distinct-PW",
            pgbouncerAuthPassword: "Bouncer-Distinct-PW",
            monitoringPassword: "Monitor-Distinct-PW",
        };
        return register(specOf(), distinct).then((m) => {
            for (const c of commands(m)) {
                const text = JSON.stringify([c.inputs.create, c.inputs.update, c.inputs.delete]);
                for (const secret of [...Object.values(distinct), "fake-key-material", "fake-tls-key-material"]) expect(text).not.toContain(secret);
            }
            // ...while the content that needs them does reach the servers, through stdin.
            const stdin = JSON.stringify(commands(m).map((c) => c.inputs.stdin));
            expect(stdin).toContain("Sup3r-Distinct-PW");
        });
    });

    test("scripts run strict and bounded, through sudo -n for a non-root user", async () => {
        for (const c of commands(classic)) {
            expect(c.inputs.create).toMatch(/timeout --kill-after=10 \d+ bash -c 'set -euo pipefail/);
            expect(c.inputs.create).not.toMatch(/sudo/);
        }
        const m = await register(specOf(classicWith((v) => (v.ssh.user = "deploy"))));
        for (const c of commands(m)) expect(c.inputs.create).toMatch(/sudo -n timeout/);
    });

    test("a change to one file's content touches only that file and the service reading it", async () => {
        const changed = await register(specOf(classicWith((v) => (v.haproxy.replicaPort = 5002))));
        const differs = changedSince(classic, changed);
        // The verification re-runs by design whenever the desired cluster changes.
        expect(differs).toEqual(["pg1:/etc/haproxy/haproxy.cfg", "pg1:haproxy", "pg2:/etc/haproxy/haproxy.cfg", "pg2:haproxy", "pgsql:verify"]);
    });

    test("a parameter, timing or synchronous-mode change touches only the cluster's dynamic config (synchronous mode: and HAProxy's synchronous port; a parameter that may need a restart: and the restart step)", async () => {
        const changed = await register(specOf(classicWith((v) => ((v.postgres.parameters = { max_connections: 200, work_mem: "64MB" }), (v.patroni.ttl = 40)))));
        const differs = changedSince(classic, changed);
        // work_mem is reloaded and a timing never needs a restart: the restart step is not in the diff.
        expect(differs).toEqual(["pgsql:dynamic-config", "pgsql:verify"]);
        // shared_buffers needs one: the one cluster-level step that restarts re-runs (and restarts only what PostgreSQL marks pending).
        const restarting = await register(specOf(classicWith((v) => (v.postgres.parameters = { max_connections: 200, shared_buffers: "256MB" }))));
        expect(changedSince(classic, restarting)).toEqual(["pgsql:dynamic-config", "pgsql:restart-pending", "pgsql:verify"]);
        // Synchronous mode also adds HAProxy's syncReplicaPort listener: a reload of every balancer, nothing else.
        const sync = await register(specOf(classicWith((v) => (v.patroni.synchronousMode = true))));
        expect(changedSince(classic, sync)).toEqual(["pg1:/etc/haproxy/haproxy.cfg", "pg1:haproxy", "pg2:/etc/haproxy/haproxy.cfg", "pg2:haproxy", "pgsql:dynamic-config", "pgsql:verify"]);
        // The settings are data on stdin; the command text (visible in `ps`, logged by sudo) names none.
        expect(JSON.parse(String(changed.get("pgsql:dynamic-config")!.inputs.stdin)).config.postgresql.parameters.work_mem).toBe("64MB");
        expect(changed.get("pgsql:dynamic-config")!.inputs.create).toBe(classic.get("pgsql:dynamic-config")!.inputs.create);
    });

    test("adding a postgres node: its own resources, plus HAProxy reloads and one dynamic-config PATCH", async () => {
        const bigger = await register(specOf(classicWith((v) => v.nodes.push({ name: "pg4", address: "172.51.216.84", roles: ["postgres"] }))));
        const added = commands(bigger)
            .filter((c) => !classic.has(c.name))
            .map((c) => c.name)
            .sort();
        expect(added).toEqual([
            "pg4:/etc/patroni/config.yml",
            "pg4:/etc/pgha/tls/ca.crt",
            "pg4:/etc/pgha/tls/postgres.crt",
            "pg4:/etc/pgha/tls/postgres.key",
            "pg4:/etc/systemd/system/patroni.service.d/pgha.conf",
            "pg4:/usr/local/libexec/pgha/patroni-dcs-apply.py",
            "pg4:/usr/local/libexec/pgha/patroni-handover.py",
            "pg4:/usr/local/libexec/pgha/patroni-run.py",
            "pg4:/usr/local/libexec/pgha/patroni-wait.py",
            "pg4:/usr/local/libexec/pgha/pg-set-passwords.py",
            "pg4:/usr/local/libexec/pgha/pgha-host-prep.sh",
            "pg4:/usr/local/libexec/pgha/pgha-verify.py",
            "pg4:/usr/local/libexec/pgha/pgha_progress.py",
            "pg4:/usr/local/libexec/pgha/pgha_rest.py",
            "pg4:packages",
            "pg4:patroni",
            "pg4:preflight",
            "pg4:role-passwords",
        ]);
        const differs = changedSince(classic, bigger);
        expect(differs).toEqual(["pg1:/etc/haproxy/haproxy.cfg", "pg1:haproxy", "pg2:/etc/haproxy/haproxy.cfg", "pg2:haproxy", "pgsql:dynamic-config", "pgsql:verify"]);
        expect(bigger.get("pg4:patroni")!.deps).toEqual(expect.arrayContaining(["pg1:patroni", "pgsql:dynamic-config"]));
    });

    test("a rotated password: set by the leader first, then the Patroni configs and nothing else", async () => {
        const rotated = await register(specOf(), { ...FAKE_SECRETS, replicationPassword: "rotated-replication-pw" });
        const differs = changedSince(classic, rotated);
        expect(differs).toEqual(["pg1:/etc/patroni/config.yml", "pg1:patroni", "pg1:role-passwords", "pg2:/etc/patroni/config.yml", "pg2:patroni", "pg2:role-passwords"]);
        for (const n of ["pg1", "pg2"]) expect(rotated.get(`${n}:/etc/patroni/config.yml`)!.deps).toEqual(expect.arrayContaining(["pg1:role-passwords", "pg2:role-passwords"]));
    });

    test("etcd members start one at a time in name order, through etcd-member.py, then one membership step", () => {
        const deps = (n: string) => classic.get(n)!.deps;
        expect(deps("pg1:etcd").filter((d) => d.endsWith(":etcd"))).toEqual([]);
        expect(deps("pg2:etcd")).toContain("pg1:etcd");
        expect(deps("pg3:etcd")).toContain("pg2:etcd");
        expect(deps("pg3:etcd")).toEqual(expect.arrayContaining(["pg3:packages", "pg3:/usr/local/libexec/pgha/etcd-member.py", "pg3:/etc/etcd/pgha-etcd.yml"]));
        const svc = classic.get("pg3:etcd")!.inputs;
        const start = String(svc.create).match(/python3 \/usr\/local\/libexec\/pgha\/etcd-member\.py start --config \/etc\/etcd\/pgha-etcd\.yml --fingerprint ([0-9a-f]{16}) --wait \d+/);
        expect(start).not.toBeNull();
        // The fingerprint the helper compares is the digest that triggers the update.
        expect(String(svc.create)).toContain(`# etcd config ${start![1]}`);
        expect(String(svc.update)).toContain(start![0]);
        expect(String(svc.delete)).toContain("etcd-member.py stop --config /etc/etcd/pgha-etcd.yml\n");
        const membership = String(classic.get("pgsql-etcd:etcd-health")!.inputs.create);
        expect(membership).toContain("etcd-member.py membership");
        expect(membership).toContain("etcd-member.py membership --config /etc/etcd/pgha-etcd.yml ");
        for (const i of [1, 2, 3]) expect(membership).toContain(`--member '\\''pg${i}'\\'' '\\''https://172.51.216.8${i}:2380'\\'' '\\''https://172.51.216.8${i}:2379'\\''`);
    });

    test("etcd 3 → 5 → 3: joiners chain after the last member, no existing member restarts, the membership step re-runs", async () => {
        const five = await register(specOf(classicWith((v) => v.nodes.push({ name: "pg4", address: "172.51.216.84", roles: ["etcd"] }, { name: "pg5", address: "172.51.216.85", roles: ["etcd"] }))));
        const added = commands(five)
            .filter((c) => !classic.has(c.name))
            .map((c) => c.name)
            .sort();
        expect(added).toEqual(
            ["pg4", "pg5"].flatMap((n) => [
                `${n}:/etc/etcd/pgha-etcd.yml`,
                `${n}:/etc/pgha/tls/ca.crt`,
                `${n}:/etc/pgha/tls/etcd.crt`,
                `${n}:/etc/pgha/tls/etcd.key`,
                `${n}:/etc/systemd/system/etcd.service.d/pgha.conf`,
                `${n}:/usr/local/libexec/pgha/etcd-member.py`,
                `${n}:/usr/local/libexec/pgha/pgha-host-prep.sh`,
                `${n}:etcd`,
                `${n}:packages`,
                `${n}:preflight`,
            ]),
        );
        expect(five.get("pg4:etcd")!.deps).toContain("pg3:etcd");
        expect(five.get("pg5:etcd")!.deps).toContain("pg4:etcd");
        // The same set differs in both directions (5 → 3 is this diff read backwards):
        // initial-cluster is rewritten everywhere, but no etcd service re-runs.
        const differs = changedSince(classic, five);
        expect(differs).toEqual([
            "pg1:/etc/etcd/pgha-etcd.yml",
            "pg1:/etc/patroni/config.yml",
            "pg1:patroni",
            "pg2:/etc/etcd/pgha-etcd.yml",
            "pg2:/etc/patroni/config.yml",
            "pg2:patroni",
            "pg3:/etc/etcd/pgha-etcd.yml",
            "pgsql-etcd:etcd-health",
            "pgsql:verify",
        ]);
        expect(String(five.get("pg1:patroni")!.inputs.update)).toContain("systemctl reload patroni");
        expect(String(five.get("pgsql-etcd:etcd-health")!.inputs.create)).toContain("'\\''pg5'\\''");
    });

    test("etcd restarts for a restart-relevant setting", async () => {
        const moved = await register(specOf(classicWith((v) => (v.etcd = { peerPort: 2390 }))));
        for (const n of ["pg1", "pg2", "pg3"]) expect(moved.get(`${n}:etcd`)!.inputs.update).not.toBe(classic.get(`${n}:etcd`)!.inputs.update);
    });

    test("deleteData is a marker on each data node, read by the delete commands when they run; flipping it touches only the markers", async () => {
        const deleting = await register(specOf(classicWith((v) => (v.destroy = { deleteData: true }))));
        // The stop commands do not carry the decision: they read the node's marker at delete time.
        // Only the verification re-runs (it follows every change of the spec).
        expect(changedSince(classic, deleting)).toEqual(["pgsql:verify"]);
        const marker = "/etc/pgha/delete-data";
        expect(String(classic.get("pg3:etcd")!.inputs.delete)).toMatch(
            new RegExp(
                `if \\[ -e ${marker} \\]; then\\n\\s+python3 \\S+etcd-member.py stop --config /etc/etcd/pgha-etcd.yml --delete-data\\nelse\\n\\s+python3 \\S+etcd-member.py stop --config /etc/etcd/pgha-etcd.yml\\nfi`,
            ),
        );
        expect(String(classic.get("pg1:patroni")!.inputs.delete)).toMatch(
            new RegExp(`if \\[ -e ${marker} \\]; then\\n\\s+rm -rf -- \\S*/var/lib/postgresql/15/pgsql\\S*\\nelse\\n\\s+echo "pgha: keeping PostgreSQL data`),
        );
        // Markers only on nodes holding data, only while the flag is on, and each node's data
        // services depend on its own marker: a removal deletes them while the marker is still there.
        const markers = (m: Map<string, Registered>) =>
            commands(m)
                .map((c) => c.name)
                .filter((n) => n.endsWith(`:${marker}`))
                .sort();
        expect(markers(classic)).toEqual([]);
        expect(markers(deleting)).toEqual(["pg1", "pg2", "pg3"].map((n) => `${n}:${marker}`));
        for (const svc of ["pg1:patroni", "pg2:patroni", "pg1:etcd", "pg2:etcd", "pg3:etcd"]) expect(deleting.get(svc)!.deps).toContain(`${svc.split(":")[0]}:${marker}`);
        expect(String(deleting.get(`pg1:${marker}`)!.inputs.delete)).toContain(`rm -f '\\''${marker}'\\''`);
    });

    test("reordering the nodes list changes nothing", async () => {
        const reordered = await register(specOf(classicWith((v) => v.nodes.reverse())));
        for (const c of commands(reordered)) expect(JSON.stringify(c.inputs)).toBe(JSON.stringify(classic.get(c.name)!.inputs));
    });
});
