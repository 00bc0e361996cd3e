// etcd-member.py's pure parts, each called in python3 (the real-etcd runs are in
// etcd-membership.test.ts): reading the config file pgha renders, the join rewrite
// (the one place initial-cluster-state is decided), etcdctl's TLS flags, and the
// helpers that read etcdctl's JSON.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parse as parseYaml } from "yaml";
import { ETCD_MEMBER } from "../../components/pgha-tools";
import { etcdConfigObject, renderEtcdConfig } from "../../core/render/etcd";
import { callPython, hasPython3, pyOk, withProgram } from "./server-python";
import { specOf } from "./fixtures";

const TOOL = path.basename(ETCD_MEMBER.path);
const call = (fn: string, ...args: unknown[]) => callPython(TOOL, fn, args);
const ok = (fn: string, ...args: unknown[]) => pyOk(TOOL, fn, ...args);
const JOIN_NOTE = "# initial-cluster and initial-cluster-state set by pgha's etcd-member.py to join the running cluster";

(hasPython3 ? describe : describe.skip)("etcd-member.py (python3, pure functions)", () => {
    test("newly_healthy: each member of the stack once, when the cluster lists it started and its endpoint is healthy", () => {
        const want = ["pg1", "pg2", "pg3"].map((n, i) => ({ name: n, peer: `https://10.0.0.${i + 1}:2380`, client: `https://10.0.0.${i + 1}:2379` }));
        const member = (n: string, i: number, name = n) => [
            `https://10.0.0.${i + 1}:2380`,
            { name, ID: 100 + i, peerURLs: [`https://10.0.0.${i + 1}:2380`], ...(name ? { clientURLs: [`https://10.0.0.${i + 1}:2379`] } : {}) },
        ];
        const res = (healthy: boolean[]) => Object.fromEntries(healthy.map((h, i) => [`https://10.0.0.${i + 1}:2379`, { healthy: h }]));
        const out = withProgram(
            TOOL,
            `import json
want, first, second = json.loads(sys.argv[1]), json.loads(sys.argv[2]), json.loads(sys.argv[3])
up = set()
print(m.newly_healthy(want, first[0], first[1], up))
print(m.newly_healthy(want, second[0], second[1], up))
print(m.newly_healthy(want, second[0], second[1], up))`,
            [
                JSON.stringify(want),
                // pg1 up; pg2 listed but unstarted (no name yet); pg3 listed, started, not healthy.
                JSON.stringify([Object.fromEntries([member("pg1", 0), member("pg2", 1, ""), member("pg3", 2)]), res([true, true, false])]),
                JSON.stringify([Object.fromEntries([member("pg1", 0), member("pg2", 1), member("pg3", 2)]), res([true, true, true])]),
            ],
        );
        expect(out).toBe("['pg1']\n['pg2', 'pg3']\n[]\n");
    });
    const spec = specOf();
    const pg3 = spec.nodes.find((n) => n.name === "pg3")!;
    const rendered = renderEtcdConfig(spec, pg3).content;
    const object = etcdConfigObject(spec, pg3);
    let dir = "";
    beforeAll(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgha-etcd-member-"))));
    afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
    const write = (name: string, text: string) => {
        const p = path.join(dir, name);
        fs.writeFileSync(p, text);
        return p;
    };

    test("split_config: the rendered file's comment lines and its object; format_config writes it back byte for byte", () => {
        const [header, cfg] = ok("split_config", rendered) as [string[], unknown];
        expect(header).toEqual(rendered.split("\n").filter((l) => l.startsWith("#")));
        expect(header).toHaveLength(2);
        expect(cfg).toEqual(object);
        expect(ok("format_config", header, cfg)).toBe(rendered);
    });

    test("split_config refuses what is not a JSON object: the YAML pgha wrote before, a list, nothing", () => {
        for (const text of ["# old\nname: pg3\ndata-dir: /var/lib/etcd\n", "[1, 2]\n", "# only a comment\n", ""]) {
            // JSONDecodeError is a ValueError.
            expect([text, (call("split_config", text) as { raised?: string }).raised]).toEqual([text, expect.stringMatching(/^(JSONDecode|Value)Error$/)]);
        }
    });

    test("read_config: the object; a missing key or a YAML file is refused, naming the file", () => {
        expect(ok("read_config", write("ok.yml", rendered))).toEqual(object);
        const noName = write("no-name.yml", rendered.replace(/\n {2}"name": "pg3",/, ""));
        expect(call("read_config", noName)).toEqual({ exit: `pgha: ${noName} has no name` });
        const yaml = write("old.yml", "# Managed by pgha\nname: pg3\n");
        expect((call("read_config", yaml) as { exit: string }).exit).toMatch(new RegExp(`^pgha: ${yaml} is not the JSON etcd config pgha writes \\(.+\\): \`pulumi up\` rewrites it$`));
        expect((call("read_config", path.join(dir, "absent.yml")) as { exit: string }).exit).toMatch(/^pgha: cannot read the etcd config .*absent\.yml: /);
    });

    test("client_tls: etcdctl's flags from client-transport-security; none without a certificate", () => {
        expect(ok("client_tls", object)).toEqual(["--cacert=/etc/pgha/tls/ca.crt", "--cert=/etc/pgha/tls/etcd.crt", "--key=/etc/pgha/tls/etcd.key"]);
        expect(ok("client_tls", { ...object, "client-transport-security": { "auto-tls": false } })).toEqual([]);
        expect(ok("client_tls", { name: "x" })).toEqual([]);
    });

    test("initial_cluster_state: new when the key is absent (as rendered: etcd's default), else what the file says", () => {
        expect(ok("initial_cluster_state", object)).toBe("new");
        expect(ok("initial_cluster_state", { ...object, "initial-cluster-state": "existing" })).toBe("existing");
    });

    test("with_join: existing, the running members as initial-cluster, one note; everything else as rendered", () => {
        const running = "pg1=https://172.51.216.81:2380,pg3=https://172.51.216.83:2380";
        const joined = ok("with_join", rendered, running) as string;
        const [header, cfg] = ok("split_config", joined) as [string[], Record<string, unknown>];
        expect(header).toEqual([...rendered.split("\n").filter((l) => l.startsWith("#")), JOIN_NOTE]);
        expect(cfg).toEqual({ ...object, "initial-cluster": running, "initial-cluster-state": "existing" });
        expect(ok("initial_cluster_state", cfg)).toBe("existing");
        // etcd reads the same file as YAML: the same object.
        expect(parseYaml(joined, { version: "1.1" })).toEqual(cfg);
        // A second join (a retried start) rewrites the keys and keeps one note.
        const again = ok("with_join", joined, "pg3=https://172.51.216.83:2380") as string;
        expect(again.split("\n").filter((l) => l === JOIN_NOTE)).toHaveLength(1);
        expect((ok("split_config", again) as [string[], Record<string, unknown>])[1]["initial-cluster"]).toBe("pg3=https://172.51.216.83:2380");
    });

    test("Member: name, data dir, URLs, and the other members' client URLs from initial-cluster", () => {
        const p = write("pg3.yml", rendered.replace('"data-dir": "/var/lib/etcd/pgha-pgsql"', '"data-dir": "/var/lib/etcd/pgha-pgsql/"'));
        const out = withProgram(TOOL, "import json\nx = m.Member(sys.argv[1])\nprint(json.dumps([x.name, x.data_dir, x.peer_url, x.client_url, x.others, x.stamp]))", [p]);
        expect(JSON.parse(out)).toEqual([
            "pg3",
            "/var/lib/etcd/pgha-pgsql",
            "https://172.51.216.83:2380",
            "https://172.51.216.83:2379",
            ["https://172.51.216.81:2379", "https://172.51.216.82:2379"],
            "/var/lib/etcd/pgha-pgsql.pgha-fingerprint",
        ]);
    });

    test("parse_cluster and client_url_for", () => {
        expect(ok("parse_cluster", "a=https://10.0.0.1:2380,b=https://10.0.0.2:2380,")).toEqual([
            ["a", "https://10.0.0.1:2380"],
            ["b", "https://10.0.0.2:2380"],
        ]);
        expect(ok("client_url_for", "https://10.0.0.2:2380", 2379)).toBe("https://10.0.0.2:2379");
    });

    test("etcdctl's member JSON: hex ids, started members, one-line descriptions, probe summaries", () => {
        const started = { ID: 1234567890123, name: "pg1", peerURLs: ["https://10.0.0.1:2380"], clientURLs: ["https://10.0.0.1:2379"] };
        const unstarted = { ID: 255, peerURLs: ["https://10.0.0.4:2380"] };
        expect(ok("hexid", started)).toBe("11f71fb04cb");
        expect([ok("started", started), ok("started", unstarted), ok("started", { ...started, clientURLs: [] })]).toEqual([true, false, false]);
        expect(ok("show", started)).toBe("pg1 11f71fb04cb https://10.0.0.1:2380");
        expect(ok("show", unstarted)).toBe("(unstarted) ff https://10.0.0.4:2380");
        const res = {
            "https://a:2379": { answers: true, healthy: true, leader: 1, error: "" },
            "https://b:2379": { answers: true, healthy: false, leader: 0, error: "no leader" },
            "https://c:2379": { answers: false, healthy: false, leader: 0, error: "not reachable" },
        };
        expect(ok("describe", res)).toBe("https://a:2379: healthy; https://b:2379: answers without quorum (no leader); https://c:2379: not reachable");
        expect(ok("describe", {})).toBe("no endpoints");
        expect(ok("last_line", "warn\n\nerror: the last one\n\n")).toBe("error: the last one");
    });
});
