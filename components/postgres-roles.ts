// Password rotation without downtime: a changed superuser or replication
// password is first set in PostgreSQL by the leader (every postgres node runs
// the step; only the leader acts), and only then are the Patroni configs that
// carry it rewritten and reloaded. Streaming connections stay up. The passwords
// travel on stdin; the script sends PostgreSQL only their SCRAM-SHA-256 verifiers.
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { POSTGRES_SOCKET_DIR } from "../core/render/patroni";
import { ClusterSpec, Secrets, nodesWithRole } from "../core/spec";
import { HostPrep } from "./host-prep";
import { SET_PASSWORDS } from "./pgha-tools";
import { NodeConnection, remoteScript, shq } from "./ssh";

export interface PostgresRolesArgs {
    readonly spec: ClusterSpec;
    readonly conns: ReadonlyMap<string, NodeConnection>;
    readonly preps: ReadonlyMap<string, HostPrep>;
    readonly secrets: pulumi.Output<Secrets>;
}

export class PostgresRoles extends pulumi.ComponentResource {
    /** Every node's step: Patroni config files wait for all of them. */
    public readonly steps: command.remote.Command[];
    private readonly args: PostgresRolesArgs;
    private readonly stdin: pulumi.Output<string>;

    constructor(name: string, args: PostgresRolesArgs, opts?: pulumi.ComponentResourceOptions) {
        super("pgha:patroni:PostgresRoles", name, {}, opts);
        const { spec } = args;
        this.args = args;
        this.stdin = pulumi.secret(args.secrets.apply((s) => JSON.stringify({ superuser: s.superuserPassword, replication: s.replicationPassword })));
        this.steps = nodesWithRole(spec, "postgres").map((node) => this.step(`${node.name}:role-passwords`, node.name, [args.preps.get(node.name)!]));
        this.registerOutputs({});
    }

    /**
     * The same step once more on `node` after `restored` (a cluster bootstrapped from another
     * cluster's backup, pgha:backup.restoreFrom): the roles then hold the source's passwords,
     * and the replicas authenticate with this stack's.
     */
    afterRestore(node: string, restored: pulumi.Resource): command.remote.Command {
        return this.step(`${node}:restored-role-passwords`, node, [restored]);
    }

    private step(name: string, node: string, dependsOn: pulumi.Resource[]): command.remote.Command {
        const { spec } = this.args;
        return remoteScript(
            name,
            {
                conn: this.args.conns.get(node)!,
                what: `role passwords on ${node}`,
                create: `cd / && runuser -u postgres -- python3 ${SET_PASSWORDS.path} ${shq(POSTGRES_SOCKET_DIR)} ${spec.postgres.port}`,
                stdin: this.stdin,
                timeoutSec: 60,
            },
            { parent: this, dependsOn },
        );
    }
}
