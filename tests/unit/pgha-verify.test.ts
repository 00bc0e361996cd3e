// pgha-verify.py, the check that ends every `pulumi up`: its pure checks called in python3,
// then whole runs with stand-ins for etcdctl, patronictl and psql on PATH and HAProxy stats
// pages served from this process, as components/cluster-verification.ts calls it.
import { spawn } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { verificationScript } from "../../components/cluster-verification";
import { SERVER_DIR, VERIFY } from "../../components/pgha-tools";
import { hasPython3, pyOk, withProgram } from "./server-python";
import { specOf } from "./fixtures";

const TOOL = path.basename(VERIFY.path);
const ok = (fn: string, ...args: unknown[]) => pyOk(TOOL, fn, ...args);

const member = (name: string, role: string, state: string, host = `10.0.0.${name.slice(2)}`) => ({ Cluster: "pgsql", Member: name, Host: host, Role: role, State: state, TL: 1 });
const CSV = (primary: Record<string, string>) =>
    [
        "# pxname,svname,qcur,status,",
        "primary,FRONTEND,0,OPEN,",
        ...Object.entries(primary).map(([s, st]) => `primary,${s},0,${st},`),
        "primary,BACKEND,0,UP,",
        "replicas,pg1,0,UP,",
        "replicas,pg2,0,UP,",
        "",
    ].join("\n");

(hasPython3 ? describe : describe.skip)("pgha-verify.py: the checks (python3)", () => {
    test("check_patroni: one leader the stack lists, every listed replica running or streaming; leaving members named", () => {
        const want = ["pg1", "pg2"];
        expect(ok("check_patroni", [member("pg1", "Leader", "running"), member("pg2", "Replica", "streaming")], want)).toEqual([true, "pg1 10.0.0.1 "]);
        expect(
            ok(
                "check_patroni",
                [member("pg1", "Leader", "running", "10.0.0.1:5433"), member("pg2", "Replica", "running"), member("pg9", "Replica", "stopped"), member("pg8", "Replica", "running")],
                want,
            ),
        ).toEqual([true, "pg1 10.0.0.1:5433 (leaving, removed at the end of this run: pg8, pg9)"]);
        expect(ok("check_patroni", [member("pg1", "Leader", "running"), member("pg2", "Leader", "running")], want)).toEqual([false, "2 leaders"]);
        expect(ok("check_patroni", [member("pg2", "Replica", "streaming")], want)).toEqual([false, "0 leaders; missing members ['pg1']"]);
        expect(ok("check_patroni", [member("pg9", "Leader", "running"), member("pg1", "Replica", "stopped"), member("pg2", "Replica", "starting")], want)).toEqual([
            false,
            "the leader pg9 is not a member the stack lists; replica pg1 is stopped; replica pg2 is starting",
        ]);
        expect(ok("leader_of", "pg1 10.0.0.1:5433 (leaving, removed at the end of this run: pg8)")).toEqual(["pg1", "10.0.0.1"]);
    });

    test("check_streaming: every listed replica by application_name, the leader excepted", () => {
        expect(ok("check_streaming", "pg2\npg3", ["pg1", "pg2", "pg3"], "pg1")).toEqual([true, "every replica streams from pg1: pg2 pg3"]);
        expect(ok("check_streaming", "", ["pg1"], "pg1")).toEqual([true, "every replica streams from pg1: "]);
        expect(ok("check_streaming", "pg3\npg22", ["pg1", "pg2", "pg3"], "pg1")).toEqual([false, "replica pg2 is not streaming from pg1 (streaming: pg3 pg22)"]);
    });

    test("check_haproxy: exactly one UP server in the primary proxy of every balancer", () => {
        expect(ok("primary_up_servers", CSV({ pg1: "UP", pg2: "DOWN" }))).toEqual(["pg1"]);
        expect(ok("primary_up_servers", CSV({ pg1: "UP 2/3", pg2: "UP" }))).toEqual(["pg1", "pg2"]);
        const one = CSV({ pg1: "UP", pg2: "DOWN" });
        expect(
            ok("check_haproxy", [
                ["http://a/;csv", one],
                ["http://b/;csv", one],
            ]),
        ).toEqual([true, "2 balancers route the primary port to one server"]);
        expect(
            ok("check_haproxy", [
                ["http://a/;csv", one],
                ["http://b/;csv", CSV({ pg1: "DOWN", pg2: "MAINT" })],
                ["http://c/;csv", CSV({ pg1: "UP", pg2: "UP" })],
            ]),
        ).toEqual([false, "http://b/;csv: 0 UP servers on the primary port []; http://c/;csv: 2 UP servers on the primary port ['pg1', 'pg2']"]);
    });

    test("read_password: the first line without its newline, nothing else removed (as `IFS= read -r`)", () => {
        const read = (text: string) => JSON.parse(withProgram(TOOL, "import io, json\nprint(json.dumps(m.read_password(io.StringIO(sys.argv[1]))))", [text]));
        expect(read(" it's \\ pw \r\nsecond\n")).toBe(" it's \\ pw \r");
        expect(read("no newline")).toBe("no newline");
        expect(read("")).toBe("");
    });
});

// Stand-ins: each logs its arguments (psql also the PGPASSWORD it got) and answers from files in $S.
const FAKES: Record<string, string> = {
    etcdctl: `#!/bin/bash
echo "etcdctl $* ETCDCTL_API=$ETCDCTL_API" >>"$S/log"
n=$(cat "$S/etcd-calls" 2>/dev/null || echo 0); echo $((n + 1)) >"$S/etcd-calls"
if [ "$n" -lt "$(cat "$S/etcd-fails" 2>/dev/null || echo 0)" ]; then echo "https://127.0.0.61:2379 is unhealthy: failed to commit proposal"; echo "Error: unhealthy cluster" >&2; exit 1; fi
echo "https://127.0.0.61:2379 is healthy: successfully committed proposal: took = 2ms"
`,
    patronictl: `#!/bin/bash
echo "patronictl $*" >>"$S/log"
cat "$S/patroni.json"
`,
    psql: `#!/bin/bash
printf 'psql [%s] PGPASSWORD=[%s]\\n' "$*" "$PGPASSWORD" >>"$S/log"
case "$*" in
  *pg_stat_replication*) printf 'pg2\\n';;
  *pg_is_in_recovery*) cat "$S/recovery";;
  *) exit 3;;
esac
`,
};

(hasPython3 ? describe : describe.skip)("pgha-verify.py: whole runs as the verification step calls it (stand-ins on PATH)", () => {
    jest.setTimeout(30_000);
    let dir = "";
    const servers: http.Server[] = [];
    const stats: Record<string, string> = {};
    let statsPort = 0;
    const PASSWORD = `it's "pw" $x \\ `;

    beforeAll(async () => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgha-verify-"));
        fs.mkdirSync(path.join(dir, "bin"));
        for (const [name, text] of Object.entries(FAKES)) fs.writeFileSync(path.join(dir, "bin", name), text, { mode: 0o755 });
        // One stats port on both balancers' addresses, as the spec gives every balancer the same.
        const listen = (host: string, port: number) =>
            new Promise<number>((resolve, reject) => {
                const s = http.createServer((req, res) => res.end(stats[host]));
                s.once("error", reject);
                s.listen(port, host, () => resolve((s.address() as net.AddressInfo).port));
                servers.push(s);
            });
        statsPort = await listen("127.0.0.61", 0);
        await listen("127.0.0.62", statsPort);
    });
    afterAll(() => {
        for (const s of servers) s.close();
        if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    /** The command text for the classic cluster moved to 127.0.0.61-63 (VIP 127.0.0.60), run by bash with the tool from server/. */
    const verify = (timeoutSec: number, setup: Record<string, string>) => {
        const base = specOf();
        const spec = {
            ...base,
            nodes: base.nodes.map((n) => ({ ...n, address: `127.0.0.6${n.name.slice(2)}` })),
            vip: { ...base.vip!, address: "127.0.0.60" },
            haproxy: { ...base.haproxy, statsPort },
        };
        const text = verificationScript(spec, timeoutSec).split(VERIFY.path).join(path.join(SERVER_DIR, TOOL));
        const state = fs.mkdtempSync(path.join(dir, "run-"));
        for (const [f, content] of Object.entries(setup)) fs.writeFileSync(path.join(state, f), content);
        return new Promise<{ status: number | null; stdout: string; stderr: string; log: string }>((resolve) => {
            const env = { ...process.env, S: state, PATH: `${path.join(dir, "bin")}:${process.env.PATH}`, PYTHONDONTWRITEBYTECODE: "1" };
            const c = spawn("bash", ["-c", `set -euo pipefail\n${text}`], { env, stdio: ["pipe", "pipe", "pipe"] });
            let stdout = "";
            let stderr = "";
            c.stdout.on("data", (d) => (stdout += d));
            c.stderr.on("data", (d) => (stderr += d));
            c.on("close", (status) => resolve({ status, stdout, stderr, log: fs.readFileSync(path.join(state, "log"), "utf8") }));
            c.stdin.end(`${PASSWORD}\nnot read\n`);
        });
    };
    const healthy = {
        "patroni.json": JSON.stringify([member("pg1", "Leader", "running", "127.0.0.61"), member("pg2", "Replica", "streaming", "127.0.0.62")]),
        recovery: "f\n",
    };

    test("a healthy cluster: one line per check; psql gets the password from stdin and verify-full TLS", async () => {
        stats["127.0.0.61"] = stats["127.0.0.62"] = CSV({ pg1: "UP", pg2: "DOWN" });
        const r = await verify(5, healthy);
        expect([r.status, r.stderr]).toEqual([0, ""]);
        expect(r.stdout).toBe(
            [
                "verified: etcd health: https://127.0.0.61:2379 is healthy: successfully committed proposal: took = 2ms",
                "verified: one Patroni leader: pg1 127.0.0.61 ",
                "verified: replicas streaming: every replica streams from pg1: pg2",
                "verified: HAProxy primary routing: 2 balancers route the primary port to one server",
                "verified: 127.0.0.60:5000: 127.0.0.60:5000 answers as the primary",
                "",
            ].join("\n"),
        );
        const tls = "sslmode=verify-full sslrootcert=/etc/pgha/tls/ca.crt";
        expect(r.log.split("\n")).toEqual([
            "etcdctl --endpoints=https://127.0.0.61:2379,https://127.0.0.62:2379,https://127.0.0.63:2379 --cacert=/etc/pgha/tls/ca.crt --cert=/etc/pgha/tls/postgres.crt --key=/etc/pgha/tls/postgres.key --command-timeout=3s endpoint health ETCDCTL_API=3",
            "patronictl -c /etc/patroni/config.yml list -f json",
            `psql [host=127.0.0.61 port=5432 user=postgres dbname=postgres connect_timeout=3 ${tls} -AtXc select application_name from pg_stat_replication where state = 'streaming'] PGPASSWORD=[${PASSWORD}]`,
            `psql [host=127.0.0.60 port=5000 user=postgres dbname=postgres connect_timeout=3 ${tls} -Atc select pg_is_in_recovery()] PGPASSWORD=[${PASSWORD}]`,
            "",
        ]);
    });

    test("a failing check is retried every 2 s within the deadline", async () => {
        stats["127.0.0.61"] = stats["127.0.0.62"] = CSV({ pg1: "UP", pg2: "DOWN" });
        const t0 = Date.now();
        const r = await verify(20, { ...healthy, "etcd-fails": "2" });
        expect([r.status, r.stderr]).toEqual([0, ""]);
        expect(r.log.match(/^etcdctl /gm)).toHaveLength(3);
        expect(Date.now() - t0).toBeGreaterThanOrEqual(4000);
    });

    test("past the deadline: what the failing check saw last, on stderr, exit 1", async () => {
        stats["127.0.0.61"] = CSV({ pg1: "UP", pg2: "DOWN" });
        stats["127.0.0.62"] = CSV({ pg1: "UP", pg2: "UP" });
        let r = await verify(0, healthy);
        expect(r.status).toBe(1);
        expect(r.stderr).toBe(`pgha: cluster not verified after 0 s: HAProxy primary routing: http://127.0.0.62:${statsPort}/;csv: 2 UP servers on the primary port ['pg1', 'pg2']\n`);
        stats["127.0.0.62"] = stats["127.0.0.61"];
        r = await verify(0, { ...healthy, recovery: "t\n" });
        expect([r.status, r.stderr]).toEqual([1, "pgha: cluster not verified after 0 s: 127.0.0.60:5000: 127.0.0.60:5000 answered pg_is_in_recovery=t\n"]);
        r = await verify(0, { ...healthy, "etcd-fails": "9" });
        expect([r.status, r.stdout]).toEqual([1, ""]);
        expect(r.stderr).toBe("pgha: cluster not verified after 0 s: etcd health: https://127.0.0.61:2379 is unhealthy: failed to commit proposal\nError: unhealthy cluster\n");
    });
});
