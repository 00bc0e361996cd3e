// The cluster CA and one certificate per node, made with openssl on the machine
// running pulumi (no extra provider), and the TLS files on every server.
//
// Key material exists only in the commands' stdout, which is a secret output (encrypted
// in the state, never logged); the CA key reaches each signing command through stdin.
// The scripts print only once every openssl step has succeeded, and pass openssl's stderr on
// with PEM blocks cut out: a failed command's error (its whole output) holds no key.
// A node's certificate is replaced when its SANs change or when index.ts bumps its
// generation (near expiry); its files are then rewritten and only the services reading
// them re-read them (Patroni: reload, which also reloads PostgreSQL and the REST API's
// certificate; etcd: nothing, as it reads its certificate on every TLS handshake).
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import {
    CA_CERT_PATH,
    CERT_VALIDITY_DAYS,
    CertificateStatus,
    ETCD_TLS,
    POSTGRES_TLS,
    PROMETHEUS_TLS,
    TlsFilePaths,
    caScript,
    nodeCertScript,
    parseCaOutput,
    parseNodeCertOutput,
    subjectAltNameText,
} from "../core/pki";
import { file } from "../core/render/file";
import { BACKUP_TLS, pgbackrestSubjectAltNames } from "../core/render/pgbackrest";
import { ClusterSpec, NodeSpec } from "../core/spec";
import { HostPrep } from "./host-prep";
import { PlacedFile, placeFile } from "./remote-file";
import { NodeConnection } from "./ssh";

export interface ClusterPkiArgs {
    readonly spec: ClusterSpec;
    readonly conns: ReadonlyMap<string, NodeConnection>;
    readonly preps: ReadonlyMap<string, HostPrep>;
    /** Per node: the certificate generation (index.ts: certificateGenerations). Default 0. */
    readonly generations?: Readonly<Record<string, number>>;
}

/** The TLS files on one node, for the services that read them. */
export interface NodeTlsFiles {
    readonly ca: PlacedFile;
    /** The node certificate and key owned by etcd (etcd nodes). */
    readonly etcd?: readonly PlacedFile[];
    /** The node certificate and key owned by postgres (postgres nodes). */
    readonly postgres?: readonly PlacedFile[];
    /** A repository host's certificate and key for pgBackRest (BACKUP_TLS, owned by postgres). */
    readonly pgbackrest?: readonly PlacedFile[];
    /** pgha:monitoring: the certificate and key owned by prometheus (the exporters' server side, Prometheus' client side). */
    readonly prometheus?: readonly PlacedFile[];
}

/** The etcd certificate files' constant restart key: a renewed certificate never restarts etcd. */
const ETCD_CERT_RELOADED_PER_HANDSHAKE = "etcd reloads its certificate and key on every TLS handshake";

/** The same for the exporters' and Prometheus' certificate files (exporter-toolkit loads them per TLS handshake). */
const PROMETHEUS_CERT_RELOADED_PER_HANDSHAKE = "the exporters and Prometheus read their certificate and key on every TLS handshake";

const SECRET_STDOUT: pulumi.CustomResourceOptions = { additionalSecretOutputs: ["stdout"] };

function opensslCommand(name: string, create: string, extra: Partial<command.local.CommandArgs>, opts: pulumi.CustomResourceOptions): command.local.Command {
    return new command.local.Command(
        name,
        {
            create,
            interpreter: ["/bin/bash", "-c"],
            // Key material must not reach logs, nor the next run's environment.
            logging: "none",
            addPreviousOutputInEnv: false,
            ...extra,
        },
        { ...opts, ...SECRET_STDOUT },
    );
}

export class ClusterPki extends pulumi.ComponentResource {
    /** The CA certificate (PEM, public). */
    public readonly caCertificate: pulumi.Output<string>;
    /** Per node: notAfter and generation (public; index.ts exports it for the next run's renewal decision). */
    public readonly statuses: pulumi.Output<Record<string, CertificateStatus>>;
    /** Each node's own status: what reads one node's certificate waits for that node's alone (a new node's unknown certificate leaves the others' known in a preview). */
    public readonly statusOf: Readonly<Record<string, pulumi.Output<CertificateStatus>>>;
    public readonly files: ReadonlyMap<string, NodeTlsFiles>;

    constructor(name: string, args: ClusterPkiArgs, opts?: pulumi.ComponentResourceOptions) {
        super("pgha:tls:ClusterPki", name, {}, opts);
        const { spec } = args;
        // Made once per stack. The command has no update step, so a change of caScript would run
        // it again: a new CA under every running node at once. A new script is for new stacks.
        const ca = opensslCommand(`${spec.clusterName}:ca`, caScript(spec.clusterName), {}, { parent: this, ignoreChanges: ["create"] });
        const caPem = pulumi.secret(ca.stdout);
        this.caCertificate = pulumi.unsecret(ca.stdout.apply((o) => parseCaOutput(o).cert));

        const statuses: Record<string, pulumi.Output<CertificateStatus>> = {};
        const files = new Map<string, NodeTlsFiles>();
        for (const node of spec.nodes) {
            const generation = args.generations?.[node.name] ?? 0;
            // With pgha:backup, nodes serving pgBackRest also carry their address as a DNS name
            // (pgBackRest 2.45 matches no IP SAN); without it, exactly nodeSubjectAltNames, so
            // nothing is reissued.
            const names = pgbackrestSubjectAltNames(spec, node);
            const sans = subjectAltNameText(names);
            const cert = opensslCommand(
                `${node.name}:tls-cert`,
                nodeCertScript(node.name, names, CERT_VALIDITY_DAYS),
                // The CA key and certificate, as the CA command printed them.
                { stdin: caPem, triggers: [sans, generation, CERT_VALIDITY_DAYS] },
                { parent: this },
            );
            const issued = pulumi.secret(cert.stdout).apply((o) => parseNodeCertOutput(o, node.name));
            statuses[node.name] = pulumi.unsecret(issued.apply((i) => ({ notAfter: i.notAfter, generation })));
            files.set(node.name, this.place(spec, node, args, { sans, generation }, issued));
        }
        this.statuses = pulumi.output(statuses);
        this.statusOf = statuses;
        this.files = files;
        this.registerOutputs({ caCertificate: this.caCertificate, statuses: this.statuses });
    }

    private place(spec: ClusterSpec, node: NodeSpec, args: ClusterPkiArgs, what: { sans: string; generation: number }, issued: pulumi.Output<{ key: string; cert: string }>): NodeTlsFiles {
        const conn = args.conns.get(node.name)!;
        const opts = { parent: this, dependsOn: [args.preps.get(node.name)!] };
        // The public stand-ins name what the content is: their hash in the command text changes
        // exactly when a new certificate is due; the real PEM travels as secret stdin.
        const ca = placeFile(conn, { file: file(CA_CERT_PATH, `# pgha cluster CA of ${spec.clusterName}\n`, "0644"), secretContent: this.caCertificate }, opts);
        const pair = (paths: TlsFilePaths, restartKey?: string): PlacedFile[] => {
            const desc = `${node.name}: ${what.sans}; generation ${what.generation}; ${CERT_VALIDITY_DAYS} days`;
            const place = (path: string, mode: string, content: pulumi.Output<string>, kind: string) =>
                placeFile(conn, { file: file(path, `# ${kind} of ${desc}\n`, mode, paths.owner), secretContent: content, restartKey }, opts);
            return [
                place(
                    paths.cert,
                    "0644",
                    issued.apply((i) => i.cert),
                    "certificate",
                ),
                place(
                    paths.key,
                    "0600",
                    issued.apply((i) => i.key),
                    "key",
                ),
            ];
        };
        return {
            ca,
            // etcd reads its certificate and key on every TLS handshake: a renewal needs no restart.
            ...(node.roles.includes("etcd") ? { etcd: pair(ETCD_TLS, ETCD_CERT_RELOADED_PER_HANDSHAKE) } : {}),
            ...(node.roles.includes("postgres") ? { postgres: pair(POSTGRES_TLS) } : {}),
            // The backup role exists only with pgha:backup.
            ...(node.roles.includes("backup") ? { pgbackrest: pair(BACKUP_TLS) } : {}),
            // Exporters and Prometheus re-read their TLS files on every connection: a renewal needs no restart.
            ...(spec.monitoring !== undefined ? { prometheus: pair(PROMETHEUS_TLS, PROMETHEUS_CERT_RELOADED_PER_HANDSHAKE) } : {}),
        };
    }
}
