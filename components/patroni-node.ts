// One PostgreSQL member under Patroni. The bootstrap member starts first and
// becomes leader; the others depend on it and clone from it.
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { PLACEHOLDER_SECRETS } from "../core/render/file";
import { renderPatroniDropIn } from "../core/render/patroni";
import { renderPatroniConfigWithBackup } from "../core/render/pgbackrest";
import { RESTORE_STALL_SEC } from "../core/render/restore";
import { ClusterSpec, NodeSpec, Secrets } from "../core/spec";
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

/** Waits (server/patroni-wait.py) for the member's own REST API to report the expected role; prints the last state on failure. */
export function patroniWaitScript(spec: ClusterSpec, node: NodeSpec, bootstrap: boolean, timeoutSec: number): string {
    const role = bootstrap ? "leader" : "replica";
    // A bootstrap from another cluster's backup grows with the data: bounded by progress (the data directory's size).
    const progress = restoresAtBootstrap(spec, bootstrap) ? ` --progress-dir ${shq(spec.postgres.dataDir)} --stall ${RESTORE_STALL_SEC}` : "";
    // Values reach the shell only as quoted words, even those validation already restricts.
    return `python3 ${PATRONI_WAIT.path} --member ${shq(node.name)} --role ${role} --timeout ${timeoutSec} --cacert ${CA_CERT_PATH}${progress} ${shq(`${patroniApiUrl(spec, node)}/patroni`)}`;
}

/** The bootstrap member of a cluster made from a backup (pgha:backup.restoreFrom). */
const restoresAtBootstrap = (spec: ClusterSpec, bootstrap: boolean): boolean => bootstrap && spec.backup?.restoreFrom !== undefined;

/** How long pgha waits for Patroni after starting it: the restore of a bootstrap from a backup is bounded by progress instead. */
export function patroniWaitSec(spec: ClusterSpec, bootstrap: boolean): number {
    if (restoresAtBootstrap(spec, bootstrap)) return 24 * 3600;
    return bootstrap ? 300 : 900;
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
                start: [`systemctl daemon-reload`, `systemctl enable patroni >/dev/null 2>&1`, `systemctl restart patroni`, patroniWaitScript(spec, node, args.bootstrap, waitSec)].join("\n"),
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
