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
import { NodeConnection, remoteScript, sha256, shq } from "./ssh";
import { POSTGRES_SOCKET_DIR } from "../core/render/patroni";

export interface VipManagerArgs {
    readonly spec: ClusterSpec;
    readonly conns: ReadonlyMap<string, NodeConnection>;
    readonly preps: ReadonlyMap<string, HostPrep>;
    /** Each node's CA and client certificate: placed first; a renewal needs no restart (the program reloads them). */
    readonly tls: ReadonlyMap<string, NodeTlsFiles>;
    readonly after: pulumi.Resource[];
}

const PGHA_KEEPALIVED_ACTIVE = `systemctl is-active --quiet keepalived && grep -q '^# Managed by pgha' /etc/keepalived/keepalived.conf 2>/dev/null`;
/**
 * Switching from keepalived: every node stops pgha's keepalived (which releases the VIP)
 * before any vip-manager starts. Stopped one node at a time, a backup would take the VIP
 * over on a replica in between (seen on the lab). The keepalived resources the same edit
 * removes then find it stopped.
 */
const RELEASE_KEEPALIVED = `if ${PGHA_KEEPALIVED_ACTIVE}; then systemctl disable --now keepalived >/dev/null 2>&1; echo "pgha: stopped pgha's keepalived here: the VIP now follows the Patroni leader"; else echo "pgha: no pgha keepalived runs here"; fi`;

/**
 * PostgreSQL binds a new listen address only when it restarts: after a switch from keepalived
 * on a running cluster, or a new VIP address. Only the leader's matters here, since only it will
 * hold the VIP: a leader not yet listening on it restarts in place now, right before its
 * vip-manager starts and while no node holds the VIP (every keepalived was released first), so
 * clients feel the restart and the move as one outage. Patroni applies a reloaded config.yml on
 * its next cycle (up to loop_wait later), so a restart right away would start the old settings
 * again (seen on the lab): this waits until PostgreSQL itself reports listen_addresses pending,
 * then restarts, and ends only once the leader listens on the VIP. A replica is left to
 * <cluster>:restart-pending, which follows this step and restarts pending replicas one at a time
 * (no write pause); a leader restarted here is no longer pending there, so it restarts once.
 */
export const restartUnlessListening = (spec: ClusterSpec, member: string) => {
    const psql = `runuser -u postgres -- psql -h ${POSTGRES_SOCKET_DIR} -p ${spec.postgres.port} -AtX`;
    return [
        `listening() { ${psql} -c 'show listen_addresses' | tr ',' '\\n' | grep -qxF ${shq(spec.vip!.address)}; }`,
        `pending() { [ "$(${psql} -c "select pending_restart from pg_settings where name = 'listen_addresses'" 2>/dev/null)" = t ]; }`,
        // t: a replica, f: the leader, anything else: PostgreSQL not answering (yet); asked again.
        `recovery() { ${psql} -c 'select pg_is_in_recovery()' 2>/dev/null || true; }`,
        `leads=unknown`,
        `for _ in $(seq 90); do`,
        `  listening && break`,
        `  case "$(recovery)" in`,
        `    t) leads=no; echo "pgha: ${member} is a replica: ${spec.clusterName}:restart-pending restarts it if it must (replicas do not pause writes)"; break ;;`,
        `    f) leads=yes ;;`,
        `  esac`,
        `  if [ "$leads" = yes ] && pending; then`,
        `    timeout 120 patronictl -c /etc/patroni/config.yml restart ${shq(spec.clusterName)} ${shq(member)} --force >/dev/null`,
        `    echo "pgha: restarted PostgreSQL on ${member}, the leader: it listens on the VIP now"`,
        `  fi`,
        `  sleep 1`,
        `done`,
        `[ "$leads" = no ] || listening || { echo "pgha: PostgreSQL on ${member} does not listen on the VIP ${spec.vip!.address} after 90 s (Patroni has not applied listen_addresses)" >&2; exit 1; }`,
    ].join("\n");
};

export class VipManager extends pulumi.ComponentResource {
    public readonly services: command.remote.Command[];

    constructor(name: string, args: VipManagerArgs, opts?: pulumi.ComponentResourceOptions) {
        super("pgha:vip:VipManager", name, {}, opts);
        const { spec } = args;
        const members = nodesWithRole(spec, "postgres");
        const releases = members.map((node) =>
            remoteScript(
                `${node.name}:release-keepalived`,
                { conn: args.conns.get(node.name)!, what: `keepalived's VIP on ${node.name}`, create: RELEASE_KEEPALIVED, timeoutSec: 60 },
                { parent: this, dependsOn: [args.preps.get(node.name)!, ...args.after] },
            ),
        );
        this.services = members.map((node) => {
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
                    start: [restartUnlessListening(spec, node.name), `systemctl daemon-reload`, `systemctl enable --now ${VIP_MANAGER_UNIT} >/dev/null 2>&1`, `sleep 1`, running].join("\n"),
                    apply: [restartUnlessListening(spec, node.name), `systemctl daemon-reload`, `systemctl restart ${VIP_MANAGER_UNIT}`, `sleep 1`, running].join("\n"),
                    // Stopping releases the VIP (SIGTERM). Switching to keepalived, a keepalived that
                    // already holds the VIP here has just lost it: a reload makes it take it again.
                    stop: [`systemctl disable --now ${VIP_MANAGER_UNIT} >/dev/null 2>&1 || true`, `if ${PGHA_KEEPALIVED_ACTIVE}; then systemctl reload keepalived; fi`].join("\n"),
                },
                { parent: this, dependsOn: [...deps, ...args.after, ...releases] },
            );
        });
        this.registerOutputs({});
    }
}
