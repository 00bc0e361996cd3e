import {
    postgresMembers,
    CLIENT_CA_FILE,
    bootstrapNode,
    clusterEndpoints,
    connectionString,
    etcdClientEndpoints,
    etcdClientUrls,
    etcdInitialCluster,
    frontHost,
    haproxyAllowedSources,
    haproxyBackends,
    keepalivedPeer,
    keepalivedPeers,
    pgHbaBootstrapLines,
    pgHbaLines,
    primaryEndpoint,
    replicaEndpoint,
} from "../../core/topology";
import { nodeSubjectAltNames } from "../../core/pki";
import { classicWith, specOf } from "./fixtures";

const classic = specOf();
const noVip = specOf(
    classicWith((v) => {
        delete v.vip;
        v.nodes[0].roles = ["etcd", "postgres", "haproxy"];
        v.nodes[1].roles = ["etcd", "postgres", "haproxy"];
    }),
);
const noBalancer = specOf(
    classicWith((v) => {
        delete v.vip;
        v.nodes[0].roles = ["etcd", "postgres"];
        v.nodes[1].roles = ["etcd", "postgres"];
    }),
);

test("etcd initial cluster and endpoints", () => {
    expect(etcdInitialCluster(classic)).toBe("pg1=https://172.51.216.81:2380,pg2=https://172.51.216.82:2380,pg3=https://172.51.216.83:2380");
    expect(etcdClientEndpoints(classic)).toEqual(["172.51.216.81:2379", "172.51.216.82:2379", "172.51.216.83:2379"]);
    expect(etcdClientUrls(classic)).toEqual(["https://172.51.216.81:2379", "https://172.51.216.82:2379", "https://172.51.216.83:2379"]);
});

test("bootstrap node: first postgres node by name that may lead", () => {
    expect(bootstrapNode(classic).name).toBe("pg1");
    const tagged = specOf(classicWith((v) => (v.nodes[0].patroniTags = { nofailover: true })));
    expect(bootstrapNode(tagged).name).toBe("pg2");
});

test("HAProxy backends: every postgres node", () => {
    expect(haproxyBackends(classic)).toEqual([
        { name: "pg1", address: "172.51.216.81", port: 5432, checkPort: 8008 },
        { name: "pg2", address: "172.51.216.82", port: 5432, checkPort: 8008 },
    ]);
});

describe("keepalived priorities", () => {
    test("derived: 150 for the first by name, then 10 less per node", () => {
        const four = specOf({
            nodes: ["d", "b", "a", "c"]
                .map((n, i) => ({ name: n, address: `10.0.0.${i + 1}`, roles: ["etcd", "postgres", "haproxy", "keepalived"].slice(0, i === 3 ? 3 : 4) }))
                .concat([{ name: "e", address: "10.0.0.9", roles: ["etcd"] }]),
            vip: { address: "10.0.0.100" },
        });
        expect(keepalivedPeers(four).map((p) => [p.name, p.priority])).toEqual([
            ["a", 150],
            ["b", 140],
            ["d", 130],
        ]);
        expect(keepalivedPeers(four)[0].unicastPeers).toEqual(["10.0.0.2", "10.0.0.1"]);
    });

    test("explicit priorities win", () => {
        const spec = specOf(classicWith((v) => (v.nodes[1].keepalivedPriority = 200)));
        expect(keepalivedPeers(spec)).toEqual([
            { name: "pg1", address: "172.51.216.81", priority: 150, unicastPeers: ["172.51.216.82"] },
            { name: "pg2", address: "172.51.216.82", priority: 200, unicastPeers: ["172.51.216.81"] },
        ]);
    });
});

test("each keepalived node gets its own priority and the others as unicast peers", () => {
    const spec = specOf(classicWith((v) => (v.nodes[1].keepalivedPriority = 200)));
    const [pg1, pg2] = spec.nodes;
    expect(keepalivedPeer(spec, pg1)).toEqual({ name: "pg1", address: "172.51.216.81", priority: 150, unicastPeers: ["172.51.216.82"] });
    expect(keepalivedPeer(spec, pg2)).toEqual({ name: "pg2", address: "172.51.216.82", priority: 200, unicastPeers: ["172.51.216.81"] });
});

describe("pg_hba", () => {
    test("while a new cluster initialises: the local superuser only, everything else rejected", () => {
        expect(pgHbaBootstrapLines()).toEqual(["local all postgres peer", "hostssl all postgres 127.0.0.1/32 scram-sha-256", "host all all 0.0.0.0/0 reject"]);
    });

    test("the classic example", () => {
        expect(pgHbaLines(classic)).toEqual([
            "local all postgres peer",
            "hostssl all postgres 127.0.0.1/32 scram-sha-256",
            "hostssl all postgres 172.51.216.81/32 scram-sha-256",
            "hostssl all postgres 172.51.216.82/32 scram-sha-256",
            "hostssl replication replicator 127.0.0.1/32 scram-sha-256",
            "hostssl replication replicator 172.51.216.81/32 scram-sha-256",
            "hostssl replication replicator 172.51.216.82/32 scram-sha-256",
            "hostssl all all 172.51.216.81/32 scram-sha-256",
            "hostssl all all 172.51.216.82/32 scram-sha-256",
            "hostssl all all 172.51.216.0/24 scram-sha-256",
            "host replication all 0.0.0.0/0 reject",
            "host all all 0.0.0.0/0 reject",
        ]);
    });

    test("allowedClientCidrs absent: pg_hba and HAProxy admit the nodes and the VIP only, even with a /8 VIP prefix", () => {
        const spec = specOf(
            classicWith((v) => {
                delete v.postgres.allowedClientCidrs;
                v.vip.prefixLength = 8;
            }),
        );
        const clients = pgHbaLines(spec).filter((l) => l.startsWith("hostssl all all "));
        expect(clients).toEqual([
            "hostssl all all 172.51.216.81/32 scram-sha-256",
            "hostssl all all 172.51.216.82/32 scram-sha-256",
            "hostssl all all 172.51.216.83/32 scram-sha-256",
            "hostssl all all 172.51.216.88/32 scram-sha-256",
        ]);
        expect(haproxyAllowedSources(spec)).toEqual(["127.0.0.1", "172.51.216.81/32", "172.51.216.82/32", "172.51.216.83/32", "172.51.216.88/32", "172.51.216.81", "172.51.216.82"]);
    });

    test("never trust or md5, whatever the input; TCP only over TLS; everything else rejected at the end", () => {
        for (const spec of [classic, noVip, noBalancer, specOf(classicWith((v) => (v.postgres.allowedClientCidrs = ["0.0.0.0/0"])))]) {
            const lines = pgHbaLines(spec);
            for (const line of lines) {
                expect(line).not.toMatch(/\b(trust|md5|password|ident)\b/);
                expect(line).toMatch(/^(local .* peer|hostssl .* scram-sha-256|host .* 0\.0\.0\.0\/0 reject)$/);
            }
            expect(lines.slice(-2)).toEqual(["host replication all 0.0.0.0/0 reject", "host all all 0.0.0.0/0 reject"]);
            // Replication only from the postgres members (and loopback).
            const members = postgresMembers(spec).map((n) => `${n.address}/32`);
            for (const l of lines.filter((x) => x.startsWith("hostssl replication"))) expect(["127.0.0.1/32", ...members]).toContain(l.split(" ")[3]);
        }
    });
});

describe("endpoints", () => {
    test("through the VIP", () => {
        expect(primaryEndpoint(classic)).toEqual({ host: "172.51.216.88", port: 5000 });
        expect(replicaEndpoint(classic)).toEqual({ host: "172.51.216.88", port: 5001 });
        expect(clusterEndpoints(classic)).toEqual({
            primary: "172.51.216.88:5000",
            replica: "172.51.216.88:5001",
            // No synchronous mode: no syncReplica service.
            asyncReplica: "172.51.216.88:5003",
            services: {
                primary: { address: "172.51.216.88:5000", pooled: false },
                replica: { address: "172.51.216.88:5001", pooled: false },
                asyncReplica: { address: "172.51.216.88:5003", pooled: false },
            },
            statsUrl: "http://172.51.216.88:7000/",
            patroniApiUrls: ["https://172.51.216.81:8008", "https://172.51.216.82:8008"],
            etcdEndpoints: ["https://172.51.216.81:2379", "https://172.51.216.82:2379", "https://172.51.216.83:2379"],
        });
    });

    test("through the first balancer without a VIP", () => {
        expect(clusterEndpoints(noVip)).toMatchObject({ primary: "172.51.216.81:5000", replica: "172.51.216.81:5001", statsUrl: "http://172.51.216.81:7000/" });
    });

    test("without any balancer: every member, libpq picks the writable one", () => {
        const ep = clusterEndpoints(noBalancer);
        expect(ep.primary).toBe("172.51.216.81:5432,172.51.216.82:5432");
        // No replica port to send reads to: the same member list (a replica is read-only by itself).
        expect(ep.replica).toBe("172.51.216.81:5432,172.51.216.82:5432");
        expect(ep.statsUrl).toBeUndefined();
        expect(primaryEndpoint(noBalancer)).toEqual({ host: "172.51.216.81", port: 5432 });
        expect(replicaEndpoint(noBalancer)).toEqual({ host: "172.51.216.81", port: 5432 });
        expect(connectionString(noBalancer, "pw")).toBe(
            "postgresql://postgres:pw@172.51.216.81:5432,172.51.216.82:5432/postgres?sslmode=verify-full&sslrootcert=pgha-ca.crt&target_session_attrs=read-write",
        );
    });

    test("connection string escapes the password", () => {
        expect(connectionString(classic, "p@ss:w/rd?#%")).toBe("postgresql://postgres:p%40ss%3Aw%2Frd%3F%23%25@172.51.216.88:5000/postgres?sslmode=verify-full&sslrootcert=pgha-ca.crt");
    });

    test("the connection string verifies the server (verify-full), and each host it names is in the certificates that answer there", () => {
        for (const spec of [classic, noVip, noBalancer]) {
            // Several hosts are valid for libpq, not for the WHATWG URL parser.
            const m = /^postgresql:\/\/[^@]+@([^/]+)\/[^?]*\?(.*)$/.exec(connectionString(spec, "pw"))!;
            const query = new URLSearchParams(m[2]);
            expect(query.get("sslmode")).toBe("verify-full");
            expect(query.get("sslrootcert")).toBe(CLIENT_CA_FILE);
            const hosts = m[1].split(",").map((h) => h.split(":")[0]);
            const front = frontHost(spec);
            for (const host of hosts) {
                // Through HAProxy (TLS passed through) any member may answer; without it, the member at that address.
                const answering = front !== undefined ? postgresMembers(spec) : postgresMembers(spec).filter((n) => n.address === host);
                expect(answering.length).toBeGreaterThan(0);
                for (const n of answering) expect([n.name, nodeSubjectAltNames(spec, n).ips]).toEqual([n.name, expect.arrayContaining([host])]);
            }
        }
    });
});
