// One PostgreSQL member under Patroni. The bootstrap member starts first and
// becomes leader; the others depend on it and clone from it.
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { PLACEHOLDER_SECRETS } from "../core/render/file";
import { renderPatroniDropIn } from "../core/render/patroni";
import { renderPatroniConfigWithBackup } from "../core/render/pgbackrest";
import { ClusterSpec, NodeSpec, PROGRESS_OUTER_SEC, Secrets } from "../core/spec";
import { patroniApiUrl } from "../core/topology";
import { CA_CERT_PATH } from "../core/pki";
import { NodeTlsFiles } from "./cluster-pki";
import { HostPrep } from "./host-prep";
import { LEADER_AWAY_UNIT, needsLeaderAway, renderLeaderAwayUnit } from "../core/render/etcd-leader-away";
import { whenDeletingData } from "../core/render/data-policy";
import { HANDOVER, LEADER_AWAY, PATRONI_RUN, PATRONI_WAIT } from "./pgha-tools";
import { placeFile, serviceUnit } from "./remote-file";
import { NodeConnection, sha256, shq } from "./ssh";

export interface PatroniNodeArgs {
    readonly spec: ClusterSpec;
    readonly conn: NodeConnection;
    readonly prep: HostPrep;
    readonly secrets: pulumi.Output<Secrets>;
    /** The member that initialises the cluster: waits until it is the leader. */
    readonly bootstrap: boolean;
    /** etcd healthy, and for replicas the bootstrap member running. */
    readonly after: pulumi.Resource[];
    /** Must finish before config.yml (which carries the passwords) is rewritten: the leader's password change. */
    readonly beforeConfig: pulumi.Resource[];
    /** The CA and the postgres-owned certificate and key: a change reloads Patroni (and so PostgreSQL and the REST API). */
    readonly tls: NodeTlsFiles;
}

/**
 * Waits (server/patroni-wait.py) for the member's own REST API to report the expected role; prints where it is every
 * 15 s and the last state on failure. With `start`, it (re)starts Patroni first, unless Patroni is already creating the
 * member (an interrupted earlier run): then it follows that work instead of killing it.
 */
export function patroniWaitScript(spec: ClusterSpec, node: NodeSpec, bootstrap: boolean, timeoutSec: number, opts: { start?: boolean } = {}): string {
    const role = bootstrap ? "leader" : "replica";
    // A replica's clone, and a bootstrap from another cluster's backup, grow with the data: bounded by progress.
    const progress = growsWithData(spec, bootstrap) ? ` --progress-dir ${shq(spec.postgres.dataDir)} --stall ${spec.progress.stallTimeout}` : "";
    // Values reach the shell only as quoted words, even those validation already restricts.
    return `python3 ${PATRONI_WAIT.path}${opts.start === true ? " --start" : ""} --member ${shq(node.name)} --role ${role} --timeout ${timeoutSec} --cacert ${CA_CERT_PATH}${progress} ${shq(`${patroniApiUrl(spec, node)}/patroni`)}`;
}

/** The bootstrap member of a cluster made from a backup (pgha:backup.restoreFrom). */
const restoresAtBootstrap = (spec: ClusterSpec, bootstrap: boolean): boolean => bootstrap && spec.backup?.restoreFrom !== undefined;

/** A member whose first start copies the data: every replica (a clone), and a bootstrap from a backup. */
const growsWithData = (spec: ClusterSpec, bootstrap: boolean): boolean => !bootstrap || restoresAtBootstrap(spec, bootstrap);

export { PROGRESS_OUTER_SEC };

/** How long pgha waits for Patroni after starting it: a new cluster's initdb has a fixed bound; a wait that copies data is bounded by progress. */
export function patroniWaitSec(spec: ClusterSpec, bootstrap: boolean): number {
    return growsWithData(spec, bootstrap) ? PROGRESS_OUTER_SEC : 300;
}

export class PatroniNode extends pulumi.ComponentResource {
    public readonly service: command.remote.Command;

    constructor(name: string, args: PatroniNodeArgs, opts?: pulumi.ComponentResourceOptions) {
        super("pgha:patroni:PatroniNode", name, {}, opts);
        const { spec, conn } = args;
        const node = conn.node;
        // With pgha:backup: replicas from the repository, restore_command; without it, byte for byte renderPatroniConfig.
        const redacted = renderPatroniConfigWithBackup(spec, node, PLACEHOLDER_SECRETS);
        const config = placeFile(
            conn,
            { file: redacted, secretContent: args.secrets.apply((s) => renderPatroniConfigWithBackup(spec, node, s).content) },
            { parent: this, dependsOn: [args.prep, ...args.beforeConfig] },
        );
        // Not among the service's files: a new launcher must not restart a running Patroni.
        const dropIn = placeFile(conn, { file: renderPatroniDropIn(spec, PATRONI_RUN.path) }, { parent: this, dependsOn: [args.prep] });
        const waitSec = patroniWaitSec(spec, args.bootstrap);
        this.service = serviceUnit(
            `${node.name}:patroni`,
            {
                conn,
                unit: "patroni",
                files: [config, args.tls.ca, ...(args.tls.postgres ?? [])],
                // The wait restarts Patroni, unless a first run interrupted during the clone left it creating this member.
                start: [`systemctl daemon-reload`, `systemctl enable patroni >/dev/null 2>&1`, patroniWaitScript(spec, node, args.bootstrap, waitSec, { start: true })].join("\n"),
                // Patroni re-reads its config on SIGHUP, reloads PostgreSQL (new certificate files
                // included) and re-opens its REST API when the certificate changed; nothing restarts.
                apply: `systemctl reload patroni`,
                stop: [
                    `python3 ${HANDOVER.path} ${shq(patroniApiUrl(spec, node))}`,
                    // Stopping Patroni shuts PostgreSQL down cleanly.
                    `systemctl disable --now patroni >/dev/null 2>&1 || true`,
                    whenDeletingData(`rm -rf -- ${shq(spec.postgres.dataDir)}`, `echo "pgha: keeping PostgreSQL data in "${shq(spec.postgres.dataDir)}`),
                ].join("\n"),
                timeoutSec: waitSec + 60,
            },
            { parent: this, dependsOn: [args.prep, dropIn.resource, ...args.after] },
        );
        if (needsLeaderAway(spec, node)) {
            const unit = placeFile(conn, { file: renderLeaderAwayUnit(spec, node, LEADER_AWAY.path, sha256(LEADER_AWAY.content).slice(0, 16)) }, { parent: this, dependsOn: [args.prep] });
            serviceUnit(
                `${node.name}:etcd-leader-away`,
                {
                    conn,
                    unit: LEADER_AWAY_UNIT,
                    files: [unit],
                    start: [
                        `systemctl daemon-reload`,
                        `systemctl enable --now ${LEADER_AWAY_UNIT} >/dev/null 2>&1`,
                        `sleep 1`,
                        `systemctl is-active --quiet ${LEADER_AWAY_UNIT} || { journalctl -u ${LEADER_AWAY_UNIT} -n 10 --no-pager >&2; exit 1; }`,
                    ].join("\n"),
                    // The helper holds no state: a new unit or helper version simply restarts it.
                    apply: [`systemctl daemon-reload`, `systemctl restart ${LEADER_AWAY_UNIT}`].join("\n"),
                    stop: `systemctl disable --now ${LEADER_AWAY_UNIT} >/dev/null 2>&1 || true`,
                    timeoutSec: 60,
                },
                { parent: this, dependsOn: [this.service, ...(args.tls.etcd ?? []).map((f) => f.resource)] },
            );
        }
        this.registerOutputs({ service: this.service.stdout });
    }
}
