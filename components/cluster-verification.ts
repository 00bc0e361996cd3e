// The last step of every `pulumi up` that changed something: the run ends only
// when etcd is healthy, there is exactly one leader, every replica streams,
// every HAProxy routes the primary port to exactly one server and the front
// door (VIP, else the first balancer) answers as a primary.
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { ClusterSpec, nodesWithRole } from "../core/spec";
import { CA_CERT_PATH, POSTGRES_TLS } from "../core/pki";
import { etcdClientUrls, primaryEndpoint } from "../core/topology";
import { NodeConnection, remoteScript, sha256, shq } from "./ssh";

export interface ClusterVerificationArgs {
    readonly spec: ClusterSpec;
    /** Where the checks run: a postgres node (it has patronictl, psql and etcdctl or python3). */
    readonly conn: NodeConnection;
    readonly superuserPassword: pulumi.Output<string>;
    readonly after: pulumi.Resource[];
}

// Members the stack no longer lists are still running until Pulumi deletes them at
// the end of the run: they may be present, but never as the leader.
const PATRONI_CHECK = `
import json, sys
want = set(sys.argv[1].split(","))
ms = json.load(sys.stdin)
leaders = [m["Member"] for m in ms if m.get("Role") == "Leader"]
names = {m["Member"] for m in ms}
bad = []
if len(leaders) != 1:
    bad.append("%d leaders" % len(leaders))
elif leaders[0] not in want:
    bad.append("the leader %s is not a member the stack lists" % leaders[0])
if want - names:
    bad.append("missing members %s" % sorted(want - names))
for m in ms:
    if m["Member"] in want and m.get("Role") != "Leader" and m.get("State") not in ("streaming", "running"):
        bad.append("replica %s is %s" % (m["Member"], m.get("State")))
if bad:
    print("; ".join(bad))
    sys.exit(1)
leaving = sorted(names - want)
print(leaders[0], " ".join(m["Host"] for m in ms if m["Member"] == leaders[0]), ("(leaving, removed at the end of this run: %s)" % ", ".join(leaving)) if leaving else "")
`;

const HAPROXY_CHECK = `
import csv, io, sys, urllib.request
bad = []
for url in sys.argv[1:]:
    try:
        text = urllib.request.urlopen(url, timeout=3).read().decode()
    except Exception as e:
        bad.append("%s: %s" % (url, e)); continue
    rows = list(csv.DictReader(io.StringIO(text.lstrip("# "))))
    up = [r["svname"] for r in rows if r["pxname"] == "primary" and r["svname"] not in ("FRONTEND", "BACKEND") and r["status"].startswith("UP")]
    if len(up) != 1:
        bad.append("%s: %d UP servers on the primary port %s" % (url, len(up), up))
if bad:
    print("; ".join(bad)); sys.exit(1)
print("%d balancers route the primary port to one server" % len(sys.argv[1:]))
`;

/** Clients' view: TLS, the certificate checked against the CA and the host connected to (VIP included). */
const VERIFY_FULL = `sslmode=verify-full sslrootcert=${CA_CERT_PATH}`;

export function verificationScript(spec: ClusterSpec, timeoutSec: number): string {
    const pg = nodesWithRole(spec, "postgres");
    const balancers = nodesWithRole(spec, "haproxy");
    const front = primaryEndpoint(spec);
    const statsUrls = balancers.map((b) => `http://${b.address}:${spec.haproxy.statsPort}/;csv`);
    const pgPort = spec.postgres.port;
    return [
        // The superuser password arrives on stdin, never in this text.
        `IFS= read -r PGPASSWORD || true; export PGPASSWORD`,
        `deadline=$((SECONDS + ${timeoutSec})); last=""`,
        `fail() { echo "pgha: cluster not verified after ${timeoutSec} s: $1: $last" >&2; exit 1; }`,
        `wait_for() { local what=$1; shift; until last=$("$@" 2>&1); do [ "$SECONDS" -lt "$deadline" ] || fail "$what"; sleep 2; done; echo "verified: $what: $last"; }`,
        `export ETCDCTL_API=3`,
        // etcd requires a client certificate: this postgres node's own (Patroni's etcd client uses it too).
        `wait_for "etcd health" etcdctl --endpoints=${shq(etcdClientUrls(spec).join(","))} --cacert=${CA_CERT_PATH} --cert=${POSTGRES_TLS.cert} --key=${POSTGRES_TLS.key} --command-timeout=3s endpoint health`,
        `patroni_ok() { patronictl -c /etc/patroni/config.yml list -f json | python3 -c ${shq(PATRONI_CHECK)} ${shq(pg.map((n) => n.name).join(","))}; }`,
        `wait_for "one Patroni leader" patroni_ok`,
        `leader_host=$(printf '%s' "$last" | awk '{print $2}' | cut -d: -f1)`,
        // Streaming is proven on the leader itself, not by Patroni's summary.
        `leader_name=$(printf '%s' "$last" | awk '{print $1}')`,
        // Every listed replica streams from the leader, by its application_name (= member name).
        `streaming_ok() {`,
        `  got=$(psql "host=$leader_host port=${pgPort} user=postgres dbname=postgres connect_timeout=3 ${VERIFY_FULL}" -AtXc "select application_name from pg_stat_replication where state = 'streaming'") || return 1`,
        `  for m in ${pg.map((n) => shq(n.name)).join(" ")}; do`,
        `    [ "$m" = "$leader_name" ] || printf '%s\n' "$got" | grep -qx "$m" || { echo "replica $m is not streaming from $leader_name (streaming: $(echo $got))"; return 1; }`,
        `  done`,
        `  echo "every replica streams from $leader_name: $(echo $got)"`,
        `}`,
        `wait_for "replicas streaming" streaming_ok`,
        ...(statsUrls.length ? [`wait_for "HAProxy primary routing" python3 -c ${shq(HAPROXY_CHECK)} ${statsUrls.map(shq).join(" ")}`] : []),
        `front=${shq(`${front.host}:${front.port}`)}; front_conn=${shq(`host=${front.host} port=${front.port} user=postgres dbname=postgres connect_timeout=3 ${VERIFY_FULL}`)}`,
        `front_ok() { r=$(psql "$front_conn" -Atc "select pg_is_in_recovery()") && [ "$r" = f ] && echo "$front answers as the primary" || { echo "$front answered pg_is_in_recovery=$r"; return 1; }; }`,
        `wait_for "$front" front_ok`,
    ].join("\n");
}

export class ClusterVerification extends pulumi.ComponentResource {
    public readonly check: command.remote.Command;

    constructor(name: string, args: ClusterVerificationArgs, opts?: pulumi.ComponentResourceOptions) {
        super("pgha:cluster:ClusterVerification", name, {}, opts);
        const script = verificationScript(args.spec, 180);
        // The spec fingerprint makes the check re-run whenever the desired cluster changes.
        const fingerprint = sha256(JSON.stringify(args.spec)).slice(0, 16);
        this.check = remoteScript(
            `${name}:verify`,
            {
                conn: args.conn,
                what: `verify cluster ${args.spec.clusterName} (spec ${fingerprint})`,
                create: script,
                stdin: pulumi.secret(args.superuserPassword.apply((p) => `${p}\n`)),
                timeoutSec: 240,
            },
            { parent: this, dependsOn: args.after },
        );
        this.registerOutputs({ report: this.check.stdout });
    }
}
