// pgha:pgbouncer's components under pulumi.runtime.setMocks: what each node gets, the order
// (lookup role before the auth_files, PgBouncer before HAProxy), where the lookup role's password
// travels (stdin only), what a day-2 edit touches, and the tree pinned in golden-tree/pgbouncer.json.
import { Secrets } from "../../core/spec";
import { FAKE_SECRETS, classicWith, specOf } from "./fixtures";
import { Registered, changedSince, registerCluster as register, remoteCommands as commands } from "./mock-cluster";
import { pinnedTree, treeFingerprint } from "./tree-snapshot";

jest.setTimeout(60_000);

const values = (edit: (v: any) => void = () => {}) =>
    classicWith((v) => {
        v.patroni.synchronousMode = true;
        v.pgbouncer = { defaultPoolSize: 10, databases: { appdb: { poolMode: "session", poolSize: 5 } } };
        v.haproxy.pooled = ["primary", "syncReplica"];
        edit(v);
    });

const texts = (c: Registered) => JSON.stringify([c.inputs.create, c.inputs.update, c.inputs.delete]);

describe("PgBouncer wiring (mocks)", () => {
    let tree: Map<string, Registered>;
    let without: Map<string, Registered>;
    beforeAll(async () => {
        tree = await register(specOf(values()));
        without = await register(specOf(classicWith((v) => (v.patroni.synchronousMode = true))));
    });

    test("the tree is pinned (golden-tree/pgbouncer.json)", () => {
        expect(treeFingerprint(tree)).toEqual(pinnedTree("pgbouncer", tree));
    });

    test("every PostgreSQL node gets PgBouncer's files, service, lookup-role step and helper; other nodes nothing", () => {
        const added = commands(tree)
            .filter((c) => !without.has(c.name))
            .map((c) => c.name)
            .sort();
        const perNode = (n: string) => [
            `${n}:/etc/pgha/pgbouncer/pg_hba.conf`,
            `${n}:/etc/pgha/pgbouncer/pgbouncer.ini`,
            `${n}:/etc/pgha/pgbouncer/userlist.txt`,
            `${n}:/etc/systemd/system/pgbouncer.service.d/pgha.conf`,
            `${n}:/usr/local/libexec/pgha/pgbouncer-auth.py`,
            `${n}:pgbouncer`,
            `${n}:pgbouncer-auth`,
        ];
        expect(added).toEqual([...perNode("pg1"), ...perNode("pg2")]);
        expect(String(tree.get("pg1:packages")!.inputs.create)).toContain(`--package '\\''pgbouncer'\\''`);
        expect(String(tree.get("pg3:packages")!.inputs.create)).not.toContain("pgbouncer");
    });

    test("order: the leader runs before the lookup role; the role before every auth_file; PgBouncer after its PostgreSQL and pg_hba; HAProxy after every PgBouncer", () => {
        const deps = (name: string) => tree.get(name)!.deps;
        for (const n of ["pg1", "pg2"]) {
            expect(deps(`${n}:pgbouncer-auth`)).toContain("pg1:patroni");
            expect(deps(`${n}:/etc/pgha/pgbouncer/userlist.txt`)).toEqual(expect.arrayContaining(["pg1:pgbouncer-auth", "pg2:pgbouncer-auth"]));
            expect(deps(`${n}:pgbouncer`)).toEqual(expect.arrayContaining([`${n}:patroni`, "pgsql:dynamic-config", `${n}:/etc/pgha/pgbouncer/userlist.txt`, `${n}:/etc/pgha/tls/postgres.key`]));
            expect(deps(`${n}:haproxy`)).toEqual(expect.arrayContaining(["pg1:pgbouncer", "pg2:pgbouncer"]));
        }
        expect(deps("pgsql:verify")).toEqual(expect.arrayContaining(["pg1:pgbouncer", "pg2:pgbouncer"]));
    });

    test("the commands: the lookup step as postgres (--disable on delete); PgBouncer reloads, restarts only on a new listener; a pooled primary is verified as the lookup role", () => {
        const auth = tree.get("pg1:pgbouncer-auth")!;
        expect(String(auth.inputs.create)).toContain("runuser -u postgres -- python3 /usr/local/libexec/pgha/pgbouncer-auth.py '\\''/var/run/postgresql'\\'' 5432");
        expect(String(auth.inputs.delete)).toContain("pgbouncer-auth.py '\\''/var/run/postgresql'\\'' 5432 --disable");
        const svc = tree.get("pg1:pgbouncer")!;
        expect(String(svc.inputs.update)).toContain("systemctl reload pgbouncer");
        expect(String(svc.inputs.update)).toContain("a setting only a restart applies changed: restarting");
        expect(String(svc.inputs.delete)).toContain("systemctl disable --now pgbouncer");
        expect(String(tree.get("pgsql:verify")!.inputs.create)).toContain("--front-user pgha_pgbouncer");
        expect(String(without.get("pgsql:verify")!.inputs.create)).not.toContain("--front-user");
    });

    test("the lookup role's password is in no command text, only on the stdin of the lookup steps, the auth_files (and the services' digests) and the verification", async () => {
        const distinct: Secrets = { ...FAKE_SECRETS, pgbouncerAuthPassword: "Bouncer-Distinct-PW-42" };
        const m = await register(specOf(values()), distinct);
        for (const c of commands(m)) expect([c.name, texts(c).includes("Bouncer-Distinct-PW-42")]).toEqual([c.name, false]);
        const carrying = commands(m)
            .filter((c) => JSON.stringify(c.inputs.stdin ?? "").includes("Bouncer-Distinct-PW-42"))
            .map((c) => c.name)
            .sort();
        expect(carrying).toEqual(["pg1:/etc/pgha/pgbouncer/userlist.txt", "pg1:pgbouncer-auth", "pg2:/etc/pgha/pgbouncer/userlist.txt", "pg2:pgbouncer-auth", "pgsql:verify"]);
    });

    test("day 2: a pool setting rewrites pgbouncer.ini and reloads PgBouncer; nothing else but the verification", async () => {
        const changed = await register(specOf(values((v) => ((v.pgbouncer.defaultPoolSize = 30), (v.pgbouncer.poolMode = "session")))));
        expect(changedSince(tree, changed)).toEqual(["pg1:/etc/pgha/pgbouncer/pgbouncer.ini", "pg1:pgbouncer", "pg2:/etc/pgha/pgbouncer/pgbouncer.ini", "pg2:pgbouncer", "pgsql:verify"]);
    });

    test("day 2: pooling another service reloads HAProxy only; rotating the lookup role's password runs the lookup steps, then the auth_files and a reload", async () => {
        const more = await register(specOf(values((v) => v.haproxy.pooled.push("replica"))));
        expect(changedSince(tree, more)).toEqual(["pg1:/etc/haproxy/haproxy.cfg", "pg1:haproxy", "pg2:/etc/haproxy/haproxy.cfg", "pg2:haproxy", "pgsql:verify"]);
        const rotated = await register(specOf(values()), { ...FAKE_SECRETS, pgbouncerAuthPassword: "another-one" });
        expect(changedSince(tree, rotated)).toEqual([
            "pg1:/etc/pgha/pgbouncer/userlist.txt",
            "pg1:pgbouncer",
            "pg1:pgbouncer-auth",
            "pg2:/etc/pgha/pgbouncer/userlist.txt",
            "pg2:pgbouncer",
            "pg2:pgbouncer-auth",
            "pgsql:verify",
        ]);
    });
});
