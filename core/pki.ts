// The cluster's own certificate authority and one certificate per node: what
// each certificate must say, the openssl scripts that make them (run by the
// component on the machine running pulumi), where they live on the servers, and
// when a certificate is renewed. Pure: no Pulumi, no clock of its own.

import { ClusterSpec, NodeSpec } from "./spec";
import { frontHost } from "./topology";

export const TLS_DIR = "/etc/pgha/tls";
/** The cluster CA certificate, on every node (public). */
export const CA_CERT_PATH = `${TLS_DIR}/ca.crt`;

/** A node's certificate and key, one copy per service user that reads them. */
export interface TlsFilePaths {
    readonly cert: string;
    readonly key: string;
    /** Owner (and group) of both files; the key is 0600. */
    readonly owner: string;
}

/** etcd (server and peer, and etcdctl run as root on etcd nodes). */
export const ETCD_TLS: TlsFilePaths = { cert: `${TLS_DIR}/etcd.crt`, key: `${TLS_DIR}/etcd.key`, owner: "etcd" };
/** PostgreSQL ssl, Patroni's REST API (https) and Patroni's etcd client certificate. */
export const POSTGRES_TLS: TlsFilePaths = { cert: `${TLS_DIR}/postgres.crt`, key: `${TLS_DIR}/postgres.key`, owner: "postgres" };
/**
 * pgha:monitoring: the node's certificate once more, for Debian's `prometheus` user: the exporters' TLS server
 * certificate, and on the monitor node Prometheus' client certificate (etcd and the exporters require one).
 */
export const PROMETHEUS_TLS: TlsFilePaths = { cert: `${TLS_DIR}/prometheus.crt`, key: `${TLS_DIR}/prometheus.key`, owner: "prometheus" };

export const CA_VALIDITY_DAYS = 3650;
export const CERT_VALIDITY_DAYS = 365;
/** A certificate closer than this to its notAfter is replaced on the next `pulumi up`. */
export const CERT_RENEW_BEFORE_DAYS = 30;
const DAY_MS = 24 * 3600 * 1000;

export interface SubjectAltNames {
    readonly ips: readonly string[];
    readonly dns: readonly string[];
}

/**
 * What a node's certificate names: its cluster address and loopback (local tools,
 * etcd's gateway dialing itself), its name and localhost; a postgres node also
 * the front door (the VIP, else the first HAProxy node), as clients reach
 * PostgreSQL through it (HAProxy passes TLS through) with sslmode=verify-full.
 */
export function nodeSubjectAltNames(spec: ClusterSpec, node: NodeSpec): SubjectAltNames {
    const front = frontHost(spec);
    const extra = front !== undefined && node.roles.includes("postgres") ? [front] : [];
    return { ips: [...new Set([node.address, "127.0.0.1", ...extra])], dns: [...new Set([node.name, "localhost"])] };
}

/** openssl's subjectAltName value: "IP:a,IP:127.0.0.1,DNS:pg1,DNS:localhost". */
export function subjectAltNameText(sans: SubjectAltNames): string {
    return [...sans.ips.map((ip) => `IP:${ip}`), ...sans.dns.map((d) => `DNS:${d}`)].join(",");
}

// Names are validated ([a-z0-9-]); the check keeps the scripts safe even if that ever changes.
const SAFE_RE = /^[A-Za-z0-9 .:,_-]+$/;
function safe(s: string): string {
    if (!SAFE_RE.test(s)) throw new Error(`pgha: unsafe text for an openssl script: ${JSON.stringify(s)}`);
    return s;
}

/**
 * The frame of both scripts. Key material lives only in a private temp dir, and nothing is
 * printed until every step has succeeded: the command provider puts everything a failed
 * command printed into its error (shown by Pulumi, kept in logs), so a step failing after a
 * key exists must not have printed it. While the steps run, stdout goes nowhere and stderr
 * into the temp dir; on failure that stderr is passed on with any PEM block cut out.
 */
function opensslScript(what: string, steps: readonly string[], print: readonly string[]): string {
    return [
        `set -euo pipefail`,
        `umask 077`,
        `d=$(mktemp -d)`,
        `exec 3>&1 4>&2 >/dev/null 2>"$d/stderr"`,
        `trap 'rc=$?; if [ "$rc" -ne 0 ]; then sed -e "/-----BEGIN/,/-----END/d" "$d/stderr" >&4; echo "pgha: openssl failed (exit $rc) while making ${safe(what)}" >&4; fi; rm -rf "$d"; exit "$rc"' EXIT`,
        ...steps,
        `exec 1>&3 2>&4`,
        `cat ${print.map((f) => `"$d/${f}"`).join(" ")}`,
    ].join("\n");
}
/** EC P-256: read by Go (etcd), OpenSSL (PostgreSQL, HAProxy) and Python's ssl (Patroni). */
const GEN_KEY = (out: string) => `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$d/${out}"`;

/** Creates the CA; prints its key, then its certificate (PEM). */
export function caScript(clusterName: string, days = CA_VALIDITY_DAYS): string {
    return opensslScript(
        `the CA of ${clusterName}`,
        [
            GEN_KEY("ca.key"),
            `openssl req -x509 -new -key "$d/ca.key" -sha256 -days ${days} -subj ${`'/CN=pgha ${safe(clusterName)} cluster CA'`} \\`,
            `  -addext 'basicConstraints=critical,CA:TRUE,pathlen:0' -addext 'keyUsage=critical,keyCertSign,cRLSign' -out "$d/ca.crt"`,
        ],
        ["ca.key", "ca.crt"],
    );
}

/**
 * Issues a node certificate. stdin: the CA key and certificate (PEM, as caScript
 * prints them). Prints the node key, the certificate, then `notAfter=<ISO 8601>`.
 */
export function nodeCertScript(name: string, sans: SubjectAltNames, days = CERT_VALIDITY_DAYS): string {
    const ext = [
        `basicConstraints=critical,CA:FALSE`,
        `keyUsage=critical,digitalSignature,keyAgreement`,
        `extendedKeyUsage=serverAuth,clientAuth`,
        `subjectAltName=${safe(subjectAltNameText(sans))}`,
        `subjectKeyIdentifier=hash`,
        `authorityKeyIdentifier=keyid,issuer`,
    ];
    return opensslScript(
        `the certificate of ${name}`,
        [
            `cat >"$d/ca.pem"`,
            `openssl pkey -in "$d/ca.pem" -out "$d/ca.key"`,
            `openssl x509 -in "$d/ca.pem" -out "$d/ca.crt"`,
            GEN_KEY("node.key"),
            `openssl req -new -key "$d/node.key" -subj '/CN=${safe(name)}' -out "$d/node.csr"`,
            `cat >"$d/ext.cnf" <<'EOF'`,
            ...ext,
            `EOF`,
            // Its own step: a failure inside "0x$(...)" would not stop the script.
            `serial=$(openssl rand -hex 16)`,
            `openssl x509 -req -in "$d/node.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -set_serial "0x$serial" \\`,
            `  -sha256 -days ${days} -extfile "$d/ext.cnf" -out "$d/node.crt"`,
            `openssl x509 -in "$d/node.crt" -noout -enddate -dateopt iso_8601 >"$d/enddate"`,
        ],
        ["node.key", "node.crt", "enddate"],
    );
}

const PEM_RE = (label: string) => new RegExp(`-----BEGIN ${label}-----[\\s\\S]+?-----END ${label}-----\\n?`);

function pem(text: string, label: string, what: string): string {
    const m = PEM_RE(label).exec(text);
    if (m === null) throw new Error(`pgha: ${what}: no ${label} in openssl's output`);
    return m[0].endsWith("\n") ? m[0] : `${m[0]}\n`;
}

export interface KeyAndCert {
    readonly key: string;
    readonly cert: string;
}

export function parseCaOutput(stdout: string): KeyAndCert {
    return { key: pem(stdout, "PRIVATE KEY", "CA"), cert: pem(stdout, "CERTIFICATE", "CA") };
}

export interface NodeCertOutput extends KeyAndCert {
    /** ISO 8601, e.g. "2027-03-01T10:00:00.000Z". */
    readonly notAfter: string;
}

export function parseNodeCertOutput(stdout: string, node: string): NodeCertOutput {
    const m = /notAfter=(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)Z/.exec(stdout);
    if (m === null) throw new Error(`pgha: certificate of ${node}: no notAfter in openssl's output`);
    return {
        key: pem(stdout, "PRIVATE KEY", `certificate of ${node}`),
        cert: pem(stdout, "CERTIFICATE", `certificate of ${node}`),
        notAfter: new Date(`${m[1]}T${m[2]}Z`).toISOString(),
    };
}

// ---------------------------------------------------------------------------
// Renewal

/** What the stack output `certificates` records per node (public). */
export interface CertificateStatus {
    readonly notAfter: string;
    /** Bumped to make a new certificate; part of the certificate command's triggers. */
    readonly generation: number;
}

export type CertificateStatuses = Readonly<Record<string, CertificateStatus>>;

/**
 * The generation a node's certificate should have now: the previous one, plus one
 * when the previous certificate ends within `renewBeforeDays` (or its record is
 * unreadable). A new node starts at 0. The next run sees the new notAfter and keeps it.
 */
export function certificateGeneration(previous: CertificateStatus | undefined, now: Date, renewBeforeDays = CERT_RENEW_BEFORE_DAYS): number {
    if (previous === undefined) return 0;
    const gen = Number.isInteger(previous.generation) && previous.generation >= 0 ? previous.generation : 0;
    const end = Date.parse(previous.notAfter);
    if (Number.isNaN(end)) return gen + 1;
    return end - now.getTime() < renewBeforeDays * DAY_MS ? gen + 1 : gen;
}

/** Per node of the spec: its certificate generation, from the previous deployment's `certificates` output. */
export function certificateGenerations(spec: ClusterSpec, previous: unknown, now: Date, renewBeforeDays = CERT_RENEW_BEFORE_DAYS): Record<string, number> {
    const prev = previous !== null && typeof previous === "object" ? (previous as Record<string, unknown>) : {};
    return Object.fromEntries(spec.nodes.map((n) => [n.name, certificateGeneration(asStatus(prev[n.name]), now, renewBeforeDays)]));
}

function asStatus(v: unknown): CertificateStatus | undefined {
    if (v === null || typeof v !== "object") return undefined;
    const o = v as Record<string, unknown>;
    return { notAfter: String(o.notAfter ?? ""), generation: typeof o.generation === "number" ? o.generation : 0 };
}
