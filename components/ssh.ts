// The one module that does remote work. Everything pgha runs on a server goes
// through remoteScript(): connection from the spec (host key pinning, sudo for
// non-root), the script under `set -euo pipefail` and `timeout`, data and
// secrets only through stdin, never in the command text (visible in `ps` and
// in error messages).
import * as crypto from "crypto";
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { shq } from "../core/shell";
import { NodeSpec } from "../core/spec";
import type { ManagedManifest } from "./managed-manifest";

export interface NodeConnection {
    readonly node: NodeSpec;
    readonly connection: command.types.input.remote.ConnectionArgs;
    /** Non-root logins run scripts through `sudo -n`. */
    readonly sudo: boolean;
    /** Where placeFile and serviceUnit record what they manage (npm run drift); absent outside buildCluster. */
    readonly manifest?: ManagedManifest;
    /** pgha:repair for this node: path or unit → token (core/spec.ts). */
    readonly repair?: Readonly<Record<string, string>>;
}

export function nodeConnection(node: NodeSpec, privateKey: pulumi.Input<string>): NodeConnection {
    return {
        node,
        sudo: node.sshUser !== "root",
        connection: {
            host: node.sshHost,
            port: node.sshPort,
            user: node.sshUser,
            privateKey: pulumi.secret(privateKey),
            ...(node.hostKey ? { hostKey: node.hostKey } : {}),
            dialErrorLimit: 20,
            perDialTimeout: 10,
        },
    };
}

export function sha256(text: string): string {
    return crypto.createHash("sha256").update(text).digest("hex");
}

/** Single-quote a string for POSIX shells. */
// Quoting lives in the core (its renderers quote too); the components import it from here.
export { shq };

/**
 * Wraps a bash script body into the command text sent over SSH: strict mode,
 * bounded by `timeout`, through `sudo -n` when needed, and a readable reason
 * when the time bound is hit. The body itself must never contain a secret.
 */
export function wrapScript(body: string, opts: { sudo: boolean; timeoutSec: number; what: string }): string {
    const script = `set -euo pipefail\n${body.trim()}\n`;
    const run = `${opts.sudo ? "sudo -n " : ""}timeout --kill-after=10 ${opts.timeoutSec} bash -c ${shq(script)}`;
    // The outer shell is the login shell (any POSIX sh): keep it minimal.
    return [
        `# pgha: ${opts.what}`,
        `${run}; rc=$?`,
        // Drain stdin before exiting. The provider writes stdin while the command runs (a delete
        // gets the resource's stored stdin too, e.g. a placed file's content); a command that exits
        // without reading all of it closes the channel under that write, and the provider reports
        // "EOF" for a command that succeeded (x/crypto/ssh's Session.Wait returns the copy's error).
        `cat >/dev/null 2>&1 || true`,
        `if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then echo "pgha: ${opts.what.replace(/["$`\\]/g, "")}: timed out after ${opts.timeoutSec}s" >&2; fi`,
        `exit "$rc"`,
    ].join("\n");
}

export interface RemoteScriptArgs {
    readonly conn: NodeConnection;
    /** Short human description, shown in the command text and in timeout messages. */
    readonly what: string;
    readonly create: pulumi.Input<string>;
    /** Runs when a non-trigger input changes; defaults to `create`. */
    readonly update?: pulumi.Input<string>;
    readonly delete?: pulumi.Input<string>;
    /** Data for the script; marked secret by the caller when it holds secrets. */
    readonly stdin?: pulumi.Input<string>;
    readonly timeoutSec?: number;
}

/** A remote.Command running pgha scripts on one node. */
export function remoteScript(name: string, args: RemoteScriptArgs, opts: pulumi.CustomResourceOptions): command.remote.Command {
    const timeoutSec = args.timeoutSec ?? 300;
    const wrap = (body: pulumi.Input<string> | undefined, phase: string) =>
        body === undefined ? undefined : pulumi.output(body).apply((b) => wrapScript(b, { sudo: args.conn.sudo, timeoutSec, what: `${args.what} (${phase})` }));
    return new command.remote.Command(
        name,
        {
            connection: args.conn.connection,
            create: wrap(args.create, "create")!,
            update: wrap(args.update ?? args.create, "update"),
            delete: wrap(args.delete, "delete"),
            stdin: args.stdin,
            // Previous output must not travel by SSH setenv (needs sshd AcceptEnv).
            addPreviousOutputInEnv: false,
            logging: "stdoutAndStderr",
        },
        { ...opts, customTimeouts: { create: `${timeoutSec + 60}s`, update: `${timeoutSec + 60}s`, delete: `${timeoutSec + 60}s` } },
    );
}
