// The systemd unit of pgha's etcd-leader-away helper, on hosts that run both an etcd
// member and a PostgreSQL member: it hands etcd's raft leadership to another member
// whenever this host runs the PostgreSQL primary (why: server/etcd-leader-away.py).

import { ClusterSpec, NodeSpec } from "../spec";
import { CA_CERT_PATH, ETCD_TLS } from "../pki";
import { etcdMember, etcdMembers, patroniApiUrl } from "../topology";
import { RenderedFile, file } from "./file";

export const LEADER_AWAY_UNIT = "pgha-etcd-leader-away";
export const LEADER_AWAY_UNIT_PATH = `/etc/systemd/system/${LEADER_AWAY_UNIT}.service`;
/** Seconds between checks: well under loop_wait, so a new primary sheds etcd's leadership before its first renewal. */
export const LEADER_AWAY_INTERVAL_SEC = 3;

/** Only where one host holds both, and etcd has another member to lead. */
export function needsLeaderAway(spec: ClusterSpec, node: NodeSpec): boolean {
    return node.roles.includes("etcd") && node.roles.includes("postgres") && etcdMembers(spec).length > 1;
}

/** `toolSha`: the helper's content hash, so that a new helper version restarts the unit. */
export function renderLeaderAwayUnit(spec: ClusterSpec, node: NodeSpec, toolPath: string, toolSha: string): RenderedFile {
    const args = [
        `--etcd ${etcdMember(spec, node).clientUrl}`,
        `--patroni ${patroniApiUrl(spec, node)}`,
        `--cacert ${CA_CERT_PATH} --cert ${ETCD_TLS.cert} --key ${ETCD_TLS.key}`,
        `--interval ${LEADER_AWAY_INTERVAL_SEC}`,
    ].join(" ");
    const content = [
        `# Managed by pgha (cluster ${spec.clusterName}): keeps etcd's raft leadership off the PostgreSQL primary's host.`,
        `# helper sha256:${toolSha}`,
        `[Unit]`,
        `Description=pgha: etcd leadership away from the PostgreSQL primary`,
        `After=network-online.target etcd.service patroni.service`,
        ``,
        `[Service]`,
        `User=${ETCD_TLS.owner}`,
        `ExecStart=/usr/bin/python3 ${toolPath} ${args}`,
        `Restart=always`,
        `RestartSec=5`,
        `NoNewPrivileges=yes`,
        `ProtectSystem=strict`,
        `ProtectHome=yes`,
        `PrivateTmp=yes`,
        ``,
        `[Install]`,
        `WantedBy=multi-user.target`,
        ``,
    ].join("\n");
    return file(LEADER_AWAY_UNIT_PATH, content, "0644");
}
