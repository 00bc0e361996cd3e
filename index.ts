// pgha: stack config → validated ClusterSpec → PostgresHaCluster → stack outputs.
import * as fs from "fs";
import * as os from "os";
import * as pulumi from "@pulumi/pulumi";
import { formatConfigErrors, parseClusterConfig, readRawConfig } from "./core/config";
import { SECRET_NAMES, SecretName, Secrets } from "./core/spec";
import { ClusterShape, clusterShape, unsafeTransitions } from "./core/transitions";
import { PostgresHaCluster } from "./components/postgres-ha-cluster";

const all = pulumi.runtime.allConfig();
// isConfigSecret exists at run time but not in the SDK's type definitions.
const isConfigSecret = (require("@pulumi/pulumi/runtime/config") as { isConfigSecret?: (k: string) => boolean }).isConfigSecret;
const raw = readRawConfig(Object.keys(all), (key) => all[key], os.homedir(), isConfigSecret);
const parsed = parseClusterConfig(raw);
// Every problem at once, before any resource exists: nothing on any server is touched.
if (!parsed.ok) throw new pulumi.RunError(formatConfigErrors(parsed.errors));
const spec = parsed.spec;
const toGenerate = parsed.secretsToGenerate;

const config = new pulumi.Config("pgha");

function secretValue(name: SecretName): pulumi.Output<string> {
    // Pulumi.yaml declares secrets with default "": empty means "not set".
    if (!toGenerate.includes(name)) return config.requireSecret(name);
    // Only reached when pgha:generateMissingSecrets allows it (validated above).
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const random = require("@pulumi/random") as typeof import("@pulumi/random");
    return new random.RandomPassword(`${name}`, { length: name === "keepalivedPassword" ? 8 : 32, special: false }).result;
}
const secrets: pulumi.Output<Secrets> = pulumi.secret(
    pulumi.all(SECRET_NAMES.map((n) => (n === "keepalivedPassword" && !spec.vip ? pulumi.output("") : secretValue(n)))).apply(
        (values) => Object.fromEntries(SECRET_NAMES.map((n, i) => [n, values[i]])) as unknown as Secrets,
    ),
);

function sshPrivateKey(): pulumi.Output<string> {
    if (all["pgha:sshPrivateKey"]) return config.requireSecret("sshPrivateKey");
    const path = spec.ssh.privateKeyPath!;
    try {
        return pulumi.secret(fs.readFileSync(path, "utf8"));
    } catch (e) {
        throw new pulumi.RunError(`pgha:ssh.privateKeyPath: cannot read ${path}: ${(e as Error).message}`);
    }
}

/** This stack's last deployed shape, from its own outputs (undefined before the first deployment). */
async function previousShape(): Promise<ClusterShape | undefined> {
    const self = new pulumi.StackReference(`${pulumi.getOrganization()}/${pulumi.getProject()}/${pulumi.getStack()}`);
    const details = await self.getOutputDetails("clusterShape");
    return (details?.value ?? undefined) as ClusterShape | undefined;
}

async function main() {
    // Edits that cannot be applied in place are refused before any server is touched.
    const unsafe = unsafeTransitions(await previousShape(), spec);
    if (unsafe.length > 0) throw new pulumi.RunError(formatConfigErrors(unsafe));

    const cluster = new PostgresHaCluster(spec.clusterName, { spec, secrets, sshPrivateKey: sshPrivateKey() });
    return {
        primaryEndpoint: cluster.primaryEndpoint,
        replicaEndpoint: cluster.replicaEndpoint,
        haproxyStatsUrl: cluster.haproxyStatsUrl,
        patroniApiUrls: cluster.patroniApiUrls,
        etcdEndpoints: cluster.etcdEndpoints,
        connectionString: cluster.connectionString,
        verification: cluster.verification,
        clusterShape: clusterShape(spec),
    };
}

export = main();
