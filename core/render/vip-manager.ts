// pgha:vip.manager vip-manager: on every PostgreSQL node, pgha's vip-manager puts the VIP
// on this node while its Patroni member holds the leader key, and takes it off otherwise
// (why pgha's own and not Debian's vip-manager 1.0.2: server/pgha-vip-manager.py).

import { ClusterSpec, NodeSpec } from "../spec";
import { CA_CERT_PATH, POSTGRES_TLS } from "../pki";
import { PATRONI_NAMESPACE, etcdClientUrls } from "../topology";
import { RenderedFile, file, requireRole } from "./file";

export const VIP_MANAGER_UNIT = "pgha-vip-manager";
export const VIP_MANAGER_UNIT_PATH = `/etc/systemd/system/${VIP_MANAGER_UNIT}.service`;
export const VIP_MANAGER_CONFIG_PATH = "/etc/pgha/vip-manager.json";
/** How often the leader key is read: vip-manager's own default. */
export const VIP_MANAGER_INTERVAL_MS = 1000;

/** The daemon's settings: nothing secret (the client key stays in its file). */
export function renderVipManagerConfig(spec: ClusterSpec, node: NodeSpec): RenderedFile {
    requireRole(node, "postgres", "vip-manager config");
    const vip = spec.vip;
    if (vip === undefined) throw new Error("pgha: vip-manager config requested but the cluster has no VIP");
    const config = {
        member: node.name,
        triggerKey: `${PATRONI_NAMESPACE}${spec.clusterName}/leader`,
        address: vip.address,
        prefixLength: vip.prefixLength,
        interface: vip.interface,
        etcdEndpoints: etcdClientUrls(spec),
        cacert: CA_CERT_PATH,
        cert: POSTGRES_TLS.cert,
        key: POSTGRES_TLS.key,
        intervalMs: VIP_MANAGER_INTERVAL_MS,
        // etcd unreadable this long: release the VIP (Patroni's leader demotes itself by then).
        ttl: spec.patroni.ttl,
    };
    return file(VIP_MANAGER_CONFIG_PATH, `${JSON.stringify(config, null, 2)}\n`, "0644");
}

/** `toolSha`: the program's content hash, so that a new version restarts the unit. */
export function renderVipManagerUnit(spec: ClusterSpec, toolPath: string, toolSha: string): RenderedFile {
    const content = [
        `# Managed by pgha (cluster ${spec.clusterName}): the VIP follows the Patroni leader (pgha:vip.manager vip-manager).`,
        `# program sha256:${toolSha}`,
        `[Unit]`,
        `Description=pgha: the VIP follows the Patroni leader`,
        `After=network-online.target`,
        `Before=patroni.service`,
        ``,
        `[Service]`,
        `ExecStart=/usr/bin/python3 ${toolPath} --config ${VIP_MANAGER_CONFIG_PATH}`,
        // SIGTERM releases the VIP; then the unit ends.
        `KillMode=process`,
        `TimeoutStopSec=10`,
        `Restart=always`,
        `RestartSec=1`,
        `NoNewPrivileges=yes`,
        `ProtectHome=yes`,
        `PrivateTmp=yes`,
        ``,
        `[Install]`,
        `WantedBy=multi-user.target`,
        ``,
    ].join("\n");
    return file(VIP_MANAGER_UNIT_PATH, content, "0644");
}
