import { formatConfigErrors, parseClusterConfig, readRawConfig } from "../../core/config";
import { ClusterSpec } from "../../core/spec";
import { FAKE_SECRETS, HOME, classicValues, classicWith, errorsOf, parse, placeholderHostKey, specOf, withHostKeys } from "./fixtures";

const tags = { nofailover: false, noloadbalance: false, nosync: false, clonefrom: false };
const node = (name: string, address: string, roles: string[]) => ({
    name,
    address,
    roles,
    sshHost: address,
    sshPort: 22,
    sshUser: "root",
    hostKey: placeholderHostKey(name),
    patroniTags: tags,
});

const CLASSIC_SPEC: ClusterSpec = {
    clusterName: "pgsql",
    ssh: { user: "root", port: 22, privateKeyPath: `${HOME}/.ssh/id_ed25519`, strictHostKeys: true },
    nodes: [
        node("pg1", "172.51.216.81", ["etcd", "postgres", "haproxy", "keepalived"]),
        node("pg2", "172.51.216.82", ["etcd", "postgres", "haproxy", "keepalived"]),
        node("pg3", "172.51.216.83", ["etcd"]),
    ] as ClusterSpec["nodes"],
    vip: { address: "172.51.216.88", prefixLength: 24, interface: "eth0", virtualRouterId: 51, manager: "keepalived" },
    postgres: {
        version: 15,
        port: 5432,
        parameters: { max_connections: 200 },
        allowedClientCidrs: ["172.51.216.0/24"],
        dataDir: "/var/lib/postgresql/15/pgsql",
        binDir: "/usr/lib/postgresql/15/bin",
    },
    patroni: {
        profile: "default",
        ttl: 30,
        loopWait: 10,
        retryTimeout: 10,
        maximumLagOnFailover: 1048576,
        synchronousMode: false,
        synchronousModeStrict: false,
        restApiPort: 8008,
    },
    etcd: { clientPort: 2379, peerPort: 2380, dataDir: "/var/lib/etcd/pgha-pgsql", allowEvenMembers: false },
    // serverMaxConn: the classic stack's max_connections (200).
    haproxy: { primaryPort: 5000, replicaPort: 5001, syncReplicaPort: 5002, asyncReplicaPort: 5003, statsPort: 7000, maxConn: 100000, serverMaxConn: 200, pooled: [] },
    packages: { install: true, aptProxy: "", repositories: [] },
    destroy: { deleteData: false },
    progress: { stallTimeout: 300 },
};

const NOT_A_DATA_DIR = "is not a dedicated data directory (pgha:destroy.deleteData deletes it): use";
const ELSEWHERE = "or a directory two levels below /srv, /opt, /data* or /pgdata*";
const NOT_A_PG_DATA_DIR = `${NOT_A_DATA_DIR} /var/lib/postgresql/<version>/<name> ${ELSEWHERE}`;
const NOT_AN_ETCD_DATA_DIR = `${NOT_A_DATA_DIR} /var/lib/etcd/<name> ${ELSEWHERE}`;

/** Expects exactly one error, equal to `message`. */
function expectOnly(values: Record<string, unknown>, message: string, secrets = { ...FAKE_SECRETS }): void {
    expect(errorsOf(values, secrets)).toEqual([message]);
}

describe("the classic example", () => {
    test("parses to the expected spec with defaults applied", () => {
        expect(specOf()).toEqual(CLASSIC_SPEC);
    });

    test("reordering the nodes (and their roles) changes nothing", () => {
        const shuffled = classicWith((v) => {
            v.nodes.reverse();
            v.nodes[2].roles = ["keepalived", "haproxy", "postgres", "etcd", "postgres"];
        });
        expect(specOf(shuffled)).toEqual(specOf());
    });

    test("minimal input gets every default", () => {
        const spec = specOf({
            nodes: [
                { name: "b", address: "10.1.2.12", roles: ["etcd", "postgres"] },
                { name: "a", address: "10.1.2.11", roles: ["etcd", "postgres", "haproxy"] },
                { name: "c", address: "10.1.3.13", roles: ["etcd", "postgres"] },
            ],
        });
        expect(spec.clusterName).toBe("pgsql");
        expect(spec.nodes.map((n) => n.name)).toEqual(["a", "b", "c"]);
        expect(spec.vip).toBeUndefined();
        expect(spec.ssh).toEqual({ user: "root", port: 22, privateKeyPath: `${HOME}/.ssh/id_ed25519`, strictHostKeys: true });
        // Without a VIP the default client CIDRs are the nodes' own addresses, in node-name order.
        expect(spec.postgres.allowedClientCidrs).toEqual(["10.1.2.11/32", "10.1.2.12/32", "10.1.3.13/32"]);
        expect(spec.postgres).toMatchObject({ version: 15, port: 5432, parameters: {} });
        expect(spec.patroni).toEqual(CLASSIC_SPEC.patroni);
        expect(spec.etcd).toEqual(CLASSIC_SPEC.etcd);
        // serverMaxConn: PostgreSQL's default max_connections, as none is set.
        expect(spec.haproxy).toEqual({ ...CLASSIC_SPEC.haproxy, serverMaxConn: 100 });
        expect(spec.packages).toEqual({ install: true, aptProxy: "", repositories: [] });
        expect(spec.destroy).toEqual({ deleteData: false });
        expect(spec.progress).toEqual({ stallTimeout: 300 });
    });

    test("default client CIDRs are the nodes and the VIP, each /32, whatever the VIP's prefix length", () => {
        for (const prefixLength of [24, 16, 8]) {
            const r = parse(
                classicWith((v) => {
                    delete v.postgres.allowedClientCidrs;
                    v.vip.prefixLength = prefixLength;
                }),
            );
            if (!r.ok) throw new Error(r.errors.join("\n"));
            expect(r.spec.postgres.allowedClientCidrs).toEqual(["172.51.216.81/32", "172.51.216.82/32", "172.51.216.83/32", "172.51.216.88/32"]);
            expect(r.warnings.filter((w) => w.includes("allowedClientCidrs"))).toEqual([]);
        }
    });

    test("client CIDRs wider than /16 are accepted with a warning each, 0.0.0.0/0 included", () => {
        const r = parse(classicWith((v) => (v.postgres.allowedClientCidrs = ["0.0.0.0/0", "172.51.216.0/24", "10.0.0.0/8", "172.16.0.0/16", "172.0.0.0/15"])));
        if (!r.ok) throw new Error(r.errors.join("\n"));
        expect(r.warnings.filter((w) => w.includes("allowedClientCidrs"))).toEqual([
            "pgha:postgres.allowedClientCidrs[0]: 0.0.0.0/0 is every IPv4 address; all of them may reach HAProxy and log in to PostgreSQL (the superuser included): list only the clients' networks",
            "pgha:postgres.allowedClientCidrs[2]: 10.0.0.0/8 is wider than /16 (16777216 addresses); all of them may reach HAProxy and log in to PostgreSQL (the superuser included): list only the clients' networks",
            "pgha:postgres.allowedClientCidrs[4]: 172.0.0.0/15 is wider than /16 (131072 addresses); all of them may reach HAProxy and log in to PostgreSQL (the superuser included): list only the clients' networks",
        ]);
    });

    test("an explicit empty client list stays empty", () => {
        expect(specOf(classicWith((v) => (v.postgres.allowedClientCidrs = []))).postgres.allowedClientCidrs).toEqual([]);
    });

    test("paths depend on version and cluster name", () => {
        const spec = specOf(
            classicWith((v) => {
                v.clusterName = "main-db";
                v.postgres.version = 16;
            }),
        );
        expect(spec.postgres.dataDir).toBe("/var/lib/postgresql/16/main-db");
        expect(spec.postgres.binDir).toBe("/usr/lib/postgresql/16/bin");
        expect(spec.etcd.dataDir).toBe("/var/lib/etcd/pgha-main-db");
    });

    test("per-node SSH settings default from pgha:ssh and can be overridden", () => {
        const spec = specOf(
            classicWith((v) => {
                v.ssh = { user: "admin", port: 2222 };
                v.nodes[1].sshHost = "bastion.example.com";
                v.nodes[1].sshPort = 5000;
                v.nodes[1].sshUser = "deploy";
            }),
        );
        expect(spec.nodes[0]).toMatchObject({ sshHost: "172.51.216.81", sshPort: 2222, sshUser: "admin" });
        expect(spec.nodes[1]).toMatchObject({ sshHost: "bastion.example.com", sshPort: 5000, sshUser: "deploy" });
    });

    test('CLI strings are coerced: "5433" is a number, "true" a boolean', () => {
        const spec = specOf(
            classicWith((v) => {
                v.postgres.port = "5433";
                v.ssh.strictHostKeys = "false";
                v.destroy.deleteData = "true";
                v.nodes[0].keepalivedPriority = "200";
                v.progress = { stallTimeout: "900" };
            }),
        );
        expect(spec.progress.stallTimeout).toBe(900);
        expect(spec.postgres.port).toBe(5433);
        expect(spec.ssh.strictHostKeys).toBe(false);
        expect(spec.destroy.deleteData).toBe(true);
        expect(spec.nodes[0].keepalivedPriority).toBe(200);
    });

    test("vip {} (the Pulumi.yaml default) means no VIP", () => {
        const spec = specOf(
            classicWith((v) => {
                v.vip = {};
                v.nodes[0].roles = ["etcd", "postgres", "haproxy"];
                v.nodes[1].roles = ["etcd", "postgres", "haproxy"];
            }),
        );
        expect(spec.vip).toBeUndefined();
    });

    test("an SSH key given as a secret replaces the key path", () => {
        const v = classicWith((c) => delete c.ssh.privateKeyPath);
        const key = "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n";
        const spec = specOf(v, { ...FAKE_SECRETS, sshPrivateKey: key });
        expect(spec.ssh.privateKeyPath).toBeUndefined();
        expect(errorsOf(classicValues(), { ...FAKE_SECRETS, sshPrivateKey: key })).toEqual(["pgha:ssh.privateKeyPath: set either this or the secret pgha:sshPrivateKey, not both"]);
    });

    test("warnings: no balancer, a single postgres node, unused or long keepalived password", () => {
        const r = parse(withHostKeys({ nodes: [{ name: "solo", address: "10.0.0.5", roles: ["etcd", "postgres"] }] }), {
            ...FAKE_SECRETS,
        });
        expect(r.ok && r.warnings).toEqual([
            "pgha:nodes: no node has the haproxy role; clients must find the leader themselves",
            "pgha:nodes: only one node has the postgres role; there is no failover",
            "pgha:keepalivedPassword: set but unused, as no keepalived holds a VIP (pgha:vip absent, or pgha:vip.manager vip-manager)",
        ]);
        const classic = parse(classicValues());
        expect(classic.ok && classic.warnings).toEqual(["pgha:keepalivedPassword: VRRP uses only its first 8 characters"]);
    });
});

describe("single-field problems, each with its key path", () => {
    const cases: [string, (v: any) => void, string][] = [
        ["bad node address", (v) => (v.nodes[2].address = "10.0.0.300"), 'pgha:nodes[2].address: "10.0.0.300" is not an IPv4 address'],
        ["leading zero address", (v) => (v.nodes[0].address = "172.51.216.081"), 'pgha:nodes[0].address: "172.51.216.081" is not an IPv4 address'],
        ["loopback node address", (v) => (v.nodes[2].address = "127.0.0.1"), 'pgha:nodes[2].address: "127.0.0.1" is a loopback address'],
        ["sshHost IP-like but invalid", (v) => (v.nodes[0].sshHost = "1.2.3.999"), 'pgha:nodes[0].sshHost: "1.2.3.999" is not an IPv4 address'],
        ["sshHost not a host name", (v) => (v.nodes[0].sshHost = "bad host"), 'pgha:nodes[0].sshHost: "bad host" is neither a host name nor an IPv4 address'],
        [
            "upper-case node name",
            (v) => (v.nodes[0].name = "PG1"),
            `pgha:nodes[0].name: "PG1" is not a valid name (lowercase letters, digits and '-', 1 to 63 characters, starting and ending with a letter or digit)`,
        ],
        [
            "node name with shell characters",
            (v) => (v.nodes[2].name = "pg3;rm"),
            `pgha:nodes[2].name: "pg3;rm" is not a valid name (lowercase letters, digits and '-', 1 to 63 characters, starting and ending with a letter or digit)`,
        ],
        [
            "node name ending in '-'",
            (v) => (v.nodes[2].name = "pg3-"),
            `pgha:nodes[2].name: "pg3-" is not a valid name (lowercase letters, digits and '-', 1 to 63 characters, starting and ending with a letter or digit)`,
        ],
        [
            "bad cluster name",
            (v) => (v.clusterName = "my_cluster"),
            `pgha:clusterName: "my_cluster" is not a valid name (lowercase letters, digits and '-', 1 to 63 characters, starting and ending with a letter or digit)`,
        ],
        ["unknown role", (v) => (v.nodes[2].roles = ["etcd", "pstgres"]), 'pgha:nodes[2].roles[1]: unknown role "pstgres" (expected one of etcd, postgres, haproxy, keepalived, backup, monitor)'],
        ["port out of range", (v) => (v.haproxy.primaryPort = 70000), "pgha:haproxy.primaryPort: 70000 is not an integer in 1..65535"],
        ["port zero", (v) => (v.postgres.port = 0), "pgha:postgres.port: 0 is not an integer in 1..65535"],
        ["fractional port", (v) => (v.ssh.port = 22.5), "pgha:ssh.port: 22.5 is not an integer in 1..65535"],
        ["port of the wrong type", (v) => (v.etcd = { clientPort: "abc" }), "pgha:etcd.clientPort: expected a number, got a string"],
        ["VIP not an IP", (v) => (v.vip.address = "172.51.216.256"), 'pgha:vip.address: "172.51.216.256" is not an IPv4 address'],
        ["VIP prefix 0", (v) => (v.vip.prefixLength = 0), "pgha:vip.prefixLength: 0 is not an integer in 1..32"],
        ["VIP prefix 33", (v) => (v.vip.prefixLength = 33), "pgha:vip.prefixLength: 33 is not an integer in 1..32"],
        ["router id 0", (v) => (v.vip.virtualRouterId = 0), "pgha:vip.virtualRouterId: 0 is not an integer in 1..255"],
        ["router id 256", (v) => (v.vip.virtualRouterId = 256), "pgha:vip.virtualRouterId: 256 is not an integer in 1..255"],
        ["interface with a space", (v) => (v.vip.interface = "eth 0"), 'pgha:vip.interface: "eth 0" is not a valid interface name (1 to 15 of letters, digits, _ . : -)'],
        ["interface too long", (v) => (v.vip.interface = "averyveryverylongif"), 'pgha:vip.interface: "averyveryverylongif" is not a valid interface name (1 to 15 of letters, digits, _ . : -)'],
        ["postgres version 11", (v) => (v.postgres.version = 11), "pgha:postgres.version: 11 is not an integer in 12..18"],
        ["postgres version 15.2", (v) => (v.postgres.version = 15.2), "pgha:postgres.version: 15.2 is not an integer in 12..18"],
        ["parameter value not scalar", (v) => (v.postgres.parameters = { work_mem: { a: 1 } }), "pgha:postgres.parameters.work_mem: must be a string, number or boolean"],
        [
            "parameter name not lowercase",
            (v) => (v.postgres.parameters = { "Max-Connections": 5 }),
            "pgha:postgres.parameters[\"Max-Connections\"]: \"Max-Connections\" is not a PostgreSQL parameter name (lowercase letters, digits, '_' and '.')",
        ],
        [
            "parameter managed by Patroni",
            (v) => (v.postgres.parameters = { listen_addresses: "*" }),
            "pgha:postgres.parameters.listen_addresses: cannot be set here: Patroni sets it from the node address",
        ],
        ["parameter port", (v) => (v.postgres.parameters = { port: 5433 }), "pgha:postgres.parameters.port: cannot be set here: use pgha:postgres.port"],
        ["CIDR prefix 33", (v) => (v.postgres.allowedClientCidrs = ["10.0.0.0/33"]), 'pgha:postgres.allowedClientCidrs[0]: "10.0.0.0/33" is not an IPv4 CIDR in network form such as 10.0.0.0/24'],
        [
            "CIDR with host bits",
            (v) => (v.postgres.allowedClientCidrs = ["172.51.216.0/24", "10.0.0.1/24"]),
            'pgha:postgres.allowedClientCidrs[1]: "10.0.0.1/24" is not an IPv4 CIDR in network form such as 10.0.0.0/24',
        ],
        ["keepalived priority 0", (v) => (v.nodes[0].keepalivedPriority = 0), "pgha:nodes[0].keepalivedPriority: 0 is not an integer in 1..254"],
        ["keepalived priority 255", (v) => (v.nodes[1].keepalivedPriority = 255), "pgha:nodes[1].keepalivedPriority: 255 is not an integer in 1..254"],
        ["host key of unknown type", (v) => (v.nodes[0].hostKey = "ssh-dss AAAAB3"), 'pgha:nodes[0].hostKey: "ssh-dss AAAAB3" is not an OpenSSH public host key such as "ssh-ed25519 AAAA..."'],
        ["apt proxy not http", (v) => (v.packages.aptProxy = "ftp://proxy:21"), 'pgha:packages.aptProxy: "ftp://proxy:21" is not of the form http://host:port'],
        ["apt proxy without port", (v) => (v.packages.aptProxy = "http://proxy"), 'pgha:packages.aptProxy: "http://proxy" is not of the form http://host:port'],
        ["newline in interface", (v) => (v.vip.interface = "eth0\nX"), "pgha:vip.interface: contains a control character or newline"],
        ["control character in a parameter value", (v) => (v.postgres.parameters = { search_path: "a\u0007b" }), "pgha:postgres.parameters.search_path: contains a control character or newline"],
        ["newline in ssh user", (v) => (v.ssh.user = "root\n"), "pgha:ssh.user: contains a control character or newline"],
        ["upper-case ssh user", (v) => (v.ssh.user = "Admin"), `pgha:ssh.user: "Admin" is not a valid user name (lowercase letters, digits, '_' and '-', starting with a letter or '_', at most 32)`],
        [
            "bad per-node ssh user",
            (v) => (v.nodes[1].sshUser = "a b"),
            `pgha:nodes[1].sshUser: "a b" is not a valid user name (lowercase letters, digits, '_' and '-', starting with a letter or '_', at most 32)`,
        ],
        ["relative key path", (v) => (v.ssh.privateKeyPath = "id_ed25519"), 'pgha:ssh.privateKeyPath: "id_ed25519" must be an absolute path or start with ~/'],
        ["newline in key path", (v) => (v.ssh.privateKeyPath = "/k\n"), "pgha:ssh.privateKeyPath: contains a control character or newline"],
        ["data dir that is a system directory", (v) => (v.postgres.dataDir = "/var/lib"), `pgha:postgres.dataDir: "/var/lib" ${NOT_A_PG_DATA_DIR}`],
        ["data dir with ..", (v) => (v.etcd = { dataDir: "/srv/etcd/../.." }), 'pgha:etcd.dataDir: "/srv/etcd/../.." must not contain "." or ".." segments'],
        ["bin dir with a space", (v) => (v.postgres.binDir = "/opt/pg 15/bin"), 'pgha:postgres.binDir: "/opt/pg 15/bin" is not an absolute path made of letters, digits and . _ - + /'],
        ["patroni ttl below Patroni's minimum", (v) => (v.patroni.ttl = 10), "pgha:patroni.ttl: 10 is not an integer in 20..86400"],
        ["negative lag", (v) => (v.patroni.maximumLagOnFailover = -1), `pgha:patroni.maximumLagOnFailover: -1 is not an integer in 0..${Number.MAX_SAFE_INTEGER}`],
        ["boolean of the wrong type", (v) => (v.destroy.deleteData = "yes"), "pgha:destroy.deleteData: expected a boolean, got a string"],
        ["stall timeout below 30 s", (v) => (v.progress = { stallTimeout: 5 }), "pgha:progress.stallTimeout: 5 is not an integer in 30..86400"],
        ["stall timeout not a number", (v) => (v.progress = { stallTimeout: "5m" }), "pgha:progress.stallTimeout: expected a number, got a string"],
        ["unknown progress key", (v) => (v.progress = { stallTimeut: 60 }), "pgha:progress.stallTimeut: unknown key (did you mean pgha:progress.stallTimeout?)"],
        ["unknown top-level key", (v) => (v.clusterNam = "x"), "pgha:clusterNam: unknown key (did you mean pgha:clusterName?)"],
        ["unknown nested key", (v) => (v.ssh.usr = "root"), "pgha:ssh.usr: unknown key (did you mean pgha:ssh.user?)"],
        ["unknown node key", (v) => (v.nodes[1].adress = "x"), "pgha:nodes[1].adress: unknown key (did you mean pgha:nodes[1].address?)"],
        ["unrelated unknown key", (v) => (v.frobnicate = 1), "pgha:frobnicate: unknown key"],
        [
            "dotted top-level key (config set without --path)",
            (v) => (v["postgres.port"] = "5433"),
            "pgha:postgres.port: unknown key; to set a field inside pgha:postgres use `pulumi config set --path pgha:postgres.port …`",
        ],
        ["a section of the wrong type", (v) => (v.haproxy = "5000"), "pgha:haproxy: expected an object, got a string"],
    ];
    test.each(cases)("%s", (_name, edit, message) => {
        expectOnly(classicWith(edit), message);
    });

    test("nodes missing entirely", () => {
        expect(errorsOf({})).toEqual(["pgha:nodes: missing; list the servers (name, address, roles) as in Pulumi.dev.yaml"]);
    });

    test("a node without address", () => {
        expectOnly(
            classicWith((v) => delete v.nodes[1].address),
            "pgha:nodes[1].address: missing",
        );
    });

    test("empty roles", () => {
        expectOnly(
            classicWith((v) => v.nodes.push({ name: "pg4", address: "172.51.216.84", hostKey: placeholderHostKey("pg4"), roles: [] })),
            "pgha:nodes[3].roles: must list at least one role (etcd, postgres, haproxy, keepalived, backup, monitor)",
        );
    });

    test("valid variants are accepted", () => {
        specOf(
            classicWith((v) => {
                v.nodes[0].sshHost = "bastion-1.example.com";
                v.nodes[1].hostKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB7x root@pg2";
                v.packages.aptProxy = "http://10.0.0.1:3142";
                v.postgres.parameters = { shared_buffers: "256MB", "auto_explain.log_min_duration": 250, jit: false };
                v.postgres.dataDir = "/srv/pg/data";
                v.ssh.privateKeyPath = "/etc/pgha/id";
            }),
        );
    });
});

describe("cross-field problems", () => {
    test("duplicate names and addresses", () => {
        expect(
            errorsOf(
                classicWith((v) => {
                    v.nodes[2].name = "pg1";
                    v.nodes[1].address = "172.51.216.81";
                }),
            ),
        ).toEqual(['pgha:nodes[2].name: "pg1" is already used by pgha:nodes[0]', 'pgha:nodes[1].address: "172.51.216.81" is already used by pgha:nodes[0]']);
    });

    test("no postgres node", () => {
        const v = withHostKeys({ nodes: [{ name: "e1", address: "10.0.0.1", roles: ["etcd"] }] });
        expect(errorsOf(v)).toEqual(["pgha:nodes: no node has the postgres role; at least one is needed (two or more for failover)"]);
    });

    test("every postgres node nofailover", () => {
        expectOnly(
            withHostKeys({ nodes: [{ name: "a", address: "10.0.0.1", roles: ["etcd", "postgres"], patroniTags: { nofailover: true } }] }),
            "pgha:nodes: every postgres node has patroniTags.nofailover; at least one must be able to become the leader",
        );
    });

    test("no etcd node", () => {
        expectOnly(withHostKeys({ nodes: [{ name: "a", address: "10.0.0.1", roles: ["postgres"] }] }), "pgha:nodes: no node has the etcd role; etcd is Patroni's DCS (use 1, 3, 5 or 7 members)");
    });

    test("even etcd count refused unless allowed", () => {
        const even = classicWith((v) => (v.nodes[2].roles = ["haproxy"]));
        expectOnly(even, "pgha:nodes: 2 nodes have the etcd role; an even count tolerates no more failures than 1 and can split a vote: use an odd count or set pgha:etcd.allowEvenMembers true");
        specOf({ ...even, etcd: { allowEvenMembers: true } });
    });

    test("more than 7 etcd members", () => {
        const nodes = Array.from({ length: 9 }, (_, i) => ({ name: `n${i}`, address: `10.0.0.${i + 1}`, roles: ["etcd", "postgres"] }));
        expectOnly(withHostKeys({ nodes }), "pgha:nodes: 9 nodes have the etcd role; at most 7 are supported");
    });

    test("VIP equal to a node address", () => {
        expectOnly(
            classicWith((v) => (v.vip.address = "172.51.216.83")),
            'pgha:vip.address: "172.51.216.83" is also the address of pgha:nodes[2] (pg3)',
        );
    });

    test("VIP outside the keepalived nodes' subnet", () => {
        expectOnly(
            classicWith((v) => (v.nodes[1].address = "172.51.217.82")),
            'pgha:nodes[1].address: "172.51.217.82" is outside the VIP\'s subnet 172.51.216.0/24 (pgha:vip.address, pgha:vip.prefixLength); every keepalived node must share it',
        );
    });

    test("VIP on the subnet's broadcast address", () => {
        expectOnly(
            classicWith((v) => (v.vip.address = "172.51.216.255")),
            'pgha:vip.address: "172.51.216.255" is the network or broadcast address of 172.51.216.0/24',
        );
    });

    test("VIP with fewer than 2 keepalived nodes", () => {
        expectOnly(
            classicWith((v) => (v.nodes[1].roles = ["etcd", "postgres", "haproxy"])),
            "pgha:vip: needs at least 2 nodes with the keepalived role (found 1)",
        );
    });

    test("keepalived nodes without a VIP", () => {
        expectOnly(
            classicWith((v) => delete v.vip),
            "pgha:vip: missing, but pgha:nodes[0] (pg1), pgha:nodes[1] (pg2) have the keepalived role",
        );
    });

    test("keepalived without haproxy on the same node", () => {
        expectOnly(
            classicWith((v) => (v.nodes[1].roles = ["etcd", "postgres", "keepalived"])),
            "pgha:nodes[1].roles: keepalived needs haproxy on the same node (the VIP follows a healthy local HAProxy)",
        );
    });

    test("no haproxy node at all is allowed", () => {
        specOf(
            classicWith((v) => {
                delete v.vip;
                v.nodes[0].roles = ["etcd", "postgres"];
                v.nodes[1].roles = ["etcd", "postgres"];
            }),
        );
    });

    test("port clash between services on the same nodes names both keys", () => {
        expectOnly(
            classicWith((v) => (v.haproxy.primaryPort = 5432)),
            "pgha:haproxy.primaryPort: 5432 clashes with pgha:postgres.port on pg1, pg2 (both listen there)",
        );
    });

    test("ports of services on different nodes may coincide", () => {
        // pg3 runs only etcd; the others run HAProxy: stats on 2380 clashes only where etcd also runs.
        expectOnly(
            classicWith((v) => (v.haproxy.statsPort = 2380)),
            "pgha:etcd.peerPort: 2380 clashes with pgha:haproxy.statsPort on pg1, pg2 (both listen there)",
        );
        specOf(
            classicWith((v) => {
                v.nodes[2].roles = ["etcd"];
                v.nodes[0].roles = ["etcd", "postgres"];
                v.nodes[1].roles = ["etcd", "postgres"];
                delete v.vip;
                v.nodes.push({ name: "lb", address: "172.51.216.90", roles: ["haproxy"] });
                v.haproxy.statsPort = 2380;
            }),
        );
    });

    test("SSH port clash, per node or global", () => {
        expectOnly(
            classicWith((v) => (v.nodes[2].sshPort = 2379)),
            "pgha:nodes[2].sshPort: 2379 clashes with pgha:etcd.clientPort on pg3 (both listen there)",
        );
        expectOnly(
            classicWith((v) => (v.ssh.port = 8008)),
            "pgha:ssh.port: 8008 clashes with pgha:patroni.restApiPort on pg1, pg2 (both listen there)",
        );
        // SSH through another host (a jump host's forwarded port) does not compete.
        specOf(
            classicWith((v) => {
                v.nodes[2].sshHost = "jump.example.com";
                v.nodes[2].sshPort = 2379;
            }),
        );
    });

    test("Patroni timing", () => {
        expectOnly(
            classicWith((v) => (v.patroni.retryTimeout = 15)),
            "pgha:patroni.ttl: must be at least pgha:patroni.loopWait + 2 × pgha:patroni.retryTimeout (10 + 2 × 15 = 40), got 30",
        );
        expectOnly(
            classicWith((v) => (v.patroni.synchronousModeStrict = true)),
            "pgha:patroni.synchronousModeStrict: has no effect unless pgha:patroni.synchronousMode is true",
        );
    });

    test("strict synchronous mode needs a possible synchronous standby whoever leads", () => {
        const strict = (edit: (v: any) => void) =>
            classicWith((v) => {
                v.patroni.synchronousMode = true;
                v.patroni.synchronousModeStrict = true;
                edit(v);
            });
        // One PostgreSQL node: nobody can acknowledge a commit.
        expectOnly(
            strict((v) => (v.nodes[1].roles = ["etcd", "haproxy", "keepalived"])),
            "pgha:patroni.synchronousModeStrict: is true, but pg1 is the only postgres node: no synchronous standby is possible, so every write would wait forever (add a replica or set it false)",
        );
        // Every replica of pg1 is nosync.
        expectOnly(
            strict((v) => (v.nodes[1].patroniTags = { nosync: true })),
            "pgha:patroni.synchronousModeStrict: is true, but while pg1 leads no other postgres node can be its synchronous standby (the others have patroniTags.nosync), so every write would wait forever",
        );
        // Three nodes, two nosync: whichever of those leads, the third can stand by, but while pg4 leads nobody can.
        expectOnly(
            strict((v) => {
                v.nodes[0].patroniTags = { nosync: true };
                v.nodes[1].patroniTags = { nosync: true };
                v.nodes.push({ name: "pg4", address: "172.51.216.84", hostKey: placeholderHostKey("pg4"), roles: ["postgres"] });
            }),
            "pgha:patroni.synchronousModeStrict: is true, but while pg4 leads no other postgres node can be its synchronous standby (the others have patroniTags.nosync), so every write would wait forever",
        );
        // A node that can never lead needs no standby of its own: pg2 (nosync) leads, pg1 (nofailover) stands by.
        specOf(strict((v) => ((v.nodes[0].patroniTags = { nofailover: true }), (v.nodes[1].patroniTags = { nosync: true }))));
        specOf(strict(() => undefined));
        // Without strict mode Patroni falls back to asynchronous replication: accepted.
        specOf(classicWith((v) => ((v.patroni.synchronousMode = true), (v.nodes[1].roles = ["etcd", "haproxy", "keepalived"]))));
    });

    test("host keys are verified by default: a node without hostKey is refused, with the ssh-keyscan line", () => {
        expect(errorsOf(classicWith((v) => delete v.nodes[2].hostKey))).toEqual([
            "pgha:nodes[2].hostKey: missing, and pgha:ssh.strictHostKeys is true (find it with `ssh-keyscan -t ed25519 172.51.216.83 | cut -d' ' -f2-`)",
        ]);
        // The same when set explicitly; the scan goes to where SSH connects.
        expect(
            errorsOf(
                classicWith((v) => {
                    v.ssh.strictHostKeys = true;
                    delete v.nodes[0].hostKey;
                    v.nodes[0].sshHost = "bastion-1.example.com";
                    v.nodes[1].hostKey = "ecdsa-sha2-nistp256 AAAAE2VjZHNh";
                }),
            ),
        ).toEqual(["pgha:nodes[0].hostKey: missing, and pgha:ssh.strictHostKeys is true (find it with `ssh-keyscan -t ed25519 bastion-1.example.com | cut -d' ' -f2-`)"]);
        expect(specOf().ssh.strictHostKeys).toBe(true);
    });

    test("strictHostKeys false is the explicit opt-out: nodes without hostKey accept any server key, with a warning", () => {
        const r = parse(
            classicWith((v) => {
                v.ssh.strictHostKeys = false;
                delete v.nodes[0].hostKey;
                delete v.nodes[2].hostKey;
            }),
        );
        if (!r.ok) throw new Error(r.errors.join("\n"));
        expect(r.spec.ssh.strictHostKeys).toBe(false);
        expect(r.spec.nodes.map((n) => n.hostKey)).toEqual([undefined, placeholderHostKey("pg2"), undefined]);
        expect(r.warnings).toContain("pgha:ssh.strictHostKeys: false: pg1, pg3 have no hostKey and accept any SSH server key (no verification, nothing is remembered)");
    });

    test("data directories of postgres and etcd must not overlap", () => {
        expectOnly(
            classicWith((v) => {
                v.postgres.dataDir = "/srv/db/pg";
                v.etcd = { dataDir: "/srv/db/pg/etcd" };
            }),
            'pgha:etcd.dataDir: "/srv/db/pg/etcd" overlaps pgha:postgres.dataDir "/srv/db/pg"',
        );
    });
});

describe("names are never numbers", () => {
    const NUMBER = "is a number, not a name (an unquoted YAML value such as 0755, 0o17, 0x1F or 1e3 is read as one); use a name with a letter";

    test("what Pulumi hands over for `pgha:clusterName: 0755` and a node `name: 0755` is refused, naming the key", () => {
        // Pulumi's config reader (yaml.v3) reads 0755 as the integer 493: a top-level key then arrives
        // as the text "493", a field inside an object as the JSON number 493.
        const values = classicWith((v) => (v.nodes[0].name = 493));
        const flat: Record<string, string> = Object.fromEntries(Object.entries(values).map(([k, v]) => [`pgha:${k}`, typeof v === "object" ? JSON.stringify(v) : String(v)]));
        flat["pgha:clusterName"] = "493";
        const raw = readRawConfig(Object.keys(flat), (k) => flat[k], HOME);
        const r = parseClusterConfig({ ...raw, secrets: { ...FAKE_SECRETS } });
        expect(!r.ok && r.errors).toEqual([`pgha:clusterName: "493" ${NUMBER}`, `pgha:nodes[0].name: "493" ${NUMBER}`]);
    });

    test.each(["15", "1000", "31", "0755", "0"])("the name %j is refused for the cluster and for a node", (n) => {
        expect(errorsOf(classicWith((v) => ((v.clusterName = n), (v.nodes[2].name = n))))).toEqual([
            `pgha:clusterName: ${JSON.stringify(n)} ${NUMBER}`,
            `pgha:nodes[2].name: ${JSON.stringify(n)} ${NUMBER}`,
        ]);
    });

    test("names with a letter or a dash stay valid, even when YAML would read them specially (they are quoted in files)", () => {
        const spec = specOf(classicWith((v) => ((v.clusterName = "0o17"), (v.nodes[0].name = "1e3"), (v.nodes[1].name = "10-0-0-2"), (v.nodes[2].name = "yes"))));
        expect([spec.clusterName, ...spec.nodes.map((n) => n.name)]).toEqual(["0o17", "10-0-0-2", "1e3", "yes"]);
    });
});

describe("data directories: only dedicated ones, whatever pgha:destroy.deleteData says", () => {
    const refused: [string, (v: any) => void, string][] = [
        ["a doubled slash before a system directory", (v) => (v.postgres.dataDir = "//etc"), `pgha:postgres.dataDir: "//etc" (that is "/etc") ${NOT_A_PG_DATA_DIR}`],
        ["a doubled slash inside a system directory", (v) => (v.etcd = { dataDir: "/var//lib" }), `pgha:etcd.dataDir: "/var//lib" (that is "/var/lib") ${NOT_AN_ETCD_DATA_DIR}`],
        ["/usr/bin", (v) => (v.postgres.dataDir = "/usr/bin"), `pgha:postgres.dataDir: "/usr/bin" ${NOT_A_PG_DATA_DIR}`],
        ["/usr/share", (v) => (v.etcd = { dataDir: "/usr/share" }), `pgha:etcd.dataDir: "/usr/share" ${NOT_AN_ETCD_DATA_DIR}`],
        ["every cluster of a PostgreSQL version", (v) => (v.postgres.dataDir = "/var/lib/postgresql/15"), `pgha:postgres.dataDir: "/var/lib/postgresql/15" ${NOT_A_PG_DATA_DIR}`],
        [
            "every cluster of a version, trailing slash",
            (v) => (v.postgres.dataDir = "/var/lib/postgresql/15/"),
            `pgha:postgres.dataDir: "/var/lib/postgresql/15/" (that is "/var/lib/postgresql/15") ${NOT_A_PG_DATA_DIR}`,
        ],
        ["all of etcd's data", (v) => (v.etcd = { dataDir: "/var/lib/etcd" }), `pgha:etcd.dataDir: "/var/lib/etcd" ${NOT_AN_ETCD_DATA_DIR}`],
        ["another service's state", (v) => (v.etcd = { dataDir: "/var/lib/dpkg/info" }), `pgha:etcd.dataDir: "/var/lib/dpkg/info" ${NOT_AN_ETCD_DATA_DIR}`],
        ["etcd in PostgreSQL's place", (v) => (v.etcd = { dataDir: "/var/lib/postgresql/15/main" }), `pgha:etcd.dataDir: "/var/lib/postgresql/15/main" ${NOT_AN_ETCD_DATA_DIR}`],
        ["one level below /srv", (v) => (v.postgres.dataDir = "/srv/db"), `pgha:postgres.dataDir: "/srv/db" ${NOT_A_PG_DATA_DIR}`],
        ["a home directory", (v) => (v.postgres.dataDir = "/home/postgres/data"), `pgha:postgres.dataDir: "/home/postgres/data" ${NOT_A_PG_DATA_DIR}`],
        [
            "the parent of binDir",
            (v) => ((v.postgres.dataDir = "/opt/pg/15"), (v.postgres.binDir = "/opt/pg/15/bin")),
            'pgha:postgres.dataDir: "/opt/pg/15" overlaps pgha:postgres.binDir "/opt/pg/15/bin"; a data directory must neither hold the binaries nor lie inside them',
        ],
        [
            "binDir itself, spelt differently",
            (v) => ((v.etcd = { dataDir: "/opt/pg//bin/" }), (v.postgres.binDir = "/opt/pg/bin")),
            'pgha:etcd.dataDir: "/opt/pg/bin" overlaps pgha:postgres.binDir "/opt/pg/bin"; a data directory must neither hold the binaries nor lie inside them',
        ],
    ];
    test.each(refused)("refused: %s", (_name, edit, message) => {
        expectOnly(classicWith(edit), message);
    });

    test("refused with deleteData false too: the directory is also written to", () => {
        expectOnly(
            classicWith((v) => ((v.destroy.deleteData = false), (v.postgres.dataDir = "/usr/bin"))),
            `pgha:postgres.dataDir: "/usr/bin" ${NOT_A_PG_DATA_DIR}`,
        );
    });

    test("accepted shapes, normalised in the spec", () => {
        const dirs = (pg: string, etcd: string) => specOf(classicWith((v) => ((v.postgres.dataDir = pg), (v.etcd = { dataDir: etcd }))));
        expect(dirs("/var/lib/postgresql/15/main", "/var/lib/etcd/pgha-main")).toMatchObject({ postgres: { dataDir: "/var/lib/postgresql/15/main" }, etcd: { dataDir: "/var/lib/etcd/pgha-main" } });
        expect(dirs("/srv//pg/data/", "/data1/etcd/member")).toMatchObject({ postgres: { dataDir: "/srv/pg/data" }, etcd: { dataDir: "/data1/etcd/member" } });
        expect(dirs("/pgdata/15/main", "/opt/etcd/data")).toMatchObject({ postgres: { dataDir: "/pgdata/15/main" }, etcd: { dataDir: "/opt/etcd/data" } });
        // Next to the binaries is fine.
        specOf(classicWith((v) => ((v.postgres.dataDir = "/opt/pg/15/data"), (v.postgres.binDir = "/opt/pg/15/bin"))));
    });
});

describe("secrets", () => {
    const noGenerate = (edit: (v: any) => void = () => undefined) =>
        classicWith((v) => {
            v.generateMissingSecrets = false;
            edit(v);
        });

    test("missing secrets are generated by default, only those needed", () => {
        const r = parse(classicValues(), {});
        expect(r.ok && r.secretsToGenerate).toEqual(["superuserPassword", "replicationPassword", "keepalivedPassword"]);
        const noVip = classicWith((v) => {
            delete v.vip;
            v.nodes[0].roles = ["etcd", "postgres", "haproxy"];
            v.nodes[1].roles = ["etcd", "postgres", "haproxy"];
        });
        const r2 = parse(noVip, { superuserPassword: "x" });
        expect(r2.ok && r2.secretsToGenerate).toEqual(["replicationPassword"]);
    });

    test("missing secrets are errors when generation is off", () => {
        expect(errorsOf(noGenerate(), { replicationPassword: "r" })).toEqual([
            "pgha:superuserPassword: missing; set it with `pulumi config set --secret pgha:superuserPassword …`",
            "pgha:keepalivedPassword: missing; set it with `pulumi config set --secret pgha:keepalivedPassword …`",
        ]);
        // "" is how Pulumi.yaml's default looks: the same as absent.
        expect(
            errorsOf(
                noGenerate((v) => (v.generateMissingSecrets = "false")),
                { ...FAKE_SECRETS, superuserPassword: "" },
            ),
        ).toEqual(["pgha:superuserPassword: missing; set it with `pulumi config set --secret pgha:superuserPassword …`"]);
    });

    test("keepalivedPassword is needed only with a VIP", () => {
        const noVip = noGenerate((v) => {
            delete v.vip;
            v.nodes[0].roles = ["etcd", "postgres", "haproxy"];
            v.nodes[1].roles = ["etcd", "postgres", "haproxy"];
        });
        specOf(noVip, { superuserPassword: "s", replicationPassword: "r" });
    });

    test("secret values: length, control characters, keepalived characters", () => {
        expect(
            errorsOf(classicValues(), {
                superuserPassword: "x".repeat(129),
                replicationPassword: "line1\nline2",
                keepalivedPassword: "has space",
            }),
        ).toEqual([
            "pgha:superuserPassword: must be 1 to 128 characters long",
            "pgha:replicationPassword: contains a control character or newline",
            "pgha:keepalivedPassword: must be printable ASCII without spaces, quotes, backslashes, braces, $, # or ! (keepalived.conf cannot hold them)",
        ]);
        expect(errorsOf(classicValues(), { ...FAKE_SECRETS, sshPrivateKey: "not a key" })).toContain("pgha:sshPrivateKey: is not a PEM/OpenSSH private key (-----BEGIN ... PRIVATE KEY-----)");
    });

    test("a secret stored in plain text is refused when the stack tells", () => {
        const r = parseClusterConfig({ values: classicValues(), secrets: { ...FAKE_SECRETS }, secretKeysMarkedSecret: ["superuserPassword", "keepalivedPassword"] }, { homedir: HOME });
        expect(!r.ok && r.errors).toEqual([
            "pgha:replicationPassword: stored in plain text; set it with `pulumi config set --secret pgha:replicationPassword …`",
            "pgha:restApiPassword: stored in plain text; set it with `pulumi config set --secret pgha:restApiPassword …`",
            "pgha:pgbouncerAuthPassword: stored in plain text; set it with `pulumi config set --secret pgha:pgbouncerAuthPassword …`",
            "pgha:monitoringPassword: stored in plain text; set it with `pulumi config set --secret pgha:monitoringPassword …`",
        ]);
    });

    test("no secret value ever appears in an error message", () => {
        const marker = 'Zebra"Quartz:#9';
        const secrets = {
            superuserPassword: `${marker}\n`,
            replicationPassword: `${marker}${"y".repeat(200)}`,
            keepalivedPassword: `${marker} !`,
            sshPrivateKey: `${marker}`,
        };
        const bad = classicWith((v) => {
            v.generateMissingSecrets = false;
            v.nodes[0].address = "10.0.0.300";
            v.haproxy.primaryPort = 5432;
            v.superuserPasword = "typo";
        });
        const r = parseClusterConfig({ values: bad, secrets, secretKeysMarkedSecret: [] }, { homedir: HOME });
        expect(r.ok).toBe(false);
        const text = formatConfigErrors(r.ok ? [] : r.errors);
        expect(text).not.toContain("Zebra");
        expect(text).not.toContain("Quartz");
        // Every secret was reported, by name.
        for (const name of Object.keys(secrets)) expect(text).toContain(`pgha:${name}:`);
    });
});

describe("several problems at once", () => {
    test("all are reported in one result, field and cross-field alike", () => {
        const errors = errorsOf(
            classicWith((v) => {
                v.nodes[0].address = "10.0.0.300";
                v.nodes[2].name = "pg2";
                v.haproxy.primaryPort = 5432;
                v.vip.virtualRouterId = 300;
                v.patroni.loopWait = 20;
                v.clusterNam = "x";
                v.generateMissingSecrets = false;
            }),
            { replicationPassword: "r", keepalivedPassword: "k" },
        );
        expect(errors).toEqual([
            'pgha:nodes[0].address: "10.0.0.300" is not an IPv4 address',
            "pgha:vip.virtualRouterId: 300 is not an integer in 1..255",
            "pgha:clusterNam: unknown key (did you mean pgha:clusterName?)",
            'pgha:nodes[2].name: "pg2" is already used by pgha:nodes[1]',
            "pgha:haproxy.primaryPort: 5432 clashes with pgha:postgres.port on pg1, pg2 (both listen there)",
            "pgha:patroni.ttl: must be at least pgha:patroni.loopWait + 2 × pgha:patroni.retryTimeout (20 + 2 × 10 = 40), got 30",
            "pgha:superuserPassword: missing; set it with `pulumi config set --secret pgha:superuserPassword …`",
        ]);
        expect(formatConfigErrors(errors)).toBe(["pgha: the stack configuration has 7 problems:", ...errors.map((e) => `  - ${e}`)].join("\n"));
    });

    test("formatConfigErrors says 'problem' for one", () => {
        expect(formatConfigErrors(["pgha:x: y"])).toBe("pgha: the stack configuration has 1 problem:\n  - pgha:x: y");
    });
});

describe("pgha:patroni.profile", () => {
    const withPatroni = (patroni: Record<string, unknown>) => classicWith((v) => (v.patroni = { maximumLagOnFailover: 1048576, ...patroni }));
    test("fast sets Patroni's timings; an explicit timing wins over the profile", () => {
        expect(specOf(withPatroni({ profile: "fast" })).patroni).toMatchObject({ profile: "fast", ttl: 20, loopWait: 5, retryTimeout: 5 });
        expect(specOf(withPatroni({ profile: "fast", ttl: 25 })).patroni).toMatchObject({ profile: "fast", ttl: 25, loopWait: 5, retryTimeout: 5 });
        expect(specOf(withPatroni({})).patroni).toMatchObject({ profile: "default", ttl: 30, loopWait: 10, retryTimeout: 10 });
    });
    test("an unknown profile is refused with its key path", () => {
        expect(errorsOf(withPatroni({ profile: "turbo" })).join("\n")).toMatch(/pgha:patroni\.profile/);
    });
    test("a profile timing that breaks loop_wait + 2 x retry_timeout <= ttl is refused", () => {
        expect(errorsOf(withPatroni({ profile: "fast", loopWait: 15 })).join("\n")).toMatch(/pgha:patroni\.ttl.*5 \+ 2|pgha:patroni\.ttl/);
    });
});

describe("pgha:packages.repositories", () => {
    const KEY = ["-----BEGIN PGP PUBLIC KEY BLOCK-----", "", "mQINBGPfakeKeyMaterialForTests+/", "=abcd", "-----END PGP PUBLIC KEY BLOCK-----", ""].join("\n");
    const PGDG = { uri: "https://apt.postgresql.org/pub/repos/apt", suites: ["bookworm-pgdg"], components: ["main"], signingKey: KEY };
    const withRepos = (...repositories: unknown[]) => classicWith((v) => (v.packages.repositories = repositories));
    const AT = "pgha:packages.repositories";

    test("valid entries parse into spec.packages.repositories, components defaulting to none (a flat repository)", () => {
        const flat = { uri: "http://10.0.0.5:8080", suites: ["repo/"], signingKey: KEY.replace(/\n/g, "\r\n") };
        const root = { uri: "http://10.0.0.5:8080/", suites: ["./"], signingKey: KEY };
        expect(specOf(withRepos(PGDG, flat, root)).packages).toEqual({ install: true, aptProxy: "", repositories: [PGDG, { ...flat, components: [] }, { ...root, components: [] }] });
    });

    const refused: [string, Record<string, unknown>, RegExp][] = [
        [
            "a URI that is not http(s)",
            { ...PGDG, uri: "ftp://ftp.debian.org/debian" },
            /^pgha:packages\.repositories\[0\]\.uri: "ftp:\/\/ftp\.debian\.org\/debian" is not an http:\/\/ or https:\/\/ URL$/,
        ],
        ["a file: URI", { ...PGDG, uri: "file:///srv/repo" }, /^pgha:packages\.repositories\[0\]\.uri: "file:\/\/\/srv\/repo" is not an http/],
        ["suites missing", { uri: PGDG.uri, components: ["main"], signingKey: KEY }, /^pgha:packages\.repositories\[0\]\.suites: missing$/],
        ["suites empty", { ...PGDG, suites: [] }, /^pgha:packages\.repositories\[0\]\.suites: /],
        ["a suite with a space", { ...PGDG, suites: ["bookworm-pgdg", "bookworm pgdg"] }, /^pgha:packages\.repositories\[0\]\.suites\[1\]: "bookworm pgdg" is not an apt suite \(/],
        ["a flat repository with components", { ...PGDG, suites: ["./"] }, /^pgha:packages\.repositories\[0\]\.components: must be empty for a flat repository/],
        ["flat and distribution suites mixed", { ...PGDG, suites: ["./", "trixie"] }, /^pgha:packages\.repositories\[0\]\.suites: mixes flat suites/],
        ["a distribution suite without components", { ...PGDG, components: [] }, /^pgha:packages\.repositories\[0\]\.components: lists no component/],
        ["a suite starting with -", { ...PGDG, suites: ["-o"] }, /^pgha:packages\.repositories\[0\]\.suites\[0\]: "-o" is not an apt suite/],
        ["a component with a newline", { ...PGDG, components: ["main\nX"] }, /^pgha:packages\.repositories\[0\]\.components\[0\]: /],
        ["a signing key that is not armored", { ...PGDG, signingKey: "mQINBGPfakeKeyMaterialForTests" }, /^pgha:packages\.repositories\[0\]\.signingKey: is not an ASCII-armored OpenPGP public key/],
        ["a private key block", { ...PGDG, signingKey: KEY.replace(/PUBLIC/g, "PRIVATE") }, /^pgha:packages\.repositories\[0\]\.signingKey: is not an ASCII-armored OpenPGP public key/],
        [
            "an armor whose body is not base64",
            { ...PGDG, signingKey: KEY.replace("mQINB", "mQ IN B!") },
            /^pgha:packages\.repositories\[0\]\.signingKey: is not an ASCII-armored OpenPGP public key: its body is not base64$/,
        ],
        ["a signing key with a tab", { ...PGDG, signingKey: KEY.replace("mQINB", "mQ\tINB") }, /^pgha:packages\.repositories\[0\]\.signingKey: contains a control character other than a line break$/],
        [
            "a signing key with an escape",
            { ...PGDG, signingKey: KEY.replace("=abcd", "=ab\u001bcd") },
            /^pgha:packages\.repositories\[0\]\.signingKey: contains a control character other than a line break$/,
        ],
        ["an unknown key", { ...PGDG, signedBy: "/etc/apt/trusted.gpg" }, /^pgha:packages\.repositories\[0\]\.signedBy: unknown key/],
    ];
    test.each(refused)("refused with its key path: %s", (_name, repo, message) => {
        const errors = errorsOf(withRepos(repo));
        expect(errors).toHaveLength(1);
        expect(errors[0]).toMatch(message);
    });

    test("the signing key is never quoted in a message", () => {
        const errors = errorsOf(withRepos({ ...PGDG, signingKey: "Zebra\tQuartz" }, { ...PGDG, signingKey: "ZebraQuartz" }));
        expect(errors).toHaveLength(2);
        expect(errors.join("\n")).not.toMatch(/Zebra|Quartz/);
    });

    test("several problems, in several entries, are all reported at once", () => {
        const errors = errorsOf(withRepos(PGDG, { uri: "gopher://x", suites: ["a b"], signingKey: "nope" }, { uri: PGDG.uri, suites: [], signingKey: KEY.replace("mQ", "m\u0000Q") }));
        expect(errors.map((e) => e.split(":").slice(0, 2).join(":"))).toEqual([
            `${AT}[1].uri`,
            `${AT}[1].suites[0]`,
            `${AT}[1].signingKey`,
            `${AT}[1].components`,
            `${AT}[2].suites`,
            `${AT}[2].signingKey`,
        ]);
    });
});

describe("pgha:postgres.version left unset", () => {
    const unset = () => classicWith((v) => delete v.postgres.version);
    const parseWith = (values: Record<string, unknown>, postgresVersion?: number) => {
        const r = parseClusterConfig({ values, secrets: { ...FAKE_SECRETS } }, { homedir: HOME, postgresVersion });
        if (!r.ok) throw new Error(r.errors.join("\n"));
        return r.spec.postgres;
    };

    test("the version the caller resolved (ParseOptions.postgresVersion) is used, and the default paths follow it", () => {
        expect(parseWith(unset(), 17)).toMatchObject({ version: 17, dataDir: "/var/lib/postgresql/17/pgsql", binDir: "/usr/lib/postgresql/17/bin" });
        expect(parseWith(unset(), 16)).toMatchObject({ version: 16, dataDir: "/var/lib/postgresql/16/pgsql", binDir: "/usr/lib/postgresql/16/bin" });
        // Also when pgha:postgres itself is absent.
        expect(
            parseWith(
                classicWith((v) => delete v.postgres),
                17,
            ),
        ).toMatchObject({ version: 17, dataDir: "/var/lib/postgresql/17/pgsql" });
    });

    test("without one, the oldest supported release's: 15", () => {
        expect(parseWith(unset())).toMatchObject({ version: 15, dataDir: "/var/lib/postgresql/15/pgsql", binDir: "/usr/lib/postgresql/15/bin" });
        expect(specOf(classicWith((v) => delete v.postgres)).postgres.version).toBe(15);
    });

    test("a version set in the stack wins over the resolved one", () => {
        expect(
            parseWith(
                classicWith((v) => (v.postgres.version = 16)),
                17,
            ),
        ).toMatchObject({ version: 16, dataDir: "/var/lib/postgresql/16/pgsql", binDir: "/usr/lib/postgresql/16/bin" });
        expect(
            parseWith(
                classicWith((v) => (v.postgres.version = "17")),
                15,
            ),
        ).toMatchObject({ version: 17 });
    });

    test("a data directory given for another major is still checked against the resolved version's paths", () => {
        // Only the shape is checked: /var/lib/postgresql/<version>/<name> of any version.
        expect(
            parseWith(
                classicWith((v) => (delete v.postgres.version, (v.postgres.dataDir = "/var/lib/postgresql/17/main"))),
                17,
            ).dataDir,
        ).toBe("/var/lib/postgresql/17/main");
    });

    test("18 is accepted, 19 refused", () => {
        expect(specOf(classicWith((v) => (v.postgres.version = 18))).postgres).toMatchObject({ version: 18, binDir: "/usr/lib/postgresql/18/bin" });
        expectOnly(
            classicWith((v) => (v.postgres.version = 19)),
            "pgha:postgres.version: 19 is not an integer in 12..18",
        );
    });
});

test("WAL senders or slots set below what the members need are refused at preview, each naming its key", () => {
    const values = classicWith((v) => {
        for (let i = 4; i <= 9; i++) v.nodes.push({ name: `pg${i}`, address: `172.51.216.${100 + i}`, roles: ["postgres"] });
        v.postgres.parameters = { max_wal_senders: 6, max_replication_slots: "5" };
    });
    expect(errorsOf(withHostKeys(values))).toEqual([
        "pgha:postgres.parameters.max_wal_senders: is 6, but 8 PostgreSQL nodes need at least 9 (one per streaming replica and two for a replica cloning); pgha sets 20 when the key is absent",
        "pgha:postgres.parameters.max_replication_slots: is 5, but 8 PostgreSQL nodes need at least 7 (one slot per other member); pgha sets 20 when the key is absent",
    ]);
    // Enough is accepted, at the bound too.
    expect(() => specOf(classicWith((v) => (v.postgres.parameters = { max_wal_senders: 3, max_replication_slots: 1 })))).not.toThrow();
});
