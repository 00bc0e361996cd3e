#!/usr/bin/env node
// Writes the stack config for the local lab hosts (.lab/hosts.json) into
// Pulumi.<stack>.yaml, and sets every secret (made once, kept encrypted):
// lab stacks never need the random provider.
//   node scripts/lab-stack.js <stack> [--install=false] [--roles=lab1=etcd+postgres,lab4=postgres,...]
//                                     [--user=pgha] [--backup=labN]
// Without --roles: the classic topology on lab1..lab3.
// --user=pgha: log in as the lab's non-root user (hosts.json sudoUser); pgha then runs
// every remote script through `sudo -n`. Default: root.
// --backup=labN: pgha:backup with its repository on labN (give labN the role backup in
// --roles), and a made-once pgha:backupCipherPassphrase. Without it, pgha:backup is left as it is.
// Clients are allowed from this machine's bridge address only (gateway/32), so any
// other lab address (e.g. `npm run lab -- client ...`, 198.18.0.250) is outside them.
// Requires scripts/env.sh in the environment (backend, passphrase, PATH).
"use strict";
const fs = require("fs");
const path = require("path");
const crypto = require("crypto");
const { execFileSync } = require("child_process");
const YAML = require("yaml");

const ROOT = path.resolve(__dirname, "..");
const args = process.argv.slice(2);
const stack = args.find((a) => !a.startsWith("--"));
if (!stack) {
    console.error("usage: lab-stack.js <stack> [--install=false] [--roles=...] [--user=root|pgha]");
    process.exit(2);
}
const install = !args.includes("--install=false");
const rolesArg = (args.find((a) => a.startsWith("--roles=")) || "").slice("--roles=".length);
const hostsFile = path.join(ROOT, ".lab", "hosts.json");
if (!fs.existsSync(hostsFile)) {
    console.error(`lab-stack: ${hostsFile} is missing: run 'npm run lab -- up' first`);
    process.exit(1);
}
const lab = JSON.parse(fs.readFileSync(hostsFile, "utf8"));

const backupHost = (args.find((a) => a.startsWith("--backup=")) || "").slice("--backup=".length);
const userArg = (args.find((a) => a.startsWith("--user=")) || "").slice("--user=".length);
const sshUser = userArg || lab.hosts[0].user;
{
    const allowed = new Set(["root", ...lab.hosts.map((h) => h.user), ...lab.hosts.map((h) => h.sudoUser || "pgha")]);
    if (!allowed.has(sshUser)) {
        console.error(`lab-stack: --user=${sshUser}: the lab hosts have the users ${[...allowed].join(", ")}`);
        process.exit(2);
    }
}

/** The classic topology: etcd on all three, PostgreSQL + HAProxy + keepalived on the first two. */
function classicNodes(hosts) {
    return hosts.slice(0, 3).map((h, i) => ({
        name: h.name,
        address: h.address,
        roles: i < 2 ? ["etcd", "postgres", "haproxy", "keepalived"] : ["etcd"],
        hostKey: h.hostKey,
    }));
}

const pulumi = (argv, input) => execFileSync("pulumi", argv, { cwd: ROOT, input, stdio: [input === undefined ? "ignore" : "pipe", "pipe", "inherit"] }).toString();

const file = path.join(ROOT, `Pulumi.${stack}.yaml`);

// `lab down` deletes the hosts' disks: a stack deployed to an earlier lab describes
// servers that no longer exist. Its host keys tell: start it afresh when they changed.
if (fs.existsSync(file)) {
    const old = (YAML.parse(fs.readFileSync(file, "utf8")) || {}).config || {};
    const known = new Map(lab.hosts.map((h) => [h.name, h.hostKey]));
    const stale = (old["pgha:nodes"] || []).some((n) => known.has(n.name) && n.hostKey !== known.get(n.name));
    if (stale) {
        console.log(`lab-stack: the lab hosts were re-created since stack ${stack} was deployed: starting it afresh`);
        try {
            pulumi(["stack", "rm", "--yes", "--force", stack]);
        } catch {
            /* already gone */
        }
        fs.rmSync(file, { force: true });
    }
}

// Select or create the stack (secrets provider: passphrase from the environment).
try {
    pulumi(["stack", "select", stack]);
} catch {
    pulumi(["stack", "init", stack, "--secrets-provider", "passphrase"]);
}

const doc = fs.existsSync(file) ? YAML.parse(fs.readFileSync(file, "utf8")) || {} : {};
const config = doc.config || {};
/** Nodes from --roles: name=role+role,... (hosts must exist in the lab). */
function nodesFromRoles(hosts, spec) {
    return spec.split(",").map((entry) => {
        const [name, roles] = entry.split("=");
        const h = hosts.find((x) => x.name === name);
        if (!h) throw new Error(`lab-stack: --roles names ${name}, which is not a lab host`);
        return { name, address: h.address, roles: roles.split("+"), hostKey: h.hostKey };
    });
}

const host0 = lab.hosts[0];
Object.assign(config, {
    "pgha:clusterName": "pgsql",
    // The lab installs its key for root and for the sudo user alike.
    "pgha:ssh": { user: sshUser, port: 22, privateKeyPath: host0.privateKeyPath, strictHostKeys: true },
    "pgha:nodes": rolesArg ? nodesFromRoles(lab.hosts, rolesArg) : classicNodes(lab.hosts),
    "pgha:vip": { address: "198.18.0.100", prefixLength: 24, interface: "eth0", virtualRouterId: 51 },
    // Only this machine (its address on the lab bridge): every other lab address is "outside".
    "pgha:postgres": { allowedClientCidrs: [`${lab.gateway}/32`] },
    "pgha:packages": { install, aptProxy: install ? lab.aptProxy || "" : "" },
    "pgha:generateMissingSecrets": false,
    // The lab's hosts let a service have at most 20000 open files: HAProxy's default maxConn
    // (100000, LimitNOFILE 2 x maxConn + 1024) would not start there.
    "pgha:haproxy": { ...(config["pgha:haproxy"] || {}), maxConn: 8000 },
});
if (backupHost) config["pgha:backup"] = { ...(config["pgha:backup"] || {}), repository: { host: backupHost } };
doc.config = config;
fs.writeFileSync(file, YAML.stringify(doc));

// Secrets: made once per stack, passed on stdin (never on a command line). A secret the
// project does not declare yet (restApiPassword before the TLS work) would be refused as
// an unknown key: set only what Pulumi.yaml declares.
const declared = Object.keys((YAML.parse(fs.readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8")) || {}).config || {}).map((k) => k.replace(/^pgha:/, ""));
const secrets = [
    ["superuserPassword", 24],
    ["replicationPassword", 24],
    ["keepalivedPassword", 8],
    ["restApiPassword", 24],
    ["pgbouncerAuthPassword", 24],
    // Set always, so a lab stack may switch pgha:monitoring on without the random plugin.
    ["monitoringPassword", 24],
    ...(backupHost ? [["backupCipherPassphrase", 32]] : []),
];
for (const [key, len] of secrets.filter(([k]) => declared.includes(k))) {
    if (config[`pgha:${key}`] === undefined) {
        const value = crypto.randomBytes(32).toString("base64url").slice(0, len);
        pulumi(["config", "set", "--secret", `pgha:${key}`], value);
    }
}
console.log(`lab-stack: stack ${stack} configured for ${lab.hosts.length} lab hosts (${file})`);
