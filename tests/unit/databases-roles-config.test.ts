// pgha:databases and pgha:roles in the configuration: every refusal names its key path, the
// role passwords are split off the roles (never in values, spec, clusterShape or any message),
// plain-text passwords are refused, the warnings, and the edit guard (renames refused, removed
// ones kept and reported).

import { parseClusterConfig, plainTextRolePasswords, readRawConfig } from "../../core/config";
import { ClusterSpec } from "../../core/spec";
import { clusterShape, keptDatabasesAndRoles, unsafeTransitions } from "../../core/transitions";
import { declaredState, declaresDatabasesOrRoles } from "../../core/render/databases-roles";
import { FAKE_SECRETS, HOME, classicValues, withHostKeys } from "./fixtures";

/** A password no message, spec or shape may ever hold. */
const MARK = "PwMarkNeverShown-Ω";

const ROLES = [
    { name: "readers" },
    { name: "app", login: true, password: MARK, memberOf: ["readers", "pg_read_all_data"], connectionLimit: 20 },
    { name: "ro", login: "true", password: `${MARK}-2`, memberOf: ["readers"] },
];
const DATABASES = [
    { name: "appdb", owner: "app", extensions: ["pgcrypto", "uuid-ossp", "pgcrypto"] },
    { name: "latin", encoding: "latin1", locale: "C" },
];

const values = (roles: unknown = ROLES, databases: unknown = DATABASES): Record<string, unknown> =>
    withHostKeys({ ...classicValues(), roles: structuredClone(roles), databases: structuredClone(databases) });

/** As Pulumi hands the program its config: `pgha:roles` JSON text, marked secret (a --path --secret value inside it). */
function raw(v: Record<string, unknown>, marked: string[] = ["roles"], stackFile?: string) {
    const all: Record<string, string> = Object.fromEntries(Object.entries(v).map(([k, x]) => [`pgha:${k}`, typeof x === "object" ? JSON.stringify(x) : String(x)]));
    for (const [k, x] of Object.entries(FAKE_SECRETS)) all[`pgha:${k}`] = x;
    const secretKeys = new Set([...marked, ...Object.keys(FAKE_SECRETS)].map((k) => `pgha:${k}`));
    return readRawConfig(
        Object.keys(all),
        (k) => all[k],
        HOME,
        (k) => secretKeys.has(k),
        stackFile,
    );
}

function parsed(v: Record<string, unknown>, marked?: string[], stackFile?: string) {
    return parseClusterConfig(raw(v, marked, stackFile), { homedir: HOME });
}
const errors = (v: Record<string, unknown>, marked?: string[], stackFile?: string): readonly string[] => {
    const r = parsed(v, marked, stackFile);
    if (r.ok) throw new Error("expected a refusal");
    expect(JSON.stringify(r.errors)).not.toContain("PwMark");
    return r.errors;
};
const spec = (v: Record<string, unknown> = values()): ClusterSpec => {
    const r = parsed(v);
    if (!r.ok) throw new Error(r.errors.join("\n"));
    expect(JSON.stringify([r.spec, r.warnings])).not.toContain("PwMark");
    return r.spec;
};

describe("the role passwords are split off pgha:roles (core/config-raw.ts)", () => {
    test("readRawConfig: values keep each role without its password; the passwords travel by index", () => {
        const r = raw(values());
        expect(JSON.stringify(r.values)).not.toContain("PwMark");
        expect((r.values.roles as object[]).map((x) => Object.keys(x).sort())).toEqual([["name"], ["connectionLimit", "login", "memberOf", "name"], ["login", "memberOf", "name"]]);
        expect(r.rolePasswords).toEqual({ 1: MARK, 2: `${MARK}-2` });
        // Without passwords nothing changes in RawConfig's shape.
        expect(raw(values([{ name: "a" }])).rolePasswords).toBeUndefined();
    });

    test("the spec holds whether a password is set, never the value; the shape likewise", () => {
        const s = spec();
        expect(s.roles).toEqual([
            { name: "app", login: true, hasPassword: true, memberOf: ["pg_read_all_data", "readers"], connectionLimit: 20 },
            { name: "readers", login: false, hasPassword: false, memberOf: [], connectionLimit: -1 },
            { name: "ro", login: true, hasPassword: true, memberOf: ["readers"], connectionLimit: -1 },
        ]);
        expect(s.databases).toEqual([
            { name: "appdb", owner: "app", extensions: ["pgcrypto", "uuid-ossp"] },
            { name: "latin", owner: "postgres", encoding: "LATIN1", locale: "C", extensions: [] },
        ]);
        expect(JSON.stringify(clusterShape(s))).not.toContain("PwMark");
        expect(clusterShape(s).roles).toEqual(s.roles);
        // Reordering the lists changes nothing.
        expect(spec(values([...ROLES].reverse(), [...DATABASES].reverse()))).toEqual(s);
    });

    test("passwords handed in among the values (a test, a library caller) are moved apart as well", () => {
        const r = parseClusterConfig({ values: values(), secrets: { ...FAKE_SECRETS } }, { homedir: HOME });
        expect(r.ok).toBe(true);
        if (r.ok) expect(JSON.stringify(r.spec)).not.toContain("PwMark");
    });

    test("the step's stdin carries the declared state with each password, by role", () => {
        const s = spec();
        const state = declaredState(s, { app: MARK, ro: "other" });
        expect(state.roles.map((r) => [r.name, r.password])).toEqual([
            ["app", MARK],
            ["readers", undefined],
            ["ro", "other"],
        ]);
        expect(() => declaredState(s, { app: MARK })).toThrow("the password of role ro is missing");
        expect(declaresDatabasesOrRoles(s)).toBe(true);
        expect(declaresDatabasesOrRoles(spec(withHostKeys(classicValues())))).toBe(false);
        // Without them the spec has no such keys at all (so its fingerprint is as before).
        expect(Object.keys(spec(withHostKeys(classicValues())))).not.toContain("roles");
    });
});

describe("plain-text role passwords are refused", () => {
    test("the key not marked secret", () => {
        expect(errors(values(), [])).toEqual([
            "pgha:roles[1].password: stored in plain text; set it with `pulumi config set --secret --path 'pgha:roles[1].password' …`",
            "pgha:roles[2].password: stored in plain text; set it with `pulumi config set --secret --path 'pgha:roles[2].password' …`",
        ]);
    });

    test("one password in plain text beside a secret one (which makes the whole key secret): found in the stack file", () => {
        const stackFile = ["config:", "  pgha:roles:", "    - name: readers", "    - name: app", "      password:", "        secure: v1:abc", "    - name: ro", `      password: ${MARK}-2`].join("\n");
        expect(plainTextRolePasswords(stackFile, { 1: MARK, 2: `${MARK}-2` })).toEqual([2]);
        expect(errors(values(), ["roles"], stackFile)).toEqual(["pgha:roles[2].password: stored in plain text; set it with `pulumi config set --secret --path 'pgha:roles[2].password' …`"]);
        // Another file (another config file, a stale copy) whose value differs proves nothing; nor does unreadable text.
        expect(plainTextRolePasswords(stackFile.replace(`${MARK}-2`, "other"), { 2: `${MARK}-2` })).toEqual([]);
        expect(plainTextRolePasswords("{{{", { 2: "x" })).toEqual([]);
    });

    test("bad values are named by key, never shown", () => {
        const bad = [
            { name: "a", login: true, password: "" },
            { name: "b", login: true, password: `${MARK}\n` },
            { name: "c", login: true, password: `${MARK}`.repeat(20) },
            { name: "d", login: true, password: 12345 },
        ];
        expect(errors(values(bad, []))).toEqual([
            "pgha:roles[0].password: must be 1 to 128 characters long",
            "pgha:roles[1].password: contains a control character or newline",
            "pgha:roles[2].password: must be 1 to 128 characters long",
            "pgha:roles[3].password: expected a string, got a number",
        ]);
    });

    test("a typo in the key gets a hint, and its value is not shown", () => {
        expect(errors(values([{ name: "a", passwrd: MARK }], []))).toEqual(["pgha:roles[0].passwrd: unknown key (did you mean pgha:roles[0].password?)"]);
    });
});

describe("refused at preview, each naming its key path (and no password anywhere)", () => {
    const cases: [string, unknown, unknown, string[]][] = [
        [
            "role names",
            [{ name: "Bad" }, { name: "1x" }, { name: "a-b" }, { name: "x".repeat(64) }],
            [],
            [
                'pgha:roles[0].name: "Bad" is not a valid role name',
                'pgha:roles[1].name: "1x" is not a valid role name',
                'pgha:roles[2].name: "a-b" is not a valid role name',
                `pgha:roles[3].name: "${"x".repeat(64)}" is not a valid role name (lowercase letters, digits and '_', 1 to 63 characters`,
            ],
        ],
        [
            "pgha's and PostgreSQL's own roles",
            [{ name: "postgres" }, { name: "replicator" }, { name: "pgha_pgbouncer" }, { name: "pg_monitor" }, { name: "public" }, { name: "all" }],
            [],
            [
                'pgha:roles[0].name: "postgres" is a role pgha manages itself',
                'pgha:roles[1].name: "replicator" is a role pgha manages itself',
                'pgha:roles[2].name: "pgha_pgbouncer" is reserved for pgha\'s own roles (pgha_*)',
                'pgha:roles[3].name: "pg_monitor" is reserved by PostgreSQL (pg_*)',
                'pgha:roles[4].name: "public" is reserved by PostgreSQL',
                'pgha:roles[5].name: "all" is a pg_hba.conf keyword',
            ],
        ],
        [
            "duplicates",
            [{ name: "a" }, { name: "a" }],
            [{ name: "d" }, { name: "d" }],
            ["pgha:roles[1].name: a is already declared by pgha:roles[0]", "pgha:databases[1].name: d is already declared by pgha:databases[0]"],
        ],
        [
            "database names",
            [],
            [{ name: "postgres" }, { name: "template1" }, { name: "My-DB" }],
            [
                'pgha:databases[0].name: "postgres" is one of PostgreSQL\'s own databases',
                'pgha:databases[1].name: "template1" is one of PostgreSQL\'s own databases',
                'pgha:databases[2].name: "My-DB" is not a valid database name',
            ],
        ],
        [
            "owners",
            [{ name: "app" }],
            [{ name: "a", owner: "ghost" }, { name: "b", owner: "replicator" }, { name: "c", owner: "app" }, { name: "e" }],
            [
                "pgha:databases[0].owner: ghost is neither a role of pgha:roles nor postgres; declare it there",
                "pgha:databases[1].owner: replicator is neither a role of pgha:roles nor postgres; declare it there",
            ],
        ],
        [
            "memberships",
            [{ name: "a", memberOf: ["a", "ghost", "pg_nope", "pg_maintain", "pg_read_all_data", "b"] }, { name: "b" }],
            [],
            [
                "pgha:roles[0].memberOf[0]: a role cannot be a member of itself",
                "pgha:roles[0].memberOf[1]: ghost is neither a role of pgha:roles nor a predefined role such as pg_read_all_data; declare it there",
                "pgha:roles[0].memberOf[2]: pg_nope is not a predefined role PostgreSQL 15 lets a role join",
                "pgha:roles[0].memberOf[3]: pg_maintain is a predefined role since PostgreSQL 17; this cluster runs 15",
            ],
        ],
        [
            "a membership cycle",
            [
                { name: "a", memberOf: ["b"] },
                { name: "b", memberOf: ["c"] },
                { name: "c", memberOf: ["a"] },
                { name: "d", memberOf: ["a"] },
            ],
            [],
            ["pgha:roles[0].memberOf: makes a membership cycle (a → b → c → a), which PostgreSQL refuses"],
        ],
        [
            "extensions, encodings, locales",
            [],
            [
                { name: "a", extensions: ["uuid-ossp", "Bad", "x;drop"], encoding: "SJIS", locale: "en_US.UTF-8; rm" },
                { name: "b", encoding: "utf8", locale: "de_DE@euro" },
            ],
            [
                'pgha:databases[0].encoding: "SJIS" is not a PostgreSQL server encoding',
                'pgha:databases[0].locale: "en_US.UTF-8; rm" is not a locale name pgha accepts',
                'pgha:databases[0].extensions[1]: "Bad" is not an extension name',
                'pgha:databases[0].extensions[2]: "x;drop" is not an extension name',
            ],
        ],
        [
            "connection limits and logins",
            [
                { name: "a", connectionLimit: -2 },
                { name: "b", connectionLimit: "1.5" },
                { name: "c", connectionLimit: "7", login: "maybe" },
                { name: "d", connectionLimit: -1 },
            ],
            [],
            [
                "pgha:roles[0].connectionLimit: -2 is not an integer in -1..2147483647",
                "pgha:roles[1].connectionLimit: expected a number, got a string",
                "pgha:roles[2].login: expected a boolean, got a string",
            ],
        ],
    ];
    for (const [what, roles, databases, expected] of cases) {
        test(what, () => {
            const withPasswords = (roles as Record<string, unknown>[]).map((r) => ({ ...r, password: MARK, login: r.login ?? true }));
            const got = errors(values(withPasswords, databases));
            expect(got.length).toBe(expected.length);
            expected.forEach((e, i) => expect(got[i]).toContain(e));
        });
    }
});

describe("warnings", () => {
    test("a login role without a password, a password on a role that cannot log in", () => {
        const r = parsed(
            values(
                [
                    { name: "a", login: true },
                    { name: "b", password: MARK },
                ],
                [],
            ),
        );
        expect(r.ok).toBe(true);
        if (!r.ok) return;
        expect(r.warnings.filter((w) => w.startsWith("pgha:roles"))).toEqual([
            "pgha:roles[0] (a): login is true but the stack sets no password: pgha leaves its password as it is (none for a new role), and pg_hba.conf admits it only with one (scram-sha-256); set it with `pulumi config set --secret --path 'pgha:roles[0].password' …` unless you manage it yourself",
            "pgha:roles[1].password: set, but pgha:roles[1].login is false: the role cannot log in with it",
        ]);
        expect(JSON.stringify(r.warnings)).not.toContain("PwMark");
    });
});

describe("the edit guard: never renamed, never dropped", () => {
    const before = spec();
    const shape = clusterShape(before);
    const edit = (roles: unknown, databases: unknown) => spec(values(roles, databases));

    test("an unchanged stack, or one that adds or changes entries: nothing refused, nothing kept", () => {
        expect(unsafeTransitions(shape, before)).toEqual([]);
        const more = edit([...ROLES, { name: "new" }], [...DATABASES, { name: "other", owner: "app" }]);
        expect(unsafeTransitions(shape, more)).toEqual([]);
        expect(keptDatabasesAndRoles(shape, more)).toEqual([]);
        // A shape recorded before these keys existed has none to compare.
        const { databases: _d, roles: _r, ...older } = shape;
        expect(unsafeTransitions(older, more)).toEqual([]);
    });

    test("a name replaced by another with the same settings looks like a rename: refused, with the way to do either", () => {
        const renamed = edit(
            ROLES.map((r) => (r.name === "ro" ? { ...r, name: "readonly" } : r)),
            DATABASES.map((d) => (d.name === "latin" ? { ...d, name: "latin_db" } : d)),
        );
        const problems = unsafeTransitions(shape, renamed);
        expect(problems).toEqual([
            expect.stringMatching(
                /^pgha:databases: the new database "latin_db" has the owner, encoding, locale and extensions of "latin", which this stack deployed and no longer lists: this looks like a rename/,
            ),
            expect.stringMatching(/^pgha:roles: the new role "readonly" has the login, password, memberships and connection limit of "ro", .* run `ALTER ROLE ro RENAME TO readonly` on the leader/),
        ]);
        expect(problems[0]).toContain('remove "latin" from the stack in one `pulumi up` and add "latin_db" in the next');
    });

    test("a name removed (or replaced by one with other settings): kept, and reported", () => {
        const fewer = edit(
            ROLES.filter((r) => r.name !== "ro"),
            [DATABASES[0], { name: "latin_db", owner: "app" }],
        );
        expect(unsafeTransitions(shape, fewer)).toEqual([]);
        expect(keptDatabasesAndRoles(shape, fewer)).toEqual([
            'pgha:databases: "latin" is no longer listed: pgha keeps the database and its data (it never drops one); run DROP DATABASE latin on the leader yourself if you mean to',
            'pgha:roles: "ro" is no longer listed: pgha keeps the role, its password and its memberships (it never drops one); run DROP OWNED BY ro and DROP ROLE ro yourself (in every database it owns objects in) if you mean to',
        ]);
        // Removing them all: the same, from a spec without the keys.
        expect(keptDatabasesAndRoles(shape, spec(withHostKeys(classicValues())))).toHaveLength(5);
        expect(keptDatabasesAndRoles(undefined, fewer)).toEqual([]);
    });
});
