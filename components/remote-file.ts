// Placing a rendered file on a server, and the service unit that reads it.
// A file is a resource keyed by (server, path): only a change of its content
// rewrites it, and the content hash in the service's command text is what makes
// exactly that service reload or restart.
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { RenderedFile } from "../core/render/file";
import { NodeConnection, remoteScript, sha256, shq } from "./ssh";
import { managedFile } from "./managed-manifest";

export interface FileArgs {
    /**
     * The rendered file. For a file holding secrets this is the rendering with
     * placeholder secrets: its hash goes into the (public) command text, so the
     * diff stays readable while the real content travels only as secret stdin.
     */
    readonly file: RenderedFile;
    /** The real content, when the file holds secrets. */
    readonly secretContent?: pulumi.Output<string>;
    /** Leave the file in place on delete (distro-owned paths such as haproxy.cfg). */
    readonly keepOnDelete?: boolean;
    /**
     * A path pgha shares with the distro or the admin (haproxy.cfg, keepalived.conf): a file
     * found there when pgha first places its own is kept as `<path>.pgha-orig`. Only the
     * create step does it, and never over an existing copy: a later update would take
     * pgha's own file for the original.
     */
    readonly keepOriginal?: boolean;
    /**
     * What stands for this file in the trigger of the service reading it, when only part
     * of the content needs the service to re-apply: etcd's restart-relevant settings
     * (`etcdRestartFingerprint`), so that a new `initial-cluster` rewrites the file
     * without restarting etcd. Default: the content itself. Never a secret (it is hashed
     * into the public command text).
     */
    readonly restartKey?: string;
    /**
     * A service legitimately rewrites this file's content (etcd-member.py writes a joining
     * member's initial-cluster into etcd's config): `npm run drift` compares only its owner,
     * group and mode.
     */
    readonly contentRewritten?: boolean;
}

export interface PlacedFile {
    readonly resource: command.remote.Command;
    /** Public fingerprint of the content (of the redacted content for secret files). */
    readonly hash: string;
    /** Fingerprint of the real content, secret: changes when only a secret changes. */
    readonly secretHash: pulumi.Output<string>;
    /** What the service's trigger hashes for this file: `hash`, or the restart key's hash. */
    readonly triggerHash: string;
    /** Secret counterpart of `triggerHash`: `secretHash`, or the restart key's hash. */
    readonly secretTriggerHash: pulumi.Output<string>;
}

export function placeFile(conn: NodeConnection, args: FileArgs, opts: pulumi.CustomResourceOptions): PlacedFile {
    const f = args.file;
    const hash = sha256(f.content).slice(0, 16);
    // pgha:repair: a new token rewrites the file and, through the trigger hash, re-applies its service.
    const token = conn.repair?.[f.path];
    conn.manifest?.addFile(conn.node.name, managedFile(f, args.contentRewritten ? "unchecked" : args.secretContent ? "secret" : "content"), args.secretContent);
    const script = (keepOriginal: boolean) =>
        [
            `f=${shq(f.path)}`,
            `# content sha256:${hash} mode ${f.mode} ${f.owner}:${f.group}`,
            ...(token !== undefined ? [`# repair ${token}`] : []),
            `install -d -m 0755 "$(dirname "$f")"`,
            ...(keepOriginal ? [`if { [ -e "$f" ] || [ -L "$f" ]; } && [ ! -e "$f.pgha-orig" ] && [ ! -L "$f.pgha-orig" ]; then cp -a "$f" "$f.pgha-orig"; fi`] : []),
            // mktemp creates the file 0600, so a secret is never readable while being written.
            `tmp=$(mktemp "$f.pgha-XXXXXX")`,
            `trap 'rm -f "$tmp"' EXIT`,
            `cat >"$tmp"`,
            `chown ${shq(`${f.owner}:${f.group}`)} "$tmp"`,
            `chmod ${shq(f.mode)} "$tmp"`,
            `mv -f "$tmp" "$f"`,
            `trap - EXIT`,
        ].join("\n");
    const content = args.secretContent ? pulumi.secret(args.secretContent) : pulumi.output(f.content);
    const resource = remoteScript(
        `${conn.node.name}:${f.path}`,
        {
            conn,
            what: `write ${conn.node.name}:${f.path}`,
            create: script(args.keepOriginal === true),
            update: script(false),
            delete: args.keepOnDelete ? undefined : `rm -f ${shq(f.path)}`,
            stdin: content,
            timeoutSec: 60,
        },
        opts,
    );
    const secretHash = pulumi.secret(content.apply((c) => sha256(c)));
    const repaired = (h: string): string => (token === undefined ? h : sha256(`${h} repair ${token}`).slice(0, 16));
    if (args.restartKey === undefined) return { resource, hash, secretHash, triggerHash: repaired(hash), secretTriggerHash: secretHash };
    const key = args.restartKey;
    return { resource, hash, secretHash, triggerHash: repaired(sha256(key).slice(0, 16)), secretTriggerHash: pulumi.secret(pulumi.output(sha256(key))) };
}

export interface ServiceArgs {
    readonly conn: NodeConnection;
    readonly unit: string;
    /** First start: enable, start, wait until healthy. */
    readonly start: string;
    /** What a config change does (reload, or restart when reload cannot apply it). */
    readonly apply: string;
    /** `pulumi destroy` / removal: stop and disable (data handling is the caller's). */
    readonly stop: string;
    /** The files this unit reads: their trigger hashes decide when `apply` runs. */
    readonly files: readonly PlacedFile[];
    readonly timeoutSec?: number;
    /** The systemd units that must be enabled and active (`npm run drift`); default: `unit`. */
    readonly units?: readonly string[];
}

/** The public digest in a service's command text: it changes exactly when `apply` must run. */
export function serviceDigest(files: readonly PlacedFile[]): string {
    return sha256(files.map((f) => f.triggerHash).join(",")).slice(0, 16);
}

export function serviceUnit(name: string, args: ServiceArgs, opts: pulumi.CustomResourceOptions): command.remote.Command {
    const units = args.units ?? [args.unit];
    for (const u of units) args.conn.manifest?.addUnit(args.conn.node.name, u);
    // pgha:repair of a unit: a new token enables it and starts it when it is not active (else applies, as usual).
    const tokens = [...new Set([args.unit, ...units])].flatMap((u) => (args.conn.repair?.[u] !== undefined ? [`${u}=${args.conn.repair[u]}`] : []));
    const digest = tokens.length === 0 ? serviceDigest(args.files) : sha256(`${serviceDigest(args.files)} repair ${tokens.join(",")}`).slice(0, 16);
    const apply = tokens.length === 0 ? args.apply : repairApply(units, args.start, args.apply);
    // Secret-only changes (a rotated password) must also re-apply: their digest rides on stdin,
    // which the scripts never read but the engine diffs, encrypted.
    const secretDigest = pulumi.secret(pulumi.all(args.files.map((f) => f.secretTriggerHash)).apply((hs) => sha256(hs.join(","))));
    const withDigest = (body: string) => `# ${args.unit} config ${digest}\n${body}`;
    return remoteScript(
        name,
        {
            conn: args.conn,
            what: `${args.unit} on ${args.conn.node.name}`,
            create: withDigest(args.start),
            update: withDigest(apply),
            delete: args.stop,
            stdin: secretDigest,
            timeoutSec: args.timeoutSec ?? 300,
        },
        { ...opts, dependsOn: [...toArray(opts.dependsOn), ...args.files.map((f) => f.resource)] },
    );
}

/** A repaired unit's update: enabled again, started (the first-start script) when not active, else the usual apply. */
export function repairApply(units: readonly string[], start: string, apply: string): string {
    const list = units.map(shq).join(" ");
    return [
        // is-active with several units succeeds when any is active: each is asked alone.
        `all_active=true`,
        `for u in ${list}; do systemctl enable "$u" >/dev/null 2>&1 || true; systemctl is-active --quiet "$u" || all_active=false; done`,
        `if ! $all_active; then`,
        `  echo "pgha: repair: starting ${units.join(", ").replace(/["$`\\]/g, "")}"`,
        ...start.split("\n").map((l) => `  ${l}`),
        `else`,
        ...apply.split("\n").map((l) => `  ${l}`),
        `fi`,
    ].join("\n");
}

/** Where a service's restart key lives on the node: what its running process was started with. */
export const RESTART_KEY_DIR = "/var/lib/pgha/restart-keys";

/**
 * A service's `apply` when only some changes need a restart (limits from a systemd drop-in,
 * listening addresses): `restartKey` names what the running process was started with (no
 * secret: it is hashed into the public command text). It restarts when the key differs from
 * the one recorded at the last start (or none is recorded), and reloads otherwise.
 */
export function restartOrReload(unit: string, restartKey: string, restart: string, reload: string): string {
    const key = sha256(restartKey).slice(0, 16);
    const file = `${RESTART_KEY_DIR}/${unit}`;
    return [
        `systemctl daemon-reload`,
        `if [ "$(cat ${file} 2>/dev/null || true)" != ${key} ]; then`,
        `  echo "pgha: ${unit}: a setting only a restart applies changed: restarting"`,
        ...restart.split("\n").map((l) => `  ${l}`),
        `else`,
        ...reload.split("\n").map((l) => `  ${l}`),
        `fi`,
        recordRestartKey(unit, restartKey),
    ].join("\n");
}

/** Records `restartKey` as what `unit` runs with (after a start or restart). */
export function recordRestartKey(unit: string, restartKey: string): string {
    return `install -d -m 0755 ${RESTART_KEY_DIR} && echo ${sha256(restartKey).slice(0, 16)} >${RESTART_KEY_DIR}/${unit}`;
}

/**
 * Gives the running `unit` (its main process) the open-files limit its drop-in now sets, so a
 * new limit needs no restart: systemd applies LimitNOFILE only at exec, prlimit(1) to a running
 * process. Where that fails, `fallback` runs (a restart).
 */
export function raiseNofile(unit: string, nofile: number, fallback: string): string {
    return [
        `pid=$(systemctl show -p MainPID --value ${unit})`,
        // Only when it differs: prlimit on another user's process needs CAP_SYS_RESOURCE even for the same value.
        `cur=$(awk '/^Max open files/ {print $4 ":" $5}' "/proc/$pid/limits" 2>/dev/null || true)`,
        `if [ "$pid" -gt 0 ] && [ "$cur" != ${nofile}:${nofile} ] && ! prlimit --pid "$pid" --nofile=${nofile}:${nofile}; then`,
        `  echo "pgha: ${unit}: cannot raise the running process's open files to ${nofile}: restarting"`,
        ...fallback.split("\n").map((l) => `  ${l}`),
        `fi`,
    ].join("\n");
}

/**
 * Refuses to start `unit` with more open files than this host lets a service have (the hard
 * limit of systemd itself, PID 1): systemd would fail the start with a bare EPERM.
 */
export function nofileCheck(node: string, unit: string, need: number, key: string): string {
    return [
        `have=$(awk '/^Max open files/ {print $5}' /proc/1/limits)`,
        `if [ "$have" != unlimited ] && [ ${need} -gt "$have" ]; then`,
        `  echo "pgha: ${node}: ${unit} needs ${need} open files (LimitNOFILE, from ${key}), but this host lets a service have at most $have: lower ${key}" >&2`,
        `  exit 1`,
        `fi`,
    ].join("\n");
}

function toArray<T>(x: pulumi.Input<pulumi.Input<T>[]> | pulumi.Input<T> | undefined): pulumi.Input<T>[] {
    if (x === undefined) return [];
    return Array.isArray(x) ? (x as pulumi.Input<T>[]) : [x as pulumi.Input<T>];
}
