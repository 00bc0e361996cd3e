// Patroni's dynamic settings (timings, synchronous mode, PostgreSQL parameters)
// live in the DCS: applied once for the cluster through the REST API of one
// member, with a rolling restart only when PostgreSQL says it needs one.
import * as fs from "fs";
import * as path from "path";
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { patroniDynamicConfig } from "../core/render/patroni";
import { ClusterSpec } from "../core/spec";
import { patroniApiUrl } from "../core/topology";
import { NodeConnection, remoteScript, shq } from "./ssh";

const APPLY_SCRIPT = fs.readFileSync(path.join(__dirname, "remote-scripts", "patroni-dcs-apply.py"), "utf8");

export interface PatroniDynamicConfigArgs {
    readonly spec: ClusterSpec;
    /** A postgres member whose REST API takes the PATCH (its own address is on the allowlist). */
    readonly conn: NodeConnection;
    readonly after: pulumi.Resource[];
}

export function dynamicConfigScript(spec: ClusterSpec, conn: NodeConnection): string {
    // Sorted keys: the same settings always give the same command text (no spurious diff).
    const desired = JSON.stringify(sortKeys(patroniDynamicConfig(spec)));
    return [
        `# desired: ${desired}`,
        `python3 - ${shq(desired)} ${shq(patroniApiUrl(spec, conn.node))} <<'PY'`,
        APPLY_SCRIPT.trimEnd(),
        `PY`,
    ].join("\n");
}

export class PatroniDynamicConfig extends pulumi.ComponentResource {
    public readonly applied: command.remote.Command;

    constructor(name: string, args: PatroniDynamicConfigArgs, opts?: pulumi.ComponentResourceOptions) {
        super("pgha:patroni:PatroniDynamicConfig", name, {}, opts);
        this.applied = remoteScript(
            `${args.spec.clusterName}:dynamic-config`,
            { conn: args.conn, what: `Patroni dynamic config of ${args.spec.clusterName}`, create: dynamicConfigScript(args.spec, args.conn), timeoutSec: 1500 },
            { parent: this, dependsOn: args.after },
        );
        this.registerOutputs({ applied: this.applied.stdout });
    }
}

function sortKeys(v: unknown): unknown {
    if (Array.isArray(v)) return v.map(sortKeys);
    if (v && typeof v === "object") return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]));
    return v;
}
