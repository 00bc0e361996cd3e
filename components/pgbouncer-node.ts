// PgBouncer (pgha:pgbouncer) on every PostgreSQL node, and its lookup role in PostgreSQL.
// - PgbouncerAuth: on every PostgreSQL node a step (server/pgbouncer-auth.py) of which only the
//   leader acts: the lookup role with its password (on stdin, stored as a SCRAM verifier) and the
//   lookup function in every database. Turning PgBouncer off (or destroying) takes the role's
//   login away.
// - PgbouncerNode: pgha's pgbouncer.ini, hba file, auth_file (the lookup role's line only, 0600,
//   secret stdin) and systemd drop-in; a change reloads PgBouncer (SIGHUP, clients stay), a new
//   open-files limit is raised in place (prlimit), and only a new listening address or port
//   restarts it. Removing it stops and
//   disables the service and removes pgha's files (Debian's /etc/pgbouncer is left alone).
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { PLACEHOLDER_SECRETS } from "../core/render/file";
import { POSTGRES_SOCKET_DIR } from "../core/render/patroni";
import { pgbouncerNofile, pgbouncerRestartKey, renderPgbouncerAuthFile, renderPgbouncerDropIn, renderPgbouncerHba, renderPgbouncerIni } from "../core/render/pgbouncer";
import { ClusterSpec, nodesWithRole } from "../core/spec";
import { NodeTlsFiles } from "./cluster-pki";
import { HostPrep } from "./host-prep";
import { PGBOUNCER_AUTH, SET_PASSWORDS } from "./pgha-tools";
import { RESTART_KEY_DIR, nofileCheck, placeFile, raiseNofile, recordRestartKey, restartOrReload, serviceUnit } from "./remote-file";
import { NodeConnection, remoteScript, sha256, shq } from "./ssh";

export interface PgbouncerAuthArgs {
    readonly spec: ClusterSpec;
    readonly conns: ReadonlyMap<string, NodeConnection>;
    readonly preps: ReadonlyMap<string, HostPrep>;
    /** pgha:pgbouncerAuthPassword (secret). */
    readonly password: pulumi.Output<string>;
    /** The leader running: the step needs its PostgreSQL. */
    readonly after: pulumi.Resource[];
}

/** The command text of a node's lookup-role step (the programs' versions in it: a new version runs it again). */
export function pgbouncerAuthScript(spec: ClusterSpec, disable = false): string {
    const version = sha256(PGBOUNCER_AUTH.content + SET_PASSWORDS.content).slice(0, 16);
    return [`# pgbouncer-auth.py ${version}`, `cd / && runuser -u postgres -- python3 ${PGBOUNCER_AUTH.path} ${shq(POSTGRES_SOCKET_DIR)} ${spec.postgres.port}${disable ? " --disable" : ""}`].join(
        "\n",
    );
}

export class PgbouncerAuth extends pulumi.ComponentResource {
    /** Every PostgreSQL node's step: the auth_files wait for all of them (the leader's sets the password first). */
    public readonly steps: command.remote.Command[];

    constructor(name: string, args: PgbouncerAuthArgs, opts?: pulumi.ComponentResourceOptions) {
        super("pgha:pgbouncer:PgbouncerAuth", name, {}, opts);
        const { spec } = args;
        const stdin = pulumi.secret(args.password.apply((password) => JSON.stringify({ password })));
        this.steps = nodesWithRole(spec, "postgres").map((node) =>
            remoteScript(
                `${node.name}:pgbouncer-auth`,
                {
                    conn: args.conns.get(node.name)!,
                    what: `PgBouncer's lookup role on ${node.name}`,
                    create: pgbouncerAuthScript(spec),
                    delete: pgbouncerAuthScript(spec, true),
                    stdin,
                    timeoutSec: 120,
                },
                { parent: this, dependsOn: [args.preps.get(node.name)!, ...args.after] },
            ),
        );
        this.registerOutputs({});
    }
}

export interface PgbouncerNodeArgs {
    readonly spec: ClusterSpec;
    readonly conn: NodeConnection;
    readonly prep: HostPrep;
    /** The CA (server side) and the node's postgres-owned certificate and key (client side). */
    readonly tls: NodeTlsFiles;
    /** pgha:pgbouncerAuthPassword (secret): only in the auth_file, through stdin. */
    readonly password: pulumi.Output<string>;
    /** The lookup-role steps: the auth_file is rewritten only once PostgreSQL holds the password. */
    readonly authSteps: pulumi.Resource[];
    /** This node's PostgreSQL running, and pg_hba admitting PgBouncer (the dynamic config). */
    readonly after: pulumi.Resource[];
}

export class PgbouncerNode extends pulumi.ComponentResource {
    public readonly service: command.remote.Command;

    constructor(name: string, args: PgbouncerNodeArgs, opts?: pulumi.ComponentResourceOptions) {
        super("pgha:pgbouncer:PgbouncerNode", name, {}, opts);
        const { spec, conn } = args;
        const node = conn.node;
        const onPrep = { parent: this, dependsOn: [args.prep] };
        const ini = placeFile(conn, { file: renderPgbouncerIni(spec, node) }, onPrep);
        const hba = placeFile(conn, { file: renderPgbouncerHba(spec, node) }, onPrep);
        const authFile = placeFile(
            conn,
            {
                file: renderPgbouncerAuthFile(spec, node, PLACEHOLDER_SECRETS.pgbouncerAuthPassword),
                secretContent: args.password.apply((p) => renderPgbouncerAuthFile(spec, node, p).content),
            },
            { parent: this, dependsOn: [args.prep, ...args.authSteps] },
        );
        const dropIn = placeFile(conn, { file: renderPgbouncerDropIn(spec, node) }, onPrep);
        const key = pgbouncerRestartKey(spec, node);
        const nofile = nofileCheck(node.name, "pgbouncer", pgbouncerNofile(spec), "pgha:pgbouncer.maxClientConn");
        // Type=notify: `systemctl restart` returns once PgBouncer listens (or has failed).
        const restart = `systemctl restart pgbouncer || { journalctl -u pgbouncer -n 20 --no-pager >&2; exit 1; }`;
        this.service = serviceUnit(
            `${node.name}:pgbouncer`,
            {
                conn,
                unit: "pgbouncer",
                files: [ini, hba, authFile, dropIn, args.tls.ca, ...(args.tls.postgres ?? [])],
                start: [nofile, `systemctl daemon-reload`, `systemctl enable pgbouncer >/dev/null 2>&1`, restart, recordRestartKey("pgbouncer", key)].join("\n"),
                // SIGHUP re-reads pgbouncer.ini, the hba file, the auth_file and the TLS files; clients stay connected.
                // A new maxClientConn (so LimitNOFILE): the running process's limit is raised in place, then the reload.
                apply: [nofile, restartOrReload("pgbouncer", key, restart, [raiseNofile("pgbouncer", pgbouncerNofile(spec), restart), `systemctl reload pgbouncer`].join("\n"))].join("\n"),
                // A stop that outlasted TimeoutStopSec leaves the unit "failed": cleared, as it is pgha's doing.
                stop: [`systemctl disable --now pgbouncer >/dev/null 2>&1 || true`, `systemctl reset-failed pgbouncer >/dev/null 2>&1 || true`, `rm -f ${RESTART_KEY_DIR}/pgbouncer`].join("\n"),
                timeoutSec: 120,
            },
            { parent: this, dependsOn: [args.prep, ...args.after] },
        );
        this.registerOutputs({ service: this.service.stdout });
    }
}
