// pgha:databases and pgha:roles in the tree (components/databases-roles.ts), under mocks:
// one step per PostgreSQL node, after the cluster runs with its dynamic configuration and
// after a restore, before the verification; the passwords only on its stdin; it changes
// exactly when the declared state or a password does; without the keys the tree is as before.
import * as pulumi from "@pulumi/pulumi";
import { PostgresHaCluster } from "../../components/postgres-ha-cluster";
import { ClusterSpec } from "../../core/spec";
import { BACKUP_SECRETS, FAKE_PASSPHRASE, backupWith } from "./backup-fixtures";
import { FAKE_SECRETS, classicWith, specOf } from "./fixtures";
import { MOCK_SSH_KEY, Registered, changedSince, registerTree, remoteCommands } from "./mock-cluster";
import { pinnedTree, treeFingerprint } from "./tree-snapshot";

const APP_PW = "RolePwDistinct-app";
const RO_PW = "RolePwDistinct-ro";

const declare = (v: any, databases: unknown[] = [{ name: "appdb", owner: "app", extensions: ["pgcrypto"] }]) => {
    v.roles = [{ name: "app", login: true, password: "x", memberOf: ["pg_read_all_data"] }, { name: "ro", login: true, password: "x" }, { name: "readers" }];
    v.databases = databases;
};

function register(spec: ClusterSpec, rolePasswords: Record<string, string> = { app: APP_PW, ro: RO_PW }, backup = false): Promise<Map<string, Registered>> {
    return registerTree(
        () =>
            new PostgresHaCluster(spec.clusterName, {
                spec,
                secrets: pulumi.secret(pulumi.output(backup ? BACKUP_SECRETS : FAKE_SECRETS)) as never,
                sshPrivateKey: pulumi.secret(MOCK_SSH_KEY),
                rolePasswords: pulumi.secret(pulumi.output(rolePasswords)),
                ...(backup ? { backupCipherPassphrase: pulumi.secret(FAKE_PASSPHRASE) } : {}),
            }),
    );
}

/** Pulumi's marker of a secret value in serialized inputs. */
const SECRET_SIG = "4dabf18193072939515e22adb298388d";
/** The step's stdin, which must be a secret: its JSON. */
function stdinOf(c: Registered): any {
    const v = c.inputs.stdin as Record<string, unknown>;
    expect(typeof v === "object" && v !== null && SECRET_SIG in v).toBe(true);
    return JSON.parse(String(v.value));
}

const texts = (c: Registered) => JSON.stringify([c.inputs.create, c.inputs.update, c.inputs.delete]);

// Each case registers several whole trees.
jest.setTimeout(60_000);

describe("pgha:databases and pgha:roles (mocks)", () => {
    let classic: Map<string, Registered>;
    let tree: Map<string, Registered>;
    const deps = (name: string) => tree.get(name)!.deps;
    beforeAll(async () => {
        classic = await register(specOf());
        tree = await register(specOf(classicWith((v) => declare(v))));
    });

    test("the tree as pinned", () => {
        expect(treeFingerprint(tree)).toEqual(pinnedTree("databases-roles", tree));
    });

    test("a step on each PostgreSQL node and the program beside it; nothing of it without the keys", () => {
        const ours = (m: Map<string, Registered>) => [...m.keys()].filter((n) => n.includes("databases-roles")).sort();
        expect(ours(tree)).toEqual([
            "pg1:/usr/local/libexec/pgha/pg-databases-roles.py",
            "pg1:databases-roles",
            "pg2:/usr/local/libexec/pgha/pg-databases-roles.py",
            "pg2:databases-roles",
            "pgsql-databases-roles",
        ]);
        expect(ours(classic)).toEqual([]);
        expect(String(tree.get("pg1:databases-roles")!.inputs.create)).toContain(
            "cd / && runuser -u postgres -- python3 /usr/local/libexec/pgha/pg-databases-roles.py '\\''/var/run/postgresql'\\'' 5432",
        );
    });

    test("order: after every member and the dynamic configuration, before the verification", () => {
        for (const n of ["pg1", "pg2"]) {
            expect(deps(`${n}:databases-roles`)).toEqual(
                expect.arrayContaining(["pg1:patroni", "pg2:patroni", "pgsql:dynamic-config", `${n}:packages`, `${n}:/usr/local/libexec/pgha/pg-databases-roles.py`]),
            );
        }
        expect(deps("pgsql:verify")).toEqual(expect.arrayContaining(["pg1:databases-roles", "pg2:databases-roles"]));
    });

    test("the passwords travel on stdin only, a secret, with the declared state", () => {
        for (const c of remoteCommands(tree)) {
            expect(texts(c)).not.toContain("RolePwDistinct");
        }
        const stdin = stdinOf(tree.get("pg1:databases-roles")!);
        expect(stdin).toEqual({
            roles: [
                { name: "app", login: true, connectionLimit: -1, memberOf: ["pg_read_all_data"], password: APP_PW },
                { name: "readers", login: false, connectionLimit: -1, memberOf: [] },
                { name: "ro", login: true, connectionLimit: -1, memberOf: [], password: RO_PW },
            ],
            databases: [{ name: "appdb", owner: "app", extensions: ["pgcrypto"] }],
        });
    });

    test("it changes when a password or the declared state does, and only then; the rest of the tree stays", async () => {
        const same = await register(specOf(classicWith((v) => declare(v))));
        expect(changedSince(tree, same)).toEqual([]);
        const rotated = await register(specOf(classicWith((v) => declare(v))), { app: `${APP_PW}-2`, ro: RO_PW });
        expect(changedSince(tree, rotated)).toEqual(["pg1:databases-roles", "pg2:databases-roles"]);
        // Only stdin: the command text (and so the error a failure shows) stays the same.
        expect(texts(rotated.get("pg1:databases-roles")!)).toBe(texts(tree.get("pg1:databases-roles")!));
        const another = await register(
            specOf(
                classicWith((v) =>
                    declare(v, [
                        { name: "appdb", owner: "app", extensions: ["pgcrypto"] },
                        { name: "more", owner: "app" },
                    ]),
                ),
            ),
        );
        // The verification's fingerprint is the spec's: it runs again after a change, as after any.
        expect(changedSince(tree, another)).toEqual(["pg1:databases-roles", "pg2:databases-roles", "pgsql:verify"]);
    });

    test("after an in-place restore (a new id runs it again) and after restoreFrom's passwords", async () => {
        const restoring = (id: string) =>
            register(
                specOf(
                    backupWith((v) => {
                        declare(v);
                        v.restore = { id, target: "latest", confirmDataLoss: true };
                    }),
                    BACKUP_SECRETS,
                ),
                undefined,
                true,
            );
        const r1 = await restoring("r1");
        expect(r1.get("pg1:databases-roles")!.deps).toEqual(expect.arrayContaining(["pg1:restore-leader", "backup1:restore-backup", "pg2:restore-replica"]));
        expect(stdinOf(r1.get("pg1:databases-roles")!).restore).toBe("r1");
        const r2 = await restoring("r2");
        expect(changedSince(r1, r2)).toEqual(expect.arrayContaining(["pg1:databases-roles", "pg2:databases-roles"]));
        const from = await register(
            specOf(
                backupWith((v) => {
                    declare(v);
                    v.backup.restoreFrom = { stanza: "other", target: "latest" };
                }),
                BACKUP_SECRETS,
            ),
            undefined,
            true,
        );
        // The restored leader gets this stack's passwords before the dynamic configuration, which this step follows.
        expect(from.get("pgsql:dynamic-config")!.deps).toContain("pg1:restored-role-passwords");
        expect(from.get("pg1:databases-roles")!.deps).toContain("pgsql:dynamic-config");
    });
});
