// The in-place restore (pgha:restore): a chain of remote steps (core/render/restore.ts,
// server/pgha-restore.py) that runs once per restore id, after the rest of the tree and
// before the verification. A new id changes every step's command, so the next `up` runs
// them all again; the same id changes nothing. Each step also leaves a marker on its host,
// so a step is never applied twice for one id, even when the key is removed and re-added.
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { flushCommand, backupCommand, leaderCommand, precheckCommand, replicaCommand, restoreRepositoryHost, restoredMember, stopCommand, restoreStallSec } from "../core/render/restore";
import { ClusterSpec, PROGRESS_OUTER_SEC, Secrets } from "../core/spec";
import { postgresMembers } from "../core/topology";
import { desiredDynamicConfig } from "./patroni-dynamic-config";
import { NodeConnection, remoteScript } from "./ssh";

export interface InPlaceRestoreArgs {
    readonly spec: ClusterSpec;
    readonly conns: ReadonlyMap<string, NodeConnection>;
    readonly secrets: pulumi.Output<Secrets>;
    /** Everything else of the update: the restore starts when the cluster is as the stack says. */
    readonly after: pulumi.Resource[];
}

// Fixed ceilings only where work does not grow with the data; the others fail on no progress
// (pgha:progress.stallTimeout), and this outer bound only backs that up.
const STOP_SEC = 300;
const GROWING_SEC = PROGRESS_OUTER_SEC;

export class InPlaceRestore extends pulumi.ComponentResource {
    /** The last steps: the verification waits for them. */
    public readonly done: command.remote.Command[];

    constructor(name: string, args: InPlaceRestoreArgs, opts?: pulumi.ComponentResourceOptions) {
        super("pgha:backup:InPlaceRestore", name, {}, opts);
        const { spec, conns } = args;
        const id = spec.restore!.id;
        const repo = restoreRepositoryHost(spec);
        const leader = restoredMember(spec);
        const others = postgresMembers(spec).filter((n) => n.name !== leader.name);
        const run = (node: string, stepName: string, create: string, timeoutSec: number, dependsOn: pulumi.Resource[], stdin?: pulumi.Input<string>) =>
            remoteScript(
                `${node}:restore-${stepName}`,
                { conn: conns.get(node)!, what: `restore ${id}: ${stepName} on ${node}`, create, timeoutSec, ...(stdin !== undefined ? { stdin } : {}) },
                { parent: this, dependsOn },
            );
        const flushes = postgresMembers(spec).map((n) => run(n.name, "flush", flushCommand(spec), STOP_SEC, args.after));
        const precheck = run(repo.name, "precheck", precheckCommand(spec), STOP_SEC, flushes);
        const stops = others.map((n) => run(n.name, "stop", stopCommand(spec), STOP_SEC, [precheck]));
        const leaderStop = run(leader.name, "stop", stopCommand(spec), STOP_SEC, [precheck, ...stops]);
        const stdin = pulumi.secret(args.secrets.apply((s) => JSON.stringify({ superuser: s.superuserPassword, replication: s.replicationPassword, dynamic: desiredDynamicConfig(spec) })));
        const restored = run(leader.name, "leader", leaderCommand(spec), GROWING_SEC, [leaderStop, ...stops], stdin);
        const backups = [...new Set(spec.backup!.repositories.map((r) => r.host))].map((host) =>
            run(
                host,
                "backup",
                backupCommand(
                    spec,
                    spec.nodes.find((n) => n.name === host)!,
                ),
                GROWING_SEC,
                [restored],
            ),
        );
        const replicas = others.map((n) => run(n.name, "replica", replicaCommand(spec, n), GROWING_SEC, [...backups]));
        this.done = [restored, ...backups, ...replicas];
        this.registerOutputs({ stall: restoreStallSec(spec) });
    }
}
