// keepalived 2.2: the VIP follows a healthy HAProxy. Unicast VRRP between the
// keepalived nodes, and a check script run by an unprivileged user.

import { ClusterSpec, NodeSpec, Secrets } from "../spec";
import { keepalivedPeer } from "../topology";
import { KEEPALIVED_PASS_LENGTH, secretValueProblem } from "../config-secrets";
import { PLACEHOLDER_SECRETS, RenderedFile, file, requireRole } from "./file";
import { renderTemplate } from "./templates";
import { PROFILES } from "../profiles";
import { TOOLS_DIR } from "../shell";

export const KEEPALIVED_CONFIG_PATH = "/etc/keepalived/keepalived.conf";
export const HAPROXY_CHECK_SCRIPT_PATH = `${TOOLS_DIR}/check-haproxy.sh`;
/** The user keepalived runs the check as; it must exist (the component creates it). */
export const KEEPALIVED_SCRIPT_USER = "keepalived_script";

export function keepalivedInstanceName(spec: ClusterSpec): string {
    return `${spec.clusterName}_vip`;
}

export function renderKeepalivedConfig(spec: ClusterSpec, node: NodeSpec, secrets: Pick<Secrets, "keepalivedPassword">): RenderedFile {
    requireRole(node, "keepalived", "keepalived config");
    const vip = spec.vip;
    if (vip === undefined) throw new Error("pgha: keepalived config requested but the cluster has no VIP");
    const problem = secretValueProblem("keepalivedPassword", secrets.keepalivedPassword);
    if (problem !== undefined) throw new Error(`pgha: cannot render the keepalived config: keepalivedPassword ${problem}`);
    const peer = keepalivedPeer(spec, node);
    const content = renderTemplate("keepalived.conf.hbs", {
        clusterName: spec.clusterName,
        routerId: node.name,
        scriptUser: KEEPALIVED_SCRIPT_USER,
        checkScript: HAPROXY_CHECK_SCRIPT_PATH,
        instanceName: keepalivedInstanceName(spec),
        interface: vip.interface,
        virtualRouterId: vip.virtualRouterId,
        priority: peer.priority,
        address: node.address,
        unicastPeers: peer.unicastPeers,
        authPass: secrets.keepalivedPassword.slice(0, KEEPALIVED_PASS_LENGTH),
        vipAddress: vip.address,
        vipPrefixLength: vip.prefixLength,
        check: PROFILES[spec.patroni.profile].keepalived,
    });
    // Holds the VRRP password.
    return file(KEEPALIVED_CONFIG_PATH, content, "0600");
}

export function renderKeepalivedConfigRedacted(spec: ClusterSpec, node: NodeSpec): RenderedFile {
    return renderKeepalivedConfig(spec, node, PLACEHOLDER_SECRETS);
}

export function renderHaproxyCheckScript(spec: ClusterSpec): RenderedFile {
    const content = renderTemplate("check-haproxy.sh.hbs", {
        clusterName: spec.clusterName,
        statsPort: spec.haproxy.statsPort,
        primaryPort: spec.haproxy.primaryPort,
    });
    // Root-owned and not writable by others: enable_script_security insists.
    return file(HAPROXY_CHECK_SCRIPT_PATH, content, "0755");
}

/** A keepalived node's files, the check script first (keepalived checks it exists when it loads the config). */
export function renderKeepalivedFiles(spec: ClusterSpec, node: NodeSpec, secrets: Pick<Secrets, "keepalivedPassword">): RenderedFile[] {
    return [renderHaproxyCheckScript(spec), renderKeepalivedConfig(spec, node, secrets)];
}
