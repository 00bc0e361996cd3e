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
 * PostgreSQL parameters that never need a restart in any major pgha deploys (12 to 18): their
 * context is user, superuser, sighup or backend, never postmaster. Changing only these leaves
 * <cluster>:restart-pending out of the diff. Any other parameter (an extension's, one not listed)
 * counts as one that may: the step then re-runs, and restarts only what PostgreSQL marks pending.
 */
export const RELOADABLE_PARAMETERS: ReadonlySet<string> = new Set([
    "archive_command",
    "archive_timeout",
    "autovacuum",
    "autovacuum_analyze_scale_factor",
    "autovacuum_analyze_threshold",
    "autovacuum_naptime",
    "autovacuum_vacuum_cost_delay",
    "autovacuum_vacuum_cost_limit",
    "autovacuum_vacuum_insert_scale_factor",
    "autovacuum_vacuum_insert_threshold",
    "autovacuum_vacuum_scale_factor",
    "autovacuum_vacuum_threshold",
    "autovacuum_work_mem",
    "bgwriter_delay",
    "bgwriter_lru_maxpages",
    "bgwriter_lru_multiplier",
    "checkpoint_completion_target",
    "checkpoint_timeout",
    "commit_delay",
    "deadlock_timeout",
    "default_statistics_target",
    "effective_cache_size",
    "effective_io_concurrency",
    "hot_standby_feedback",
    "idle_in_transaction_session_timeout",
    "idle_session_timeout",
    "jit",
    "lock_timeout",
    "log_autovacuum_min_duration",
    "log_checkpoints",
    "log_connections",
    "log_disconnections",
    "log_line_prefix",
    "log_lock_waits",
    "log_min_duration_statement",
    "log_min_messages",
    "log_statement",
    "log_temp_files",
    "maintenance_io_concurrency",
    "maintenance_work_mem",
    "max_parallel_maintenance_workers",
    "max_parallel_workers",
    "max_parallel_workers_per_gather",
    "max_slot_wal_keep_size",
    "max_standby_archive_delay",
    "max_standby_streaming_delay",
    "max_wal_size",
    "min_wal_size",
    "password_encryption",
    "random_page_cost",
    "seq_page_cost",
    "statement_timeout",
    "synchronous_commit",
    "temp_buffers",
    "track_io_timing",
    "vacuum_cost_delay",
    "vacuum_cost_limit",
    "wal_compression",
    "wal_keep_segments",
    "wal_keep_size",
    "wal_receiver_timeout",
    "wal_retrieve_retry_interval",
    "wal_sender_timeout",
    "wal_writer_delay",
    "work_mem",
]);

/**
 * The settings PostgreSQL reads from Patroni that may need a restart: the DCS's parameters
 * (pgha:postgres.parameters, the defaults, archiving with pgha:backup) but RELOADABLE_PARAMETERS,
 * and what each member's config.yml gives PostgreSQL (listen addresses and port, local
 * parameters, recovery settings), with the member's own address replaced by MEMBER_ADDRESS.
 * Timings, synchronous mode, pg_hba, passwords, tags, etcd hosts and the REST API never need
 * one, so they are not here. Keys sorted: equal settings give equal text.
 */
export function restartRelevantSettings(spec: ClusterSpec): string {
    const all = (patroniDynamicConfigWithBackup(spec).postgresql as Record<string, unknown>).parameters as Record<string, unknown>;
    const dynamic = Object.fromEntries(Object.entries(all).filter(([k]) => !RELOADABLE_PARAMETERS.has(k)));
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
