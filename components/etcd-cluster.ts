// The DCS: one etcd member per `etcd` node, then a cluster-wide membership step
// that every later step (Patroni) waits for.
//
// Membership changes at runtime, one member at a time (etcd-member.py does the work
// on the servers, reading everything about a member from its own config file):
// - a member without data joins a running cluster (`member add`, then it starts with
//   initial-cluster-state existing and waits until healthy); with no running cluster
//   (first bootstrap) the members start in parallel without waiting;
// - each member's service depends on the previous member's by name order, so members
//   joining in one `pulumi up` join one after the other (at bootstrap the starts do not
//   wait, so the chain costs nothing), and restarts roll one member at a time;
// - a member's restart trigger is its restart-relevant settings only: a new
//   initial-cluster rewrites every member's file but restarts none;
// - the membership step removes (`member remove`) the members the stack no longer
//   lists, one at a time while the rest keep a healthy quorum, then checks health;
//   Pulumi deletes the removed member's own resources at the end of the run: its
//   etcd stops and its data dir is moved aside (kept as it is on `pulumi destroy`).
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { ETCD_CONFIG_PATH, etcdConfigObject, etcdRestartFingerprint, renderEtcdConfig, renderEtcdDropIn } from "../core/render/etcd";
import { whenDeletingData } from "../core/render/data-policy";
import { ClusterSpec, nodesWithRole } from "../core/spec";
import { etcdClientUrls, etcdMembers } from "../core/topology";
import { NodeTlsFiles } from "./cluster-pki";
import { HostPrep } from "./host-prep";
import { ETCD_MEMBER } from "./pgha-tools";
import { placeFile, serviceDigest, serviceUnit } from "./remote-file";
import { NodeConnection, remoteScript, shq } from "./ssh";

export interface EtcdClusterArgs {
    readonly spec: ClusterSpec;
    readonly conns: ReadonlyMap<string, NodeConnection>;
    readonly preps: ReadonlyMap<string, HostPrep>;
    /** Per node: the CA and the etcd-owned certificate and key. */
    readonly tls: ReadonlyMap<string, NodeTlsFiles>;
    /** Per node: the delete-data marker, when deleteData is on (the service is removed before it). */
    readonly dataPolicy?: ReadonlyMap<string, pulumi.Resource[]>;
}

/** How long etcd-member.py waits for each thing (a join, quorum, a safe removal, health). */
export const ETCD_WAIT_SEC = 150;

/** The membership step's command text: it lists the members, so it re-runs exactly when they change. */
export function etcdMembershipScript(spec: ClusterSpec): string {
    const lines = etcdMembers(spec).map((m) => `  --member ${shq(m.name)} ${shq(m.peerUrl)} ${shq(m.clientUrl)}`);
    return [`python3 ${ETCD_MEMBER.path} membership --config ${ETCD_CONFIG_PATH} --wait ${ETCD_WAIT_SEC} \\`, ...lines.map((l, i) => (i < lines.length - 1 ? `${l} \\` : l))].join("\n");
}

export class EtcdCluster extends pulumi.ComponentResource {
    /** Succeeds only once exactly the stack's members are listed, started and healthy. */
    public readonly healthy: command.remote.Command;
    public readonly endpoints: string[];

    constructor(name: string, args: EtcdClusterArgs, opts?: pulumi.ComponentResourceOptions) {
        super("pgha:etcd:EtcdCluster", name, {}, opts);
        const { spec } = args;
        const members = nodesWithRole(spec, "etcd");
        this.endpoints = etcdClientUrls(spec);
        const services: command.remote.Command[] = [];
        for (const node of members) {
            const conn = args.conns.get(node.name)!;
            const prep = args.preps.get(node.name)!;
            const fileOpts = { parent: this, dependsOn: [prep] };
            const tls = args.tls.get(node.name)!;
            const files = [
                // A joining member's initial-cluster is written into it by etcd-member.py: drift compares only its mode and owner.
                placeFile(conn, { file: renderEtcdConfig(spec, node), restartKey: etcdRestartFingerprint(etcdConfigObject(spec, node)), contentRewritten: true }, fileOpts),
                placeFile(conn, { file: renderEtcdDropIn(spec) }, fileOpts),
                // A new CA re-runs the start step (secret digest); etcd-member.py restarts when the CA file changed.
                tls.ca,
                ...(tls.etcd ?? []),
            ];
            // The same digest as in the command's header: etcd-member.py restarts a running
            // member only when it differs from the one the member was started with.
            const start = `python3 ${ETCD_MEMBER.path} start --config ${ETCD_CONFIG_PATH} --fingerprint ${serviceDigest(files)} --wait ${ETCD_WAIT_SEC}`;
            const previous = services[services.length - 1];
            const stop = `python3 ${ETCD_MEMBER.path} stop --config ${ETCD_CONFIG_PATH}`;
            services.push(
                serviceUnit(
                    `${node.name}:etcd`,
                    {
                        conn,
                        unit: "etcd",
                        files,
                        start,
                        apply: start,
                        stop: whenDeletingData(`${stop} --delete-data`, stop),
                        timeoutSec: 3 * ETCD_WAIT_SEC + 60,
                    },
                    // One member at a time: a joiner needs the quorum that includes the previous joiner.
                    { parent: this, dependsOn: [prep, ...(previous ? [previous] : []), ...(args.dataPolicy?.get(node.name) ?? [])] },
                ),
            );
        }
        this.healthy = remoteScript(
            `${name}:etcd-health`,
            {
                conn: args.conns.get(members[0].name)!,
                what: `etcd membership and health (${members.length} members)`,
                create: etcdMembershipScript(spec),
                // Quorum, then per removed member a safe moment, the removal and quorum again, then health.
                timeoutSec: 6 * ETCD_WAIT_SEC + 60,
            },
            { parent: this, dependsOn: services },
        );
        this.registerOutputs({ endpoints: this.endpoints, healthy: this.healthy.stdout });
    }
}
