// The last step of every `pulumi up` that changed something: the run ends only
// when etcd is healthy, there is exactly one leader, every replica streams,
// every HAProxy routes the primary port to exactly one server and the front
// door (VIP, else the first balancer) answers as a primary. The checks are
// server/pgha-verify.py, installed on the postgres nodes by HostPrep.
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { ClusterSpec, nodesWithRole } from "../core/spec";
import { CA_CERT_PATH, POSTGRES_TLS } from "../core/pki";
import { etcdClientUrls, frontHost, haproxyServices, primaryEndpoint } from "../core/topology";
import { PGBOUNCER_AUTH_USER } from "../core/render/pgbouncer";
import { VERIFY } from "./pgha-tools";
import { NodeConnection, remoteScript, sha256, shq } from "./ssh";

export interface ClusterVerificationArgs {
    readonly spec: ClusterSpec;
    /** Where the checks run: a postgres node (it has patronictl, psql, etcdctl and python3). */
    readonly conn: NodeConnection;
    readonly superuserPassword: pulumi.Output<string>;
    /** With the primary service pooled: PgBouncer's lookup role's password, the front is checked as that role. */
    readonly frontPassword?: pulumi.Output<string>;
    /** What must be in place first: the cluster's services, and the node's HostPrep (it installs pgha-verify.py). */
    readonly after: pulumi.Resource[];
}

/**
 * The command text: pgha-verify.py (server/pgha-verify.py) does the checks, within
 * `timeoutSec`; the superuser password reaches it on stdin, never in this text.
 */
export function verificationScript(spec: ClusterSpec, timeoutSec: number): string {
    const front = primaryEndpoint(spec);
    const statsUrls = nodesWithRole(spec, "haproxy").map((b) => `http://${b.address}:${spec.haproxy.statsPort}/;csv`);
    const args = [
        `--timeout ${timeoutSec}`,
        // etcd requires a client certificate: this postgres node's own (Patroni's etcd client uses it too).
        `--cacert ${CA_CERT_PATH} --cert ${POSTGRES_TLS.cert} --key ${POSTGRES_TLS.key}`,
        `--etcd ${shq(etcdClientUrls(spec).join(","))}`,
        `--members ${shq(
            nodesWithRole(spec, "postgres")
                .map((n) => n.name)
                .join(","),
        )}`,
        `--pg-port ${spec.postgres.port}`,
        `--front ${shq(`${front.host}:${front.port}`)}`,
        // PgBouncer refuses the superuser: a pooled primary is checked as the lookup role, end to end.
        ...(haproxyServices(spec).some((s) => s.name === "primary" && s.pooled) && frontHost(spec) !== undefined ? [`--front-user ${PGBOUNCER_AUTH_USER}`] : []),
        ...statsUrls.map((u) => `--stats ${shq(u)}`),
    ];
    return [`python3 ${VERIFY.path} \\`, ...args.map((a, i) => `  ${a}${i < args.length - 1 ? " \\" : ""}`)].join("\n");
}

export class ClusterVerification extends pulumi.ComponentResource {
    public readonly check: command.remote.Command;

    constructor(name: string, args: ClusterVerificationArgs, opts?: pulumi.ComponentResourceOptions) {
        super("pgha:cluster:ClusterVerification", name, {}, opts);
        const script = verificationScript(args.spec, 180);
        // The spec fingerprint makes the check re-run whenever the desired cluster changes.
        const fingerprint = sha256(JSON.stringify(args.spec)).slice(0, 16);
        this.check = remoteScript(
            `${name}:verify`,
            {
                conn: args.conn,
                what: `verify cluster ${args.spec.clusterName} (spec ${fingerprint})`,
                create: script,
                stdin: pulumi.secret(
                    args.frontPassword === undefined ? args.superuserPassword.apply((p) => `${p}\n`) : pulumi.all([args.superuserPassword, args.frontPassword]).apply(([p, f]) => `${p}\n${f}\n`),
                ),
                timeoutSec: 240,
            },
            { parent: this, dependsOn: args.after },
        );
        this.registerOutputs({ report: this.check.stdout });
    }
}
