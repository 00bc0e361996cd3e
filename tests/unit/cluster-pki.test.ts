// ClusterPki under mocks: what a change of pgha's openssl scripts does to a running stack.

import { specOf } from "./fixtures";
import { Registered, registerCluster } from "./mock-cluster";

describe("ClusterPki (mocks)", () => {
    let m: Map<string, Registered>;
    beforeAll(async () => {
        m = await registerCluster(specOf());
    });

    test("a new CA script never re-makes an existing stack's CA; node certificates follow a new script", () => {
        // The CA command has no update: a changed script would run it again, a new CA for
        // every node at once (etcd restarts, TLS between members fails until all follow).
        const ca = m.get("pgsql:ca")!;
        expect(ca.type).toBe("command:local:Command");
        expect(ca.ignoreChanges).toEqual(["create"]);
        // A node certificate re-made by a new script is a renewal (files rewritten, Patroni reloads).
        for (const n of ["pg1", "pg2", "pg3"]) expect(m.get(`${n}:tls-cert`)!.ignoreChanges).toEqual([]);
    });
});
