// keepalived on the balancer nodes: one VIP held by a node whose HAProxy answers.
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { PLACEHOLDER_SECRETS } from "../core/render/file";
import { KEEPALIVED_CONFIG_PATH, renderKeepalivedFiles } from "../core/render/keepalived";
import { ClusterSpec, Secrets, nodesWithRole } from "../core/spec";
import { HostPrep } from "./host-prep";
import { placeFile, serviceUnit } from "./remote-file";
import { NodeConnection } from "./ssh";

export interface KeepalivedPairArgs {
    readonly spec: ClusterSpec;
    readonly conns: ReadonlyMap<string, NodeConnection>;
    readonly preps: ReadonlyMap<string, HostPrep>;
    readonly secrets: pulumi.Output<Secrets>;
    /** The local HAProxy of each node must run first. */
    readonly after: pulumi.Resource[];
}

export class KeepalivedPair extends pulumi.ComponentResource {
    public readonly services: command.remote.Command[];

    constructor(name: string, args: KeepalivedPairArgs, opts?: pulumi.ComponentResourceOptions) {
        super("pgha:keepalived:KeepalivedPair", name, {}, opts);
        const { spec } = args;
        this.services = nodesWithRole(spec, "keepalived").map((node) => {
            const conn = args.conns.get(node.name)!;
            const prep = args.preps.get(node.name)!;
            const redacted = renderKeepalivedFiles(spec, node, PLACEHOLDER_SECRETS);
            const files = redacted.map((file, i) =>
                placeFile(
                    conn,
                    {
                        file,
                        secretContent: file.mode === "0600" ? args.secrets.apply((s) => renderKeepalivedFiles(spec, node, s)[i].content) : undefined,
                        // The admin's own keepalived.conf, if any, is kept as keepalived.conf.pgha-orig.
                        keepOriginal: file.path === KEEPALIVED_CONFIG_PATH,
                    },
                    { parent: this, dependsOn: [prep] },
                ),
            );
            // keepalived 2.2's --config-test ends a valid config by SIGTERM-ing itself (143); errors exit 1..5.
            const check = [
                `test_log=$(mktemp); trap 'rm -f "$test_log"' EXIT`,
                `rc=0; (keepalived --config-test -f /etc/keepalived/keepalived.conf >"$test_log" 2>&1) 2>/dev/null || rc=$?`,
                `[ "$rc" -eq 0 ] || [ "$rc" -eq 143 ] || { cat "$test_log" >&2; echo "pgha: keepalived --config-test rejected the config (exit $rc)" >&2; exit 1; }`,
            ].join("\n");
            return serviceUnit(
                `${node.name}:keepalived`,
                {
                    conn,
                    unit: "keepalived",
                    files,
                    start: `${check}\nsystemctl enable keepalived >/dev/null 2>&1\nsystemctl restart keepalived`,
                    apply: `${check}\nsystemctl reload keepalived`,
                    stop: `systemctl disable --now keepalived >/dev/null 2>&1 || true`,
                },
                { parent: this, dependsOn: [prep, ...args.after] },
            );
        });
        this.registerOutputs({});
    }
}
