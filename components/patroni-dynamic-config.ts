// Patroni's dynamic settings (timings, synchronous mode, PostgreSQL parameters)
// live in the DCS: applied once for the cluster through the REST API of one
// member. The restarts PostgreSQL then asks for (pending_restart) are one
// cluster-level step, PatroniPendingRestart, once every member's config is placed.
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { patroniDynamicConfigWithBackup } from "../core/render/pgbackrest";
import { restartRelevantSettings, sortKeys } from "../core/render/patroni-restart";
import { DEFAULT_STALL_TIMEOUT_SEC } from "../core/config-schema";
import { ClusterSpec, PROGRESS_OUTER_SEC } from "../core/spec";
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
export function dynamicConfigScript(spec: ClusterSpec, conn: NodeConnection, phase: "create" | "update" = "create"): string {
    return [
        `# Patroni members: ${postgresMembers(spec)
            .map((n) => n.name)
            .join(", ")} (a leader not listed hands over first)`,
        `# Patroni dynamic configuration of ${spec.clusterName}: the desired JSON arrives on stdin`,
        // Created with the cluster, the leader runs alone: it restarts at once if it must. Later,
        // other members' config.yml may still change in the same run: ${spec.clusterName}:restart-pending
        // restarts once every member's config is placed (a restart here could come twice).
        phase === "create"
            ? `python3 ${DCS_APPLY.path}${dynamicConfigStall(spec)} ${shq(patroniApiUrl(spec, conn.node))}`
            : `python3 ${DCS_APPLY.path} --no-restart${dynamicConfigStall(spec)} ${shq(patroniApiUrl(spec, conn.node))}`,
    ].join("\n");
}

/**
 * The dynamic config's waits (the first apply's restart of the leader, a leaving leader's switchover) are
 * bounded by progress like the restart step's; the program's own default is pgha:progress.stallTimeout's,
 * so the command names the bound only when the stack sets another: a stack on the default keeps its
 * command text, and this step stays out of its diff.
 */
const dynamicConfigStall = (spec: ClusterSpec): string => (spec.progress.stallTimeout === DEFAULT_STALL_TIMEOUT_SEC ? "" : ` --stall ${spec.progress.stallTimeout}`);

/**
 * <cluster>:restart-pending's command: restarts the members PostgreSQL marks pending_restart (server/patroni-dcs-apply.py).
 * Each restart, the switchover and the old leader's return wait as long as the member moves: --stall is
 * pgha:progress.stallTimeout (so a change of that key, and only of it among the keys that are not
 * restart-relevant, updates this step: it then restarts only what is still pending, normally nothing).
 */
export function pendingRestartScript(spec: ClusterSpec, conn: NodeConnection, phase: "create" | "update"): string {
    return [
        `# PostgreSQL restarts of ${spec.clusterName} (pending_restart): replicas one at a time, then at most one switchover`,
        `# (or the leader in place when no replica can take over). The restart-relevant settings arrive on stdin.`,
        // An update follows a reloaded config.yml or a PATCH: Patroni applies either on its next cycle.
        `python3 ${DCS_APPLY.path} --restart-pending${phase === "update" ? " --settle" : ""} --stall ${spec.progress.stallTimeout} ${shq(patroniApiUrl(spec, conn.node))}`,
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
                create: dynamicConfigScript(args.spec, args.conn, "create"),
                update: dynamicConfigScript(args.spec, args.conn, "update"),
                stdin: desiredDynamicConfig(args.spec),
                timeoutSec: 1500,
            },
            { parent: this, dependsOn: args.after },
        );
        this.registerOutputs({ applied: this.applied.stdout });
    }
}

export interface PatroniPendingRestartArgs {
    readonly spec: ClusterSpec;
    /** The member whose REST API the step uses (the dynamic config's). */
    readonly conn: NodeConnection;
    /** Every member's Patroni service (its config.yml placed and reloaded), the dynamic config, and what a restart must follow. */
    readonly after: pulumi.Resource[];
}

/**
 * One step for the cluster, once every member's config is placed: restarts the members PostgreSQL
 * marks pending_restart, replicas first, then at most one switchover (server/patroni-dcs-apply.py
 * --restart-pending). So an edit that changes several members' settings (a new VIP mode, a port,
 * a parameter) pauses writes at most once. Its input is restartRelevantSettings: it re-runs only
 * when one of those changes, and a run that finds nothing pending restarts nothing.
 */
export class PatroniPendingRestart extends pulumi.ComponentResource {
    public readonly restarted: command.remote.Command;

    constructor(name: string, args: PatroniPendingRestartArgs, opts?: pulumi.ComponentResourceOptions) {
        super("pgha:patroni:PatroniPendingRestart", name, {}, opts);
        this.restarted = remoteScript(
            `${args.spec.clusterName}:restart-pending`,
            {
                conn: args.conn,
                what: `PostgreSQL restarts of ${args.spec.clusterName}`,
                create: pendingRestartScript(args.spec, args.conn, "create"),
                update: pendingRestartScript(args.spec, args.conn, "update"),
                stdin: restartRelevantSettings(args.spec),
                // Its waits are bounded by progress (pgha:progress.stallTimeout): this only backs them up.
                timeoutSec: PROGRESS_OUTER_SEC,
            },
            { parent: this, dependsOn: args.after },
        );
        this.registerOutputs({ restarted: this.restarted.stdout });
    }
}
