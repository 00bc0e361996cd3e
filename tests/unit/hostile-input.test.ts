// Hostile and broken stack input, table-driven. Every case is a named edit of
// the classic example (its values, its secrets, or the flat `pgha:*` config
// Pulumi hands the program) with one expected outcome:
//   - refused: at preview, with a message that names the exact key path and
//     matches a pattern; no message ever holds a secret, a raw control
//     character, or more than a few hundred characters;
//   - accepted: and then every file of every node renders so that YAML reads
//     back the exact values (the yaml package and, when present, PyYAML as
//     Patroni uses it), no line is injected into HAProxy or keepalived
//     configs, and each password sits only where it belongs.
// What reaches shell commands is checked under Pulumi mocks in
// hostile-commands.test.ts.

import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parse as parseYaml } from "yaml";
import { ParseResult, RawConfig, formatConfigErrors, parseClusterConfig, readRawConfig } from "../../core/config";
import { ETCD_CONFIG_PATH, etcdConfigObject } from "../../core/render/etcd";
import { PLACEHOLDER_SECRETS } from "../../core/render/file";
import { HAPROXY_CONFIG_PATH } from "../../core/render/haproxy";
import { KEEPALIVED_CONFIG_PATH, renderKeepalivedConfig } from "../../core/render/keepalived";
import { renderNodeFiles } from "../../core/render/node";
import { PATRONI_CONFIG_PATH, patroniConfigObject, patroniDynamicConfig } from "../../core/render/patroni";
import { ClusterSpec, Secrets } from "../../core/spec";
import { FAKE_SECRETS, HOME, classicValues, classicWith, specOf } from "./fixtures";

type Edit = (v: any) => void;
type CaseSecrets = { [K in keyof RawConfig["secrets"]]?: string | undefined };

interface Case {
    readonly name: string;
    /** Edit of the classic values (deep copy). */
    readonly edit?: Edit;
    /** Merged over FAKE_SECRETS; undefined removes a secret. */
    readonly secrets?: CaseSecrets;
    /** Edit of the flat stack config ("pgha:key" → the text Pulumi hands over), read through readRawConfig. */
    readonly stack?: (flat: Record<string, string>) => void;
    /** Refused, with a message `${key}: …` matching `match`. */
    readonly refused?: { readonly key: string; readonly match: RegExp };
    readonly accepted?: true;
    /** Accepted, with a preview warning `${key}: …` matching `match`. */
    readonly warns?: { readonly key: string; readonly match: RegExp };
}

const refuse = (name: string, input: Omit<Case, "name" | "refused" | "accepted">, key: string, match: RegExp): Case => ({
    name,
    ...input,
    refused: { key, match },
});
const accept = (name: string, input: Omit<Case, "name" | "refused" | "accepted">): Case => ({ name, ...input, accepted: true });
const acceptWithWarning = (name: string, input: Omit<Case, "name" | "refused" | "accepted" | "warns">, key: string, match: RegExp): Case => ({
    name,
    ...input,
    accepted: true,
    warns: { key, match },
});

const MB = 1 << 20;
const NOT_A_NAME = /is not a valid name \(lowercase letters, digits and '-'/;
const CONTROL = /^contains a control character or newline$/;
const NOT_A_PARAMETER_NAME = /is not a PostgreSQL parameter name/;
const KEEPALIVED_CHARS = /^must be printable ASCII without spaces, quotes, backslashes, braces, \$, # or ! \(keepalived\.conf cannot hold them\)$/;
const noGenerate: Edit = (v) => (v.generateMissingSecrets = false);
const NOT_A_DATA_DIR = /is not a dedicated data directory \(pgha:destroy\.deleteData deletes it\)/;
const deleting = (v: any): void => {
    v.destroy.deleteData = true;
};

// Passwords that must work end to end. Each holds a marker no config file contains otherwise.
const META_SUPER = `SuMark it's "q" \\ $(touch /tmp/pgha-pwned) \`id\`; a && b || c # : {{#each nodes}}{{constructor}} %s %n ü 🔑 `;
const META_REPL = `RpMark '; DROP ROLE postgres; -- \\' \${HOME} <<EOF > /etc/passwd | tee ~/x *?[a] (sub) {{> partial}}`;
const META_KEEPALIVED = "Kv7;&(|)<>%^*";

const CASES: readonly Case[] = [
    // --- Shell metacharacters and newlines in names and identifiers
    refuse("node name with ; and a command", { edit: (v) => (v.nodes[0].name = "pg1;rm -rf /") }, "pgha:nodes[0].name", NOT_A_NAME),
    refuse("node name with $( )", { edit: (v) => (v.nodes[0].name = "pg1$(reboot)") }, "pgha:nodes[0].name", NOT_A_NAME),
    refuse("node name with backticks", { edit: (v) => (v.nodes[1].name = "`id`") }, "pgha:nodes[1].name", NOT_A_NAME),
    refuse("node name with a newline and a keepalived keyword", { edit: (v) => (v.nodes[0].name = "pg1\n    auth_pass evil") }, "pgha:nodes[0].name", CONTROL),
    refuse("node name with a carriage return", { edit: (v) => (v.nodes[2].name = "pg3\r") }, "pgha:nodes[2].name", CONTROL),
    refuse("cluster name closing a quote", { edit: (v) => (v.clusterName = "pgsql'; touch /tmp/x; '") }, "pgha:clusterName", NOT_A_NAME),
    refuse("cluster name with a systemd line", { edit: (v) => (v.clusterName = "pgsql\nExecStartPre=/bin/sh -c id") }, "pgha:clusterName", CONTROL),
    refuse("cluster name with a NUL", { edit: (v) => (v.clusterName = "pg\u0000sql") }, "pgha:clusterName", CONTROL),
    refuse("interface with ;", { edit: (v) => (v.vip.interface = "eth0;id") }, "pgha:vip.interface", /is not a valid interface name/),
    refuse("interface with a newline and a keepalived block", { edit: (v) => (v.vip.interface = "eth0\n}\nvrrp_script x {") }, "pgha:vip.interface", CONTROL),
    refuse("ssh user with ;", { edit: (v) => (v.ssh.user = "root;id") }, "pgha:ssh.user", /is not a valid user name/),
    refuse("per-node ssh user as an ssh option", { edit: (v) => (v.nodes[2].sshUser = "-oProxyCommand=id") }, "pgha:nodes[2].sshUser", /is not a valid user name/),
    refuse("private key path with a newline", { edit: (v) => (v.ssh.privateKeyPath = "~/.ssh/id\nx") }, "pgha:ssh.privateKeyPath", CONTROL),
    refuse("private key path that is a command", { edit: (v) => (v.ssh.privateKeyPath = "$(id)") }, "pgha:ssh.privateKeyPath", /must be an absolute path or start with ~\//),
    refuse("apt proxy with a trailing command", { edit: (v) => (v.packages.aptProxy = "http://10.0.0.1:3142/;id") }, "pgha:packages.aptProxy", /is not of the form http:\/\/host:port/),
    refuse("apt proxy with $( ) as host", { edit: (v) => (v.packages.aptProxy = "http://$(id):3142") }, "pgha:packages.aptProxy", /is not of the form http:\/\/host:port/),
    refuse("apt proxy with an apt option after a space", { edit: (v) => (v.packages.aptProxy = "http://p:3142 -o APT::Get::AllowUnauthenticated=1") }, "pgha:packages.aptProxy", /is not of the form/),
    refuse("apt proxy with a newline", { edit: (v) => (v.packages.aptProxy = 'http://p:3142\nAcquire::http::Proxy "x";') }, "pgha:packages.aptProxy", CONTROL),
    refuse("host key with a second key on a new line", { edit: (v) => (v.nodes[0].hostKey = "ssh-ed25519 AAAA\nssh-rsa BBBB") }, "pgha:nodes[0].hostKey", CONTROL),
    refuse("host key that starts with a command", { edit: (v) => (v.nodes[0].hostKey = "$(id) AAAA") }, "pgha:nodes[0].hostKey", /is not an OpenSSH public host key/),
    refuse("ssh host with ;", { edit: (v) => (v.nodes[1].sshHost = "host;id") }, "pgha:nodes[1].sshHost", /is neither a host name nor an IPv4 address/),
    refuse("ssh host as an ssh option", { edit: (v) => (v.nodes[1].sshHost = "-oProxyCommand=id") }, "pgha:nodes[1].sshHost", /is neither a host name nor an IPv4 address/),
    refuse("data dir with a space", { edit: (v) => (v.postgres.dataDir = "/srv/pg data") }, "pgha:postgres.dataDir", /is not an absolute path made of/),
    refuse("data dir with $( )", { edit: (v) => (v.postgres.dataDir = "/srv/$(id)") }, "pgha:postgres.dataDir", /is not an absolute path made of/),
    refuse("data dir climbing with ..", { edit: (v) => (v.postgres.dataDir = "/srv/../etc") }, "pgha:postgres.dataDir", /must not contain "\." or "\.\." segments/),
    refuse("etcd data dir /", { edit: (v) => (v.etcd = { dataDir: "/" }) }, "pgha:etcd.dataDir", NOT_A_DATA_DIR),
    refuse("bin dir with ;", { edit: (v) => (v.postgres.binDir = "/usr/lib/postgresql/15/bin;id") }, "pgha:postgres.binDir", /is not an absolute path made of/),
    refuse("bin dir with a newline", { edit: (v) => (v.postgres.binDir = "/usr/bin\n/tmp") }, "pgha:postgres.binDir", CONTROL),

    // --- PostgreSQL parameters: no second postgresql.conf line, no odd names
    refuse(
        "parameter value opening a second postgresql.conf line",
        { edit: (v) => (v.postgres.parameters = { application_name: "x'\nshared_preload_libraries = 'evil'" }) },
        "pgha:postgres.parameters.application_name",
        CONTROL,
    ),
    refuse("parameter value with a carriage return", { edit: (v) => (v.postgres.parameters = { application_name: "a\rb" }) }, "pgha:postgres.parameters.application_name", CONTROL),
    refuse("parameter value with a NUL", { edit: (v) => (v.postgres.parameters = { application_name: "a\u0000b" }) }, "pgha:postgres.parameters.application_name", CONTROL),
    refuse("parameter value with U+2028 (a line break to YAML 1.1)", { edit: (v) => (v.postgres.parameters = { application_name: "a\u2028b" }) }, "pgha:postgres.parameters.application_name", CONTROL),
    refuse("parameter value with NEL (U+0085)", { edit: (v) => (v.postgres.parameters = { application_name: "a\u0085b" }) }, "pgha:postgres.parameters.application_name", CONTROL),
    refuse(
        "parameter name holding a whole conf line",
        { edit: (v) => (v.postgres.parameters = { "work_mem = 1\nfsync": "off" }) },
        'pgha:postgres.parameters["work_mem = 1\\nfsync"]',
        NOT_A_PARAMETER_NAME,
    ),
    refuse("parameter name with a quote", { edit: (v) => (v.postgres.parameters = { "fsync'": "off" }) }, `pgha:postgres.parameters["fsync'"]`, NOT_A_PARAMETER_NAME),
    refuse(
        "parameter named __proto__ (zod would drop it silently)",
        { edit: (v) => (v.postgres.parameters = JSON.parse('{"__proto__": "x", "work_mem": "4MB"}')) },
        "pgha:postgres.parameters.__proto__",
        NOT_A_PARAMETER_NAME,
    ),
    refuse("parameter managed by Patroni", { edit: (v) => (v.postgres.parameters = { hba_file: "/tmp/hba" }) }, "pgha:postgres.parameters.hba_file", /^cannot be set here: /),
    refuse("parameter value an object", { edit: (v) => (v.postgres.parameters = { work_mem: { $gt: "" } }) }, "pgha:postgres.parameters.work_mem", /must be a string, number or boolean/),

    // --- Handlebars template injection, in every string that reaches a template
    refuse("cluster name with {{#each}}", { edit: (v) => (v.clusterName = "{{#each backends}}x{{/each}}") }, "pgha:clusterName", NOT_A_NAME),
    refuse("node name with {{constructor}}", { edit: (v) => (v.nodes[0].name = "{{constructor.constructor}}") }, "pgha:nodes[0].name", NOT_A_NAME),
    refuse("interface with a template", { edit: (v) => (v.vip.interface = "{{authPass}}") }, "pgha:vip.interface", /is not a valid interface name/),
    refuse("node address with a template", { edit: (v) => (v.nodes[1].address = "{{vipAddress}}") }, "pgha:nodes[1].address", /is not an IPv4 address/),
    refuse("VIP address with a template", { edit: (v) => (v.vip.address = "172.51.216.88 {{> x}}") }, "pgha:vip.address", /is not an IPv4 address/),
    refuse("parameter name with a template", { edit: (v) => (v.postgres.parameters = { "{{x}}": 1 }) }, 'pgha:postgres.parameters["{{x}}"]', NOT_A_PARAMETER_NAME),

    // --- Unicode and homoglyphs
    refuse("node name with a Cyrillic р", { edit: (v) => (v.nodes[0].name = "\u0440g1") }, "pgha:nodes[0].name", NOT_A_NAME),
    refuse("node name in fullwidth letters", { edit: (v) => (v.nodes[1].name = "ｐｇ２") }, "pgha:nodes[1].name", NOT_A_NAME),
    refuse("cluster name with a zero-width space", { edit: (v) => (v.clusterName = "pg\u200bsql") }, "pgha:clusterName", NOT_A_NAME),
    refuse("ssh user with Cyrillic o", { edit: (v) => (v.ssh.user = "r\u043e\u043et") }, "pgha:ssh.user", /is not a valid user name/),
    refuse("VIP in Arabic-Indic digits", { edit: (v) => (v.vip.address = "١٧٢.51.216.88") }, "pgha:vip.address", /is not an IPv4 address/),
    refuse("interface with a right-to-left override", { edit: (v) => (v.vip.interface = "eth0\u202e") }, "pgha:vip.interface", /is not a valid interface name/),

    // --- Huge values
    refuse("1 MB cluster name", { edit: (v) => (v.clusterName = "a".repeat(MB)) }, "pgha:clusterName", /^is 1048576 characters long; at most 63 are allowed$/),
    refuse("1 MB private key path", { edit: (v) => (v.ssh.privateKeyPath = `/${"k".repeat(MB)}`) }, "pgha:ssh.privateKeyPath", /^is 1048577 characters long; at most 4096 are allowed$/),
    refuse("1 MB parameter value", { edit: (v) => (v.postgres.parameters = { application_name: "v".repeat(MB) }) }, "pgha:postgres.parameters.application_name", /at most 4096 are allowed/),
    refuse(
        "1 MB parameter name",
        { edit: (v) => (v.postgres.parameters = { ["p".repeat(MB)]: 1 }) },
        `pgha:postgres.parameters["${"p".repeat(64)}"…]`,
        /^is 1048576 characters long; at most 63 are allowed$/,
    ),
    refuse("1 MB unknown key", { edit: (v) => (v["u".repeat(MB)] = 1) }, `pgha:["${"u".repeat(64)}"…]`, /^unknown key$/),
    refuse(
        "200 nodes",
        {
            edit: (v) => {
                delete v.vip;
                v.nodes = Array.from({ length: 200 }, (_, i) => ({ name: `n${i}`, address: `10.0.${i >> 7}.${(i % 128) + 1}`, roles: ["etcd", "postgres"] }));
            },
        },
        "pgha:nodes",
        /^200 nodes have the etcd role; at most 7 are supported$/,
    ),
    refuse("port 1e9", { edit: (v) => (v.postgres.port = 1e9) }, "pgha:postgres.port", /^1000000000 is not an integer in 1\.\.65535$/),
    refuse("ttl beyond a day", { edit: (v) => (v.patroni.ttl = "99999999999") }, "pgha:patroni.ttl", /is not an integer in 20\.\.86400/),

    // --- Numbers and booleans of the wrong shape
    refuse("port with trailing letters", { edit: (v) => (v.postgres.port = "5432abc") }, "pgha:postgres.port", /^expected a number, got a string$/),
    refuse("negative port as a string", { edit: (v) => (v.postgres.port = "-5432") }, "pgha:postgres.port", /^-5432 is not an integer in 1\.\.65535$/),
    refuse("negative ssh port", { edit: (v) => (v.ssh.port = -22) }, "pgha:ssh.port", /^-22 is not an integer in 1\.\.65535$/),
    refuse("float port", { edit: (v) => (v.haproxy.statsPort = 7000.5) }, "pgha:haproxy.statsPort", /^7000\.5 is not an integer/),
    refuse("float as a string", { edit: (v) => (v.postgres.version = "15.0") }, "pgha:postgres.version", /^expected a number, got a string$/),
    refuse("hex router id", { edit: (v) => (v.vip.virtualRouterId = "0x33") }, "pgha:vip.virtualRouterId", /^expected a number, got a string$/),
    refuse("port as a boolean", { edit: (v) => (v.postgres.port = true) }, "pgha:postgres.port", /^expected a number, got a boolean$/),
    refuse("boolean as yes", { edit: (v) => (v.destroy.deleteData = "yes") }, "pgha:destroy.deleteData", /^expected a boolean, got a string$/),
    refuse("boolean as True", { edit: (v) => (v.generateMissingSecrets = "True") }, "pgha:generateMissingSecrets", /^expected a boolean, got a string$/),
    refuse("boolean as 1", { edit: (v) => (v.patroni.synchronousMode = 1) }, "pgha:patroni.synchronousMode", /^expected a boolean, got a number$/),

    // --- null, arrays and objects in the wrong places
    refuse("cluster name null", { edit: (v) => (v.clusterName = null) }, "pgha:clusterName", /^expected a string, got null$/),
    refuse("nodes null", { edit: (v) => (v.nodes = null) }, "pgha:nodes", /^expected an array, got null$/),
    refuse("nodes as a map", { edit: (v) => (v.nodes = { pg1: v.nodes[0] }) }, "pgha:nodes", /^expected an array, got an object$/),
    refuse("a node that is a string", { edit: (v) => (v.nodes[1] = "pg2") }, "pgha:nodes[1]", /^expected an object, got a string$/),
    refuse("address as a list", { edit: (v) => (v.nodes[0].address = ["172.51.216.81"]) }, "pgha:nodes[0].address", /^expected a string, got an array$/),
    refuse("roles as one string", { edit: (v) => (v.nodes[2].roles = "etcd,postgres") }, "pgha:nodes[2].roles", /^expected an array, got a string$/),
    refuse("role as a list", { edit: (v) => (v.nodes[2].roles = [["etcd"]]) }, "pgha:nodes[2].roles[0]", /^expected a string, got an array$/),
    refuse("parameters as a list", { edit: (v) => (v.postgres.parameters = ["max_connections=200"]) }, "pgha:postgres.parameters", /^expected an object, got an array$/),
    refuse("ssh as a list", { edit: (v) => (v.ssh = []) }, "pgha:ssh", /^expected an object, got an array$/),
    refuse("VIP address as an object", { edit: (v) => (v.vip.address = {}) }, "pgha:vip.address", /^expected a string, got an object$/),
    refuse("vip null", { edit: (v) => (v.vip = null) }, "pgha:vip", /^expected an object, got null$/),
    refuse("client CIDRs as one string", { edit: (v) => (v.postgres.allowedClientCidrs = "172.51.216.0/24") }, "pgha:postgres.allowedClientCidrs", /^expected an array, got a string$/),
    refuse("a password given as an object", { edit: (v) => (v.superuserPassword = { value: "SeCrEtObJ" }) }, "pgha:superuserPassword", /^expected a string, got an object$/),

    // --- Missing required keys
    refuse("no nodes key", { edit: (v) => delete v.nodes }, "pgha:nodes", /^missing; list the servers/),
    refuse("empty node list", { edit: (v) => (v.nodes = []) }, "pgha:nodes", /^must list at least one server$/),
    refuse("node without name", { edit: (v) => delete v.nodes[0].name }, "pgha:nodes[0].name", /^missing$/),
    refuse("node without address", { edit: (v) => delete v.nodes[1].address }, "pgha:nodes[1].address", /^missing$/),
    refuse("node without roles", { edit: (v) => delete v.nodes[2].roles }, "pgha:nodes[2].roles", /^missing$/),
    refuse("node with empty roles", { edit: (v) => (v.nodes[2].roles = []) }, "pgha:nodes[2].roles", /^must list at least one role/),

    // --- Duplicate and conflicting roles and nodes
    refuse("two nodes with one name", { edit: (v) => (v.nodes[1].name = "pg1") }, "pgha:nodes[1].name", /^"pg1" is already used by pgha:nodes\[0\]$/),
    refuse("two nodes with one address", { edit: (v) => (v.nodes[2].address = "172.51.216.81") }, "pgha:nodes[2].address", /is already used by pgha:nodes\[0\]/),
    refuse("unknown role", { edit: (v) => (v.nodes[0].roles = ["primary"]) }, "pgha:nodes[0].roles[0]", /^unknown role "primary"/),
    refuse("keepalived without haproxy", { edit: (v) => (v.nodes[1].roles = ["etcd", "postgres", "keepalived"]) }, "pgha:nodes[1].roles", /^keepalived needs haproxy on the same node/),
    refuse("keepalived without a VIP", { edit: (v) => delete v.vip }, "pgha:vip", /^missing, but pgha:nodes\[0\] \(pg1\), pgha:nodes\[1\] \(pg2\) have the keepalived role$/),
    refuse("no postgres node", { edit: (v) => v.nodes.forEach((n: any) => (n.roles = n.roles.filter((r: string) => r !== "postgres"))) }, "pgha:nodes", /^no node has the postgres role/),
    refuse("no etcd node", { edit: (v) => v.nodes.forEach((n: any) => (n.roles = n.roles.filter((r: string) => r !== "etcd"))) }, "pgha:nodes", /^no node has the etcd role/),
    refuse("an even etcd count", { edit: (v) => (v.nodes[2].roles = ["haproxy"]) }, "pgha:nodes", /^2 nodes have the etcd role; an even count/),
    refuse(
        "a bad name does not break the message that repeats it",
        {
            edit: (v) => {
                delete v.vip;
                v.nodes[0].name = "pg1\nINJECTED";
            },
        },
        "pgha:vip",
        /^missing, but pgha:nodes\[0\] \("pg1\\nINJECTED"\), pgha:nodes\[1\] \(pg2\) have the keepalived role$/,
    ),

    // --- Unknown keys (typos)
    refuse("unknown top-level key", { edit: (v) => (v.clustername = "pgsql") }, "pgha:clustername", /^unknown key \(did you mean pgha:clusterName\?\)$/),
    refuse("unknown node key", { edit: (v) => (v.nodes[0].adress = "172.51.216.81") }, "pgha:nodes[0].adress", /^unknown key \(did you mean pgha:nodes\[0\]\.address\?\)$/),
    refuse("role instead of roles", { edit: (v) => (v.nodes[2].role = v.nodes[2].roles) }, "pgha:nodes[2].role", /^unknown key \(did you mean pgha:nodes\[2\]\.roles\?\)$/),
    refuse("unknown nested key", { edit: (v) => (v.postgres.paramters = {}) }, "pgha:postgres.paramters", /^unknown key \(did you mean pgha:postgres\.parameters\?\)$/),
    refuse("node key __proto__", { edit: (v) => (v.nodes[0] = JSON.parse(`{"__proto__": {"roles": ["etcd"]}, ${JSON.stringify(v.nodes[0]).slice(1)}`)) }, "pgha:nodes[0].__proto__", /^unknown key$/),
    refuse("stack key pgha:__proto__", { stack: (s) => (s["pgha:__proto__"] = '{"clusterName": "x"}') }, "pgha:__proto__", /^unknown key$/),
    refuse("stack key with an odd character", { stack: (s) => (s["pgha:cluster name\u2028"] = "x") }, 'pgha:["cluster name\\u2028"]', /^unknown key/),
    refuse("stack value of broken JSON", { stack: (s) => (s["pgha:nodes"] = '[{"name": "pg1",') }, "pgha:nodes", /^expected an array, got a string$/),
    refuse(
        "stack key set without --path",
        { stack: (s) => (s["pgha:postgres.port"] = "5433") },
        "pgha:postgres.port",
        /^unknown key; to set a field inside pgha:postgres use `pulumi config set --path/,
    ),

    // --- Security review (issue 16): unsafe defaults and values that widen or destroy
    refuse("data dir //etc, deleted by destroy", { edit: (v) => (deleting(v), (v.postgres.dataDir = "//etc")) }, "pgha:postgres.dataDir", NOT_A_DATA_DIR),
    refuse("etcd data dir /var//lib, deleted by destroy", { edit: (v) => (deleting(v), (v.etcd = { dataDir: "/var//lib" })) }, "pgha:etcd.dataDir", NOT_A_DATA_DIR),
    refuse("data dir /usr/bin", { edit: (v) => (deleting(v), (v.postgres.dataDir = "/usr/bin")) }, "pgha:postgres.dataDir", NOT_A_DATA_DIR),
    refuse("etcd data dir /usr/share", { edit: (v) => (deleting(v), (v.etcd = { dataDir: "/usr/share" })) }, "pgha:etcd.dataDir", NOT_A_DATA_DIR),
    refuse("data dir holding every cluster of a version", { edit: (v) => (deleting(v), (v.postgres.dataDir = "/var/lib/postgresql/15")) }, "pgha:postgres.dataDir", NOT_A_DATA_DIR),
    refuse(
        "data dir that is the parent of binDir",
        { edit: (v) => (deleting(v), (v.postgres.dataDir = "/opt/pg/15"), (v.postgres.binDir = "/opt/pg/15/bin")) },
        "pgha:postgres.dataDir",
        /^"\/opt\/pg\/15" overlaps pgha:postgres\.binDir "\/opt\/pg\/15\/bin"/,
    ),
    refuse("cluster name 0755, which YAML hands over as 493", { stack: (s) => (s["pgha:clusterName"] = "493") }, "pgha:clusterName", /^"493" is a number, not a name/),
    refuse("cluster name 1e3, which YAML hands over as 1000", { stack: (s) => (s["pgha:clusterName"] = "1000") }, "pgha:clusterName", /^"1000" is a number, not a name/),
    refuse("node name 0755, which YAML hands over as the number 493", { edit: (v) => (v.nodes[1].name = 493) }, "pgha:nodes[1].name", /^"493" is a number, not a name/),
    refuse("node name 0o17, which YAML hands over as the number 15", { edit: (v) => (v.nodes[0].name = 15) }, "pgha:nodes[0].name", /^"15" is a number, not a name/),
    refuse(
        "strict synchronous mode with one PostgreSQL node",
        { edit: (v) => ((v.patroni.synchronousMode = true), (v.patroni.synchronousModeStrict = true), (v.nodes[1].roles = ["etcd", "haproxy", "keepalived"])) },
        "pgha:patroni.synchronousModeStrict",
        /^is true, but pg1 is the only postgres node/,
    ),
    refuse(
        "strict synchronous mode with every replica nosync",
        { edit: (v) => ((v.patroni.synchronousMode = "true"), (v.patroni.synchronousModeStrict = "true"), (v.nodes[1].patroniTags = { nosync: "true" })) },
        "pgha:patroni.synchronousModeStrict",
        /^is true, but while pg1 leads no other postgres node can be its synchronous standby/,
    ),
    refuse(
        "a node without a pinned host key (verified by default)",
        { edit: (v) => delete v.nodes[2].hostKey },
        "pgha:nodes[2].hostKey",
        /^missing, and pgha:ssh\.strictHostKeys is true \(find it with `ssh-keyscan -t ed25519 172\.51\.216\.83 \| cut -d' ' -f2-`\)$/,
    ),

    // --- Secrets
    refuse("empty password without generation", { edit: noGenerate, secrets: { superuserPassword: "" } }, "pgha:superuserPassword", /^missing; set it with `pulumi config set --secret/),
    refuse("password with a newline", { secrets: { superuserPassword: "SeCrEt1\nlisten: 0.0.0.0" } }, "pgha:superuserPassword", CONTROL),
    refuse("password with a NUL", { secrets: { replicationPassword: "SeCrEt2\u0000tail" } }, "pgha:replicationPassword", CONTROL),
    refuse("password with a tab", { secrets: { replicationPassword: "SeCrEt3\ttail" } }, "pgha:replicationPassword", CONTROL),
    refuse("password with U+2028", { secrets: { superuserPassword: "SeCrEt4\u2028tail" } }, "pgha:superuserPassword", CONTROL),
    refuse("password with a C1 control (CSI)", { secrets: { superuserPassword: "SeCrEt5\u009b31m" } }, "pgha:superuserPassword", CONTROL),
    refuse("password with U+FFFE (PyYAML refuses the file)", { secrets: { superuserPassword: "SeCrEt6\ufffe" } }, "pgha:superuserPassword", /non-character/),
    refuse("password with an unpaired surrogate", { secrets: { replicationPassword: "SeCrEt7\ud800" } }, "pgha:replicationPassword", /unpaired surrogate/),
    refuse("password of 129 characters", { secrets: { superuserPassword: `SeCrEt8${"x".repeat(122)}` } }, "pgha:superuserPassword", /^must be 1 to 128 characters long$/),
    refuse("password of 1 MB", { secrets: { replicationPassword: `SeCrEt9${"y".repeat(MB)}` } }, "pgha:replicationPassword", /^must be 1 to 128 characters long$/),
    refuse("keepalived password with a space", { secrets: { keepalivedPassword: "KpSp ace1" } }, "pgha:keepalivedPassword", KEEPALIVED_CHARS),
    refuse("keepalived password with a double quote", { secrets: { keepalivedPassword: 'KpQu"ote' } }, "pgha:keepalivedPassword", KEEPALIVED_CHARS),
    refuse("keepalived password with a single quote", { secrets: { keepalivedPassword: "KpQu'ote" } }, "pgha:keepalivedPassword", KEEPALIVED_CHARS),
    refuse("keepalived password with # (a comment)", { secrets: { keepalivedPassword: "KpHa#sh1" } }, "pgha:keepalivedPassword", KEEPALIVED_CHARS),
    refuse("keepalived password with ! (a comment)", { secrets: { keepalivedPassword: "KpBa!ng1" } }, "pgha:keepalivedPassword", KEEPALIVED_CHARS),
    refuse("keepalived password with braces", { secrets: { keepalivedPassword: "Kp{Br}ce" } }, "pgha:keepalivedPassword", KEEPALIVED_CHARS),
    refuse("keepalived password with a backslash", { secrets: { keepalivedPassword: "KpBa\\sl1" } }, "pgha:keepalivedPassword", KEEPALIVED_CHARS),
    refuse("keepalived password with $_PWD (keepalived substitutes it)", { secrets: { keepalivedPassword: "abc$_PWD" } }, "pgha:keepalivedPassword", KEEPALIVED_CHARS),
    refuse("keepalived password with umlauts", { secrets: { keepalivedPassword: "Kpässwört" } }, "pgha:keepalivedPassword", KEEPALIVED_CHARS),
    refuse("ssh key that is not a key", { secrets: { sshPrivateKey: "SeCrEtKey $(id)" }, edit: (v) => delete v.ssh.privateKeyPath }, "pgha:sshPrivateKey", /^is not a PEM\/OpenSSH private key/),

    // --- Accepted: passwords with special characters work end to end
    accept("passwords full of shell metacharacters", { secrets: { superuserPassword: META_SUPER, replicationPassword: META_REPL, keepalivedPassword: META_KEEPALIVED } }),
    accept("passwords YAML 1.1 resolves specially: = and <<", { secrets: { superuserPassword: "=", replicationPassword: "<<" } }),
    accept("passwords YAML 1.1 reads as booleans and null", { secrets: { superuserPassword: "yes", replicationPassword: "~" } }),
    accept("passwords YAML 1.1 reads as numbers and dates", { secrets: { superuserPassword: "190:20:30", replicationPassword: "2001-12-14" } }),
    accept("passwords YAML 1.1 reads as octal and hex", { secrets: { superuserPassword: "0o17", replicationPassword: "0x1F" } }),
    accept("passwords starting with YAML indicators", { secrets: { superuserPassword: "- &a *b !c |d >e 'f' \"g\" %h @i `j`", replicationPassword: "#not a comment: {x: [y]}" } }),
    accept("passwords with leading and trailing spaces", { secrets: { superuserPassword: "  padded super  ", replicationPassword: "   " } }),
    accept("passwords that are YAML document markers", { secrets: { superuserPassword: "---", replicationPassword: "... end" } }),
    accept("unicode passwords", { secrets: { superuserPassword: "pässwörd-日本語-🔑-كلمة", replicationPassword: "RpUni e\u0301\u00a0\u200b\u202e\ufeff end" } }),
    accept("a password of exactly 128 metacharacters", { secrets: { superuserPassword: "$(x)`;&|'\"\\#:{{}}%".repeat(8).slice(0, 128) } }),
    accept("a keepalived password of 8 symbols", { secrets: { keepalivedPassword: "~%^&*()+" } }),
    accept("a keepalived password whose first 8 characters differ from the rest", { secrets: { keepalivedPassword: "Ab;&|<>:tail-ignored" } }),
    accept("empty secrets are generated", { secrets: { superuserPassword: "", replicationPassword: "", keepalivedPassword: "" } }),

    // --- Accepted: unusual but valid values
    accept("host key comment with template and shell syntax", { edit: (v) => (v.nodes[1].hostKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB7x it's {{constructor}} $(id) `id`; #") }),
    accept("private key path with spaces and shell syntax", { edit: (v) => (v.ssh.privateKeyPath = "~/.ssh/my key (work) $HOME 'x' {{y}}") }),
    accept("parameter values with quotes, backslashes, # and templates", {
        edit: (v) =>
            (v.postgres.parameters = {
                application_name: `it's "app" \\ #1 $(id) {{x}} ü`,
                search_path: '"$user", public',
                log_line_prefix: "%m [%p] %q%u@%d ",
            }),
    }),
    accept("a parameter value of 4096 characters", { edit: (v) => (v.postgres.parameters = { application_name: "a".repeat(4096) }) }),
    accept("an unusual but valid apt proxy", { edit: (v) => (v.packages.aptProxy = "http://Apt-Cache-1.internal.:3142/") }),
    accept("numbers and booleans as strings", {
        edit: (v) => {
            v.postgres.port = " 5433 ";
            v.ssh.strictHostKeys = "false";
            v.destroy.deleteData = "true";
        },
    }),
    accept("duplicate roles in one node", { edit: (v) => (v.nodes[2].roles = ["etcd", "etcd"]) }),
    accept("names YAML 1.1 readers would take for numbers, booleans or dates", {
        edit: (v) => ((v.clusterName = "0o17"), (v.nodes[0].name = "1e3"), (v.nodes[1].name = "0x1f"), (v.nodes[2].name = "2001-1-2")),
    }),
    accept("names that are YAML booleans", { edit: (v) => ((v.clusterName = "yes"), (v.nodes[0].name = "on"), (v.nodes[1].name = "n"), (v.nodes[2].name = "null")) }),
    acceptWithWarning("client CIDR 0.0.0.0/0", { edit: (v) => (v.postgres.allowedClientCidrs = ["0.0.0.0/0"]) }, "pgha:postgres.allowedClientCidrs[0]", /^0\.0\.0\.0\/0 is every IPv4 address/),
    acceptWithWarning(
        "client CIDR /8",
        { edit: (v) => (v.postgres.allowedClientCidrs = ["172.51.216.0/24", "10.0.0.0/8"]) },
        "pgha:postgres.allowedClientCidrs[1]",
        /^10\.0\.0\.0\/8 is wider than \/16/,
    ),
    acceptWithWarning(
        "host keys not verified (explicit opt-out)",
        { edit: (v) => ((v.ssh.strictHostKeys = false), delete v.nodes[1].hostKey) },
        "pgha:ssh.strictHostKeys",
        /^false: pg2 has no hostKey and accepts any SSH server key/,
    ),
];

// ---------------------------------------------------------------------------

const ACCEPTED = CASES.filter((c) => c.accepted);
const REFUSED = CASES.filter((c) => c.refused);

function secretsOf(c: Case): RawConfig["secrets"] {
    const merged: CaseSecrets = { ...FAKE_SECRETS, ...c.secrets };
    return Object.fromEntries(Object.entries(merged).filter(([, v]) => v !== undefined)) as RawConfig["secrets"];
}

/** The flat config Pulumi hands the program: objects and arrays as JSON text, scalars as text. */
function flatStack(values: Record<string, unknown>, secrets: RawConfig["secrets"]): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(values)) out[`pgha:${k}`] = typeof v === "object" && v !== null ? JSON.stringify(v) : String(v);
    for (const [k, v] of Object.entries(secrets)) out[`pgha:${k}`] = v!;
    return out;
}

function run(c: Case): ParseResult {
    const values = classicWith(c.edit ?? (() => undefined));
    const secrets = secretsOf(c);
    if (c.stack === undefined) return parseClusterConfig({ values, secrets }, { homedir: HOME });
    const flat = flatStack(values, secrets);
    c.stack(flat);
    const raw = readRawConfig(Object.keys(flat), (k) => flat[k], HOME);
    return parseClusterConfig(raw, { homedir: HOME });
}

/** Every secret value of a case worth searching for (short ones would match by chance). */
function secretValuesOf(c: Case): string[] {
    const all = [...Object.values(secretsOf(c)), "SeCrEtObJ"];
    return all.filter((s): s is string => typeof s === "string" && s.length >= 5);
}

describe("the table", () => {
    test("has at least 40 cases, each with one outcome and a unique name", () => {
        expect(CASES.length).toBeGreaterThanOrEqual(40);
        expect(new Set(CASES.map((c) => c.name)).size).toBe(CASES.length);
        for (const c of CASES) expect(Boolean(c.refused) !== Boolean(c.accepted)).toBe(true);
        expect(ACCEPTED.length).toBeGreaterThanOrEqual(10);
    });
});

describe("refused at preview, naming the key", () => {
    test.each(REFUSED.map((c) => [c.name, c] as const))("%s", (_name, c) => {
        const r = run(c);
        if (r.ok) throw new Error(`accepted, but must be refused at ${c.refused!.key}`);
        const { key, match } = c.refused!;
        const atKey = r.errors.filter((e) => e.startsWith(`${key}: `));
        const hit = atKey.some((e) => match.test(e.slice(key.length + 2)));
        if (!hit) throw new Error(`no message for ${key} matching ${match}; got:\n${r.errors.join("\n")}`);
        // Every message: key path first, one short line, no raw control character, no secret.
        const text = formatConfigErrors(r.errors);
        for (const e of r.errors) {
            expect(e).toMatch(/^pgha[:\s]/);
            expect(e.length).toBeLessThan(400);
            expect(e).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/);
        }
        for (const s of secretValuesOf(c)) expect(text).not.toContain(s);
    });
});

// ---------------------------------------------------------------------------
// Accepted cases: what every node's files look like with these inputs.

interface Accepted {
    readonly c: Case;
    readonly spec: ClusterSpec;
    readonly secrets: Secrets;
}

function accepted(c: Case): Accepted {
    const r = run(c);
    if (!r.ok) throw new Error(`refused, but must be accepted:\n${r.errors.join("\n")}`);
    const given = secretsOf(c);
    const pick = (n: keyof Secrets): string => (r.secretsToGenerate.includes(n) ? FAKE_SECRETS[n] : given[n]!);
    const secrets: Secrets = {
        superuserPassword: pick("superuserPassword"),
        replicationPassword: pick("replicationPassword"),
        keepalivedPassword: pick("keepalivedPassword"),
        restApiPassword: given.restApiPassword ?? FAKE_SECRETS.restApiPassword,
        pgbouncerAuthPassword: given.pgbouncerAuthPassword ?? FAKE_SECRETS.pgbouncerAuthPassword,
        monitoringPassword: given.monitoringPassword ?? FAKE_SECRETS.monitoringPassword,
    };
    for (const w of r.warnings) for (const s of secretValuesOf(c)) expect(w).not.toContain(s);
    if (c.warns !== undefined) {
        const { key, match } = c.warns;
        if (!r.warnings.some((w) => w.startsWith(`${key}: `) && match.test(w.slice(key.length + 2)))) {
            throw new Error(`no warning for ${key} matching ${match}; got:\n${r.warnings.join("\n")}`);
        }
    }
    return { c, spec: r.spec, secrets };
}

const HAPROXY_KEYWORDS = new Set([
    "global",
    "defaults",
    "listen",
    "log",
    "maxconn",
    "stats",
    "user",
    "group",
    "daemon",
    "mode",
    "retries",
    "timeout",
    "bind",
    "option",
    "http-check",
    "default-server",
    "server",
    "balance",
    "acl",
    "tcp-request",
]);
const KEEPALIVED_KEYWORDS = new Set([
    "global_defs",
    "router_id",
    "enable_script_security",
    "script_user",
    "vrrp_script",
    "script",
    "interval",
    "fall",
    "rise",
    "vrrp_instance",
    "state",
    "nopreempt",
    "interface",
    "virtual_router_id",
    "priority",
    "advert_int",
    "garp_master_refresh",
    "garp_master_refresh_repeat",
    "unicast_src_ip",
    "unicast_peer",
    "authentication",
    "auth_type",
    "auth_pass",
    "virtual_ipaddress",
    "track_script",
    "chk_haproxy",
    "}",
]);
const IPV4 = "(?:\\d{1,3}\\.){3}\\d{1,3}";
const KEEPALIVED_ADDRESS_LINE = new RegExp(`^${IPV4}(?:/\\d{1,2} dev \\S+)?$`);

/** Lines whose first word is not a keyword of the file's language (comments and blank lines aside). */
function strayLines(content: string, keywords: ReadonlySet<string>, extra?: RegExp): string[] {
    return content
        .split("\n")
        .map((l) => l.trim())
        .filter((l) => l !== "" && !l.startsWith("#"))
        .filter((l) => !keywords.has(l.split(/\s+/)[0]) && !(extra?.test(l) ?? false));
}

/** Dotted paths of the string leaves equal to `value`. */
function pathsOf(obj: unknown, value: string, at = ""): string[] {
    if (typeof obj === "string") return obj === value ? [at] : [];
    if (Array.isArray(obj)) return obj.flatMap((v, i) => pathsOf(v, value, `${at}[${i}]`));
    if (obj && typeof obj === "object") return Object.entries(obj).flatMap(([k, v]) => pathsOf(v, value, at ? `${at}.${k}` : k));
    return [];
}

const lineCount = (s: string): number => s.split("\n").length;
const classicSpec = specOf();
const classicLines = new Map<string, number>(classicSpec.nodes.flatMap((n) => renderNodeFiles(classicSpec, n, FAKE_SECRETS).map((f) => [`${n.name}:${f.path}`, lineCount(f.content)] as const)));

describe("accepted: every node's files keep their shape and their values", () => {
    test.each(ACCEPTED.map((c) => [c.name, c] as const))("%s", (_name, c) => {
        const { spec, secrets } = accepted(c);
        const su = secrets.superuserPassword;
        const repl = secrets.replicationPassword;
        const kp8 = secrets.keepalivedPassword.slice(0, 8);
        expect(su).not.toBe(repl);
        for (const node of spec.nodes) {
            const files = renderNodeFiles(spec, node, secrets);
            const redacted = new Map(renderNodeFiles(spec, node, PLACEHOLDER_SECRETS).map((f) => [f.path, f]));
            for (const f of files) {
                const where = `${node.name}:${f.path}`;
                // No line added or lost, whatever the secrets and values.
                expect([where, lineCount(f.content)]).toEqual([where, lineCount(redacted.get(f.path)!.content)]);
                if (classicLines.has(where)) expect([where, lineCount(f.content)]).toEqual([where, classicLines.get(where)]);
                if (f.path !== PATRONI_CONFIG_PATH) {
                    for (const pw of [su, repl]) if (pw.length >= 5) expect([where, f.content.includes(pw)]).toEqual([where, false]);
                }
                if (f.path !== KEEPALIVED_CONFIG_PATH && secrets.keepalivedPassword.length >= 5) {
                    expect([where, f.content.includes(kp8)]).toEqual([where, false]);
                }
            }
            const byPath = new Map(files.map((f) => [f.path, f]));

            const patroni = byPath.get(PATRONI_CONFIG_PATH);
            if (patroni) {
                const back = parseYaml(patroni.content, { version: "1.1" });
                expect(back).toEqual(patroniConfigObject(spec, node, secrets));
                expect(back.postgresql.authentication.superuser.password).toBe(su);
                expect(back.postgresql.authentication.rewind.password).toBe(su);
                expect(back.postgresql.authentication.replication.password).toBe(repl);
                // Passwords only under authentication.
                expect(pathsOf(back, su)).toEqual(["postgresql.authentication.superuser.password", "postgresql.authentication.rewind.password"]);
                expect(pathsOf(back, repl)).toEqual(["postgresql.authentication.replication.password"]);
                // Where the raw text holds a password, it is on a `password:` line.
                for (const pw of [su, repl].filter((p) => p.length >= 5)) {
                    for (const line of patroni.content.split("\n").filter((l) => l.includes(pw))) expect(line).toMatch(/^\s+password: /);
                }
                // Parameters go to the DCS as given, never into config.yml.
                const params = (patroniDynamicConfig(spec).postgresql as { parameters: Record<string, unknown> }).parameters;
                for (const [k, v] of Object.entries(spec.postgres.parameters)) {
                    expect(params[k]).toBe(v);
                    if (typeof v === "string" && v.length >= 5) expect(patroni.content.includes(v)).toBe(false);
                }
            }

            const etcd = byPath.get(ETCD_CONFIG_PATH);
            if (etcd) {
                const back = parseYaml(etcd.content, { version: "1.1" });
                expect(back).toEqual(etcdConfigObject(spec, node));
                for (const pw of [su, repl, kp8]) expect(pathsOf(back, pw)).toEqual([]);
            }

            const haproxy = byPath.get(HAPROXY_CONFIG_PATH);
            if (haproxy) expect(strayLines(haproxy.content, HAPROXY_KEYWORDS)).toEqual([]);

            const keepalived = byPath.get(KEEPALIVED_CONFIG_PATH);
            if (keepalived) {
                expect(strayLines(keepalived.content, KEEPALIVED_KEYWORDS, KEEPALIVED_ADDRESS_LINE)).toEqual([]);
                const lines = keepalived.content.split("\n");
                expect(lines.filter((l) => l.trim().startsWith("auth_pass"))).toEqual([`        auth_pass ${kp8}`]);
                // The first 8 characters only, on that line only.
                expect(lines.filter((l) => l.includes(kp8))).toHaveLength(1);
                if (secrets.keepalivedPassword.length > 8) expect(keepalived.content.includes(secrets.keepalivedPassword)).toBe(false);
            }
        }
    });
});

// ---------------------------------------------------------------------------
// The real readers, when this machine has them.

const has = (cmd: string, ...args: string[]): boolean => spawnSync(cmd, args, { stdio: "ignore" }).status === 0;

(has("python3", "-c", "import yaml") ? describe : describe.skip)("PyYAML (Patroni's reader) on the accepted cases", () => {
    test("reads every Patroni and etcd config back as the object it was built from", () => {
        const docs: { where: string; text: string; expected: unknown }[] = [];
        for (const c of ACCEPTED) {
            const { spec, secrets } = accepted(c);
            for (const node of spec.nodes) {
                for (const f of renderNodeFiles(spec, node, secrets)) {
                    const where = `${c.name} / ${node.name}:${f.path}`;
                    if (f.path === PATRONI_CONFIG_PATH) docs.push({ where, text: f.content, expected: patroniConfigObject(spec, node, secrets) });
                    if (f.path === ETCD_CONFIG_PATH) docs.push({ where, text: f.content, expected: etcdConfigObject(spec, node) });
                }
            }
        }
        // One interpreter for all documents; each read from its UTF-8 bytes, as Patroni reads its file.
        const script = [
            "import base64, json, sys, yaml",
            "out = []",
            "for b in json.load(sys.stdin):",
            "    try:",
            "        out.append({'ok': yaml.safe_load(base64.b64decode(b))})",
            "    except Exception as e:",
            "        out.append({'error': str(e)})",
            "print(json.dumps(out))",
        ].join("\n");
        const input = JSON.stringify(docs.map((d) => Buffer.from(d.text, "utf8").toString("base64")));
        const r = spawnSync("python3", ["-c", script], { input, maxBuffer: 64 * MB });
        expect(r.status).toBe(0);
        const results = JSON.parse(r.stdout.toString()) as { ok?: unknown; error?: string }[];
        docs.forEach((d, i) => expect([d.where, results[i]]).toEqual([d.where, { ok: d.expected }]));
    });
});

(has("keepalived", "--version") ? describe : describe.skip)("keepalived --config-test on the accepted passwords", () => {
    // Whatever this machine lacks (interfaces, the script user) is reported for the classic
    // config too: a password may add no message of its own (substitution, truncation, quotes).
    const configTest = (content: string): string[] => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgha-hostile-"));
        const file = path.join(dir, "keepalived.conf");
        fs.writeFileSync(file, content);
        const r = spawnSync("keepalived", ["--config-test", "-f", file], { encoding: "utf8", timeout: 20_000 });
        fs.rmSync(dir, { recursive: true });
        return `${r.stdout}${r.stderr}`
            .split("\n")
            .filter((l) => l.trim() !== "")
            .map((l) => l.split(file).join("<file>"));
    };

    test("no message beyond the classic config's", () => {
        const node = classicSpec.nodes[0];
        const baseline = new Set(configTest(renderKeepalivedConfig(classicSpec, node, FAKE_SECRETS).content));
        const passwords = new Set(ACCEPTED.map((c) => accepted(c).secrets.keepalivedPassword));
        for (const pw of passwords) {
            const extra = configTest(renderKeepalivedConfig(classicSpec, node, { keepalivedPassword: pw }).content).filter((l) => !baseline.has(l));
            expect([pw, extra]).toEqual([pw, []]);
        }
        // The check itself sees a broken password: keepalived substitutes $_PWD at the end of a line.
        const broken = renderKeepalivedConfig(classicSpec, node, FAKE_SECRETS).content.replace(/auth_pass \S+/, "auth_pass abc$_PWD");
        expect(configTest(broken).filter((l) => !baseline.has(l)).length).toBeGreaterThan(0);
    });
});

test("the classic example itself is accepted by the harness", () => {
    expect(run({ name: "classic" }).ok).toBe(true);
    expect(classicValues()).toEqual(classicWith(() => undefined));
});
