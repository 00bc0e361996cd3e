// pgha's helper programs: every program pgha runs on a server is a file in server/ (the
// templates in templates/ aside), installed from here into TOOLS_DIR on the nodes whose
// roles use it, so that the commands calling them stay short (a failed command's text is
// part of its error) and each program can be linted and unit-tested on its own.
import * as fs from "fs";
import * as path from "path";
import { RenderedFile } from "../core/render/file";
import { TOOLS_DIR } from "../core/shell";

export { TOOLS_DIR };

/** The folder holding the programs, in this checkout. */
export const SERVER_DIR = path.resolve(__dirname, "..", "server");

const tool = (name: string): RenderedFile => ({
    path: `${TOOLS_DIR}/${name}`,
    content: fs.readFileSync(path.join(SERVER_DIR, name), "utf8"),
    mode: "0755",
    owner: "root",
    group: "root",
});

/** Every node's first step: packages, program checks, distro defaults (argv: see the script). Placed before the packages step, the others after it. */
export const HOST_PREP = tool("pgha-host-prep.sh");

/** Applies the dynamic config (stdin: JSON; argv: member REST API URL). */
export const DCS_APPLY = tool("patroni-dcs-apply.py");
/** Hands leadership over before a member's Patroni stops (argv: member REST API URL). */
export const HANDOVER = tool("patroni-handover.py");

/** Sets the role passwords on the leader, as SCRAM verifiers made on the node (stdin: JSON; argv: socket dir, port; run as postgres). */
export const SET_PASSWORDS = tool("pg-set-passwords.py");

/** The REST API client both Patroni helpers import (HTTPS with the CA, basic auth from config.yml). */
export const REST_CLIENT = tool("pgha_rest.py");

/** The progress and stall bookkeeping of long steps that patroni-wait.py, pgha-restore.py and patroni-dcs-apply.py (the rolling restart) import. */
export const PROGRESS_LIB = tool("pgha_progress.py");

/** Starts Patroni as /usr/bin/patroni does, with a fix for Patroni 3.0.2's etcd3 leader-key renewal (see the script). */
export const PATRONI_RUN = tool("patroni-run.py");

/** Waits until a member's Patroni reports the role it was started for (argv: member, role, timeout, CA, REST API URL). */
export const PATRONI_WAIT = tool("patroni-wait.py");

/** The cluster check that ends every `pulumi up` (stdin: the superuser password; argv: see the script). */
export const VERIFY = tool("pgha-verify.py");

/** Creates the declared databases and roles on the leader (stdin: JSON with the role passwords; argv: socket dir, port; run as postgres). Only while the stack declares any. */
export const DATABASES_ROLES = tool("pg-databases-roles.py");

export const POSTGRES_NODE_TOOLS: readonly RenderedFile[] = [DCS_APPLY, HANDOVER, SET_PASSWORDS, REST_CLIENT, PROGRESS_LIB, PATRONI_RUN, PATRONI_WAIT, VERIFY];

/** An etcd member's start, stop and the cluster's membership step (argv: subcommand, see the script). */
export const ETCD_MEMBER = tool("etcd-member.py");

export const ETCD_NODE_TOOLS: readonly RenderedFile[] = [ETCD_MEMBER];

/** Hands etcd's raft leadership away from the PostgreSQL primary's host (hosts with both; a service, see the script). */
export const LEADER_AWAY = tool("etcd-leader-away.py");

/** pgBackRest's steps: the TLS server's start, stanza-create, check, the first full backup, the timers (argv: see the script). pgha:backup only. */
export const PGBACKREST_STEPS = tool("pgha-pgbackrest.sh");

/** The steps of an in-place restore (pgha:restore), one per host (argv: see the script). pgha:backup only. */
export const RESTORE_STEPS = tool("pgha-restore.py");

/** PgBouncer's lookup role and function, on the leader (stdin: JSON; argv: socket dir, port [--disable]; run as postgres). pgha:pgbouncer only; it loads SET_PASSWORDS. */
export const PGBOUNCER_AUTH = tool("pgbouncer-auth.py");

/** On the nodes running a pgBackRest server (PostgreSQL nodes and repository hosts), only while pgha:backup is set; pgha-restore.py imports PROGRESS_LIB. */
export const PGBACKREST_NODE_TOOLS: readonly RenderedFile[] = [PGBACKREST_STEPS, RESTORE_STEPS, PROGRESS_LIB];

/**
 * The read-only programs the operational scripts send on stdin and run once (scripts/ops/status.ts,
 * drift.ts): not installed, so they work on nodes whatever pgha version placed their files.
 */
export const OPS_PROGRAMS: readonly string[] = ["pgha-drift.py", "pgha-status.py"];

/** Puts the VIP on this node while its Patroni member leads (a service, see the script). pgha:vip.manager vip-manager only. */
export const VIP_MANAGER = tool("pgha-vip-manager.py");

/** postgres_exporter's login role, on the leader (stdin: JSON; argv: socket dir, port [--disable]; run as postgres). pgha:monitoring only; it loads SET_PASSWORDS. */
export const MONITOR_ROLE = tool("pg-monitor-role.py");
