// npm run status -- --stack NAME [--json]
//
// The cluster at a glance, read-only: server/pgha-status.py on every node at once, over SSH
// with the stack's own settings (scripts/ops/ssh.ts), each bounded (ConnectTimeout, the
// script's `timeout`, and a kill timer), merged and rendered by scripts/ops/status-report.ts.
// A node that does not answer is reported as such; during a failover it shows what each node
// sees. Exit status: 0 healthy, 3 the report lists problems, 1 could not run, 2 bad arguments.
import * as fs from "fs";
import { SERVER_DIR } from "../../components/pgha-tools";
import { CA_CERT_PATH, ETCD_TLS, POSTGRES_TLS } from "../../core/pki";
import { BACKUP_TLS, PGBACKREST_SERVER_UNIT, pgbackrestServerNodes } from "../../core/render/pgbackrest";
import { LEADER_AWAY_UNIT, needsLeaderAway } from "../../core/render/etcd-leader-away";
import { VIP_MANAGER_UNIT } from "../../core/render/vip-manager";
import { ClusterSpec, NodeSpec, Role, nodesWithRole } from "../../core/spec";
import { etcdMember, patroniApiUrl, vipByKeepalived, vipFollowsLeader } from "../../core/topology";
import { shq } from "../../components/ssh";
import { collectBackupReport, deployedBackup } from "./backup";
import { BackupLine, NodeAnswer, NodeResult, renderStatus, statusReport } from "./status-report";
import { OpsError, Stack, openStack } from "./stack";
import { SshSession, sshFailure, withSsh } from "./ssh";
import * as path from "path";

export const USAGE = "usage: npm run status -- --stack NAME [--json]";

/** Each probe on a node (the REST call, etcdctl, the stats socket, openssl). */
export const PROBE_TIMEOUT_SEC = 5;
/** The whole script on a node; ssh is killed KILL_AFTER_SEC after it started, whatever happens. */
export const NODE_TIMEOUT_SEC = 25;
export const KILL_AFTER_SEC = 40;

const STATUS_PROGRAM = fs.readFileSync(path.join(SERVER_DIR, "pgha-status.py"), "utf8");

export type ParsedStatusArgs = { ok: true; stack: string; json: boolean } | { ok: false; help: boolean; message?: string };

export function parseStatusArgs(argv: readonly string[], name = "status"): ParsedStatusArgs {
    if (argv.includes("-h") || argv.includes("--help")) return { ok: false, help: true };
    let stack: string | undefined;
    let json = false;
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        const m = /^--stack(?:=(.*))?$/.exec(a);
        if (m !== null) {
            const v = m[1] ?? argv[++i];
            if (v === undefined || v === "" || v.startsWith("-")) return { ok: false, help: false, message: "--stack needs a value" };
            if (stack !== undefined) return { ok: false, help: false, message: "--stack given twice" };
            stack = v;
        } else if (a === "--json" && name === "status") json = true;
        else return { ok: false, help: false, message: `unknown argument ${a}` };
    }
    if (stack === undefined) return { ok: false, help: false, message: "--stack NAME is required" };
    return { ok: true, stack, json };
}

/** The units pgha runs on `node` (what `status` asks systemd about). */
export function nodeUnits(spec: ClusterSpec, node: NodeSpec): string[] {
    const has = (r: Role): boolean => node.roles.includes(r);
    return [
        ...(has("etcd") ? ["etcd"] : []),
        ...(has("postgres") ? ["patroni", ...(spec.pgbouncer ? ["pgbouncer"] : []), ...(needsLeaderAway(spec, node) ? [LEADER_AWAY_UNIT] : [])] : []),
        ...(has("haproxy") ? ["haproxy"] : []),
        ...(has("keepalived") && vipByKeepalived(spec) ? ["keepalived"] : []),
        ...(has("postgres") && vipFollowsLeader(spec) ? [VIP_MANAGER_UNIT] : []),
        ...(pgbackrestServerNodes(spec).includes(node) ? [PGBACKREST_SERVER_UNIT] : []),
    ];
}

/** The certificate files pgha placed on `node` (components/cluster-pki.ts). */
export function nodeCertPaths(node: NodeSpec): string[] {
    return [
        CA_CERT_PATH,
        ...(node.roles.includes("etcd") ? [ETCD_TLS.cert] : []),
        ...(node.roles.includes("postgres") ? [POSTGRES_TLS.cert] : []),
        ...(node.roles.includes("backup") ? [BACKUP_TLS.cert] : []),
    ];
}

/** pgha-status.py's parameters for `node` (no secret: they go on its command line). */
export function statusParams(spec: ClusterSpec, node: NodeSpec): Record<string, unknown> {
    const has = (r: Role): boolean => node.roles.includes(r);
    return {
        node: node.name,
        timeout: PROBE_TIMEOUT_SEC,
        vip: spec.vip?.address ?? null,
        units: nodeUnits(spec, node),
        ...(has("postgres") ? { patroniUrl: patroniApiUrl(spec, node) } : {}),
        ...(has("etcd") ? { etcd: { endpoint: etcdMember(spec, node).clientUrl, cacert: CA_CERT_PATH, cert: ETCD_TLS.cert, key: ETCD_TLS.key } } : {}),
        ...(has("haproxy") ? { haproxy: { socket: "/run/haproxy/admin.sock", statsUrl: `http://${node.address}:${spec.haproxy.statsPort}/;csv` } } : {}),
        certs: nodeCertPaths(node),
    };
}

/** The script body: the program arrives on stdin (it is not installed on the nodes), runs from a private temporary file. */
export function statusBody(params: Record<string, unknown>): string {
    return [`t=$(mktemp /tmp/pgha-status.XXXXXX)`, `trap 'rm -f "$t"' EXIT`, `cat >"$t"`, `python3 "$t" ${shq(JSON.stringify(params))}`].join("\n");
}

/** One node's answer, or why there is none; never throws, never waits longer than KILL_AFTER_SEC. */
export async function askNode(ssh: SshSession, spec: ClusterSpec, node: NodeSpec): Promise<NodeResult> {
    const base = { node: node.name, roles: node.roles };
    const started = Date.now();
    try {
        const r = await ssh.run(node, statusBody(statusParams(spec, node)), { what: "status", timeoutSec: NODE_TIMEOUT_SEC, killAfterSec: KILL_AFTER_SEC, stdin: STATUS_PROGRAM });
        const took = (Date.now() - started) / 1000;
        if (took >= KILL_AFTER_SEC - 1) return { ...base, problem: `no answer within ${KILL_AFTER_SEC} s` };
        const unreachable = sshFailure(node, r);
        if (unreachable !== undefined) return { ...base, problem: `unreachable (${unreachable.slice(node.name.length + 2)})` };
        const last = r.stdout.trim().split("\n").pop() ?? "";
        if (r.status !== 0) return { ...base, problem: `the status script failed (exit ${r.status}): ${r.stderr.trim().split("\n").pop() ?? ""}` };
        return { ...base, answer: JSON.parse(last) as NodeAnswer };
    } catch (e) {
        return { ...base, problem: (e as Error).message };
    }
}

/** The newest backup and archiving state, bounded like the nodes (absent without pgha:backup). */
async function backupLine(ssh: SshSession, stack: Stack): Promise<BackupLine | { problem: string } | undefined> {
    if (stack.spec.backup === undefined) return undefined;
    let timer: NodeJS.Timeout | undefined;
    try {
        const b = deployedBackup(stack.name, stack.spec, stack.outputs);
        const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${KILL_AFTER_SEC} s`)), KILL_AFTER_SEC * 1000)));
        const report = await Promise.race([collectBackupReport(ssh, stack, b, []), late]);
        const newest = report.repositories
            .map((r) => r.newest)
            .filter((n) => n !== null)
            .sort((x, y) => (x.stop < y.stop ? 1 : -1))[0];
        return { newest: newest === undefined ? null : { label: newest.label, type: newest.type, stop: newest.stop }, status: report.status.message, archiving: report.archiving.state };
    } catch (e) {
        return { problem: (e as Error).message };
    } finally {
        clearTimeout(timer);
    }
}

export async function main(argv: readonly string[]): Promise<number> {
    const parsed = parseStatusArgs(argv);
    if (!parsed.ok) {
        if (parsed.help) {
            console.log(USAGE);
            return 0;
        }
        console.error(`status: ${parsed.message}\n${USAGE}`);
        return 2;
    }
    try {
        const stack = openStack(parsed.stack);
        const { spec } = stack;
        const report = await withSsh(spec.nodes, stack.privateKey(), spec.ssh.strictHostKeys, async (ssh) => {
            const [results, backup] = await Promise.all([Promise.all(spec.nodes.map((n) => askNode(ssh, spec, n))), backupLine(ssh, stack)]);
            return statusReport({
                stack: stack.name,
                cluster: spec.clusterName,
                checkedAt: new Date().toISOString(),
                members: nodesWithRole(spec, "postgres").map((n) => n.name),
                vip: spec.vip?.address ?? null,
                results,
                ...(backup !== undefined ? { backup } : {}),
            });
        });
        process.stdout.write(parsed.json ? `${JSON.stringify(report, null, 2)}\n` : renderStatus(report));
        return report.problems.length === 0 ? 0 : 3;
    } catch (e) {
        if (e instanceof OpsError || e instanceof Error) console.error(`status: ${e.message}`);
        return 1;
    }
}

if (require.main === module) {
    main(process.argv.slice(2)).then((code) => process.exit(code));
}
