// HAProxy 2.6: one configuration, the same on every balancer.

import { ClusterSpec, NodeSpec } from "../spec";
import { CA_CERT_PATH } from "../pki";
import { haproxyAllowedSources, haproxyBackends } from "../topology";
import { RenderedFile, file, requireRole } from "./file";
import { renderTemplate } from "./templates";
import { PROFILES, haproxyTime } from "../profiles";

export const HAPROXY_CONFIG_PATH = "/etc/haproxy/haproxy.cfg";
export const HAPROXY_MAXCONN = 1000;
export const HAPROXY_SERVER_MAXCONN = 100;

/** `node` only guards against rendering for a node without the haproxy role; the content is node-independent. */
export function renderHaproxyConfig(spec: ClusterSpec, node?: NodeSpec): RenderedFile {
    if (node !== undefined) requireRole(node, "haproxy", "HAProxy config");
    const content = renderTemplate("haproxy.cfg.hbs", {
        clusterName: spec.clusterName,
        primaryPort: spec.haproxy.primaryPort,
        replicaPort: spec.haproxy.replicaPort,
        statsPort: spec.haproxy.statsPort,
        restApiPort: spec.patroni.restApiPort,
        maxconn: HAPROXY_MAXCONN,
        serverMaxconn: HAPROXY_SERVER_MAXCONN,
        backends: haproxyBackends(spec),
        caFile: CA_CERT_PATH,
        allowedSources: haproxyAllowedSources(spec).join(" "),
        check: checkTiming(spec),
    });
    return file(HAPROXY_CONFIG_PATH, content, "0644");
}

function checkTiming(spec: ClusterSpec): Record<string, string | number> {
    const t = PROFILES[spec.patroni.profile].haproxy;
    return { inter: haproxyTime(t.interMs), fastinter: haproxyTime(t.fastinterMs), downinter: haproxyTime(t.downinterMs), fall: t.fall, rise: t.rise };
}
