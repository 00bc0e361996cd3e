import * as fs from "fs";
import * as path from "path";
import { parse as parseYaml } from "yaml";
import { decodeConfigValue, parseClusterConfig, readRawConfig } from "../../core/config";
import { knownKeysAt } from "../../core/config-schema";
import { FAKE_SECRETS, HOME, classicWith, placeholderHostKey, specOf } from "./fixtures";

const ROOT = path.resolve(__dirname, "..", "..");

/** What Pulumi hands the program: objects as JSON text, scalars as plain text. */
function pulumiStyle(config: Record<string, unknown>): Record<string, string> {
    return Object.fromEntries(Object.entries(config).map(([k, v]) => [k, typeof v === "object" && v !== null ? JSON.stringify(v) : String(v)]));
}

describe("readRawConfig", () => {
    test("decodes objects and arrays, keeps scalars as text, routes secrets", () => {
        const all = pulumiStyle({
            "pgha:clusterName": "123",
            "pgha:nodes": [{ name: "a" }],
            "pgha:ssh": { port: 2222 },
            "pgha:generateMissingSecrets": false,
            "pgha:superuserPassword": "{not json",
            "aws:region": "x",
        });
        const raw = readRawConfig(Object.keys(all), (k) => all[k], "/home/me");
        expect(raw).toEqual({
            values: { clusterName: "123", nodes: [{ name: "a" }], ssh: { port: 2222 }, generateMissingSecrets: "false" },
            secrets: { superuserPassword: "{not json" },
            homedir: "/home/me",
        });
    });

    test("reports which secret keys the stack stores encrypted", () => {
        const all = pulumiStyle({ "pgha:superuserPassword": "a", "pgha:replicationPassword": "b" });
        const raw = readRawConfig(
            Object.keys(all),
            (k) => all[k],
            undefined,
            (k) => k === "pgha:superuserPassword",
        );
        expect(raw.secretKeysMarkedSecret).toEqual(["superuserPassword"]);
    });

    test("malformed JSON stays text (and the schema then names the key)", () => {
        expect(decodeConfigValue("[1, 2")).toBe("[1, 2");
        expect(decodeConfigValue(' {"a": 1}')).toEqual({ a: 1 });
        expect(decodeConfigValue("true")).toBe("true");
    });
});

describe("project files", () => {
    const project = parseYaml(fs.readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8"));
    const dev = parseYaml(fs.readFileSync(path.join(ROOT, "Pulumi.dev.yaml"), "utf8"));

    test("Pulumi.yaml declares exactly the keys the program understands", () => {
        expect(project.name).toBe("pgha");
        expect(Object.keys(project.config).sort()).toEqual([...knownKeysAt([])].sort());
        for (const [key, decl] of Object.entries<any>(project.config)) {
            expect(["string", "integer", "boolean", "array", "object"]).toContain(decl.type);
            expect(typeof decl.description).toBe("string");
            // Only pgha:nodes is required; everything else has a neutral default.
            if (key !== "nodes") expect(decl).toHaveProperty("default");
        }
    });

    test("Pulumi.yaml's defaults parse to the same spec as no value at all", () => {
        const nodes = [{ name: "a", address: "10.0.0.1", roles: ["etcd", "postgres"], hostKey: placeholderHostKey("a") }];
        const defaults = Object.fromEntries(
            Object.entries<any>(project.config)
                .filter(([k]) => k !== "nodes")
                .map(([k, d]) => [`pgha:${k}`, d.default]),
        );
        const all = pulumiStyle({ ...defaults, "pgha:nodes": nodes });
        const r = parseClusterConfig(readRawConfig(Object.keys(all), (k) => all[k], HOME));
        expect(r.ok && r.spec).toEqual(specOf({ nodes }, {}));
        expect(r.ok && r.secretsToGenerate).toEqual(["superuserPassword", "replicationPassword"]);
    });

    test("Pulumi.dev.yaml is the classic example and is valid", () => {
        const all = pulumiStyle(dev.config);
        const raw = readRawConfig(Object.keys(all), (k) => all[k], HOME);
        const r = parseClusterConfig({ ...raw, secrets: { ...FAKE_SECRETS } });
        if (!r.ok) throw new Error(r.errors.join("\n"));
        // The example pins PostgreSQL 17 (Debian 13's); the fixture, and the golden renders, use 15.
        expect(r.spec).toEqual(specOf(classicWith((v) => (v.postgres.version = 17))));
    });
});
