// Issue 7: the security baseline, proven on one lab deployment made by the
// non-root lab user (every remote script through `sudo -n`): etcd, Patroni's
// REST API and PostgreSQL speak TLS and refuse what they must, HAProxy admits
// only pgha:postgres.allowedClientCidrs (here: this machine, 198.18.0.1/32; the
// outside client is `lab client` at 198.18.0.250), keepalived's secret file is
// private, and no secret value shows up where it must not: CLI output (also of
// a failing `pulumi up`), the exported state, command texts, world-readable
// files on the hosts, or their process lists while pgha runs.
//
// Secrets never go on a command line here either: psql gets PGPASSWORD, remote
// greps get their patterns on stdin, and what the suite prints is redacted.
import { spawn } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { LabHosts, ROOT, RunResult, labHosts, labStackLifecycle, patronictlList, pulumi, run, ssh, steps, waitFor } from "./harness";

// ---------------------------------------------------------------------------
// Where things are on the hosts. The TLS paths follow the TLS work's intent
// (CA at /etc/pgha/tls/ca.crt, node certificates beside it); adjust them here
// when merging. Certificate and key paths the daemons use are read from their
// own config files (etcd's *-transport-security, Patroni's restapi/etcd3), so
// only the CA path and the key directory are assumed.
const TLS = {
    /** The cluster CA certificate, identical on every node. */
    ca: "/etc/pgha/tls/ca.crt",
    /** Node certificates and keys (every file holding a PRIVATE KEY here is checked). */
    dir: "/etc/pgha/tls",
    /** Who may own a node key: the service reading it (PostgreSQL/Patroni, etcd) or root. */
    keyOwners: ["postgres", "etcd", "root"],
};
const PATRONI_CONFIG = "/etc/patroni/config.yml";
const PATRONI_PGPASS = "/var/lib/postgresql/.pgpass_patroni";
const ETCD_CONFIG = "/etc/etcd/pgha-etcd.yml";
const KEEPALIVED_CONFIG = "/etc/keepalived/keepalived.conf";
const KEEPALIVED_CHECK_SCRIPT = "/usr/local/libexec/pgha/check-haproxy.sh";
const HAPROXY_CONFIG = "/etc/haproxy/haproxy.cfg";
const HAPROXY_ADMIN_SOCKET = "/run/haproxy/admin.sock";
const REST_PORT = 8008;
const PG_PORT = 5432;
/** World-readable files under these must not hold a secret. PostgreSQL's data dir is included:
 *  its files are 0600 (initdb), so -perm -o=r finds none there unless something is wrong. */
const SCAN_DIRS = ["/etc", "/usr/local", "/var/lib/postgresql", "/var/lib/etcd", "/var/log", "/tmp", "/var/tmp", "/run"];
/** The CA's private key must be on no host at all (certificates are made where pulumi runs). */
const CA_KEY_SCAN_DIRS = ["/etc", "/usr/local", "/var/lib", "/root", "/home", "/tmp", "/var/tmp", "/run", "/opt", "/srv"];
// ---------------------------------------------------------------------------

const STACK = "e2e-sec";
const VIP = "198.18.0.100";
const OUTSIDE = "198.18.0.250"; // lab/lab.sh `client`
const PG = ["lab1", "lab2"];
const ALL = ["lab1", "lab2", "lab3"];
const step = steps();
let hosts: LabHosts;
let deployed = false;
/** Only for the checks after the deploy: each reports on its own, none runs without a cluster. */
const check = (name: string, fn: () => Promise<void> | void, timeoutSec: number) =>
    test(
        name,
        async () => {
            if (!deployed) throw new Error("not run: the deploy failed");
            await fn();
        },
        timeoutSec * 1000,
    );

// Debian 12 (the cluster suite covers Debian 13).
labStackLifecycle(STACK, 3, ["--user=pgha"], ["--release", "bookworm"]);
const work = fs.mkdtempSync(path.join(os.tmpdir(), "pgha-sec-")); // 0700: CA copy, ps samples
beforeAll(() => {
    hosts = labHosts();
});
afterAll(() => {
    stopPsSampler();
    fs.rmSync(work, { recursive: true, force: true });
});

const shq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

// ------------------------------------------------------------- secrets ---

/** Every secret value known so far: pattern → name (a name is all a report ever shows). */
const secrets = new Map<string, string>();
const pemKeys: { label: string; pem: string }[] = [];

function addSecret(name: string, value: string): void {
    if (value.length < 8) throw new Error(`${name}: a secret of ${value.length} characters cannot be searched for meaningfully`);
    if (!secrets.has(value)) secrets.set(value, name);
}

/** A PEM private key: each full line of its base64 body is a pattern (a partial leak shows too). */
function addPemKey(label: string, pem: string): void {
    if (!pemKeys.some((k) => k.pem === pem)) pemKeys.push({ label, pem });
    pem.split("\n")
        .map((l) => l.trim())
        .filter((l) => l.length >= 40 && !l.startsWith("-----"))
        .forEach((l, i) => secrets.has(l) || secrets.set(l, `${label} (body line ${i + 1})`));
}

const PEM_KEY_RE = /-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----[\s\S]*?-----END \1PRIVATE KEY-----/g;

const SECRET_SIG = "4dabf18193072939515e22adb298388d";
/** Replaces the state's secret envelopes by their values (with --show-secrets they carry `plaintext`). */
function decodeSecrets(v: unknown): unknown {
    if (Array.isArray(v)) return v.map(decodeSecrets);
    if (v && typeof v === "object") {
        const o = v as Record<string, unknown>;
        if (SECRET_SIG in o && typeof o.plaintext === "string") return decodeSecrets(JSON.parse(o.plaintext));
        return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, decodeSecrets(x)]));
    }
    return v;
}

function walkStrings(v: unknown, where: string, fn: (s: string, where: string) => void): void {
    if (typeof v === "string") fn(v, where);
    else if (Array.isArray(v)) v.forEach((x, i) => walkStrings(x, `${where}[${i}]`, fn));
    else if (v && typeof v === "object") for (const [k, x] of Object.entries(v)) walkStrings(x, `${where}.${k}`, fn);
}

interface StateResource {
    urn: string;
    type: string;
    inputs?: Record<string, unknown>;
    outputs?: Record<string, unknown>;
}

/** `pulumi stack export`, raw text and parsed. Never echoed; a failure message carries no output. */
function exportState(showSecrets: boolean): { text: string; resources: StateResource[] } {
    const r = pulumi(["stack", "export", "--stack", STACK, ...(showSecrets ? ["--show-secrets"] : [])], { echo: false, allowFail: true });
    if (r.status !== 0) throw new Error(`pulumi stack export${showSecrets ? " --show-secrets" : ""} exited ${r.status} (output withheld)`);
    const doc = JSON.parse(r.stdout);
    const resources = (doc.deployment?.resources ?? []) as StateResource[];
    return { text: r.stdout, resources: showSecrets ? (decodeSecrets(resources) as StateResource[]) : resources };
}

/** The stack's secret config values and every private key the state holds (CA, node keys, ssh key). */
function collectSecrets(): void {
    const r = pulumi(["config", "--show-secrets", "--json", "--stack", STACK], { echo: false, allowFail: true });
    if (r.status !== 0) throw new Error(`pulumi config --show-secrets exited ${r.status} (output withheld)`);
    for (const [key, entry] of Object.entries(JSON.parse(r.stdout) as Record<string, { value?: string; secret?: boolean }>)) {
        if (!entry.secret || typeof entry.value !== "string" || entry.value === "") continue;
        const keys = entry.value.match(PEM_KEY_RE);
        if (keys) keys.forEach((k, i) => addPemKey(`${key} key ${i + 1}`, k));
        else addSecret(key, entry.value);
    }
    for (const res of exportState(true).resources) {
        walkStrings({ inputs: res.inputs, outputs: res.outputs }, res.urn.split("::").pop()!, (s, where) => {
            for (const k of s.match(PEM_KEY_RE) ?? []) addPemKey(`private key in state at ${where}`, k);
        });
    }
}

/** Names of the known secrets that occur in `text`. */
function leaksIn(text: string): string[] {
    const found = new Set<string>();
    for (const [value, name] of secrets) if (text.includes(value)) found.add(name);
    return [...found].sort();
}

function redact(text: string): string {
    let out = text;
    for (const [value, name] of secrets) out = out.split(value).join(`[secret ${name}]`);
    return out;
}

/** Every secret pattern, one a line, for `grep -F -f` (handed over on stdin). */
const patternLines = () => [...secrets.keys()].join("\n") + "\n";

/** World-readable files under `dirs` on `host` holding any of the patterns: their paths. */
function filesHolding(host: string, dirs: string[], patterns: string, opts: { worldReadableOnly: boolean }): string[] {
    const script = [
        "set -u",
        "pat=$(mktemp /root/.pgha-scan.XXXXXX); trap 'rm -f \"$pat\"' EXIT",
        'cat >"$pat"',
        `dirs=(); for d in ${dirs.map(shq).join(" ")}; do [ -d "$d" ] && dirs+=("$d"); done`,
        `find "\${dirs[@]}" -type f ${opts.worldReadableOnly ? "-perm -o=r " : ""}-size -32M ! -path "$pat" -print0 2>/dev/null |`,
        '  xargs -0 -r grep -l -F -f "$pat" -- 2>/dev/null',
        "exit 0",
    ].join("\n");
    const r = ssh(host, `bash -c ${shq(script)}`, { input: patterns, timeoutSec: 300 });
    return r.stdout.split("\n").filter(Boolean);
}

// ------------------------------------------------------ captured output ---

/** What the CLI printed, per run: scanned for secrets at the end. */
const captured: { what: string; text: string }[] = [];

function pulumiCaptured(what: string, args: string[], opts: { allowFail?: boolean; input?: string } = {}): RunResult {
    const r = pulumi([...args, "--stack", STACK], { echo: false, allowFail: true, input: opts.input });
    captured.push({ what, text: r.stdout + r.stderr });
    process.stdout.write(`$ pulumi ${args.join(" ")}   [${what}; exit ${r.status}; secrets redacted]\n${redact(r.stdout + r.stderr).slice(-8000)}\n`);
    if (r.status !== 0 && !opts.allowFail) throw new Error(`pulumi ${args.join(" ")} exited ${r.status}:\n${redact(r.stderr + r.stdout).slice(-3000)}`);
    return r;
}

/** upStack (harness) with every attempt's output captured. */
function upCaptured(what: string): RunResult {
    const first = pulumiCaptured(what, ["up", "--yes", "--skip-preview"], { allowFail: true });
    if (first.status === 0) return first;
    process.stdout.write(`pulumi up failed; re-running once, as a failed run must converge\n`);
    return pulumiCaptured(`${what} (re-run)`, ["up", "--yes", "--skip-preview"]);
}

// --------------------------------------------------------- ps sampling ---

let sampler: number | undefined;

/** `ps` on every host about once a second, into files in `work`, while pgha runs. */
function startPsSampler(): void {
    const script = [
        "out=$1; parent=$2; shift 2; end=$((SECONDS + 1800))",
        'while kill -0 "$parent" 2>/dev/null && [ "$SECONDS" -lt "$end" ]; do',
        '  for h in "$@"; do',
        '    { echo "--- $h $(date +%s)"; ssh -F .lab/ssh_config -o ConnectTimeout=3 -o BatchMode=yes "$h" "ps -e -ww -o args="; } >>"$out/ps-$h.txt" 2>/dev/null',
        "  done",
        "  sleep 1",
        "done",
    ].join("\n");
    const child = spawn("bash", ["-c", script, "ps-sampler", work, String(process.pid), ...ALL], { cwd: ROOT, detached: true, stdio: "ignore" });
    child.unref();
    sampler = child.pid;
}

function stopPsSampler(): void {
    if (sampler === undefined) return;
    try {
        process.kill(-sampler, "SIGTERM"); // its process group: the loop and an ssh in flight
    } catch {
        /* already gone */
    }
    sampler = undefined;
}

// ------------------------------------------------------------- probes ---

/**
 * Probes run on a host with python3 (in the bare image): HTTP(S) requests with
 * optional CA / client certificate, and reading named keys of a YAML file
 * (paths and switches only: a key path mentioning a password is refused).
 */
const PROBE_PY = String.raw`
import json, socket, ssl, sys, urllib.error, urllib.request
out = []
for p in json.loads(sys.argv[1]):
    if p["kind"] == "http":
        ctx = None
        if p["url"].startswith("https:"):
            ctx = ssl.create_default_context(cafile=p.get("ca"))
            if p.get("cert"):
                ctx.load_cert_chain(p["cert"], p.get("key"))
        body = p.get("body")
        req = urllib.request.Request(p["url"], data=body.encode() if body is not None else None, method=p.get("method", "GET"))
        if body is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=5) as r:
                out.append({"status": r.status})
        except urllib.error.HTTPError as e:
            out.append({"status": e.code})
        except Exception as e:
            out.append({"error": "%s: %s" % (type(e).__name__, str(e)[:200])})
    elif p["kind"] == "yaml":
        import yaml
        doc = yaml.safe_load(open(p["path"]))
        res = {}
        for k in p["keys"]:
            if "password" in k.lower():
                raise SystemExit("refusing to read " + k)
            v = doc
            for part in k.split("/"):
                v = v.get(part) if isinstance(v, dict) else None
            res[k] = v
        out.append(res)
    elif p["kind"] == "haproxy-stat":
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(5)
        s.connect(p["socket"])
        s.sendall(b"show stat\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        out.append({"csv": data.decode()})
print(json.dumps(out))
`;

type Probe =
    { kind: "http"; url: string; method?: string; body?: string; ca?: string; cert?: string; key?: string } | { kind: "yaml"; path: string; keys: string[] } | { kind: "haproxy-stat"; socket: string };
type ProbeResult = { status?: number; error?: string; csv?: string } & Record<string, unknown>;

function probe(host: string, probes: Probe[]): ProbeResult[] {
    return JSON.parse(ssh(host, `python3 - ${shq(JSON.stringify(probes))}`, { input: PROBE_PY, timeoutSec: 60 }).stdout);
}

const etcdctl = (host: string, args: string) => ssh(host, `ETCDCTL_API=3 timeout 20 etcdctl --dial-timeout=3s --command-timeout=5s ${args}`, { allowFail: true });

// ---------------------------------------------------------------- psql ---

let password = "";
const caCopy = path.join(work, "ca.crt");

/** The cluster CA, the same on every node, copied here for psql's sslrootcert. */
function ensureCaCopy(): void {
    if (fs.existsSync(caCopy)) return;
    const cas = ALL.map((h) => ssh(h, `cat ${TLS.ca}`).stdout);
    expect(cas[0]).toMatch(/-----BEGIN CERTIFICATE-----/);
    expect(new Set(cas).size).toBe(1);
    fs.writeFileSync(caCopy, cas[0], { mode: 0o600 });
}

/** psql from this machine (or from the outside client), password through the environment only. */
function psqlAs(where: "machine" | "outside", conninfo: string, sql: string): RunResult {
    const argv = [`${conninfo} user=postgres dbname=postgres connect_timeout=5`, "-AtX", "-v", "ON_ERROR_STOP=1", "-c", sql];
    const [cmd, args] = where === "machine" ? ["psql", argv] : ["bash", ["lab/lab.sh", "client", "psql", ...argv]];
    return run(cmd, args, { env: { PGPASSWORD: password }, timeoutSec: 60, allowFail: true });
}
const verifyFull = (host: string, port: number) => {
    ensureCaCopy();
    return `host=${host} port=${port} sslmode=verify-full sslrootcert=${caCopy}`;
};

function superuserPasswordFromConfig(): string {
    const r = pulumi(["config", "get", "pgha:superuserPassword", "--stack", STACK], { echo: false, allowFail: true });
    if (r.status !== 0) throw new Error("pulumi config get pgha:superuserPassword failed (output withheld)");
    return r.stdout.replace(/\n$/, "");
}

// =============================================================== steps ===

step(
    "deploy the classic cluster as the non-root user pgha (sudo -n), ps sampled on every host",
    () => {
        collectSecrets(); // the config secrets: what the deploy's output is redacted with
        startPsSampler();
        const up = upCaptured("cold pulumi up as pgha");
        // Assertions on CLI output look at it redacted: a failure message must not print a leaked secret.
        expect(redact(up.stdout)).toMatch(/verified: .*answers as the primary/);
        password = superuserPasswordFromConfig();
        deployed = true;
    },
    1500,
);

check(
    "non-root: every command logs in as pgha and runs through sudo -n; a second up would change nothing",
    () => {
        const { resources } = exportState(true);
        const commands = resources.filter((r) => r.type === "command:remote:Command");
        expect(commands.length).toBeGreaterThan(10);
        const wrong: string[] = [];
        for (const c of commands) {
            const name = c.urn.split("::").pop();
            const conn = c.inputs?.connection as { user?: string } | undefined;
            if (conn?.user !== "pgha") wrong.push(`${name}: connection.user=${conn?.user}`);
            for (const phase of ["create", "update", "delete"]) {
                const text = c.inputs?.[phase];
                if (typeof text === "string" && !/^sudo -n timeout /m.test(text)) wrong.push(`${name}: ${phase} does not run through sudo -n`);
            }
        }
        expect(wrong).toEqual([]);
        // sudo logged the pgha user's commands on the hosts (as root: it ran them).
        for (const h of ALL) expect(Number(ssh(h, "journalctl -q --no-pager _COMM=sudo | grep -c 'pgha : .*USER=root ; COMMAND=' || true").stdout.trim())).toBeGreaterThan(0);
        pulumiCaptured("no-op preview", ["preview", "--expect-no-changes", "--diff"]);
    },
    600,
);

check(
    "etcd: TLS with client certificates on client and peer listeners; plain http and cert-less https fail",
    () => {
        const [etcdCfg, patroniCfg] = probe("lab1", [
            {
                kind: "yaml",
                path: ETCD_CONFIG,
                keys: [
                    "listen-client-urls",
                    "advertise-client-urls",
                    "listen-peer-urls",
                    "client-transport-security/cert-file",
                    "client-transport-security/key-file",
                    "client-transport-security/trusted-ca-file",
                    "client-transport-security/client-cert-auth",
                    "peer-transport-security/cert-file",
                    "peer-transport-security/key-file",
                    "peer-transport-security/trusted-ca-file",
                    "peer-transport-security/client-cert-auth",
                ],
            },
            { kind: "yaml", path: PATRONI_CONFIG, keys: ["etcd3/protocol", "etcd3/hosts", "etcd3/cacert", "etcd3/cert", "etcd3/key"] },
        ]);
        expect(etcdCfg["client-transport-security/client-cert-auth"]).toBe(true);
        expect(etcdCfg["peer-transport-security/client-cert-auth"]).toBe(true);
        const urls = [etcdCfg["listen-client-urls"], etcdCfg["listen-peer-urls"], etcdCfg["advertise-client-urls"]].flatMap((u) => String(u ?? "").split(","));
        expect(urls.filter((u) => u && !u.startsWith("https://"))).toEqual([]);
        // Patroni talks https to etcd: protocol https, or every host given as an https URL.
        const etcdHosts = ([] as unknown[]).concat(patroniCfg["etcd3/hosts"] ?? []).flatMap((h) => String(h).split(","));
        expect(patroniCfg["etcd3/protocol"] === "https" || (etcdHosts.length > 0 && etcdHosts.every((h) => h.trim().startsWith("https://")))).toBe(true);
        const [ca, cert, key] = ["etcd3/cacert", "etcd3/cert", "etcd3/key"].map((k) => String(patroniCfg[k] ?? ""));
        expect([ca, cert, key].every((p) => p.startsWith("/"))).toBe(true);
        const endpoint = String(etcdCfg["advertise-client-urls"]).split(",")[0];
        const plainEndpoint = endpoint.replace(/^https:/, "http:");

        // Refused: plain http (loopback and the node address), https without a client certificate.
        expect(etcdctl("lab1", "--endpoints=http://127.0.0.1:2379 endpoint health").status).not.toBe(0);
        expect(etcdctl("lab1", `--endpoints=${plainEndpoint} endpoint health`).status).not.toBe(0);
        expect(etcdctl("lab1", `--endpoints=${endpoint} --cacert=${shq(ca)} endpoint health`).status).not.toBe(0);
        // Accepted with the node's client certificate, for every member (peer URLs work too: the cluster is healthy).
        const ok = etcdctl("lab1", `--endpoints=${endpoint} --cacert=${shq(ca)} --cert=${shq(cert)} --key=${shq(key)} endpoint health --cluster`);
        expect(ok.status).toBe(0);
        expect((ok.stdout + ok.stderr).match(/is healthy/g)?.length).toBe(3);

        // Peer listener (2380): no answer without a client certificate, nor to plain http.
        const peer = String(etcdCfg["listen-peer-urls"]).split(",")[0];
        const [noCert, plain, withCert] = probe("lab1", [
            { kind: "http", url: `${peer}/members`, ca: String(etcdCfg["peer-transport-security/trusted-ca-file"]) },
            { kind: "http", url: `${peer.replace(/^https:/, "http:")}/members` },
            {
                kind: "http",
                url: `${peer}/members`,
                ca: String(etcdCfg["peer-transport-security/trusted-ca-file"]),
                cert: String(etcdCfg["peer-transport-security/cert-file"]),
                key: String(etcdCfg["peer-transport-security/key-file"]),
            },
        ]);
        const refused = (r: ProbeResult) => r.error !== undefined || (r.status ?? 0) >= 400; // Go answers plain http on a TLS port with 400
        expect(refused(noCert)).toBe(true);
        expect(refused(plain)).toBe(true);
        expect(withCert.status).toBe(200);
    },
    300,
);

check(
    "Patroni REST: HTTPS only, unsafe endpoints need the password; patronictl and HAProxy's check-ssl work",
    async () => {
        const [cfg] = probe("lab1", [{ kind: "yaml", path: PATRONI_CONFIG, keys: ["restapi/certfile", "restapi/keyfile", "restapi/cafile", "restapi/authentication/username"] }]);
        expect(cfg["restapi/authentication/username"]).toBe("pgha");
        for (const h of PG) {
            const addr = hosts.hosts.find((x) => x.name === h)!.address;
            const base = `https://${addr}:${REST_PORT}`;
            // Unsafe endpoint without credentials, from the member itself (inside the allowlist): 401.
            // restart_pending=true: even a wrongly accepted request would not restart anything.
            const [unauth, health, plain] = probe(h, [
                { kind: "http", url: `${base}/restart`, method: "POST", body: JSON.stringify({ restart_pending: true }), ca: TLS.ca },
                { kind: "http", url: `${base}/health`, ca: TLS.ca },
                { kind: "http", url: `http://${addr}:${REST_PORT}/health` },
            ]);
            expect({ host: h, unauth: unauth.status }).toEqual({ host: h, unauth: 401 });
            expect({ host: h, health: health.status }).toEqual({ host: h, health: 200 });
            expect({ host: h, plainHttpAnswered: plain.status !== undefined && plain.status < 400 }).toEqual({ host: h, plainHttpAnswered: false });
        }
        // patronictl (REST + etcd over TLS with the node's certificates).
        const members = patronictlList("lab1");
        expect(members.map((m) => m.Member).sort()).toEqual(PG);
        expect(members.filter((m) => m.Role === "Leader")).toHaveLength(1);
        // HAProxy checks Patroni over TLS, and sees the leader on 5000 and the replica on 5001.
        for (const h of PG) {
            expect(Number(ssh(h, `grep -c 'check-ssl' ${HAPROXY_CONFIG} || true`).stdout.trim())).toBeGreaterThan(0);
            await waitFor(`${h}: HAProxy backends UP`, 60, () => {
                const [{ csv }] = probe(h, [{ kind: "haproxy-stat", socket: HAPROXY_ADMIN_SOCKET }]);
                const rows = String(csv)
                    .split("\n")
                    .map((l) => l.split(","));
                const header = rows[0].map((c) => c.replace(/^# /, ""));
                const col = (r: string[], name: string) => r[header.indexOf(name)];
                const up = (px: string) => rows.filter((r) => col(r, "pxname") === px && !["FRONTEND", "BACKEND"].includes(col(r, "svname")) && col(r, "status") === "UP").length;
                return up("primary") === 1 && up("replicas") === 1 ? true : undefined;
            });
        }
    },
    300,
);

check(
    "PostgreSQL from this machine: verify-full through the VIP, SSL in use, scram only, no trust/md5, plain text refused",
    () => {
        ensureCaCopy();
        const q = (sql: string) => {
            const r = psqlAs("machine", verifyFull(VIP, 5000), sql);
            if (r.status !== 0) throw new Error(`psql through the VIP (verify-full): ${r.stderr}`);
            return r.stdout.trim();
        };
        expect(q("select ssl from pg_stat_ssl where pid = pg_backend_pid()")).toBe("t");
        expect(q("show password_encryption")).toBe("scram-sha-256");
        expect(q("select pg_is_in_recovery()")).toBe("f");
        const rules = q("select type || '|' || auth_method || '|' || coalesce(error, '') from pg_hba_file_rules order by line_number")
            .split("\n")
            .map((l) => l.split("|"));
        expect(rules.length).toBeGreaterThan(3);
        expect(rules.filter(([, , err]) => err !== "")).toEqual([]);
        expect(rules.filter(([, auth]) => ["trust", "md5", "password", "ident"].includes(auth))).toEqual([]);
        // Network rules: hostssl + scram, or reject; local: peer or scram. The last rule rejects.
        expect(rules.filter(([type, auth]) => auth !== "reject" && !(type === "hostssl" && auth === "scram-sha-256") && !(type === "local" && ["peer", "scram-sha-256"].includes(auth)))).toEqual([]);
        expect(rules[rules.length - 1][1]).toBe("reject");

        // Without TLS PostgreSQL refuses (through HAProxy the source is a balancer, allowed by address).
        const plain = psqlAs("machine", `host=${VIP} port=5000 sslmode=disable`, "select 1");
        expect(plain.status).not.toBe(0);
        expect(plain.stderr).toMatch(/pg_hba\.conf/);
        // Straight to a member from an allowed address works, over TLS (the control for the outside checks).
        expect(psqlAs("machine", `host=${hosts.hosts[0].address} port=${PG_PORT} sslmode=require`, "select 1").stdout.trim()).toBe("1");
    },
    120,
);

check(
    "PostgreSQL from outside the allowed CIDRs (198.18.0.250): refused by HAProxy at the VIP, rejected by pg_hba at a member",
    () => {
        // The network path itself is open: TCP to the VIP connects (HAProxy accepts, then drops
        // the connection); what refuses the client is the configuration.
        const tcp = run("bash", ["lab/lab.sh", "client", "timeout", "5", "bash", "-c", `exec 3<>/dev/tcp/${VIP}/5000`], { allowFail: true, timeoutSec: 60 });
        expect(tcp.status).toBe(0);
        for (const port of [5000, 5001]) {
            const viaVip = psqlAs("outside", `host=${VIP} port=${port} sslmode=require`, "select 1");
            expect({ port, status: viaVip.status === 0 ? "connected" : "failed" }).toEqual({ port, status: "failed" });
            // Cut by HAProxy before PostgreSQL saw it: no FATAL from the server (no pg_hba, no auth).
            expect(viaVip.stderr).not.toMatch(/FATAL|pg_hba|password authentication/);
        }
        for (const h of PG) {
            const addr = hosts.hosts.find((x) => x.name === h)!.address;
            const direct = psqlAs("outside", `host=${addr} port=${PG_PORT} sslmode=require`, "select 1");
            expect(direct.status).not.toBe(0);
            // "no pg_hba.conf entry for host ..." or, with final reject lines, "pg_hba.conf rejects connection for host ...".
            expect(direct.stderr).toMatch(new RegExp(`pg_hba\\.conf (rejects connection|entry) for host "${OUTSIDE.replace(/\./g, "\\.")}"`));
        }
        expect(run("ip", ["netns", "list"]).stdout).not.toMatch(/pgha-outside/);
    },
    180,
);

check(
    "keepalived: unicast peers, the config (auth_pass) is root's 0600, the check runs unprivileged",
    () => {
        for (const h of PG) {
            expect(ssh(h, `stat -c '%a %U %G' ${KEEPALIVED_CONFIG}`).stdout.trim()).toBe("600 root root");
            expect(Number(ssh(h, `grep -c '^[[:space:]]*unicast_peer' ${KEEPALIVED_CONFIG} || true`).stdout.trim())).toBe(1);
            const user = ssh(h, `awk '$1 == "script_user" { print $2 }' ${KEEPALIVED_CONFIG}`).stdout.trim();
            expect(user).toMatch(/^[a-z_][a-z0-9_-]*$/);
            expect(ssh(h, `id -u ${user}`).stdout.trim()).not.toBe("0");
            // enable_script_security: the script is root's and writable by root only.
            const [mode, owner] = ssh(h, `stat -c '%a %U' ${KEEPALIVED_CHECK_SCRIPT}`).stdout.trim().split(" ");
            expect(owner).toBe("root");
            expect(parseInt(mode, 8) & 0o022).toBe(0);
        }
        const holders = PG.filter((h) => ssh(h, `ip -o -4 addr show | grep -c ' ${VIP}/' || true`).stdout.trim() !== "0");
        expect(holders).toHaveLength(1);
    },
    120,
);

check(
    "secret-holding files: 0600 and owned by the service reading them; node keys likewise",
    () => {
        // Patroni writes its pgpass only while it needs it (a replica's primary_conninfo, a rewind): where it exists.
        let pgpass = 0;
        for (const h of PG) {
            expect(ssh(h, `stat -c '%a %U %G' ${PATRONI_CONFIG}`).stdout.trim()).toBe("600 postgres postgres");
            const p = ssh(h, `if [ -e ${PATRONI_PGPASS} ]; then stat -c '%a %U' ${PATRONI_PGPASS}; fi`).stdout.trim();
            if (p !== "") {
                pgpass++;
                expect({ host: h, pgpass: p }).toEqual({ host: h, pgpass: "600 postgres" });
            }
        }
        expect(pgpass).toBeGreaterThan(0);
        for (const h of ALL) {
            const keys = ssh(h, `grep -rl -- 'PRIVATE KEY' ${TLS.dir} | xargs -r stat -c '%a %U %n'`).stdout.trim().split("\n").filter(Boolean);
            expect({ host: h, keys: keys.length > 0 }).toEqual({ host: h, keys: true });
            for (const line of keys) {
                const [mode, owner, file] = line.split(" ");
                expect({ file: `${h}:${file}`, mode, ownerOk: TLS.keyOwners.includes(owner) }).toEqual({ file: `${h}:${file}`, mode: expect.stringMatching(/^[46]00$/), ownerOk: true });
            }
            // The directory itself lets nobody else list or enter it... unless certificates need it; keys are what matter.
            expect(ssh(h, `find ${TLS.dir} -name '*.key' -perm /o=rwx | wc -l`).stdout.trim()).toBe("0");
        }
    },
    120,
);

step(
    "a failing pulumi up (keepalived stopped on lab2, so its reload fails) prints no secret either",
    async () => {
        if (!deployed) throw new Error("not run: the deploy failed");
        collectSecrets(); // TLS keys are in the state now: redact them too
        const rotated = crypto.randomBytes(16).toString("hex").slice(0, 8);
        ssh("lab2", "systemctl stop keepalived");
        try {
            pulumi(["config", "set", "--secret", "pgha:keepalivedPassword", "--stack", STACK], { input: rotated, echo: false });
            addSecret("pgha:keepalivedPassword (rotated)", rotated);
            pulumiCaptured("preview of a secret rotation", ["preview", "--diff"]);
            const failing = pulumiCaptured("failing pulumi up", ["up", "--yes", "--skip-preview"], { allowFail: true });
            expect(failing.status).not.toBe(0);
            expect(redact(failing.stdout + failing.stderr)).toMatch(/lab2:keepalived/);
        } finally {
            ssh("lab2", "systemctl start keepalived", { allowFail: true });
        }
        upCaptured("pulumi up after the failure");
        for (const h of PG) expect(ssh(h, `grep -c -F -f - ${KEEPALIVED_CONFIG} || true`, { input: rotated + "\n" }).stdout.trim()).toBe("1");
        await waitFor("writes through the VIP", 60, () => (psqlAs("machine", verifyFull(VIP, 5000), "select 1").status === 0 ? true : undefined));
        stopPsSampler();
    },
    900,
);

check(
    "no secret in CLI output, the state (without --show-secrets), command texts, world-readable host files or process lists",
    () => {
        collectSecrets();
        const names = [...new Set(secrets.values())];
        process.stdout.write(`searching for ${secrets.size} patterns of: ${names.filter((n) => !n.includes("body line")).join(", ")}; ${pemKeys.length} private keys\n`);
        // The collection works: the config secrets and the TLS keys (not only the ssh key) are there.
        for (const k of ["pgha:superuserPassword", "pgha:replicationPassword", "pgha:keepalivedPassword", "pgha:restApiPassword"]) expect(names).toContain(k);
        expect(pemKeys.filter((k) => !k.pem.includes("OPENSSH PRIVATE KEY")).length).toBeGreaterThan(0);

        const found: string[] = [];
        const note = (where: string, leaks: string[]) => leaks.forEach((l) => found.push(`${where}: ${l}`));

        // 1. What the CLI printed: up, preview, the failing up, the converging up.
        expect(captured.map((c) => c.what)).toEqual(expect.arrayContaining(["cold pulumi up as pgha", "no-op preview", "failing pulumi up", "pulumi up after the failure"]));
        for (const c of captured) note(`output of ${c.what}`, leaksIn(c.text));

        // 2. The state as `pulumi stack export` shows it without --show-secrets.
        const plain = exportState(false);
        note("pulumi stack export", leaksIn(plain.text));

        // 3. Command texts (and what the commands printed) in the decrypted state; the texts are not even secret.
        for (const c of plain.resources.filter((r) => r.type === "command:remote:Command")) {
            for (const phase of ["create", "update", "delete"]) {
                const t = c.inputs?.[phase];
                if (t !== undefined && typeof t !== "string") found.push(`${c.urn.split("::").pop()}: ${phase} is stored as a secret (a secret went into the command text?)`);
            }
        }
        for (const c of exportState(true).resources.filter((r) => r.type === "command:remote:Command")) {
            const name = c.urn.split("::").pop();
            for (const phase of ["create", "update", "delete"]) note(`${name} ${phase} text`, leaksIn(String(c.inputs?.[phase] ?? "")));
            note(`${name} stdout/stderr`, leaksIn(`${c.outputs?.stdout ?? ""}\n${c.outputs?.stderr ?? ""}`));
        }

        // 4. World-readable files on every host (patterns on stdin, never on a command line).
        for (const h of ALL) for (const f of filesHolding(h, SCAN_DIRS, patternLines(), { worldReadableOnly: true })) found.push(`${h}:${f} (world-readable) holds a secret`);

        // 5. Process lists sampled while pgha ran.
        const samples = ALL.map((h) => path.join(work, `ps-${h}.txt`)).filter((f) => fs.existsSync(f));
        expect(samples).toHaveLength(ALL.length);
        for (const f of samples) {
            const text = fs.readFileSync(f, "utf8");
            expect((text.match(/^--- /gm) ?? []).length).toBeGreaterThan(10);
            note(`process list (${path.basename(f)})`, leaksIn(text));
        }

        // 6. The CA's private key is on no host at all, in any file.
        ensureCaCopy();
        const caCert = new crypto.X509Certificate(fs.readFileSync(caCopy));
        const caSpki = caCert.publicKey.export({ type: "spki", format: "der" }).toString("base64");
        const caKey = pemKeys.find((k) => {
            try {
                return crypto.createPublicKey(k.pem).export({ type: "spki", format: "der" }).toString("base64") === caSpki;
            } catch {
                return false;
            }
        });
        expect(caKey ? "found" : "the CA's key is not in the state").toBe("found");
        const caLines =
            caKey!.pem
                .split("\n")
                .filter((l) => l.length >= 40 && !l.startsWith("-----"))
                .join("\n") + "\n";
        for (const h of ALL) for (const f of filesHolding(h, CA_KEY_SCAN_DIRS, caLines, { worldReadableOnly: false })) found.push(`${h}:${f} holds the CA's private key`);

        expect(found).toEqual([]);
    },
    600,
);
