// pgha, the program: stack config → PostgresHaCluster (the library, components/) → stack outputs.
// The component validates, guards unsafe edits and renews certificates itself; the program
// only reads the `pgha:*` keys, refuses secrets stored in plain text, and generates the
// secrets the stack leaves unset.
import * as fs from "fs";
import * as os from "os";
import * as pulumi from "@pulumi/pulumi";
import * as runtimeConfig from "@pulumi/pulumi/runtime/config";
import { formatConfigErrors, parseClusterConfig, readRawConfig } from "./core/config";
import { SecretName } from "./core/spec";
import { vipByKeepalived } from "./core/topology";
import { ClusterConfigArgs, PostgresHaCluster } from "./components";

const all = pulumi.runtime.allConfig();
// isConfigSecret exists at run time but not in the SDK's type definitions.
const isConfigSecret = (runtimeConfig as { isConfigSecret?: (k: string) => boolean }).isConfigSecret;
// The stack file, when it is where Pulumi keeps it: a role password in plain text there is refused
// even while another role's secret password makes the whole pgha:roles key secret.
const stackFile = (() => {
    try {
        return fs.readFileSync(`Pulumi.${pulumi.getStack()}.yaml`, "utf8");
    } catch {
        return undefined;
    }
})();
const raw = readRawConfig(Object.keys(all), (key) => all[key], os.homedir(), isConfigSecret, stackFile);
const parsed = parseClusterConfig(raw);
// Every problem at once, before any resource exists: nothing on any server is touched.
if (!parsed.ok) throw new pulumi.RunError(formatConfigErrors(parsed.errors));
const spec = parsed.spec;
const config = new pulumi.Config("pgha");

/** A secret from the stack, or generated once (pgha:generateMissingSecrets) and kept in the state. */
function secret(name: SecretName): pulumi.Output<string> {
    // Pulumi.yaml declares secrets with default "": empty means "not set".
    if (!parsed.ok || !parsed.secretsToGenerate.includes(name)) return config.requireSecret(name);
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded only when a secret is generated
    const random = require("@pulumi/random") as typeof import("@pulumi/random");
    return new random.RandomPassword(`${name}`, { length: name === "keepalivedPassword" ? 8 : 32, special: false }).result;
}

const { generateMissingSecrets: _, ...clusterConfig } = raw.values;
const cluster = new PostgresHaCluster(spec.clusterName, {
    config: clusterConfig as unknown as ClusterConfigArgs,
    superuserPassword: secret("superuserPassword"),
    replicationPassword: secret("replicationPassword"),
    ...(vipByKeepalived(spec) ? { keepalivedPassword: secret("keepalivedPassword") } : {}),
    ...(all["pgha:restApiPassword"] ? { restApiPassword: config.requireSecret("restApiPassword") } : {}),
    ...(all["pgha:sshPrivateKey"] ? { sshPrivateKey: config.requireSecret("sshPrivateKey") } : {}),
    // Never generated (core/config-secrets.ts); only as secret stdin to the repository hosts.
    ...(spec.backup && all["pgha:backupCipherPassphrase"] ? { backupCipherPassphrase: config.requireSecret("backupCipherPassphrase") } : {}),
    // pgha:roles[i].password, split off the roles (core/config-raw.ts): by role name, each a secret.
    ...(raw.rolePasswords !== undefined ? { rolePasswords: rolePasswordsByName(raw) } : {}),
    // pgha:pgbouncer: the lookup role's password, generated when missing like the other passwords.
    ...(spec.pgbouncer ? { pgbouncerAuthPassword: secret("pgbouncerAuthPassword") } : {}),
    // pgha:monitoring: postgres_exporter's role password, generated when missing like the other passwords.
    ...(spec.monitoring ? { monitoringPassword: secret("monitoringPassword") } : {}),
});

function rolePasswordsByName(r: typeof raw): Record<string, pulumi.Output<string>> {
    const roles = r.values.roles as { name: string }[];
    return Object.fromEntries(Object.entries(r.rolePasswords ?? {}).map(([i, v]) => [roles[Number(i)].name, pulumi.secret(String(v))]));
}

export const primaryEndpoint = cluster.primaryEndpoint;
export const replicaEndpoint = cluster.replicaEndpoint;
// Synchronous standbys only (with pgha:patroni.synchronousMode), asynchronous replicas only; every
// service by name with whether PgBouncer pools it; each PostgreSQL member's PgBouncer.
export const syncReplicaEndpoint = cluster.syncReplicaEndpoint;
export const asyncReplicaEndpoint = cluster.asyncReplicaEndpoint;
export const endpoints = cluster.endpoints;
export const pgbouncerEndpoints = cluster.pgbouncerEndpoints;
export const haproxyStatsUrl = cluster.haproxyStatsUrl;
export const patroniApiUrls = cluster.patroniApiUrls;
export const etcdEndpoints = cluster.etcdEndpoints;
export const connectionString = cluster.connectionString;
export const verification = cluster.verification;
export const caCertificate = cluster.caCertificate;
// Read back by the next run (the component's guards): keep these names.
export const certificates = cluster.certificates;
export const clusterShape = cluster.clusterShape;
// pgha:backup: stanza, repository (host:path) and schedule; absent without backups.
export const backup = cluster.backup;
// What `npm run drift` compares with the nodes: every placed file and managed unit, by node
// (components/managed-manifest.ts); the secret files' hashes in a secret output of their own.
export const managedFiles = cluster.managedFiles;
export const managedFileSecrets = cluster.managedFileSecrets;
export const managedUnits = cluster.managedUnits;
// pgha:monitoring: Prometheus' web UI and API (https, the cluster CA); absent without monitoring.
export const prometheusEndpoint = cluster.prometheusEndpoint;
