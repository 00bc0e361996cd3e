// One real etcd 3.4 with the rendered TLS configuration and certificates made by
// pgha's own openssl scripts, on a loopback address of its own (127.0.0.21; the
// membership test uses 127.0.0.11-15): https with a client certificate works, for
// etcdctl, for the JSON gateway Patroni uses and for etcd-member.py; plain http and a
// client without a certificate are refused; a renewed certificate is served without
// a restart. Skipped without etcd, etcdctl, curl, python3 or OpenSSL 3.

import { ChildProcess, execFileSync, spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ETCD_MEMBER } from "../../components/pgha-tools";
import { CA_CERT_PATH, ETCD_TLS, caScript, nodeCertScript, nodeSubjectAltNames, parseCaOutput, parseNodeCertOutput } from "../../core/pki";
import { renderEtcdConfig } from "../../core/render/etcd";
import { ClusterSpec } from "../../core/spec";
import { specOf } from "./fixtures";

const has = (cmd: string, ...args: string[]): boolean => spawnSync(cmd, args, { stdio: "ignore" }).status === 0;
const available =
    fs.existsSync("/usr/bin/etcd") &&
    has("etcdctl", "version") &&
    has("curl", "--version") &&
    has("python3", "--version") &&
    (spawnSync("openssl", ["version"], { encoding: "utf8" }).stdout ?? "").startsWith("OpenSSL 3");

const ADDRESS = "127.0.0.21";
const CLIENT = 23379;
const PEER = 23380;
const TOOL = path.join(__dirname, "../../server", path.basename(ETCD_MEMBER.path));

(available ? describe : describe.skip)("etcd with pgha's TLS settings (real etcd)", () => {
    jest.setTimeout(60_000);
    let dir = "";
    let etcd: ChildProcess | undefined;
    let spec: ClusterSpec;
    let caPem = "";
    const p = (name: string) => path.join(dir, name);
    const issue = () => {
        const node = spec.nodes[0];
        const out = execFileSync("bash", ["-c", nodeCertScript(node.name, nodeSubjectAltNames(spec, node))], { input: caPem });
        const cert = parseNodeCertOutput(out.toString(), node.name);
        fs.writeFileSync(p("etcd.crt"), cert.cert);
        fs.writeFileSync(p("etcd.key"), cert.key, { mode: 0o600 });
        return execFileSync("openssl", ["x509", "-in", p("etcd.crt"), "-noout", "-serial"])
            .toString()
            .trim();
    };
    const tls = () => [`--cacert=${p("ca.crt")}`, `--cert=${p("etcd.crt")}`, `--key=${p("etcd.key")}`];
    const etcdctl = (endpoint: string, extra: string[]) =>
        spawnSync("etcdctl", [`--endpoints=${endpoint}`, ...extra, "--dial-timeout=2s", "--command-timeout=2s", "endpoint", "health"], {
            encoding: "utf8",
            env: { ...process.env, ETCDCTL_API: "3" },
        });

    beforeAll(async () => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgha-etcd-tls-"));
        const base = specOf();
        const pg3 = base.nodes.find((n) => n.name === "pg3")!;
        spec = { ...base, nodes: [{ ...pg3, address: ADDRESS }], etcd: { ...base.etcd, clientPort: CLIENT, peerPort: PEER, dataDir: p("data") } };
        const ca = parseCaOutput(execFileSync("bash", ["-c", caScript(spec.clusterName)]).toString());
        caPem = ca.key + ca.cert;
        fs.writeFileSync(p("ca.crt"), ca.cert);
        issue();
        const text = renderEtcdConfig(spec, spec.nodes[0]).content.split(CA_CERT_PATH).join(p("ca.crt")).split(ETCD_TLS.cert).join(p("etcd.crt")).split(ETCD_TLS.key).join(p("etcd.key"));
        expect(text).toContain(`"listen-client-urls": "https://${ADDRESS}:${CLIENT},https://127.0.0.1:${CLIENT}",\n`);
        fs.writeFileSync(p("etcd.yml"), text);
        const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("ETCD")));
        etcd = spawn("/usr/bin/etcd", ["--config-file", p("etcd.yml")], { env, stdio: ["ignore", fs.openSync(p("etcd.log"), "a"), fs.openSync(p("etcd.log"), "a")] });
        const deadline = Date.now() + 30_000;
        while (etcdctl(`https://${ADDRESS}:${CLIENT}`, tls()).status !== 0) {
            if (Date.now() > deadline) throw new Error(`etcd did not become healthy:\n${fs.readFileSync(p("etcd.log"), "utf8").slice(-2000)}`);
            await new Promise((r) => setTimeout(r, 300));
        }
    });

    afterAll(() => {
        etcd?.kill("SIGKILL");
        if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    test("etcdctl with the node certificate: healthy, on the address and on loopback", () => {
        expect(etcdctl(`https://${ADDRESS}:${CLIENT}`, tls()).status).toBe(0);
        expect(etcdctl(`https://127.0.0.1:${CLIENT}`, tls()).status).toBe(0);
    });

    test("refused: plain http, and https without a client certificate", () => {
        expect(etcdctl(`http://${ADDRESS}:${CLIENT}`, []).status).not.toBe(0);
        expect(etcdctl(`http://127.0.0.1:${CLIENT}`, []).status).not.toBe(0);
        expect(etcdctl(`https://${ADDRESS}:${CLIENT}`, [`--cacert=${p("ca.crt")}`]).status).not.toBe(0);
        const plain = spawnSync("curl", ["-sS", "-m", "3", "-X", "POST", "-d", "{}", `http://${ADDRESS}:${CLIENT}/v3/maintenance/status`], { encoding: "utf8" });
        expect(plain.stdout).not.toMatch(/"version"/);
        const noCert = spawnSync("curl", ["-sS", "-m", "3", "--cacert", p("ca.crt"), "-X", "POST", "-d", "{}", `https://${ADDRESS}:${CLIENT}/v3/maintenance/status`], { encoding: "utf8" });
        expect(noCert.status).not.toBe(0);
    });

    test("the JSON gateway Patroni's etcd3 client uses answers over https with the client certificate", () => {
        const r = spawnSync(
            "curl",
            ["-sS", "-m", "5", "--cacert", p("ca.crt"), "--cert", p("etcd.crt"), "--key", p("etcd.key"), "-X", "POST", "-d", "{}", `https://${ADDRESS}:${CLIENT}/v3/maintenance/status`],
            { encoding: "utf8" },
        );
        expect(r.status).toBe(0);
        expect(r.stdout).toMatch(/"version":"3\.4\./);
    });

    test("etcd-member.py's membership step speaks TLS with the certificate named in the config", () => {
        const r = spawnSync("python3", [TOOL, "membership", "--config", p("etcd.yml"), "--member", "pg3", `https://${ADDRESS}:${PEER}`, `https://${ADDRESS}:${CLIENT}`, "--wait", "20"], {
            encoding: "utf8",
            env: { ...process.env, PGHA_ETCD_SUPERVISOR: "process" },
        });
        expect(r.stderr).toBe("");
        expect(r.status).toBe(0);
    });

    test("a renewed certificate is served on the next handshake, without a restart", () => {
        const before = execFileSync("openssl", ["x509", "-in", p("etcd.crt"), "-noout", "-serial"])
            .toString()
            .trim();
        const after = issue();
        expect(after).not.toBe(before);
        const served = execFileSync("bash", [
            "-c",
            `openssl s_client -connect ${ADDRESS}:${CLIENT} -CAfile "$1" -cert "$2" -key "$3" </dev/null 2>/dev/null | openssl x509 -noout -serial`,
            "_",
            p("ca.crt"),
            p("etcd.crt"),
            p("etcd.key"),
        ])
            .toString()
            .trim();
        expect(served).toBe(after);
        expect(etcd!.exitCode).toBeNull();
    });
});
