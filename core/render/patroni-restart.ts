// What can make PostgreSQL ask for a restart (pending_restart), as one value for the whole
// cluster: the input of <cluster>:restart-pending (components/patroni-dynamic-config.ts), so
// that step re-runs exactly when one of these settings changes, and on no other edit.
import { ClusterSpec } from "../spec";
import { postgresMembers } from "../topology";
import { PLACEHOLDER_SECRETS } from "./file";
import { patroniConfigObjectWithBackup, patroniDynamicConfigWithBackup } from "./pgbackrest";

/** Stands for each member's own address in the settings below: adding or removing a member changes nothing here. */
export const MEMBER_ADDRESS = "<member>";

/**
 * The settings PostgreSQL reads from Patroni that may need a restart: the DCS's parameters
 * (pgha:postgres.parameters, the defaults, archiving with pgha:backup) and what each member's
 * config.yml gives PostgreSQL (listen addresses and port, local parameters, recovery settings),
 * with the member's own address replaced by MEMBER_ADDRESS. Timings, synchronous mode, pg_hba,
 * passwords, tags, etcd hosts and the REST API never need one, so they are not here.
 * Keys sorted: equal settings give equal text.
 */
export function restartRelevantSettings(spec: ClusterSpec): string {
    const dynamic = (patroniDynamicConfigWithBackup(spec).postgresql as Record<string, unknown>).parameters;
    const local = [
        ...new Set(
            postgresMembers(spec).map((node) => {
                const pg = patroniConfigObjectWithBackup(spec, node, PLACEHOLDER_SECRETS).postgresql as Record<string, unknown>;
                // "address,127.0.0.1[,VIP]:port": only the member's own address is replaced.
                const [hosts, port] = String(pg.listen).split(/:(?=\d+$)/);
                const listen = `${hosts
                    .split(",")
                    .map((h) => (h === node.address ? MEMBER_ADDRESS : h))
                    .join(",")}:${port}`;
                return JSON.stringify(sortKeys({ listen, parameters: pg.parameters, recovery_conf: pg.recovery_conf }));
            }),
        ),
    ].map((text) => JSON.parse(text) as unknown);
    return JSON.stringify({ dynamicParameters: sortKeys(dynamic), local });
}

export function sortKeys(v: unknown): unknown {
    if (Array.isArray(v)) return v.map(sortKeys);
    if (v && typeof v === "object")
        return Object.fromEntries(
            Object.keys(v)
                .sort()
                .map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]),
        );
    return v;
}
