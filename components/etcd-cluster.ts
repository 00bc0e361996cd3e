// The DCS: one etcd member per `etcd` node, then a cluster-wide health check
// that every later step (Patroni) waits for.
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { renderEtcdFiles } from "../core/render/etcd";
import { ClusterSpec, nodesWithRole } from "../core/spec";
import { etcdClientUrls } from "../core/topology";
import { HostPrep } from "./host-prep";
import { placeFile, serviceUnit } from "./remote-file";
import { NodeConnection, remoteScript, shq } from "./ssh";

export interface EtcdClusterArgs {
    readonly spec: ClusterSpec;
    readonly conns: ReadonlyMap<string, NodeConnection>;
    readonly preps: ReadonlyMap<string, HostPrep>;
}

export class EtcdCluster extends pulumi.ComponentResource {
    /** Succeeds only once every member reports healthy. */
    public readonly healthy: command.remote.Command;
    public readonly endpoints: string[];

    constructor(name: string, args: EtcdClusterArgs, opts?: pulumi.ComponentResourceOptions) {
        super("pgha:etcd:EtcdCluster", name, {}, opts);
        const { spec } = args;
        const members = nodesWithRole(spec, "etcd");
        this.endpoints = etcdClientUrls(spec);
        const services = members.map((node) => {
            const conn = args.conns.get(node.name)!;
            const prep = args.preps.get(node.name)!;
            const files = renderEtcdFiles(spec, node).map((file) => placeFile(conn, { file }, { parent: this, dependsOn: [prep] }));
            const dataDir = shq(spec.etcd.dataDir);
            return serviceUnit(
                `${node.name}:etcd`,
                {
                    conn,
                    unit: "etcd",
                    files,
                    // A new member is ready only once a quorum of its peers runs: start without
                    // waiting here; the health check below waits for the whole cluster.
                    start: `systemctl daemon-reload\nsystemctl enable etcd >/dev/null 2>&1\nsystemctl restart --no-block etcd`,
                    apply: `systemctl daemon-reload\nsystemctl restart etcd`,
                    stop: [
                        `systemctl disable --now etcd >/dev/null 2>&1 || true`,
                        spec.destroy.deleteData ? `rm -rf -- ${dataDir}` : `echo "pgha: keeping etcd data in ${spec.etcd.dataDir}"`,
                    ].join("\n"),
                },
                { parent: this, dependsOn: [prep] },
            );
        });
        const first = members[0];
        const eps = this.endpoints.join(",");
        this.healthy = remoteScript(
            `${name}:etcd-health`,
            {
                conn: args.conns.get(first.name)!,
                what: `etcd health (${members.length} members)`,
                create: [
                    `eps=${shq(eps)}; want=${members.length}`,
                    `deadline=$((SECONDS + 150)); out=""`,
                    `while :; do`,
                    `  if out=$(ETCDCTL_API=3 etcdctl --endpoints="$eps" --command-timeout=3s endpoint health 2>&1); then`,
                    `    n=$(ETCDCTL_API=3 etcdctl --endpoints="$eps" --command-timeout=3s member list 2>&1 | grep -c started || true)`,
                    `    [ "$n" -eq "$want" ] && break`,
                    `    out="member list shows $n started members, expected $want"`,
                    `  fi`,
                    `  [ "$SECONDS" -lt "$deadline" ] || { echo "pgha: etcd not healthy after 150 s: $out" >&2; exit 1; }`,
                    `  sleep 2`,
                    `done`,
                    `echo "$out"`,
                ].join("\n"),
                timeoutSec: 200,
            },
            { parent: this, dependsOn: services },
        );
        this.registerOutputs({ endpoints: this.endpoints, healthy: this.healthy.stdout });
    }
}
