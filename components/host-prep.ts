// Per-server preparation: the packages a node's roles need (installed only when
// missing, through the apt proxy when set), and the distro defaults neutralised
// safely before Patroni and pgha's etcd take over. Nothing here deletes data.
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { ClusterSpec, NodeSpec, Role } from "../core/spec";
import { ETCD_NODE_TOOLS, LEADER_AWAY, POSTGRES_NODE_TOOLS } from "./pgha-tools";
import { needsLeaderAway } from "../core/render/etcd-leader-away";
import { PlacedFile, placeFile } from "./remote-file";
import { NodeConnection, remoteScript, shq } from "./ssh";

/** Debian packages and the programs they must provide, per role. */
export function packagesFor(spec: ClusterSpec, roles: readonly Role[]): { packages: string[]; programs: string[] } {
    const v = spec.postgres.version;
    const table: Record<Role, { packages: string[]; programs: string[] }> = {
        // python3: pgha's etcd-member.py (join, leave, membership) runs on every member.
        etcd: { packages: ["etcd-server", "etcd-client", "python3"], programs: ["/usr/bin/etcd", "/usr/bin/etcdctl", "/usr/bin/python3"] },
        postgres: {
            packages: [`postgresql-${v}`, `postgresql-client-${v}`, "patroni", "python3-etcd", "python3-psycopg2"],
            programs: [`${spec.postgres.binDir}/postgres`, `${spec.postgres.binDir}/pg_rewind`, "/usr/bin/patroni", "/usr/bin/patronictl", "/usr/bin/psql"],
        },
        haproxy: { packages: ["haproxy"], programs: ["/usr/sbin/haproxy"] },
        keepalived: { packages: ["keepalived"], programs: ["/usr/sbin/keepalived"] },
    };
    const packages = [...new Set(roles.flatMap((r) => table[r].packages))];
    const programs = [...new Set(roles.flatMap((r) => table[r].programs))];
    return { packages, programs };
}

/** The line that marks /usr/sbin/policy-rc.d as pgha's own, temporary one. */
const POLICY_RC_MARK = "# pgha: temporary, while pgha installs packages";

export function hostPrepScript(spec: ClusterSpec, node: NodeSpec): string {
    const { packages, programs } = packagesFor(spec, node.roles);
    const has = (r: Role) => node.roles.includes(r);
    const lines = [
        `node=${shq(node.name)}`,
        `missing=()`,
        `for p in ${packages.map(shq).join(" ")}; do`,
        `  st=$(dpkg-query -W -f='\${Status}' "$p" 2>/dev/null || true)`,
        `  [ "$st" = "install ok installed" ] || missing+=("$p")`,
        `done`,
        `if [ "\${#missing[@]}" -gt 0 ]; then`,
    ];
    if (spec.packages.install) {
        const proxy = spec.packages.aptProxy ? `-o Acquire::http::Proxy=${shq(spec.packages.aptProxy)}` : "";
        lines.push(
            `  echo "pgha: $node: installing \${missing[*]}"`,
            `  apt_log=$(mktemp)`,
            // Keep services from starting with distro defaults while they install. A policy-rc.d
            // already there is the admin's: moved aside meanwhile and put back as it was.
            `  prc=/usr/sbin/policy-rc.d; prc_saved=/usr/sbin/policy-rc.d.pgha-saved; prc_mark=${shq(POLICY_RC_MARK)}`,
            // Safe in any state: removes only pgha's own policy, restores only into a free place.
            `  restore_prc() {`,
            `    if grep -qsxF "$prc_mark" "$prc"; then rm -f "$prc"; fi`,
            `    if [ -e "$prc_saved" ] && [ ! -e "$prc" ] && [ ! -L "$prc" ]; then mv "$prc_saved" "$prc"; fi`,
            `  }`,
            // What a run killed before its cleanup left behind.
            `  restore_prc`,
            `  trap 'restore_prc; rm -f "$apt_log"' EXIT`,
            `  if [ -e "$prc" ] || [ -L "$prc" ]; then`,
            `    [ ! -e "$prc_saved" ] || { echo "pgha: $node: both $prc and $prc_saved exist, neither written by pgha: keep the right one, remove the other" >&2; exit 1; }`,
            `    mv "$prc" "$prc_saved"`,
            `  fi`,
            `  printf '#!/bin/sh\\n%s\\nexit 101\\n' "$prc_mark" >"$prc"; chmod 0755 "$prc"`,
            `  export DEBIAN_FRONTEND=noninteractive`,
            `  apt-get ${proxy} -q -o Dpkg::Use-Pty=0 update >"$apt_log" 2>&1 || { tail -n 20 "$apt_log" >&2; echo "pgha: $node: apt-get update failed" >&2; exit 1; }`,
            `  apt-get ${proxy} -q -y -o Dpkg::Use-Pty=0 --no-install-recommends install "\${missing[@]}" >>"$apt_log" 2>&1 || { tail -n 20 "$apt_log" >&2; echo "pgha: $node: apt-get install failed" >&2; exit 1; }`,
            `  restore_prc; rm -f "$apt_log"; trap - EXIT`,
        );
    } else {
        lines.push(`  echo "pgha: $node: pgha:packages.install is false, but these packages are missing: \${missing[*]}" >&2`, `  exit 1`);
    }
    lines.push(`fi`);
    lines.push(
        `for prog in ${programs.map(shq).join(" ")}; do`,
        `  [ -x "$prog" ] || { echo "pgha: $node: required program $prog is missing" >&2; exit 1; }`,
        `done`,
    );
    if (has("postgres")) {
        lines.push(
            // Patroni runs PostgreSQL: the distro's own clusters are stopped and kept from
            // starting again, but never dropped: their data stays where it is.
            `systemctl disable --now postgresql >/dev/null 2>&1 || true`,
            `for conf in /etc/postgresql/*/*/start.conf; do`,
            `  [ -e "$conf" ] || continue`,
            `  ver=$(basename "$(dirname "$(dirname "$conf")")"); name=$(basename "$(dirname "$conf")")`,
            `  pg_ctlcluster "$ver" "$name" stop >/dev/null 2>&1 || true`,
            `  [ "$(tr -d '[:space:]' <"$conf")" = disabled ] || echo disabled >"$conf"`,
            `done`,
        );
    }
    if (has("etcd")) {
        // The distro's etcd runs a throwaway single-node cluster in its default data dir;
        // pgha's member uses its own data dir, so that one is only stopped.
        lines.push(`[ -e /etc/systemd/system/etcd.service.d/pgha.conf ] || systemctl stop etcd >/dev/null 2>&1 || true`);
    }
    if (has("keepalived")) {
        // The tracking script runs unprivileged (enable_script_security).
        lines.push(`id keepalived_script >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin keepalived_script`);
    }
    lines.push(`echo "pgha: $node: packages ready"`);
    return lines.join("\n");
}

export interface HostPrepArgs {
    readonly spec: ClusterSpec;
    readonly conn: NodeConnection;
}

/** The first step on every server; every other resource on it depends on this one. */
export class HostPrep extends pulumi.ComponentResource {
    public readonly ready: command.remote.Command;
    /** pgha's helper programs on postgres and etcd nodes. */
    public readonly tools: PlacedFile[];

    constructor(name: string, args: HostPrepArgs, opts?: pulumi.ComponentResourceOptions) {
        super("pgha:host:HostPrep", name, {}, opts);
        const node = args.conn.node;
        this.ready = remoteScript(
            `${node.name}:packages`,
            { conn: args.conn, what: `packages on ${node.name}`, create: hostPrepScript(args.spec, node), timeoutSec: 900 },
            { parent: this },
        );
        const tools = [
            ...(node.roles.includes("postgres") ? POSTGRES_NODE_TOOLS : []),
            ...(node.roles.includes("etcd") ? ETCD_NODE_TOOLS : []),
            ...(needsLeaderAway(args.spec, node) ? [LEADER_AWAY] : []),
        ];
        this.tools = tools.map((file) => placeFile(args.conn, { file }, { parent: this, dependsOn: [this.ready] }));
        this.registerOutputs({ ready: this.ready.stdout });
    }
}
