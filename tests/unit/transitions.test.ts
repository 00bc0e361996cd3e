import { clusterShape, unsafeTransitions } from "../../core/transitions";
import { classicWith, specOf } from "./fixtures";

const previous = clusterShape(specOf());

describe("unsafe in-place edits are refused at preview", () => {
    test("a first deployment and ordinary edits pass", () => {
        expect(unsafeTransitions(undefined, specOf())).toEqual([]);
        expect(unsafeTransitions(previous, specOf(classicWith((v) => (v.postgres.parameters = { work_mem: "64MB" }))))).toEqual([]);
        expect(unsafeTransitions(previous, specOf(classicWith((v) => v.nodes.push({ name: "pg4", address: "172.51.216.84", roles: ["postgres"] }))))).toEqual([]);
    });

    test("renaming the cluster in place", () => {
        expect(unsafeTransitions(previous, specOf(classicWith((v) => (v.clusterName = "other"))))).toEqual([
            expect.stringMatching(/^pgha:clusterName: changing "pgsql" to "other" in place is refused/),
        ]);
    });

    test("a major version change in place", () => {
        expect(unsafeTransitions(previous, specOf(classicWith((v) => (v.postgres.version = 16))))).toEqual([expect.stringMatching(/^pgha:postgres\.version: a major version change \(15 -> 16\)/)]);
    });

    test("replacing a majority of etcd members in one step", () => {
        const moved = specOf(
            classicWith((v) => {
                v.nodes[1].roles = ["postgres", "haproxy", "keepalived"];
                v.nodes[2].roles = ["postgres"];
                v.nodes.push({ name: "pg4", address: "172.51.216.84", roles: ["etcd"] });
                v.nodes.push({ name: "pg5", address: "172.51.216.85", roles: ["etcd"] });
            }),
        );
        expect(unsafeTransitions(previous, moved)).toEqual([expect.stringMatching(/^pgha:nodes: this edit keeps 1 of the 3 running etcd members \(pg1, pg2, pg3\); keep at least 2/)]);
    });

    test("removing every running PostgreSQL member", () => {
        const replaced = specOf(
            classicWith((v) => {
                v.nodes[0].roles = ["etcd"];
                v.nodes[1].roles = ["etcd"];
                v.nodes.push({ name: "pg4", address: "172.51.216.84", roles: ["postgres", "haproxy", "keepalived"] });
                v.nodes.push({ name: "pg5", address: "172.51.216.85", roles: ["postgres", "haproxy", "keepalived"] });
            }),
        );
        expect(unsafeTransitions(previous, replaced)).toEqual([expect.stringMatching(/^pgha:nodes: this edit removes every running PostgreSQL member \(pg1, pg2\)/)]);
    });

    test("renaming a node (a new name at a running node's address) is refused; a node at a new address is not a rename", () => {
        const renamed = specOf(classicWith((v) => (v.nodes[1].name = "pg2b")));
        expect(unsafeTransitions(previous, renamed)).toEqual([
            expect.stringMatching(
                /^pgha:nodes: the node "pg2b" has the address 172\.\S+ of the running node "pg2"; renaming a node is refused.*Keep the name "pg2"\. To replace the node, add the new one with its own address/,
            ),
        ]);
        // Replacing pg2 by a new node at its own address, in one step, is not a rename.
        const replaced = specOf(classicWith((v) => ((v.nodes[1].name = "pg2b"), (v.nodes[1].address = "172.51.216.99"))));
        expect(unsafeTransitions(previous, replaced)).toEqual([]);
        // Two nodes swapping names keep both names running: no rename of a removed node.
        const swapped = specOf(classicWith((v) => ([v.nodes[0].name, v.nodes[1].name] = [v.nodes[1].name, v.nodes[0].name])));
        expect(unsafeTransitions(previous, swapped).filter((p) => /renaming/.test(p))).toEqual([]);
        // A shape recorded before addresses were recorded cannot tell: nothing is refused for it.
        const { nodes: _, ...old } = previous;
        expect(unsafeTransitions(old, renamed)).toEqual([]);
    });

    test("several problems are reported together", () => {
        expect(unsafeTransitions(previous, specOf(classicWith((v) => ((v.clusterName = "x"), (v.postgres.version = 16)))))).toHaveLength(2);
    });
});

test("a stack deployed before TLS is refused with what to do, not half-migrated", () => {
    const { transport: _, ...plain } = previous;
    const problems = unsafeTransitions(plain, specOf());
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^pgha:nodes: this stack was deployed by a pgha without TLS.*new stack/);
    expect(unsafeTransitions(previous, specOf())).toEqual([]);
});

describe("etcd quorum: an edit must keep a strict majority of the running members", () => {
    // pg1 and pg2 hold PostgreSQL (unchanged); etcd runs on dedicated nodes e1..eN, and an
    // edit keeps e1..ek and adds replacements r1.. so the member count stays N.
    const withEtcd = (members: readonly string[]) =>
        specOf(
            classicWith((v) => {
                v.nodes = [
                    { name: "pg1", address: "172.51.216.81", roles: ["postgres", "haproxy", "keepalived"] },
                    { name: "pg2", address: "172.51.216.82", roles: ["postgres", "haproxy", "keepalived"] },
                    ...members.map((name) => ({ name, address: `172.51.216.${(name.startsWith("e") ? 100 : 110) + Number(name.slice(1))}`, roles: ["etcd"] })),
                ];
                v.etcd = { allowEvenMembers: true };
            }),
        );
    const names = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i + 1}`);
    const edit = (n: number, kept: number) => unsafeTransitions(clusterShape(withEtcd(names("e", n))), withEtcd([...names("e", kept), ...names("r", n - kept)]));

    test.each([
        // [running members, kept, refused]
        [1, 0, true],
        [1, 1, false],
        [2, 1, true], // half of 2 is not a majority
        [2, 2, false],
        [3, 1, true],
        [3, 2, false],
        [4, 2, true], // half of 4 is not a majority
        [4, 3, false],
        [5, 2, true],
        [5, 3, false],
    ])("%i running members, %i kept: refused %s", (n, kept, refused) => {
        const problems = edit(n, kept);
        if (!refused) return expect(problems).toEqual([]);
        const need = Math.floor(n / 2) + 1;
        expect(problems).toEqual([
            expect.stringMatching(new RegExp(`^pgha:nodes: this edit keeps ${kept} of the ${n} running etcd members \\(${names("e", n).join(", ")}\\); keep at least ${need} in one step`)),
        ]);
    });

    test("a recorded shape with no members has no quorum or data to lose: nothing is refused for it", () => {
        const empty = { ...clusterShape(withEtcd(names("e", 3))), etcdMembers: [], postgresMembers: [] };
        expect(unsafeTransitions(empty, withEtcd(names("r", 3)))).toEqual([]);
    });

    test("growing or shrinking while keeping a majority is not refused", () => {
        expect(unsafeTransitions(clusterShape(withEtcd(names("e", 3))), withEtcd(names("e", 5)))).toEqual([]);
        expect(unsafeTransitions(clusterShape(withEtcd(names("e", 5))), withEtcd(names("e", 3)))).toEqual([]);
        // Shrinking 5 to 1 keeps one of five: refused, whatever the new size.
        expect(unsafeTransitions(clusterShape(withEtcd(names("e", 5))), withEtcd(names("e", 1)))).toHaveLength(1);
    });
});
