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

    constructor(name: string, args: PostgresRolesArgs, opts?: pulumi.ComponentResourceOptions) {
        super("pgha:patroni:PostgresRoles", name, {}, opts);
        const { spec } = args;
        const stdin = pulumi.secret(args.secrets.apply((s) => JSON.stringify({ superuser: s.superuserPassword, replication: s.replicationPassword })));
        this.steps = nodesWithRole(spec, "postgres").map((node) =>
            remoteScript(
                `${node.name}:role-passwords`,
                {
                    conn: args.conns.get(node.name)!,
                    what: `role passwords on ${node.name}`,
                    create: `cd / && runuser -u postgres -- python3 ${SET_PASSWORDS.path} ${shq(POSTGRES_SOCKET_DIR)} ${spec.postgres.port}`,
                    stdin,
                    timeoutSec: 60,
                },
                { parent: this, dependsOn: [args.preps.get(node.name)!] },
            ),
        );
        this.registerOutputs({});
    }
}
