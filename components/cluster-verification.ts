// The last step of every `pulumi up` that changed something: the run ends only
// when etcd is healthy, there is exactly one leader, every replica streams,
// every HAProxy routes the primary port to exactly one server and the front
// door (VIP, else the first balancer) answers as a primary.
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { ClusterSpec, nodesWithRole } from "../core/spec";
import { etcdClientUrls, primaryEndpoint } from "../core/topology";
import { NodeConnection, remoteScript, sha256, shq } from "./ssh";

export interface ClusterVerificationArgs {
    readonly spec: ClusterSpec;
    /** Where the checks run: a postgres node (it has patronictl, psql and etcdctl or python3). */
    readonly conn: NodeConnection;
    readonly superuserPassword: pulumi.Output<string>;
    readonly after: pulumi.Resource[];
}

const PATRONI_CHECK = `
import json, sys
want = set(sys.argv[1].split(","))
ms = json.load(sys.stdin)
leaders = [m["Member"] for m in ms if m.get("Role") == "Leader"]
bad = []
if len(leaders) != 1:
    bad.append("%d leaders" % len(leaders))
names = {m["Member"] for m in ms}
if names != want:
    bad.append("members %s, expected %s" % (sorted(names), sorted(want)))
for m in ms:
    if m.get("Role") != "Leader" and m.get("State") not in ("streaming", "running"):
        bad.append("replica %s is %s" % (m["Member"], m.get("State")))
if bad:
    print("; ".join(bad))
    sys.exit(1)
print(leaders[0], " ".join(m["Host"] for m in ms if m["Member"] == leaders[0]))
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
        `wait_for "etcd health" etcdctl --endpoints=${shq(etcdClientUrls(spec).join(","))} --command-timeout=3s endpoint health`,
        `patroni_ok() { patronictl -c /etc/patroni/config.yml list -f json | python3 -c ${shq(PATRONI_CHECK)} ${shq(pg.map((n) => n.name).join(","))}; }`,
        `wait_for "one Patroni leader" patroni_ok`,
        `leader_host=$(printf '%s' "$last" | awk '{print $2}' | cut -d: -f1)`,
        // Streaming is proven on the leader itself, not by Patroni's summary.
        `streaming_ok() { n=$(psql "host=$leader_host port=${pgPort} user=postgres dbname=postgres connect_timeout=3" -Atc "select count(*) from pg_stat_replication where state = 'streaming'"); [ "$n" -eq ${pg.length - 1} ] && echo "$n replicas streaming from $leader_host" || { echo "$n of ${pg.length - 1} replicas streaming from $leader_host"; return 1; }; }`,
        `wait_for "replicas streaming" streaming_ok`,
        ...(statsUrls.length ? [`wait_for "HAProxy primary routing" python3 -c ${shq(HAPROXY_CHECK)} ${statsUrls.map(shq).join(" ")}`] : []),
        `front_ok() { r=$(psql "host=${front.host} port=${front.port} user=postgres dbname=postgres connect_timeout=3" -Atc "select pg_is_in_recovery()") && [ "$r" = f ] && echo "${front.host}:${front.port} answers as the primary" || { echo "${front.host}:${front.port} answered pg_is_in_recovery=$r"; return 1; }; }`,
        `wait_for "${front.host}:${front.port}" front_ok`,
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
