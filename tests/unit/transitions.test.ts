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
        expect(unsafeTransitions(previous, specOf(classicWith((v) => (v.clusterName = "other"))))).toEqual([expect.stringMatching(/^pgha:clusterName: changing "pgsql" to "other" in place is refused/)]);
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
