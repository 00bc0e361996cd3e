// HAProxy 2.6 / 3.0: one configuration, the same on every balancer, and its open-files limit.

import { ClusterSpec, HaproxyServiceName, NodeSpec } from "../spec";
import { CA_CERT_PATH } from "../pki";
import { haproxyAllowedSources, haproxyBackends, haproxyServices } from "../topology";
import { RenderedFile, file, requireRole } from "./file";
import { renderTemplate } from "./templates";
import { PROFILES, haproxyTime } from "../profiles";

export const HAPROXY_CONFIG_PATH = "/etc/haproxy/haproxy.cfg";
/** pgha's systemd drop-in for haproxy.service: its LimitNOFILE. */
export const HAPROXY_DROPIN_PATH = "/etc/systemd/system/haproxy.service.d/pgha.conf";
/** Descriptors beyond two a connection: listeners, servers' checks, logs, the stats socket. */
export const NOFILE_MARGIN = 1024;

const DESCRIBE: Readonly<Record<HaproxyServiceName, string>> = {
    primary: "read/write, the Patroni leader only",
    replica: "read-only, every healthy replica",
    syncReplica: "read-only, the synchronous standbys only",
    asyncReplica: "read-only, the asynchronous replicas only",
};

/** `node` only guards against rendering for a node without the haproxy role; the content is node-independent. */
export function renderHaproxyConfig(spec: ClusterSpec, node?: NodeSpec): RenderedFile {
    if (node !== undefined) requireRole(node, "haproxy", "HAProxy config");
    const content = renderTemplate("haproxy.cfg.hbs", {
        clusterName: spec.clusterName,
        statsPort: spec.haproxy.statsPort,
        restApiPort: spec.patroni.restApiPort,
        maxconn: spec.haproxy.maxConn,
        services: haproxyServices(spec).map((s) => ({
            ...s,
            primary: s.name === "primary",
            describe: DESCRIBE[s.name],
            backends: haproxyBackends(spec, s.serverPort),
        })),
        caFile: CA_CERT_PATH,
        allowedSources: haproxyAllowedSources(spec).join(" "),
        check: checkTiming(spec),
        // pgha:monitoring: HAProxy's built-in Prometheus exporter on the stats listener.
        metrics: spec.monitoring !== undefined,
    });
    return file(HAPROXY_CONFIG_PATH, content, "0644");
}

/** HAProxy's open files: two descriptors a connection (client and server side), plus a margin. */
export function haproxyNofile(spec: ClusterSpec): number {
    return 2 * spec.haproxy.maxConn + NOFILE_MARGIN;
}

/** The systemd drop-in: LimitNOFILE from pgha:haproxy.maxConn (a new one is raised in the running master: no restart). */
export function renderHaproxyDropIn(spec: ClusterSpec): RenderedFile {
    return file(
        HAPROXY_DROPIN_PATH,
        [
            `# Managed by pgha (cluster ${spec.clusterName}): HAProxy's open files, 2 x pgha:haproxy.maxConn (${spec.haproxy.maxConn}) + ${NOFILE_MARGIN}.`,
            `[Service]`,
            `LimitNOFILE=${haproxyNofile(spec)}`,
            ``,
        ].join("\n"),
        "0644",
    );
}

function checkTiming(spec: ClusterSpec): Record<string, string | number> {
    const t = PROFILES[spec.patroni.profile].haproxy;
    return { inter: haproxyTime(t.interMs), fastinter: haproxyTime(t.fastinterMs), downinter: haproxyTime(t.downinterMs), fall: t.fall, rise: t.rise };
}
