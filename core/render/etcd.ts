// etcd 3.4 (Debian's etcd-server): a --config-file per member and a systemd drop-in
// that points Debian's etcd.service at it. The config file is JSON: etcd reads it as
// YAML (sigs.k8s.io/yaml over go-yaml v2), and JSON is YAML whose strings are all
// quoted, so no value can be read as a number or a boolean; pgha's own etcd-member.py
// reads it with Python's json module.

import { CA_CERT_PATH, ETCD_TLS } from "../pki";
import { ClusterSpec, NodeSpec } from "../spec";
import { EtcdMember, etcdInitialCluster, etcdMember, etcdMembers } from "../topology";
import { RenderedFile, file, requireRole, toYaml11 } from "./file";
import { renderTemplate } from "./templates";

export const ETCD_CONFIG_PATH = "/etc/etcd/pgha-etcd.yml";
export const ETCD_DROPIN_PATH = "/etc/systemd/system/etcd.service.d/pgha.conf";
export const ETCD_BINARY = "/usr/bin/etcd";
export const ETCD_TIMEOUT_START_SEC = 180;

/**
 * Keys etcd reads only when it bootstraps a member with an empty data dir.
 * Changing them on a running member must not restart it: adding a member
 * rewrites initial-cluster on every node, and only the new one cares.
 * (initial-cluster-state is not rendered: etcd-member.py owns it, see etcdConfigObject.)
 */
export const ETCD_BOOTSTRAP_ONLY_KEYS = ["initial-advertise-peer-urls", "initial-cluster", "initial-cluster-state", "initial-cluster-token"] as const;

type EtcdScalar = string | number | boolean;
/** The object of an etcd 3.4 config file (keys as etcd spells them). */
export type EtcdConfig = Readonly<Record<string, EtcdScalar | readonly string[] | Readonly<Record<string, EtcdScalar>>>>;

/**
 * etcd 3.4's transport security block (client-transport-security / peer-transport-security):
 * the node certificate, and client certificates required and checked against the cluster CA.
 * etcd reads the certificate and key again on every TLS handshake, so a renewed
 * certificate needs no restart (the CA is read once: it is part of the restart trigger).
 */
export function etcdTransportSecurity(): Readonly<Record<string, EtcdScalar>> {
    return {
        "cert-file": ETCD_TLS.cert,
        "key-file": ETCD_TLS.key,
        "client-cert-auth": true,
        "trusted-ca-file": CA_CERT_PATH,
        "auto-tls": false,
    };
}

export interface EtcdRenderOptions {
    /** Members listed in initial-cluster (for a joining member: the running ones plus itself). Default: every etcd node. */
    readonly initialMembers?: readonly EtcdMember[];
}

/**
 * initial-cluster-state has one owner, etcd-member.py (server/etcd-member.py), and is
 * not rendered here: only the server knows, when a member without data starts, whether
 * a cluster is already running. Left out, etcd reads "new" (its default), which is what
 * a member bootstrapping the cluster needs; a member joining a running cluster gets
 * "existing" (and the running members as initial-cluster) written into its file by
 * etcd-member.py just before it starts.
 */
export function etcdConfigObject(spec: ClusterSpec, node: NodeSpec, opts: EtcdRenderOptions = {}): EtcdConfig {
    requireRole(node, "etcd", "etcd config");
    const me = etcdMember(spec, node);
    return {
        name: node.name,
        "data-dir": spec.etcd.dataDir,
        "listen-peer-urls": me.peerUrl,
        // Loopback too, so local tools (etcdctl, Patroni on the same node) need no address.
        "listen-client-urls": `${me.clientUrl},https://127.0.0.1:${spec.etcd.clientPort}`,
        "advertise-client-urls": me.clientUrl,
        "initial-advertise-peer-urls": me.peerUrl,
        "initial-cluster": etcdInitialCluster(spec, opts.initialMembers ?? etcdMembers(spec)),
        "initial-cluster-token": spec.clusterName,
        // Patroni's etcd3 client speaks JSON to the gRPC gateway: with --config-file
        // etcd 3.4 leaves the gateway off unless asked (the flag's default is not applied).
        "enable-v2": false,
        "enable-grpc-gateway": true,
        "client-transport-security": etcdTransportSecurity(),
        "peer-transport-security": etcdTransportSecurity(),
        "heartbeat-interval": 100,
        "election-timeout": 1000,
        // Patroni writes every loop_wait; keep the revision history short.
        "auto-compaction-mode": "periodic",
        "auto-compaction-retention": "1",
        logger: "zap",
        "log-outputs": ["stderr"],
    };
}

/** The settings whose change needs a restart of the member: everything but the bootstrap-only keys. */
export function etcdRestartRelevant(config: EtcdConfig): EtcdConfig {
    const bootstrapOnly: readonly string[] = ETCD_BOOTSTRAP_ONLY_KEYS;
    return Object.fromEntries(Object.entries(config).filter(([k]) => !bootstrapOnly.includes(k)));
}

/**
 * A stable text of the restart-relevant settings, to hash as the restart trigger. It stays
 * the YAML it was when the file itself was YAML: its hash is in every etcd service's
 * command text, and a new text would restart every member once for nothing.
 */
export function etcdRestartFingerprint(config: EtcdConfig): string {
    return toYaml11(etcdRestartRelevant(config));
}

/** The file's text: `#` comment lines, then the object as JSON (2-space indent, as etcd-member.py writes it back). */
export function renderEtcdConfig(spec: ClusterSpec, node: NodeSpec, opts: EtcdRenderOptions = {}): RenderedFile {
    const header = [
        `# Managed by pgha (cluster ${spec.clusterName}); \`pulumi up\` rewrites this file.`,
        `# JSON, which etcd reads as YAML. pgha's etcd-member.py adds initial-cluster-state when this member joins a running cluster.`,
    ].join("\n");
    return file(ETCD_CONFIG_PATH, `${header}\n${JSON.stringify(etcdConfigObject(spec, node, opts), null, 2)}\n`, "0644");
}

export function renderEtcdDropIn(spec: ClusterSpec): RenderedFile {
    const content = renderTemplate("etcd-dropin.conf.hbs", {
        clusterName: spec.clusterName,
        etcdBinary: ETCD_BINARY,
        configPath: ETCD_CONFIG_PATH,
        timeoutStartSec: ETCD_TIMEOUT_START_SEC,
    });
    return file(ETCD_DROPIN_PATH, content, "0644");
}

/** Both etcd files of a member: the config file and the unit drop-in. */
export function renderEtcdFiles(spec: ClusterSpec, node: NodeSpec, opts: EtcdRenderOptions = {}): RenderedFile[] {
    return [renderEtcdConfig(spec, node, opts), renderEtcdDropIn(spec)];
}
