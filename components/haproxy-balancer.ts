// HAProxy on one balancer node: the primary, replica (and synchronous / asynchronous replica)
// ports, health from Patroni's REST API. Config changes reload (no dropped sessions), a new
// open-files limit (pgha:haproxy.maxConn, a systemd drop-in) included: it is raised in place.
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { haproxyNofile, renderHaproxyConfig, renderHaproxyDropIn } from "../core/render/haproxy";
import { ClusterSpec } from "../core/spec";
import { NodeTlsFiles } from "./cluster-pki";
import { HostPrep } from "./host-prep";
import { nofileCheck, placeFile, raiseNofile, serviceUnit } from "./remote-file";
import { NodeConnection } from "./ssh";

export interface HaproxyBalancerArgs {
    readonly spec: ClusterSpec;
    readonly conn: NodeConnection;
    readonly prep: HostPrep;
    readonly after: pulumi.Resource[];
    /** The CA its health checks verify the members' REST API with. */
    readonly tls: NodeTlsFiles;
}

export class HaproxyBalancer extends pulumi.ComponentResource {
    public readonly service: command.remote.Command;

    constructor(name: string, args: HaproxyBalancerArgs, opts?: pulumi.ComponentResourceOptions) {
        super("pgha:haproxy:HaproxyBalancer", name, {}, opts);
        const { spec, conn } = args;
        // haproxy.cfg is the distro's path: the distro's (or the admin's) file is kept as haproxy.cfg.pgha-orig,
        // and pgha's is left in place on destroy (the service is stopped).
        const cfg = placeFile(conn, { file: renderHaproxyConfig(spec, conn.node), keepOnDelete: true, keepOriginal: true }, { parent: this, dependsOn: [args.prep] });
        const limits = placeFile(conn, { file: renderHaproxyDropIn(spec) }, { parent: this, dependsOn: [args.prep] });
        const check = `haproxy -c -q -f /etc/haproxy/haproxy.cfg`;
        const nofile = nofileCheck(conn.node.name, "haproxy", haproxyNofile(spec), "pgha:haproxy.maxConn");
        this.service = serviceUnit(
            `${conn.node.name}:haproxy`,
            {
                conn,
                unit: "haproxy",
                files: [cfg, limits, args.tls.ca],
                start: [check, nofile, `systemctl daemon-reload`, `systemctl enable haproxy >/dev/null 2>&1`, `systemctl restart haproxy`].join("\n"),
                // A new maxConn: the master's limit is raised in place (a reload re-executes it, keeping it), then the reload.
                apply: [check, nofile, `systemctl daemon-reload`, raiseNofile("haproxy", haproxyNofile(spec), `systemctl restart haproxy`), `systemctl reload haproxy`].join("\n"),
                stop: `systemctl disable --now haproxy >/dev/null 2>&1 || true`,
            },
            { parent: this, dependsOn: [args.prep, ...args.after] },
        );
        this.registerOutputs({ service: this.service.stdout });
    }
}
