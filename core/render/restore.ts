// The in-place restore (pgha:restore), as pure text: each host's step command
// (server/pgha-restore.py) and the plan `pulumi preview` prints. The steps run in this
// order: flush on every member, precheck on the repository host, stop on every member (the restored one last),
// leader on the restored member, a full backup of the new timeline on the repository
// host, replica on every other member.
import { CA_CERT_PATH } from "../pki";
import { TOOLS_DIR, shq } from "../shell";
import { ClusterSpec, NodeSpec, RestoreTarget, nodesWithRole } from "../spec";
import { bootstrapNode, patroniApiUrl, postgresMembers } from "../topology";
import { POSTGRES_SOCKET_DIR } from "./patroni";
import { localRepositories, restoreTargetOptions } from "./pgbackrest";

export const RESTORE_TOOL = `${TOOLS_DIR}/pgha-restore.py`;

/** How long a restore step may see no progress (bytes restored, WAL replayed, replica copied) before it fails: pgha:progress.stallTimeout. */
export const restoreStallSec = (spec: ClusterSpec): number => spec.progress.stallTimeout;

/** The pre-restore data directory, kept aside on the restored member. */
export const asideDir = (spec: ClusterSpec, id: string): string => `${spec.postgres.dataDir}.pre-restore-${id}`;

function restoreOf(spec: ClusterSpec) {
    const r = spec.restore;
    const b = spec.backup;
    if (r === undefined || b === undefined) throw new Error("pgha: in-place restore steps without pgha:restore and pgha:backup");
    return { r, b };
}

/** The member restored first (and so the new leader): the one that bootstraps the cluster. */
export const restoredMember = (spec: ClusterSpec): NodeSpec => bootstrapNode(spec);

/** The repository host holding repo1: it checks the target and takes the new timeline's backup. */
export function restoreRepositoryHost(spec: ClusterSpec): NodeSpec {
    const { b } = restoreOf(spec);
    const host = b.repositories[0].host;
    return nodesWithRole(spec, "backup").find((n) => n.name === host)!;
}

/** Seconds since the epoch of a time target ("2025-01-31 11:00:00.5+00"); 0 for the others. */
export function targetEpoch(t: RestoreTarget): number {
    if (t.type !== "time") return 0;
    return Date.parse(t.time.replace(" ", "T").replace(/\+00$/, "Z")) / 1000;
}

export const targetText = (t: RestoreTarget): string =>
    t.type === "latest" ? "the end of the archive (latest)" : t.type === "time" ? t.time : t.type === "name" ? `restore point ${t.name}` : `transaction ${t.xid}`;

const step = (name: string, spec: ClusterSpec, args: string[]): string => {
    const { r } = restoreOf(spec);
    return [`python3 ${RESTORE_TOOL} ${name}`, `--id ${shq(r.id)}`, ...args].join(" ");
};

const memberArgs = (spec: ClusterSpec, node: NodeSpec): string[] => [
    `--data-dir ${shq(spec.postgres.dataDir)}`,
    `--member ${shq(node.name)}`,
    `--api ${shq(patroniApiUrl(spec, node))}`,
    `--cacert ${CA_CERT_PATH}`,
    `--stall ${restoreStallSec(spec)}`,
];

export function precheckCommand(spec: ClusterSpec): string {
    const { r, b } = restoreOf(spec);
    return step("precheck", spec, [`--stanza ${shq(b.stanza)}`, `--target-type ${r.target.type}`, `--target ${shq(targetText(r.target))}`, `--target-epoch ${targetEpoch(r.target)}`]);
}

/** On every member; only the primary commits (so the archive holds a commit after a past time target). */
export function flushCommand(spec: ClusterSpec): string {
    return step("flush", spec, [`--data-dir ${shq(spec.postgres.dataDir)}`, `--bin-dir ${shq(spec.postgres.binDir)}`, `--socket-dir ${POSTGRES_SOCKET_DIR}`, `--port ${spec.postgres.port}`]);
}

export function stopCommand(spec: ClusterSpec): string {
    return step("stop", spec, [`--data-dir ${shq(spec.postgres.dataDir)}`]);
}

export function leaderCommand(spec: ClusterSpec): string {
    const { r, b } = restoreOf(spec);
    const node = restoredMember(spec);
    return step("leader", spec, [
        `--stanza ${shq(b.stanza)}`,
        `--target ${shq(targetText(r.target))}`,
        `--restore-options ${shq(restoreTargetOptions(r.target).join(" "))}`,
        `--bin-dir ${shq(spec.postgres.binDir)}`,
        `--socket-dir ${POSTGRES_SOCKET_DIR}`,
        `--port ${spec.postgres.port}`,
        `--scope ${shq(spec.clusterName)}`,
        ...memberArgs(spec, node),
    ]);
}

export function backupCommand(spec: ClusterSpec, host: NodeSpec): string {
    const { b } = restoreOf(spec);
    const repos = localRepositories(spec, host);
    return step("backup", spec, [`--stanza ${shq(b.stanza)}`, ...repos.map((x) => `--repo ${x.index} --repo-path ${shq(x.path)}`), `--stall ${restoreStallSec(spec)}`]);
}

export function replicaCommand(spec: ClusterSpec, node: NodeSpec): string {
    return step("replica", spec, memberArgs(spec, node));
}

/** What `pulumi preview` says before an in-place restore: every step, and what is lost. */
export function restorePlan(spec: ClusterSpec): string {
    const { r, b } = restoreOf(spec);
    const leader = restoredMember(spec);
    const others = postgresMembers(spec).filter((n) => n.name !== leader.name);
    const repo = b.repositories[0];
    return [
        `pgha:restore ${r.id}: this update restores cluster ${spec.clusterName} IN PLACE to ${targetText(r.target)}, from stanza ${b.stanza} in ${repo.host}:${repo.path}.`,
        `  1. the primary commits once and ${repo.host} checks that a backup reaches the target (else nothing is stopped), with the primary's WAL archived up to now`,
        `  2. stops Patroni and PostgreSQL on ${postgresMembers(spec)
            .map((n) => n.name)
            .join(", ")}: the cluster is down until step 4 ends`,
        `  3. removes ${spec.clusterName}'s state from etcd; moves ${leader.name}'s data directory aside to ${asideDir(spec, r.id)} (kept, not deleted)`,
        `  4. restores ${leader.name} to the target; it replays the archive, is promoted on a new timeline and leads`,
        `  5. ${repo.host}: takes a full backup of the new timeline`,
        ...(others.length > 0 ? [`  6. removes the old copies on ${others.map((n) => n.name).join(", ")} and re-creates them from that backup`] : []),
        `Every change committed after the target will be gone from the cluster (it stays only in ${leader.name}:${asideDir(spec, r.id)}).`,
    ].join("\n");
}
