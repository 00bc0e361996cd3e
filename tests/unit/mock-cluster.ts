// Runs the PostgresHaCluster component tree under pulumi.runtime.setMocks and
// returns every registered resource with its inputs, parent and dependencies
// (shared by components.test.ts and hostile-commands.test.ts).
import * as pulumi from "@pulumi/pulumi";
import { PostgresHaCluster } from "../../components/postgres-ha-cluster";
import { ClusterSpec, Secrets } from "../../core/spec";
import { FAKE_SECRETS } from "./fixtures";

export interface Registered {
    type: string;
    name: string;
    parentType: string;
    deps: string[];
    /** The resource's ignoreChanges option. */
    ignoreChanges: string[];
    inputs: Record<string, unknown>;
}

export const MOCK_SSH_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nfake-key-material-for-tests\n-----END OPENSSH PRIVATE KEY-----";

export const MOCK_OPENSSL_STDOUT = [
    "-----BEGIN PRIVATE KEY-----\nfake-tls-key-material\n-----END PRIVATE KEY-----",
    "-----BEGIN CERTIFICATE-----\nfake-certificate\n-----END CERTIFICATE-----",
    "notAfter=2031-01-01 00:00:00Z",
    "",
].join("\n");

const urnName = (urn: string) => urn.split("::").pop()!;
const urnType = (urn: string) => urn.split("::")[2]?.split("$").pop() ?? "";

/** Runs the component tree under mocks and returns every registered resource by name. */
export async function registerCluster(spec: ClusterSpec, secrets: Secrets = FAKE_SECRETS, sshPrivateKey: string = MOCK_SSH_KEY, backupCipherPassphrase?: string): Promise<Map<string, Registered>> {
    return registerTree(
        () =>
            new PostgresHaCluster(spec.clusterName, {
                spec,
                secrets: pulumi.secret(pulumi.output(secrets)),
                sshPrivateKey: pulumi.secret(sshPrivateKey),
                ...(backupCipherPassphrase !== undefined ? { backupCipherPassphrase: pulumi.secret(backupCipherPassphrase) } : {}),
            }),
    );
}

/** Runs `construct` under mocks and returns every registered resource by name. */
export async function registerTree(construct: () => PostgresHaCluster): Promise<Map<string, Registered>> {
    const seen = new Map<string, Registered>();
    const inputs = new Map<string, Record<string, unknown>>();
    pulumi.runtime.setMocks(
        {
            newResource: (a) => {
                inputs.set(a.name, a.inputs);
                // openssl commands (cluster-pki.ts) print PEM blocks; stand-ins that parse.
                const stdout = a.type === "command:local:Command" ? MOCK_OPENSSL_STDOUT : "ok";
                return { id: `${a.name}-id`, state: { ...a.inputs, stdout, stderr: "" } };
            },
            call: (a) => a.inputs,
        },
        "pgha",
        "unit",
        false,
    );
    // The mock monitor hands mocks no parent or dependencies: read them off the requests.
    const monitor = (pulumi.runtime as unknown as { getMonitor(): any }).getMonitor();
    const original = monitor.registerResource.bind(monitor);
    monitor.registerResource = (req: any, cb: any) => {
        seen.set(req.getName(), {
            type: req.getType(),
            name: req.getName(),
            parentType: urnType(req.getParent() ?? ""),
            deps: (req.getDependenciesList() as string[]).map(urnName),
            ignoreChanges: req.getIgnorechangesList() as string[],
            inputs: {},
        });
        return original(req, cb);
    };
    const cluster = construct();
    await new Promise<void>((resolve) => cluster.verification.apply(() => resolve()));
    await new Promise((r) => setTimeout(r, 50));
    for (const [name, r] of seen) r.inputs = inputs.get(name) ?? {};
    return seen;
}

/** The remote commands among the registered resources. */
export const remoteCommands = (m: ReadonlyMap<string, Registered>): Registered[] => [...m.values()].filter((r) => r.type === "command:remote:Command");

/** Names of the commands in `next` that also exist in `base` with different inputs, sorted. */
export const changedSince = (base: ReadonlyMap<string, Registered>, next: ReadonlyMap<string, Registered>): string[] =>
    remoteCommands(next)
        .filter((c) => base.has(c.name) && JSON.stringify(c.inputs) !== JSON.stringify(base.get(c.name)!.inputs))
        .map((c) => c.name)
        .sort();
