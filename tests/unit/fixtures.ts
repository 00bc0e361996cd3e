// The classic three-server example (same as Pulumi.dev.yaml) and helpers.

import { ParseResult, RawConfig, parseClusterConfig } from "../../core/config";
import { ClusterSpec, Secrets } from "../../core/spec";

export const HOME = "/home/tester";

/** The placeholder host key Pulumi.dev.yaml pins for a node (the format of `ssh-keyscan -t ed25519` output). */
export const placeholderHostKey = (name: string): string => {
    const word = name.replace(/[^A-Za-z0-9]/g, "");
    return `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIReplaceWithTheSshKeyscanOutputFor${word.slice(0, 1).toUpperCase()}${word.slice(1)}`;
};

export function classicValues(): Record<string, unknown> {
    return {
        clusterName: "pgsql",
        ssh: { user: "root", port: 22, privateKeyPath: "~/.ssh/id_ed25519" },
        nodes: [
            { name: "pg1", address: "172.51.216.81", hostKey: placeholderHostKey("pg1"), roles: ["etcd", "postgres", "haproxy", "keepalived"] },
            { name: "pg2", address: "172.51.216.82", hostKey: placeholderHostKey("pg2"), roles: ["etcd", "postgres", "haproxy", "keepalived"] },
            { name: "pg3", address: "172.51.216.83", hostKey: placeholderHostKey("pg3"), roles: ["etcd"] },
        ],
        vip: { address: "172.51.216.88", prefixLength: 24, interface: "eth0", virtualRouterId: 51 },
        postgres: { version: 15, port: 5432, parameters: { max_connections: 200 }, allowedClientCidrs: ["172.51.216.0/24"] },
        patroni: { ttl: 30, loopWait: 10, retryTimeout: 10, maximumLagOnFailover: 1048576, synchronousMode: false },
        haproxy: { primaryPort: 5000, replicaPort: 5001, statsPort: 7000 },
        packages: { install: true, aptProxy: "" },
        destroy: { deleteData: false },
    };
}

export const FAKE_SECRETS: Secrets = {
    superuserPassword: "fake-superuser-pw",
    replicationPassword: "fake-replication-pw",
    keepalivedPassword: "fakevrrp-longer-than-8",
    restApiPassword: "fake-rest-api-pw",
    pgbouncerAuthPassword: "fake-pgbouncer-auth-pw",
    monitoringPassword: "fake-monitoring-pw",
};

export function classicRaw(overrides: Partial<RawConfig> = {}): RawConfig {
    return { values: classicValues(), secrets: { ...FAKE_SECRETS }, ...overrides };
}

export function parse(values: Record<string, unknown>, secrets: RawConfig["secrets"] = { ...FAKE_SECRETS }): ParseResult {
    return parseClusterConfig({ values, secrets }, { homedir: HOME });
}

/**
 * The spec of a valid config. Host keys are verified by default, so a node the
 * values give no hostKey gets its placeholder key here (tests that add nodes
 * need not repeat one); refusals are tested with parse() and errorsOf().
 */
export function specOf(values: Record<string, unknown> = classicValues(), secrets: RawConfig["secrets"] = { ...FAKE_SECRETS }): ClusterSpec {
    const r = parse(withHostKeys(values), secrets);
    if (!r.ok) throw new Error(`expected a valid config, got:\n${r.errors.join("\n")}`);
    return r.spec;
}

/** `values` with every node object lacking a hostKey given its placeholder key. */
export function withHostKeys(values: Record<string, unknown>): Record<string, unknown> {
    if (!Array.isArray(values.nodes)) return values;
    const nodes = values.nodes.map((n: unknown) =>
        typeof n === "object" && n !== null && !Array.isArray(n) && !("hostKey" in n) && typeof (n as { name?: unknown }).name === "string"
            ? { ...n, hostKey: placeholderHostKey((n as { name: string }).name) }
            : n,
    );
    return { ...values, nodes };
}

export function errorsOf(values: Record<string, unknown>, secrets: RawConfig["secrets"] = { ...FAKE_SECRETS }): readonly string[] {
    const r = parse(values, secrets);
    if (r.ok) throw new Error("expected the config to be refused");
    return r.errors;
}

/** The classic values with `edit` applied to a deep copy. */
export function classicWith(edit: (v: any) => void): Record<string, unknown> {
    const v = structuredClone(classicValues()) as any;
    edit(v);
    return v;
}
