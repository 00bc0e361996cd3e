// The unit every renderer produces: one file on one server, with the mode and
// ownership the component must give it.

import { Document, Scalar, visit } from "yaml";
import { NodeSpec, Role, Secrets } from "../spec";

export interface RenderedFile {
    /** Absolute path on the server. */
    readonly path: string;
    readonly content: string;
    /** Octal, e.g. "0644". */
    readonly mode: string;
    readonly owner: string;
    readonly group: string;
}

/**
 * Stand-ins for the real secrets: render with these to get content that can
 * be hashed, logged or shown in a diff without revealing anything. Each is a
 * valid value (the keepalived one passes keepalived's character rules).
 */
export const PLACEHOLDER_SECRETS: Secrets = {
    superuserPassword: "<redacted:superuserPassword>",
    replicationPassword: "<redacted:replicationPassword>",
    keepalivedPassword: "<redacted:keepalivedPassword>",
    restApiPassword: "<redacted:restApiPassword>",
    pgbouncerAuthPassword: "<redacted:pgbouncerAuthPassword>",
    monitoringPassword: "<redacted:monitoringPassword>",
};

/**
 * YAML for daemons that read YAML 1.1 (Patroni's PyYAML, etcd's go-yaml v2):
 * the 1.1 schema quotes strings such as "on", "off", "yes" or "1:30" that a
 * 1.1 reader would otherwise take for booleans or numbers. No line folding
 * (long initial-cluster strings stay on one line) and no anchors.
 */
export function toYaml11(value: unknown): string {
    const doc = new Document(value, { version: "1.1", aliasDuplicateObjects: false });
    // PyYAML also resolves a plain "=" (the 1.1 value type) and "<<" (merge key),
    // which the yaml package writes bare: a password "=" would make Patroni's
    // config unreadable. Write them as explicit, quoted strings.
    visit(doc, {
        Scalar(_key, node) {
            if (typeof node.value !== "string") return;
            if (PYYAML_RESOLVED_RE.test(node.value)) {
                node.type = Scalar.QUOTE_DOUBLE;
                node.tag = "tag:yaml.org,2002:str";
            } else if (goYamlNonString(node.value)) {
                node.type = Scalar.QUOTE_DOUBLE;
            }
        },
    });
    return doc.toString({ lineWidth: 0 });
}

const PYYAML_RESOLVED_RE = /^(=|<<)$/;

/**
 * Whether Go's YAML readers (etcd 3.4: go-yaml v2 through sigs.k8s.io/yaml)
 * would resolve the plain scalar `s` to something other than a string. They
 * read numbers with Go's strconv after dropping "_" (so `0o17` is 15, beyond
 * YAML 1.1) and dates in the short form 2001-1-2. A superset is fine: a
 * quoted string is a string to every reader.
 */
function goYamlNonString(s: string): boolean {
    if (GO_YAML_WORDS.has(s)) return true;
    if (!/^[-+.0-9]/.test(s)) return false;
    if (/^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}/.test(s)) return true;
    const plain = s.replace(/_/g, "");
    return GO_INT_RE.test(plain) || GO_YAML_FLOAT_RE.test(plain);
}
const GO_YAML_WORDS = new Set([
    "y",
    "Y",
    "yes",
    "Yes",
    "YES",
    "on",
    "On",
    "ON",
    "true",
    "True",
    "TRUE",
    "n",
    "N",
    "no",
    "No",
    "NO",
    "off",
    "Off",
    "OFF",
    "false",
    "False",
    "FALSE",
    "null",
    "Null",
    "NULL",
    "~",
    ".nan",
    ".NaN",
    ".NAN",
    ".inf",
    ".Inf",
    ".INF",
    "+.inf",
    "+.Inf",
    "+.INF",
    "-.inf",
    "-.Inf",
    "-.INF",
    "<<",
]);
/** strconv.ParseInt(s, 0, 64) syntax: 0x, 0o, 0b prefixes, a leading 0 for octal. */
const GO_INT_RE = /^[-+]?(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|[0-9]+)$/;
/** go-yaml's yamlStyleFloat. */
const GO_YAML_FLOAT_RE = /^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/;

export function file(path: string, content: string, mode: string, owner = "root", group = owner): RenderedFile {
    return { path, content, mode, owner, group };
}

/** Renderers refuse a node that does not run the service: a wiring mistake, not a config one. */
export function requireRole(node: NodeSpec, role: Role, what: string): void {
    if (!node.roles.includes(role)) throw new Error(`pgha: ${what} requested for ${node.name}, which lacks the ${role} role`);
}
