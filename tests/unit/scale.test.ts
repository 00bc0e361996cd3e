// Issue 15, the program at scale (mocks): the layout npm run bench:scale deploys (scripts/ops/scale.ts:
// 3 etcd members, HAProxy + keepalived on 2 nodes, PostgreSQL on every node) at 3, 9 and 15 nodes.
// - The tree grows by the same block per node: resources(N) = a + b*N exactly, remote commands too,
//   and every node past the third is that block (lab4's, renamed).
// - Remote commands run in parallel across nodes where the order does not matter: the cross-node
//   dependencies are exactly the listed ones (each with its reason), no PostgreSQL-only node waits
//   for another's command except at the two barriers (all preflights before any install; every
//   node's password step before any Patroni config carrying the passwords), and the longest chain
//   of remote commands is the same at 3, 9 and 15 nodes.
import { parse, specOf } from "./fixtures";
import { Registered, registerCluster, remoteCommands } from "./mock-cluster";
import { parseNodeList, scaleNodes, scaleRolesArg, scaleStackConfig, scaleValues } from "../../scripts/ops/scale";
import YAML from "yaml";

// Each registration of a whole tree takes seconds (15 nodes: more); under a full, parallel unit run more still.
jest.setTimeout(180_000);

const SIZES = [3, 9, 15] as const;
const trees = new Map<number, Map<string, Registered>>();

beforeAll(async () => {
    for (const n of SIZES) trees.set(n, await registerCluster(specOf(scaleValues(n, "~/.ssh/id_ed25519"))));
});

/** The node a resource belongs to ("lab4:patroni", "lab4-host"), or undefined for a cluster-wide one ("pgsql:verify", "pgsql-etcd"). */
const nodeOf = (name: string): string | undefined => /^(lab\d+)[:-]/.exec(name)?.[1];
/** A resource as "type name" with its node's name replaced by "*". */
const shape = (r: Registered): string => {
    const node = nodeOf(r.name);
    return `${r.type} ${node ? `*${r.name.slice(node.length)}` : r.name}`;
};
const blockOf = (tree: Map<string, Registered>, node: string): string[] =>
    [...tree.values()]
        .filter((r) => nodeOf(r.name) === node)
        .map(shape)
        .sort();
const clusterWide = (tree: Map<string, Registered>): string[] =>
    [...tree.values()]
        .filter((r) => nodeOf(r.name) === undefined)
        .map((r) => `${r.type} ${r.name}`)
        .sort();

describe("the layout", () => {
    test("3 etcd members, 2 balancers with keepalived, PostgreSQL everywhere; a valid stack file", () => {
        expect(scaleNodes(4).map((n) => [n.name, n.address, n.roles.join("+")])).toEqual([
            ["lab1", "198.18.0.11", "etcd+postgres+haproxy+keepalived"],
            ["lab2", "198.18.0.12", "etcd+postgres+haproxy+keepalived"],
            ["lab3", "198.18.0.13", "etcd+postgres"],
            ["lab4", "198.18.0.14", "postgres"],
        ]);
        expect(scaleRolesArg(4)).toBe("lab1=etcd+postgres+haproxy+keepalived,lab2=etcd+postgres+haproxy+keepalived,lab3=etcd+postgres,lab4=postgres");
        const config = YAML.parse(scaleStackConfig(15, "/tmp/key")).config as Record<string, unknown>;
        const values = Object.fromEntries(Object.entries(config).map(([k, v]) => [k.replace(/^pgha:/, ""), v]));
        const r = parse(values);
        expect(r.ok ? r.spec.nodes.length : r.errors).toBe(15);
        expect(() => scaleNodes(2)).toThrow(/3 to 50/);
        expect(parseNodeList("3, 9,15")).toEqual([3, 9, 15]);
        expect(() => parseNodeList("3,x")).toThrow(/--nodes/);
    });
});

describe("the tree grows by one constant block per node", () => {
    test("resources(N) and remote commands(N) are a + b*N exactly, b being one PostgreSQL-only node's block", () => {
        const count = (n: number) => trees.get(n)!.size;
        const cmds = (n: number) => remoteCommands(trees.get(n)!).length;
        const block = blockOf(trees.get(9)!, "lab4");
        const b = block.length;
        const bCmds = block.filter((s) => s.startsWith("command:remote:Command ")).length;
        // Not vacuous: the block is a host, its packages, its TLS files and its Patroni member.
        expect(block).toEqual(expect.arrayContaining(["command:remote:Command *:packages", "command:remote:Command *:patroni", "command:local:Command *:tls-cert", "pgha:host:HostPrep *-host"]));
        expect(bCmds).toBeGreaterThan(5);
        expect(count(9) - count(3)).toBe(6 * b);
        expect(count(15) - count(9)).toBe(6 * b);
        expect(cmds(9) - cmds(3)).toBe(6 * bCmds);
        expect(cmds(15) - cmds(9)).toBe(6 * bCmds);
    });

    test("every node past the third is lab4's block; the first three and the cluster-wide resources are the same at every size", () => {
        const t3 = trees.get(3)!;
        for (const n of SIZES) {
            const t = trees.get(n)!;
            expect(clusterWide(t)).toEqual(clusterWide(t3));
            for (const node of ["lab1", "lab2", "lab3"]) expect(blockOf(t, node)).toEqual(blockOf(t3, node));
            for (let i = 5; i <= n; i++) expect(blockOf(t, `lab${i}`)).toEqual(blockOf(t, "lab4"));
            // Nothing else: every resource is cluster-wide or one of lab1..labN's.
            expect([...t.keys()].filter((k) => nodeOf(k) !== undefined && Number(nodeOf(k)!.slice(3)) > n)).toEqual([]);
        }
    });
});

/** Cross-node dependencies between per-node remote commands, as "command <- dependency" with both nodes' names replaced. */
function crossNodeEdges(tree: Map<string, Registered>): Map<string, number> {
    const edges = new Map<string, number>();
    for (const c of remoteCommands(tree)) {
        const node = nodeOf(c.name);
        if (!node) continue;
        for (const d of c.deps) {
            const other = nodeOf(d);
            const dep = tree.get(d);
            if (!other || other === node || dep?.type !== "command:remote:Command") continue;
            // A replica's wait for the bootstrap leader (lab1) keeps the leader's name.
            const leader = c.name.endsWith(":patroni") && d === "lab1:patroni";
            const pattern = `${c.name.replace(node, "X")} <- ${leader ? d : d.replace(other, "Y")}`;
            edges.set(pattern, (edges.get(pattern) ?? 0) + 1);
        }
    }
    return edges;
}

/** The longest chain of remote commands through the dependency graph (any resource may sit between two commands). */
function longestRemoteChain(tree: Map<string, Registered>): number {
    const memo = new Map<string, number>();
    const depth = (name: string): number => {
        const known = memo.get(name);
        if (known !== undefined) return known;
        const r = tree.get(name)!;
        memo.set(name, Number.NaN); // a cycle would make the result NaN, and the test fail
        const d = (r.type === "command:remote:Command" ? 1 : 0) + Math.max(0, ...r.deps.filter((x) => tree.has(x)).map(depth));
        memo.set(name, d);
        return d;
    };
    return Math.max(...[...tree.keys()].map(depth));
}

describe("remote commands run in parallel across nodes where the order does not matter", () => {
    test("the cross-node dependencies are exactly these, each counted as its barrier or chain implies", () => {
        for (const n of SIZES) {
            const pg = n; // every node runs PostgreSQL
            const expected: Record<string, number> = {
                // Barrier: no host installs anything until every host passed its preflight.
                "X:packages <- Y:preflight": n * (n - 1),
                // Barrier: a changed password is set by the leader (any node, after a failover) before a config carrying it is rewritten.
                "X:/etc/patroni/config.yml <- Y:role-passwords": pg * (pg - 1),
                // Replicas clone from the bootstrap leader: each waits for it, none for another replica.
                "X:patroni <- lab1:patroni": pg - 1,
                // Each balancer after every member (its health checks name them all).
                "X:haproxy <- Y:patroni": 2 * (pg - 1),
                // keepalived after both balancers: the VIP only where an HAProxy answers.
                "X:keepalived <- Y:haproxy": 2,
                // The one chain: etcd members join one at a time (a joiner needs the quorum that includes the previous one); 3 members at every size.
                "X:etcd <- Y:etcd": 2,
            };
            expect(Object.fromEntries(crossNodeEdges(trees.get(n)!))).toEqual(expected);
        }
    });

    test("no PostgreSQL-only node's command waits for another's, except at the two barriers", () => {
        const t = trees.get(15)!;
        const barrier = (name: string, dep: string) => (name.endsWith(":packages") && dep.endsWith(":preflight")) || (name.endsWith(":/etc/patroni/config.yml") && dep.endsWith(":role-passwords"));
        const pgOnly = (name: string | undefined) => name !== undefined && Number(name.slice(3)) >= 4;
        // Every ancestor of each resource, through any resource, barrier edges left out.
        const memo = new Map<string, Set<string>>();
        const ancestors = (name: string): Set<string> => {
            const known = memo.get(name);
            if (known) return known;
            const out = new Set<string>();
            memo.set(name, out);
            for (const d of tree(name).deps.filter((x) => t.has(x) && !barrier(name, x))) {
                out.add(d);
                for (const a of ancestors(d)) out.add(a);
            }
            return out;
        };
        const tree = (name: string) => t.get(name)!;
        const waits: string[] = [];
        for (const c of remoteCommands(t).filter((r) => pgOnly(nodeOf(r.name)))) {
            for (const a of ancestors(c.name)) {
                const other = nodeOf(a);
                if (pgOnly(other) && other !== nodeOf(c.name) && tree(a).type === "command:remote:Command") waits.push(`${c.name} <- ${a}`);
            }
        }
        expect(waits).toEqual([]);
        // Not vacuous: with the barriers, lab5's Patroni config does wait for lab4's password step.
        expect(tree("lab5:/etc/patroni/config.yml").deps).toContain("lab4:role-passwords");
    });

    test("the longest chain of remote commands is the same at 3, 9 and 15 nodes", () => {
        const chains = SIZES.map((n) => longestRemoteChain(trees.get(n)!));
        expect(chains[0]).toBeGreaterThan(5);
        expect(chains).toEqual([chains[0], chains[0], chains[0]]);
    });
});
