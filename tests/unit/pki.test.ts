// The cluster PKI's pure parts, and its openssl scripts run for real (OpenSSL 3).

import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { caScript, certificateGeneration, certificateGenerations, nodeCertScript, nodeSubjectAltNames, parseCaOutput, parseNodeCertOutput, subjectAltNameText } from "../../core/pki";
import { classicWith, specOf } from "./fixtures";

const DAY = 24 * 3600 * 1000;

describe("subject alternative names", () => {
    test("a postgres node also names the VIP; an etcd-only node does not", () => {
        const spec = specOf();
        const [pg1, , pg3] = spec.nodes;
        expect(subjectAltNameText(nodeSubjectAltNames(spec, pg1))).toBe("IP:172.51.216.81,IP:127.0.0.1,IP:172.51.216.88,DNS:pg1,DNS:localhost");
        expect(subjectAltNameText(nodeSubjectAltNames(spec, pg3))).toBe("IP:172.51.216.83,IP:127.0.0.1,DNS:pg3,DNS:localhost");
    });
    test("without a VIP, the first balancer is the front door", () => {
        const spec = specOf(
            classicWith((v) => {
                delete v.vip;
                for (const n of v.nodes) n.roles = n.roles.filter((r: string) => r !== "keepalived");
            }),
        );
        expect(nodeSubjectAltNames(spec, spec.nodes[1]).ips).toEqual(["172.51.216.82", "127.0.0.1", "172.51.216.81"]);
    });
});

describe("renewal decision", () => {
    const now = new Date("2030-01-01T00:00:00Z");
    const at = (days: number) => new Date(now.getTime() + days * DAY).toISOString();
    test("a new node starts at generation 0", () => expect(certificateGeneration(undefined, now)).toBe(0));
    test("far from expiry: unchanged", () => expect(certificateGeneration({ notAfter: at(31), generation: 3 }, now)).toBe(3));
    test("within renewBefore: next generation", () => expect(certificateGeneration({ notAfter: at(29), generation: 3 }, now)).toBe(4));
    test("already expired: next generation", () => expect(certificateGeneration({ notAfter: at(-5), generation: 0 }, now)).toBe(1));
    test("renewBefore is a parameter", () => expect(certificateGeneration({ notAfter: at(50), generation: 1 }, now, 60)).toBe(2));
    test("per node, from the previous output (missing or malformed records)", () => {
        const spec = specOf();
        expect(certificateGenerations(spec, { pg1: { notAfter: at(10), generation: 2 }, pg2: { notAfter: at(300), generation: 1 } }, now)).toEqual({ pg1: 3, pg2: 1, pg3: 0 });
        expect(certificateGenerations(spec, undefined, now)).toEqual({ pg1: 0, pg2: 0, pg3: 0 });
        expect(certificateGenerations(spec, "junk", now)).toEqual({ pg1: 0, pg2: 0, pg3: 0 });
    });
});

describe("scripts", () => {
    test("never name a key on the command line; the CA arrives on stdin", () => {
        const s = nodeCertScript("pg1", { ips: ["10.0.0.1"], dns: ["pg1"] });
        expect(s).toContain(`cat >"$d/ca.pem"`);
        expect(s).toContain("umask 077");
        expect(() => nodeCertScript("pg1'; id", { ips: [], dns: [] })).toThrow(/unsafe/);
    });
});

const opensslOk = spawnSync("openssl", ["version"], { encoding: "utf8" }).stdout?.startsWith("OpenSSL 3");
(opensslOk ? describe : describe.skip)("with OpenSSL 3", () => {
    test("the CA signs a node certificate that verifies for server and client use, with the SANs asked for", () => {
        const ca = parseCaOutput(execFileSync("bash", ["-c", caScript("pgsql")]).toString());
        const spec = specOf();
        const sans = nodeSubjectAltNames(spec, spec.nodes[0]);
        const out = parseNodeCertOutput(execFileSync("bash", ["-c", nodeCertScript("pg1", sans, 365)], { input: ca.key + ca.cert }).toString(), "pg1");
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgha-pki-"));
        try {
            fs.writeFileSync(path.join(dir, "ca.crt"), ca.cert);
            fs.writeFileSync(path.join(dir, "node.crt"), out.cert);
            for (const purpose of ["sslserver", "sslclient"]) {
                execFileSync("openssl", ["verify", "-CAfile", path.join(dir, "ca.crt"), "-purpose", purpose, path.join(dir, "node.crt")]);
            }
            const text = execFileSync("openssl", ["x509", "-in", path.join(dir, "node.crt"), "-noout", "-text"]).toString();
            expect(text).toContain("IP Address:172.51.216.81, IP Address:127.0.0.1, IP Address:172.51.216.88, DNS:pg1, DNS:localhost");
            expect(text).toContain("TLS Web Server Authentication, TLS Web Client Authentication");
            expect(text).toContain("ecdsa-with-SHA256");
            expect(out.key).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
            const days = (Date.parse(out.notAfter) - Date.now()) / DAY;
            expect(days).toBeGreaterThan(364);
            expect(days).toBeLessThan(366);
        } finally {
            fs.rmSync(dir, { recursive: true });
        }
    });

    // The command provider puts everything a failed command printed (stdout and stderr) into
    // its error, which Pulumi shows and keeps: a failure after a key exists must print none.
    test("an openssl failure at any step prints no key material, only what failed", () => {
        const real = execFileSync("bash", ["-c", "command -v openssl"]).toString().trim();
        const ca = parseCaOutput(execFileSync("bash", ["-c", caScript("pgsql")]).toString());
        const caKeyBody = ca.key.split("\n")[1];
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgha-pki-fail-"));
        try {
            // An openssl that fails at its n-th call, after writing a PEM block to stderr.
            const wrapper = path.join(dir, "openssl");
            fs.writeFileSync(
                wrapper,
                [
                    `#!/bin/bash`,
                    `n=$(( $(cat "$PGHA_COUNT" 2>/dev/null || echo 0) + 1 )); echo "$n" >"$PGHA_COUNT"`,
                    `if [ "$n" = "\${PGHA_FAIL_AT:-0}" ]; then`,
                    `  printf -- '-----BEGIN PRIVATE KEY-----\\nforced-failure-key\\n-----END PRIVATE KEY-----\\n' >&2`,
                    `  echo "openssl: forced failure at call $n" >&2; exit 1`,
                    `fi`,
                    `exec ${real} "$@"`,
                ].join("\n"),
                { mode: 0o755 },
            );
            const spec = specOf();
            const scripts = [
                { name: "CA", script: caScript("pgsql"), input: "" },
                { name: "node certificate", script: nodeCertScript("pg1", nodeSubjectAltNames(spec, spec.nodes[0]), 365), input: ca.key + ca.cert },
            ];
            for (const { name, script, input } of scripts) {
                const count = path.join(dir, `count-${name}`);
                const run = (failAt: number) => {
                    fs.rmSync(count, { force: true });
                    const env = { ...process.env, PATH: `${dir}:${process.env.PATH}`, PGHA_COUNT: count, PGHA_FAIL_AT: String(failAt) };
                    return spawnSync("bash", ["-c", script], { input, env, encoding: "utf8" });
                };
                const ok = run(0);
                expect([name, ok.status]).toEqual([name, 0]);
                expect(ok.stdout).toContain("PRIVATE KEY");
                const calls = Number(fs.readFileSync(count, "utf8"));
                expect(calls).toBeGreaterThan(1);
                for (let n = 1; n <= calls; n++) {
                    const r = run(n);
                    const printed = r.stdout + r.stderr;
                    expect([name, n, r.status === 0]).toEqual([name, n, false]);
                    expect([name, n, printed.includes("PRIVATE KEY"), printed.includes(caKeyBody), printed.includes("forced-failure-key")]).toEqual([name, n, false, false, false]);
                    // ...but the reason is kept.
                    expect([name, n, printed.includes(`forced failure at call ${n}`)]).toEqual([name, n, true]);
                }
            }
        } finally {
            fs.rmSync(dir, { recursive: true });
        }
    });
});
