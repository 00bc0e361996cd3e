// pgha: stack config → validated ClusterSpec → PostgresHaCluster → stack outputs.
import * as fs from "fs";
import * as os from "os";
import * as pulumi from "@pulumi/pulumi";
import { formatConfigErrors, parseClusterConfig, readRawConfig } from "./core/config";
import { deriveRestApiPassword } from "./core/config-secrets";
import { certificateGenerations as certificateGenerationsFor } from "./core/pki";
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
// Legal but risky settings (e.g. unverified host keys, wide client CIDRs): shown by preview and up.
for (const w of parsed.warnings) pulumi.log.warn(w);
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
/** pgha:restApiPassword when set, else derived from the superuser password (inside apply: stays secret). */
function restApiPassword(superuser: pulumi.Output<string>): pulumi.Output<string> {
    if (all["pgha:restApiPassword"]) return config.requireSecret("restApiPassword");
    return pulumi.secret(superuser.apply(deriveRestApiPassword));
}
const values = new Map<SecretName, pulumi.Output<string>>();
for (const n of SECRET_NAMES) {
    if (n === "restApiPassword") continue;
    values.set(n, n === "keepalivedPassword" && !spec.vip ? pulumi.output("") : secretValue(n));
}
values.set("restApiPassword", restApiPassword(values.get("superuserPassword")!));
const secrets: pulumi.Output<Secrets> = pulumi.secret(
    pulumi.all(SECRET_NAMES.map((n) => values.get(n)!)).apply((vs) => Object.fromEntries(SECRET_NAMES.map((n, i) => [n, vs[i]])) as unknown as Secrets),
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

/** This stack's last deployed outputs (undefined before the first deployment). */
async function previousOutputs(): Promise<{ shape?: ClusterShape; certificates?: unknown }> {
    const self = new pulumi.StackReference(`${pulumi.getOrganization()}/${pulumi.getProject()}/${pulumi.getStack()}`);
    const shape = await self.getOutputDetails("clusterShape");
    const certificates = await self.getOutputDetails("certificates");
    return { shape: (shape?.value ?? undefined) as ClusterShape | undefined, certificates: certificates?.value };
}

async function main() {
    const previous = await previousOutputs();
    // Edits that cannot be applied in place are refused before any server is touched.
    const unsafe = unsafeTransitions(previous.shape, spec);
    if (unsafe.length > 0) throw new pulumi.RunError(formatConfigErrors(unsafe));

    // Certificates near their end (by the last deployment's record) get a new generation: reissued.
    const certificateGenerations = certificateGenerationsFor(spec, previous.certificates, new Date());
    const cluster = new PostgresHaCluster(spec.clusterName, { spec, secrets, sshPrivateKey: sshPrivateKey(), certificateGenerations });
    return {
        primaryEndpoint: cluster.primaryEndpoint,
        replicaEndpoint: cluster.replicaEndpoint,
        haproxyStatsUrl: cluster.haproxyStatsUrl,
        patroniApiUrls: cluster.patroniApiUrls,
        etcdEndpoints: cluster.etcdEndpoints,
        connectionString: cluster.connectionString,
        verification: cluster.verification,
        caCertificate: cluster.caCertificate,
        certificates: cluster.certificates,
        clusterShape: clusterShape(spec),
    };
}

export = main();
