// npm run bench:scale's helper (scripts/bench-scale.sh): the N-node layout every mode of the
// benchmark deploys, and the program's own time under Pulumi's runtime mocks.
//
// The layout (the same for the mocks, the preview stacks and the lab): 3 etcd members and
// HAProxy + keepalived on 2 nodes, PostgreSQL on every node:
//   lab1, lab2: etcd, postgres, haproxy, keepalived
//   lab3:       etcd, postgres
//   lab4..labN: postgres
// so every node beyond the third adds the same block of resources (tests/unit/scale.test.ts).
// Names and addresses are the lab's (labI at 198.18.0.(10+I), the VIP 198.18.0.100): the
// preview stacks carry placeholder host keys and a pinned PostgreSQL version, so they connect to
// no server.
//
//   ts-node scripts/ops/scale.ts mocks --nodes 3,9,15 --runs 3   one line per N: "mocks N resources commands ms..."
//   ts-node scripts/ops/scale.ts stack-config N KEYFILE          the `config:` block of an N-node preview stack (YAML)
//   ts-node scripts/ops/scale.ts roles N                         lab-stack.js's --roles value for lab1..labN
import * as pulumi from "@pulumi/pulumi";
import YAML from "yaml";

export const SCALE_VIP = "198.18.0.100";

/** The roles of node `i` (1-based) in the benchmark's layout. */
export function scaleRoles(i: number): string[] {
    if (i <= 2) return ["etcd", "postgres", "haproxy", "keepalived"];
    if (i === 3) return ["etcd", "postgres"];
    return ["postgres"];
}

export interface ScaleNode {
    name: string;
    address: string;
    roles: string[];
    hostKey: string;
}

/** The lab's address of labI. */
export const scaleAddress = (i: number): string => `198.18.0.${10 + i}`;

/** A placeholder ed25519 host key for `name` (the format of ssh-keyscan's output; it matches no server). */
export const scaleHostKey = (name: string): string => `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIScaleBenchPlaceholderKeyFor${name.replace(/[^A-Za-z0-9]/g, "")}`;

/** lab1..labN in the benchmark's layout. */
export function scaleNodes(n: number): ScaleNode[] {
    if (!Number.isInteger(n) || n < 3 || n > 50) throw new Error(`scale: ${n} nodes: the layout needs 3 to 50 (the lab's maximum)`);
    return Array.from({ length: n }, (_, k) => {
        const name = `lab${k + 1}`;
        return { name, address: scaleAddress(k + 1), roles: scaleRoles(k + 1), hostKey: scaleHostKey(name) };
    });
}

/** lab-stack.js's --roles value: "lab1=etcd+postgres+haproxy+keepalived,...,labN=postgres". */
export const scaleRolesArg = (n: number): string =>
    scaleNodes(n)
        .map((x) => `${x.name}=${x.roles.join("+")}`)
        .join(",");

/** The pgha:* values of an N-node stack (keys without the prefix), PostgreSQL pinned so nothing reads a server. */
export function scaleValues(n: number, privateKeyPath: string): Record<string, unknown> {
    return {
        clusterName: "pgsql",
        ssh: { user: "root", port: 22, privateKeyPath },
        nodes: scaleNodes(n),
        vip: { address: SCALE_VIP, prefixLength: 24, interface: "eth0", virtualRouterId: 51 },
        postgres: { version: 17, port: 5432, allowedClientCidrs: ["198.18.0.1/32"] },
        packages: { install: true, aptProxy: "" },
        destroy: { deleteData: false },
    };
}

/** The `config:` block of an N-node stack file (secrets are set apart, encrypted). */
export function scaleStackConfig(n: number, privateKeyPath: string): string {
    const values = scaleValues(n, privateKeyPath);
    return YAML.stringify({ config: Object.fromEntries(Object.entries(values).map(([k, v]) => [`pgha:${k}`, v])) });
}

export interface MockRun {
    /** Every resource the program registered (components and custom resources; no stack resource under mocks). */
    resources: number;
    /** The command:remote:Command resources among them. */
    remoteCommands: number;
    /** From the component's constructor to the last registration answered, ms. */
    ms: number;
}

const MOCK_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nscale-bench-fake-key\n-----END OPENSSH PRIVATE KEY-----";
const MOCK_PEM = [
    "-----BEGIN PRIVATE KEY-----\nfake-tls-key-material\n-----END PRIVATE KEY-----",
    "-----BEGIN CERTIFICATE-----\nfake-certificate\n-----END CERTIFICATE-----",
    "notAfter=2031-01-01 00:00:00Z",
    "",
].join("\n");

/**
 * The program's own work for an N-node stack under pulumi.runtime.setMocks: the library
 * component from the stack file's vocabulary (validation included, as index.ts builds it), every
 * resource registered with the mock monitor, timed until the last registration is answered.
 */
export async function mockRun(n: number): Promise<MockRun> {
    // Loaded here: importing the helper for its layout (the unit test, stack-config) costs nothing.
    const { PostgresHaCluster } = await import("../../components/postgres-ha-cluster");
    // The SDK's own wait for outstanding registrations (what the language host awaits before exiting).
    const settings = (await import("@pulumi/pulumi/runtime/settings")) as unknown as { waitForRPCs(): Promise<void> };
    const types: string[] = [];
    pulumi.runtime.setMocks(
        {
            newResource: (a) => {
                types.push(a.type);
                return { id: `${a.name}-id`, state: { ...a.inputs, stdout: a.type === "command:local:Command" ? MOCK_PEM : "ok", stderr: "" } };
            },
            call: (a) => a.inputs,
        },
        "pgha",
        "scale",
        false,
    );
    // Components are registered with the monitor, not through newResource: count them there.
    const monitor = (pulumi.runtime as unknown as { getMonitor(): { registerResource(req: unknown, cb: unknown): unknown } }).getMonitor();
    const original = monitor.registerResource.bind(monitor);
    let registered = 0;
    monitor.registerResource = (req, cb) => {
        registered++;
        return original(req, cb);
    };
    const values = scaleValues(n, "");
    const { privateKeyPath: _, ...ssh } = values.ssh as Record<string, unknown>;
    const t0 = process.hrtime.bigint();
    const cluster = new PostgresHaCluster("pgsql", {
        config: { ...values, ssh } as never,
        superuserPassword: pulumi.secret("scale-superuser-pw"),
        replicationPassword: pulumi.secret("scale-replication-pw"),
        keepalivedPassword: pulumi.secret("scalepw1"),
        sshPrivateKey: pulumi.secret(MOCK_KEY),
        previous: null,
    });
    await new Promise<void>((resolve) => cluster.verification.apply(() => resolve()));
    await settings.waitForRPCs();
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    return { resources: registered, remoteCommands: types.filter((t) => t === "command:remote:Command").length, ms };
}

const median = (xs: number[]): number => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** "3,9,15" → [3, 9, 15]. */
export function parseNodeList(text: string): number[] {
    const ns = text.split(",").map((s) => Number(s.trim()));
    if (ns.length === 0 || ns.some((v) => !Number.isInteger(v) || v < 3 || v > 50)) throw new Error(`scale: --nodes ${text}: a comma-separated list of node counts from 3 to 50`);
    return ns;
}

async function main(argv: string[]): Promise<void> {
    const [verb, ...rest] = argv;
    const opt = (name: string, dflt: string): string => {
        const i = rest.indexOf(name);
        return i >= 0 && rest[i + 1] !== undefined ? rest[i + 1] : dflt;
    };
    if (verb === "roles" && rest.length === 1) {
        console.log(scaleRolesArg(Number(rest[0])));
    } else if (verb === "stack-config" && rest.length === 2) {
        process.stdout.write(scaleStackConfig(Number(rest[0]), rest[1]));
    } else if (verb === "mocks") {
        const nodes = parseNodeList(opt("--nodes", "3,9,15"));
        const runs = Number(opt("--runs", "3"));
        if (!Number.isInteger(runs) || runs < 1) throw new Error(`scale: --runs ${opt("--runs", "")}: a positive integer`);
        // One run not counted: the first registration in a process also loads and JIT-compiles the program.
        await mockRun(nodes[0]);
        for (const n of nodes) {
            const got: MockRun[] = [];
            for (let i = 0; i < runs; i++) got.push(await mockRun(n));
            if (got.some((g) => g.resources !== got[0].resources)) throw new Error(`scale: ${n} nodes registered ${got.map((g) => g.resources).join(", ")} resources in its runs`);
            const ms = got.map((g) => g.ms);
            console.log(`mocks ${n} ${got[0].resources} ${got[0].remoteCommands} ${median(ms).toFixed(0)} ${ms.map((m) => m.toFixed(0)).join(",")}`);
        }
    } else {
        throw new Error("usage: scale.ts mocks [--nodes 3,9,15] [--runs 3] | stack-config N KEYFILE | roles N");
    }
}

if (require.main === module) {
    main(process.argv.slice(2)).catch((e: Error) => {
        console.error(e.message);
        process.exit(1);
    });
}
