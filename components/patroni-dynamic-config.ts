// Patroni's dynamic settings (timings, synchronous mode, PostgreSQL parameters)
// live in the DCS: applied once for the cluster through the REST API of one
// member, with a rolling restart only when PostgreSQL says it needs one.
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { patroniDynamicConfigWithBackup } from "../core/render/pgbackrest";
import { ClusterSpec } from "../core/spec";
import { patroniApiUrl, postgresMembers } from "../core/topology";
import { DCS_APPLY } from "./pgha-tools";
import { NodeConnection, remoteScript, shq } from "./ssh";

export interface PatroniDynamicConfigArgs {
    readonly spec: ClusterSpec;
    /** A postgres member whose REST API takes the PATCH (its own address is on the allowlist). */
    readonly conn: NodeConnection;
    readonly after: pulumi.Resource[];
}

/**
 * The command text names no setting: it is visible in `ps` and logged by sudo, and a
 * parameter may hold anything. The settings travel on stdin, as JSON, which
 * `pulumi preview --diff` shows decoded, one changed setting per line.
 */
export function dynamicConfigScript(spec: ClusterSpec, conn: NodeConnection): string {
    return [
        `# Patroni members: ${postgresMembers(spec)
            .map((n) => n.name)
            .join(", ")} (a leader not listed hands over first)`,
        `# Patroni dynamic configuration of ${spec.clusterName}: the desired JSON arrives on stdin`,
        `python3 ${DCS_APPLY.path} ${shq(patroniApiUrl(spec, conn.node))}`,
    ].join("\n");
}

/**
 * What the applier reads on stdin: the desired dynamic config (keys sorted, so equal settings
 * give equal text) and the members the stack lists. With pgha:backup it carries the archive
 * settings (archive_mode needs a restart: the pending_restart flow does it); without it,
 * exactly patroniDynamicConfig.
 */
export function desiredDynamicConfig(spec: ClusterSpec): string {
    return JSON.stringify({ config: sortKeys(patroniDynamicConfigWithBackup(spec)), members: postgresMembers(spec).map((n) => n.name) });
}

export class PatroniDynamicConfig extends pulumi.ComponentResource {
    public readonly applied: command.remote.Command;

    constructor(name: string, args: PatroniDynamicConfigArgs, opts?: pulumi.ComponentResourceOptions) {
        super("pgha:patroni:PatroniDynamicConfig", name, {}, opts);
        this.applied = remoteScript(
            `${args.spec.clusterName}:dynamic-config`,
            {
                conn: args.conn,
                what: `Patroni dynamic config of ${args.spec.clusterName}`,
                create: dynamicConfigScript(args.spec, args.conn),
                stdin: desiredDynamicConfig(args.spec),
                timeoutSec: 1500,
            },
            { parent: this, dependsOn: args.after },
        );
        this.registerOutputs({ applied: this.applied.stdout });
    }
}

function sortKeys(v: unknown): unknown {
    if (Array.isArray(v)) return v.map(sortKeys);
    if (v && typeof v === "object")
        return Object.fromEntries(
            Object.keys(v)
                .sort()
                .map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]),
        );
    return v;
}
