// PostgresHaCluster as a library (mocks): arguments in the stack file's vocabulary, node
// addresses and host keys as Outputs of other resources, and the guards inside the component.
import * as pulumi from "@pulumi/pulumi";
import { ClusterConfigArgs, PostgresHaCluster } from "../../components";
import { guardedSpec } from "../../components/postgres-ha-cluster";
import { clusterShape } from "../../core/transitions";
import { FAKE_SECRETS, classicValues, classicWith, specOf } from "./fixtures";
import { MOCK_SSH_KEY, Registered, registerCluster, registerTree, remoteCommands } from "./mock-cluster";

const secrets = {
    superuserPassword: FAKE_SECRETS.superuserPassword,
    replicationPassword: FAKE_SECRETS.replicationPassword,
    keepalivedPassword: FAKE_SECRETS.keepalivedPassword,
    restApiPassword: FAKE_SECRETS.restApiPassword,
    sshPrivateKey: MOCK_SSH_KEY,
};

/** The classic config as library arguments; `later` makes pg3's address and host key Outputs resolved later. */
function libraryArgs(values: Record<string, unknown>, later = false) {
    const nodes = (values.nodes as Record<string, unknown>[]).map((n) =>
        later && n.name === "pg3" ? { ...n, address: pulumi.output(new Promise<string>((r) => setTimeout(() => r(n.address as string), 20))), hostKey: pulumi.output(n.hostKey as string) } : n,
    );
    // The key comes as an argument here, so the config names no key file.
    const ssh = { ...(values.ssh as Record<string, unknown>) };
    delete ssh.privateKeyPath;
    return { config: { ...values, ssh, nodes } as unknown as Record<string, unknown> & ClusterConfigArgs, ...secrets, previous: null };
}

const inputsOf = (m: Map<string, Registered>) => Object.fromEntries(remoteCommands(m).map((c) => [c.name, JSON.stringify(c.inputs)]));

describe("PostgresHaCluster from the stack file's vocabulary", () => {
    let fromSpec: Map<string, Registered>;
    beforeAll(async () => {
        // The program's spec of the same stack file, with the key as the secret pgha:sshPrivateKey.
        const values = libraryArgs(classicValues()).config;
        fromSpec = await registerCluster(specOf({ ...values }, { ...FAKE_SECRETS, sshPrivateKey: MOCK_SSH_KEY }));
    });

    test("builds exactly the tree the program builds from the same stack file", async () => {
        const fromArgs = await registerTree(() => new PostgresHaCluster("pgsql", libraryArgs(classicValues())));
        expect(inputsOf(fromArgs)).toEqual(inputsOf(fromSpec));
    });

    test("a node's address and host key may be Outputs of other resources", async () => {
        const later = await registerTree(() => new PostgresHaCluster("pgsql", libraryArgs(classicValues(), true)));
        expect(inputsOf(later)).toEqual(inputsOf(fromSpec));
    });

    test("the outputs the next run reads back are plain, the connection string is secret", async () => {
        // A secret clusterShape reads back as secretValue: the guard and the renewal saw nothing.
        let cluster: PostgresHaCluster | undefined;
        await registerTree(() => (cluster = new PostgresHaCluster("pgsql", libraryArgs(classicValues()))));
        const plain: pulumi.Output<unknown>[] = [cluster!.clusterShape, cluster!.certificates, cluster!.primaryEndpoint, cluster!.verification];
        for (const o of plain) expect(await pulumi.isSecret(o)).toBe(false);
        expect(await pulumi.isSecret(cluster!.connectionString)).toBe(true);
        const fromSpecArgs = new PostgresHaCluster("pgsql", { spec: specOf(), secrets: pulumi.secret(pulumi.output(FAKE_SECRETS)), sshPrivateKey: pulumi.secret(MOCK_SSH_KEY) });
        expect(await pulumi.isSecret(fromSpecArgs.clusterShape)).toBe(false);
    });

    test("the guard is inside: an unsafe edit against the previous deployment is refused with its key path", () => {
        const previous = { clusterShape: clusterShape(specOf()), certificates: {} };
        const renamed = libraryArgs(classicWith((v) => (v.clusterName = "other")));
        expect(() => guardedSpec(renamed.config, renamed, previous)).toThrow(/pgha:clusterName: changing "pgsql" to "other" in place is refused/);
        const same = libraryArgs(classicValues());
        expect(guardedSpec(same.config, same, previous).clusterName).toBe("pgsql");
    });

    test("bad arguments are refused with every problem and its key path", () => {
        const bad = libraryArgs(
            classicWith((v) => {
                (v.nodes as Record<string, unknown>[])[2].address = "10.0.0.300";
                (v.haproxy as Record<string, unknown>).replicaPort = 5000;
            }),
        );
        expect(() => guardedSpec(bad.config, bad, {})).toThrow(/pgha:nodes\[2\]\.address: "10\.0\.0\.300" is not an IPv4 address[\s\S]*pgha:haproxy\.replicaPort/);
    });
});
