// pgha:vip.manager vip-manager: the VIP follows the Patroni leader (autobase's "Type B"),
// with no HAProxy or keepalived. One service per PostgreSQL node; the program and its
// settings: core/render/vip-manager.ts, server/pgha-vip-manager.py.
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { VIP_MANAGER_UNIT, renderVipManagerConfig, renderVipManagerUnit } from "../core/render/vip-manager";
import { ClusterSpec, nodesWithRole } from "../core/spec";
import { NodeTlsFiles } from "./cluster-pki";
import { HostPrep } from "./host-prep";
import { VIP_MANAGER } from "./pgha-tools";
import { placeFile, serviceUnit } from "./remote-file";
import { NodeConnection, sha256, shq } from "./ssh";

export interface VipManagerArgs {
    readonly spec: ClusterSpec;
    readonly conns: ReadonlyMap<string, NodeConnection>;
    readonly preps: ReadonlyMap<string, HostPrep>;
    /** Each node's CA and client certificate: placed first; a renewal needs no restart (the program reloads them). */
    readonly tls: ReadonlyMap<string, NodeTlsFiles>;
    readonly after: pulumi.Resource[];
}

/**
 * Switching from keepalived: a pgha keepalived on this node is stopped first (it releases
 * the VIP), so the VIP is never on two nodes for longer than one start; the keepalived
 * resources removed by the same edit then find it stopped.
 */
const PGHA_KEEPALIVED_ACTIVE = `systemctl is-active --quiet keepalived && grep -q '^# Managed by pgha' /etc/keepalived/keepalived.conf 2>/dev/null`;
const RELEASE_KEEPALIVED = `if ${PGHA_KEEPALIVED_ACTIVE}; then systemctl disable --now keepalived >/dev/null 2>&1; echo "pgha: stopped pgha's keepalived here: the VIP now follows the Patroni leader"; fi`;

/**
 * PostgreSQL listens on the VIP only after a restart when the mode switches on a running
 * cluster, or the VIP's address changes (Patroni's reload marks it pending): done here, right
 * before the VIP moves, so clients feel the two as one outage. Both edits also change this
 * unit's settings, so `apply` runs too. A member with nothing pending is left alone.
 */
const restartPending = (spec: ClusterSpec, member: string) => `timeout 120 patronictl -c /etc/patroni/config.yml restart ${shq(spec.clusterName)} ${shq(member)} --pending --force >/dev/null`;

export class VipManager extends pulumi.ComponentResource {
    public readonly services: command.remote.Command[];

    constructor(name: string, args: VipManagerArgs, opts?: pulumi.ComponentResourceOptions) {
        super("pgha:vip:VipManager", name, {}, opts);
        const { spec } = args;
        this.services = nodesWithRole(spec, "postgres").map((node) => {
            const conn = args.conns.get(node.name)!;
            const prep = args.preps.get(node.name)!;
            const tls = args.tls.get(node.name)!;
            const deps = [prep, tls.ca.resource, ...(tls.postgres ?? []).map((f) => f.resource)];
            const files = [renderVipManagerConfig(spec, node), renderVipManagerUnit(spec, VIP_MANAGER.path, sha256(VIP_MANAGER.content).slice(0, 16))].map((file) =>
                placeFile(conn, { file }, { parent: this, dependsOn: deps }),
            );
            const running = `systemctl is-active --quiet ${VIP_MANAGER_UNIT} || { journalctl -u ${VIP_MANAGER_UNIT} -n 10 --no-pager >&2; exit 1; }`;
            return serviceUnit(
                `${node.name}:vip-manager`,
                {
                    conn,
                    unit: VIP_MANAGER_UNIT,
                    files,
                    start: [RELEASE_KEEPALIVED, restartPending(spec, node.name), `systemctl daemon-reload`, `systemctl enable --now ${VIP_MANAGER_UNIT} >/dev/null 2>&1`, `sleep 1`, running].join(
                        "\n",
                    ),
                    apply: [restartPending(spec, node.name), `systemctl daemon-reload`, `systemctl restart ${VIP_MANAGER_UNIT}`, `sleep 1`, running].join("\n"),
                    // Stopping releases the VIP (SIGTERM). Switching to keepalived, a keepalived that
                    // already holds the VIP here has just lost it: a reload makes it take it again.
                    stop: [`systemctl disable --now ${VIP_MANAGER_UNIT} >/dev/null 2>&1 || true`, `if ${PGHA_KEEPALIVED_ACTIVE}; then systemctl reload keepalived; fi`].join("\n"),
                },
                { parent: this, dependsOn: [...deps, ...args.after] },
            );
        });
        this.registerOutputs({});
    }
}
