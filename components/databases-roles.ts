// pgha:databases and pgha:roles: created and kept up to date on the leader, never dropped
// (server/pg-databases-roles.py). Every postgres node runs the step: the leader acts, a
// replica waits until the leader's work has replicated to it. The declared state and the
// role passwords travel together as the step's secret stdin, so the step runs again exactly
// when either changes (a changed stdin is an update) and no password is in a command text.
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { POSTGRES_SOCKET_DIR } from "../core/render/patroni";
import { declaredState } from "../core/render/databases-roles";
import { ClusterSpec, RolePasswords, nodesWithRole } from "../core/spec";
import { DATABASES_ROLES } from "./pgha-tools";
import { NodeConnection, remoteScript, shq } from "./ssh";

export interface DatabasesRolesArgs {
    readonly spec: ClusterSpec;
    readonly conns: ReadonlyMap<string, NodeConnection>;
    /** By role name (secret). */
    readonly rolePasswords: pulumi.Output<RolePasswords>;
    /** What each node's step waits for: the cluster running, its dynamic configuration, a restore. */
    readonly after: (node: string) => pulumi.Resource[];
}

export class DatabasesRoles extends pulumi.ComponentResource {
    /** Every node's step: the verification waits for them. */
    public readonly steps: command.remote.Command[];

    constructor(name: string, args: DatabasesRolesArgs, opts?: pulumi.ComponentResourceOptions) {
        super("pgha:patroni:DatabasesRoles", name, {}, opts);
        const { spec } = args;
        const stdin = pulumi.secret(args.rolePasswords.apply((pw) => JSON.stringify(declaredState(spec, pw))));
        this.steps = nodesWithRole(spec, "postgres").map((node) =>
            remoteScript(
                `${node.name}:databases-roles`,
                {
                    conn: args.conns.get(node.name)!,
                    what: `databases and roles on ${node.name}`,
                    create: `cd / && runuser -u postgres -- python3 ${DATABASES_ROLES.path} ${shq(POSTGRES_SOCKET_DIR)} ${spec.postgres.port}`,
                    stdin,
                    timeoutSec: 300,
                },
                { parent: this, dependsOn: args.after(node.name) },
            ),
        );
        this.registerOutputs({});
    }
}
