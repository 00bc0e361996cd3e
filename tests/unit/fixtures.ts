// The classic three-server example (same as Pulumi.dev.yaml) and helpers.

import { ParseResult, RawConfig, parseClusterConfig } from "../../core/config";
import { ClusterSpec, Secrets } from "../../core/spec";

export const HOME = "/home/tester";

export function classicValues(): Record<string, unknown> {
    return {
        clusterName: "pgsql",
        ssh: { user: "root", port: 22, privateKeyPath: "~/.ssh/id_ed25519" },
        nodes: [
            { name: "pg1", address: "172.51.216.81", roles: ["etcd", "postgres", "haproxy", "keepalived"] },
            { name: "pg2", address: "172.51.216.82", roles: ["etcd", "postgres", "haproxy", "keepalived"] },
            { name: "pg3", address: "172.51.216.83", roles: ["etcd"] },
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
};

export function classicRaw(overrides: Partial<RawConfig> = {}): RawConfig {
    return { values: classicValues(), secrets: { ...FAKE_SECRETS }, ...overrides };
}

export function parse(values: Record<string, unknown>, secrets: RawConfig["secrets"] = { ...FAKE_SECRETS }): ParseResult {
    return parseClusterConfig({ values, secrets }, { homedir: HOME });
}

export function specOf(values: Record<string, unknown> = classicValues(), secrets: RawConfig["secrets"] = { ...FAKE_SECRETS }): ClusterSpec {
    const r = parse(values, secrets);
    if (!r.ok) throw new Error(`expected a valid config, got:\n${r.errors.join("\n")}`);
    return r.spec;
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
