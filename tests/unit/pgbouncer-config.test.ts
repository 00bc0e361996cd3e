// pgha:pgbouncer and HAProxy's services (issue 18 part A), without Pulumi: the keys' validation
// (every refusal names its key path), the rendered PgBouncer files and HAProxy configuration, pg_hba
// and the endpoints.

import { parseClusterConfig } from "../../core/config";
import { PLACEHOLDER_SECRETS } from "../../core/render/file";
import { renderHaproxyConfig, renderHaproxyDropIn } from "../../core/render/haproxy";
import { pgbouncerNofile, pgbouncerRestartKey, renderPgbouncerAuthFile, renderPgbouncerDropIn, renderPgbouncerHba, renderPgbouncerIni } from "../../core/render/pgbouncer";
import { clusterEndpoints, connectionString, haproxyServices, pgHbaLines } from "../../core/topology";
import { FAKE_SECRETS, HOME, classicWith, errorsOf, parse, specOf, withHostKeys } from "./fixtures";

/** The classic stack with PgBouncer on, and `edit` applied. */
const pooled = (edit: (v: any) => void = () => {}) =>
    classicWith((v) => {
        v.pgbouncer = { databases: { appdb: { poolMode: "session", poolSize: 5 } } };
        v.haproxy.pooled = ["primary"];
        edit(v);
    });

describe("pgha:pgbouncer and pgha:haproxy: defaults", () => {
    test("absent or {}: no PgBouncer; present: every default", () => {
        expect(specOf().pgbouncer).toBeUndefined();
        expect(specOf(classicWith((v) => (v.pgbouncer = {}))).pgbouncer).toBeUndefined();
        expect(specOf(classicWith((v) => (v.pgbouncer = { port: "6433" }))).pgbouncer).toEqual({
            port: 6433,
            poolMode: "transaction",
            defaultPoolSize: 20,
            maxClientConn: 10000,
            databases: {},
        });
    });

    test("HAProxy: the new ports, maxConn 100000, serverMaxConn from max_connections, pooled in service order", () => {
        const spec = specOf(pooled((v) => ((v.haproxy.pooled = ["asyncReplica", "primary"]), (v.postgres.parameters = { max_connections: "300" }))));
        expect(spec.haproxy).toEqual({
            primaryPort: 5000,
            replicaPort: 5001,
            syncReplicaPort: 5002,
            asyncReplicaPort: 5003,
            statsPort: 7000,
            maxConn: 100000,
            serverMaxConn: 300,
            pooled: ["primary", "asyncReplica"],
        });
        expect(specOf(classicWith((v) => (v.haproxy.serverMaxConn = 50))).haproxy.serverMaxConn).toBe(50);
    });

    test("pgbouncerAuthPassword is needed only with PgBouncer: generated when missing, or refused with generateMissingSecrets false", () => {
        const { pgbouncerAuthPassword: _, ...others } = FAKE_SECRETS;
        const on = parseClusterConfig({ values: withHostKeys(pooled()), secrets: others }, { homedir: HOME });
        expect(on.ok && on.secretsToGenerate).toEqual(["pgbouncerAuthPassword"]);
        const off = parseClusterConfig({ values: withHostKeys(classicWith(() => {})), secrets: others }, { homedir: HOME });
        expect(off.ok && off.secretsToGenerate).toEqual([]);
        expect(errorsOf(withHostKeys(pooled((v) => (v.generateMissingSecrets = false))), others)).toEqual([
            "pgha:pgbouncerAuthPassword: missing; set it with `pulumi config set --secret pgha:pgbouncerAuthPassword …`",
        ]);
        expect(errorsOf(withHostKeys(pooled()), { ...FAKE_SECRETS, pgbouncerAuthPassword: "a\nb" })).toEqual(["pgha:pgbouncerAuthPassword: contains a control character or newline"]);
    });
});

describe("refused at preview, each naming its key path, all at once", () => {
    const refused = (edit: (v: any) => void) => errorsOf(withHostKeys(pooled(edit)));

    test("a PgBouncer port clashing with any other listener of a PostgreSQL node", () => {
        expect(refused((v) => (v.pgbouncer.port = 5432))).toEqual(["pgha:pgbouncer.port: 5432 clashes with pgha:postgres.port on pg1, pg2 (both listen there)"]);
        expect(refused((v) => (v.pgbouncer.port = 8008))).toEqual(["pgha:pgbouncer.port: 8008 clashes with pgha:patroni.restApiPort on pg1, pg2 (both listen there)"]);
        expect(refused((v) => (v.pgbouncer.port = 5000))).toEqual(["pgha:haproxy.primaryPort: 5000 clashes with pgha:pgbouncer.port on pg1, pg2 (both listen there)"]);
        expect(refused((v) => (v.pgbouncer.port = 5003))).toEqual(["pgha:haproxy.asyncReplicaPort: 5003 clashes with pgha:pgbouncer.port on pg1, pg2 (both listen there)"]);
        expect(refused((v) => (v.pgbouncer.port = 7000))).toEqual(["pgha:haproxy.statsPort: 7000 clashes with pgha:pgbouncer.port on pg1, pg2 (both listen there)"]);
        expect(refused((v) => (v.pgbouncer.port = 2379))).toEqual(["pgha:etcd.clientPort: 2379 clashes with pgha:pgbouncer.port on pg1, pg2 (both listen there)"]);
        expect(refused((v) => (v.pgbouncer.port = 2380))).toEqual(["pgha:etcd.peerPort: 2380 clashes with pgha:pgbouncer.port on pg1, pg2 (both listen there)"]);
        expect(refused((v) => (v.pgbouncer.port = 22))).toEqual(["pgha:ssh.port: 22 clashes with pgha:pgbouncer.port on pg1, pg2 (both listen there)"]);
        // pgBackRest's TLS server, with backups on.
        const backup = classicWith((v) => {
            v.pgbouncer = { port: 8432 };
            v.nodes.push({ name: "bk1", address: "172.51.216.90", roles: ["backup"] });
            v.backup = { repository: { host: "bk1" }, encryption: false };
        });
        expect(errorsOf(withHostKeys(backup))).toEqual(["pgha:backup.port: 8432 clashes with pgha:pgbouncer.port on pg1, pg2 (both listen there)"]);
        // A node without PostgreSQL runs no PgBouncer: pg3 (etcd only) may use the port.
        expect(parse(withHostKeys(pooled((v) => ((v.pgbouncer.port = 2222), (v.nodes[2].sshPort = 2222))))).ok).toBe(true);
    });

    test("HAProxy's new ports clash like the others; the synchronous one only where it is rendered", () => {
        expect(refused((v) => (v.haproxy.asyncReplicaPort = 5001))).toEqual(["pgha:haproxy.asyncReplicaPort: 5001 clashes with pgha:haproxy.replicaPort on pg1, pg2 (both listen there)"]);
        // Without synchronous mode there is no syncReplicaPort listener to clash.
        expect(parse(withHostKeys(pooled((v) => (v.haproxy.syncReplicaPort = 5000)))).ok).toBe(true);
        expect(refused((v) => ((v.patroni.synchronousMode = true), (v.haproxy.syncReplicaPort = 5000)))).toEqual([
            "pgha:haproxy.syncReplicaPort: 5000 clashes with pgha:haproxy.primaryPort on pg1, pg2 (both listen there)",
        ]);
        expect(refused((v) => ((v.patroni.synchronousMode = true), (v.haproxy.asyncReplicaPort = 5002)))).toEqual([
            "pgha:haproxy.asyncReplicaPort: 5002 clashes with pgha:haproxy.syncReplicaPort on pg1, pg2 (both listen there)",
        ]);
    });

    test("pooled: PgBouncer off, unknown or repeated services", () => {
        expect(errorsOf(withHostKeys(classicWith((v) => (v.haproxy.pooled = ["primary", "replica"]))))).toEqual([
            "pgha:haproxy.pooled: lists primary, replica, but pgha:pgbouncer is off (absent or {}): a pooled service's servers are PgBouncer; set pgha:pgbouncer or empty this list",
        ]);
        expect(refused((v) => (v.haproxy.pooled = ["replicas", "primary", "primary"]))).toEqual([
            'pgha:haproxy.pooled[0]: "replicas" is not a service (expected one of primary, replica, syncReplica, asyncReplica)',
            'pgha:haproxy.pooled[2]: "primary" is listed twice',
        ]);
    });

    test("pool modes, sizes, database names and unknown keys", () => {
        expect(
            refused((v) => {
                v.pgbouncer.poolMode = "transactions";
                v.pgbouncer.defaultPoolSize = 0;
                v.pgbouncer.maxClientConn = 600000;
                v.pgbouncer.databases = { "App-DB": {}, pgbouncer: {}, ok: { poolMode: "x", poolSize: 10001, pool_size: 3 } };
                v.haproxy.maxConn = 0;
                v.haproxy.serverMaxConn = "many";
            }),
        ).toEqual([
            "pgha:haproxy.maxConn: 0 is not an integer in 1..500000",
            "pgha:haproxy.serverMaxConn: expected a number, got a string",
            'pgha:pgbouncer.poolMode: "transactions" is not a pool mode (expected one of session, transaction, statement)',
            "pgha:pgbouncer.defaultPoolSize: 0 is not an integer in 1..10000",
            "pgha:pgbouncer.maxClientConn: 600000 is not an integer in 1..500000",
            'pgha:pgbouncer.databases["App-DB"]: "App-DB" is not a database name pgha takes (lowercase letters, digits and _, starting with a letter or _, at most 63)',
            'pgha:pgbouncer.databases.pgbouncer: "pgbouncer" is PgBouncer\'s admin console, not a database',
            'pgha:pgbouncer.databases.ok.poolMode: "x" is not a pool mode (expected one of session, transaction, statement)',
            "pgha:pgbouncer.databases.ok.poolSize: 10001 is not an integer in 1..10000",
            "pgha:pgbouncer.databases.ok.pool_size: unknown key",
        ]);
        expect(refused((v) => (v.pgbouncer.listenPort = 1))).toEqual(["pgha:pgbouncer.listenPort: unknown key"]);
    });

    test("a pooled syncReplica without synchronous mode is only a warning: the port waits for synchronous mode", () => {
        const r = parse(withHostKeys(pooled((v) => (v.haproxy.pooled = ["syncReplica"]))));
        expect(r.ok && r.warnings).toContain(
            "pgha:haproxy.pooled: lists syncReplica, but pgha:patroni.synchronousMode is false, so there is no pgha:haproxy.syncReplicaPort listener (5002) for it to pool until synchronous mode is on",
        );
        const sync = parse(withHostKeys(pooled((v) => ((v.haproxy.pooled = ["syncReplica"]), (v.patroni.synchronousMode = true)))));
        expect(sync.ok && sync.warnings.filter((w) => w.startsWith("pgha:haproxy"))).toEqual([]);
    });
});

describe("PgBouncer's files", () => {
    const spec = specOf(pooled((v) => (v.pgbouncer.maxClientConn = 500)));
    const pg1 = spec.nodes[0];

    test("pgbouncer.ini: the node's own PostgreSQL over TLS (verify-full), SCRAM through auth_query, no Unix socket, the per-database pools", () => {
        const ini = renderPgbouncerIni(spec, pg1);
        expect([ini.path, ini.mode, ini.owner]).toEqual(["/etc/pgha/pgbouncer/pgbouncer.ini", "0640", "postgres"]);
        const settings = ini.content.split("\n").filter((l) => l !== "" && !l.startsWith(";;"));
        expect(settings).toEqual([
            "[databases]",
            "appdb = host=172.51.216.81 port=5432 pool_mode=session pool_size=5",
            "* = host=172.51.216.81 port=5432",
            "[pgbouncer]",
            "listen_addr = 172.51.216.81",
            "listen_port = 6432",
            "unix_socket_dir =",
            "auth_type = hba",
            "auth_hba_file = /etc/pgha/pgbouncer/pg_hba.conf",
            "auth_file = /etc/pgha/pgbouncer/userlist.txt",
            "auth_user = pgha_pgbouncer",
            "auth_query = SELECT p_username, p_password FROM pgha_pgbouncer.lookup($1)",
            "pool_mode = transaction",
            "default_pool_size = 20",
            "max_client_conn = 500",
            "ignore_startup_parameters = extra_float_digits",
            "server_login_retry = 1",
            "client_tls_sslmode = require",
            "client_tls_cert_file = /etc/pgha/tls/postgres.crt",
            "client_tls_key_file = /etc/pgha/tls/postgres.key",
            "server_tls_sslmode = verify-full",
            "server_tls_ca_file = /etc/pgha/tls/ca.crt",
        ]);
        // Nothing PgBouncer 1.18 (Debian 12) would not read.
        expect(ini.content).not.toMatch(/auth_dbname|max_prepared_statements|client_tls13|server_tls13/);
    });

    test("the hba file admits what pg_hba admits as clients (the balancers, allowedClientCidrs), TLS and SCRAM only", () => {
        const hba = renderPgbouncerHba(spec, pg1);
        expect(hba.content.split("\n").slice(1)).toEqual([
            "hostssl all all 172.51.216.81/32 scram-sha-256",
            "hostssl all all 172.51.216.82/32 scram-sha-256",
            "hostssl all all 172.51.216.0/24 scram-sha-256",
            "",
        ]);
    });

    test("the auth_file: the lookup role's line only, 0600 postgres; the public rendering holds the placeholder; quotes doubled", () => {
        const pub = renderPgbouncerAuthFile(spec, pg1, PLACEHOLDER_SECRETS.pgbouncerAuthPassword);
        expect([pub.path, pub.mode, pub.owner, pub.group]).toEqual(["/etc/pgha/pgbouncer/userlist.txt", "0600", "postgres", "postgres"]);
        expect(pub.content).toBe('"pgha_pgbouncer" "<redacted:pgbouncerAuthPassword>"\n');
        expect(renderPgbouncerAuthFile(spec, pg1, 'a"b c').content).toBe('"pgha_pgbouncer" "a""b c"\n');
        expect(() => renderPgbouncerAuthFile(spec, pg1, "x\ny")).toThrow(/^pgha: cannot render PgBouncer's auth_file: pgbouncerAuthPassword contains a control character or newline$/);
    });

    test("the drop-in: pgha's file, LimitNOFILE from maxClientConn and max_connections (or the pools); the restart key follows only the listener and ExecStart", () => {
        // The classic stack sets max_connections 200: 500 + 200 + 1024.
        expect(pgbouncerNofile(spec)).toBe(1724);
        expect(renderPgbouncerDropIn(spec, pg1).content).toContain("[Service]\nUser=postgres\nExecStart=\nExecStart=/usr/sbin/pgbouncer /etc/pgha/pgbouncer/pgbouncer.ini\n");
        expect(renderPgbouncerDropIn(spec, pg1).content).toContain("\nLimitNOFILE=1724\nTimeoutStopSec=30\n");
        const bigPools = specOf(pooled((v) => ((v.pgbouncer.maxClientConn = 500), (v.pgbouncer.defaultPoolSize = 150), (v.pgbouncer.databases.appdb.poolSize = 100))));
        expect(pgbouncerNofile(bigPools)).toBe(500 + 250 + 1024);
        const key = pgbouncerRestartKey(spec, pg1);
        expect(pgbouncerRestartKey(specOf(pooled((v) => ((v.pgbouncer.maxClientConn = 900), (v.pgbouncer.defaultPoolSize = 3)))), pg1)).toBe(key);
        expect(pgbouncerRestartKey(specOf(pooled((v) => ((v.pgbouncer.maxClientConn = 500), (v.pgbouncer.port = 6433)))), pg1)).not.toBe(key);
    });

    test("only for a PostgreSQL node, and only with pgha:pgbouncer", () => {
        expect(() => renderPgbouncerIni(spec, spec.nodes[2])).toThrow(/lacks the postgres role/);
        expect(() => renderPgbouncerIni(specOf(), pg1)).toThrow(/without pgha:pgbouncer/);
    });
});

describe("HAProxy's services and pooled routing", () => {
    test("with synchronous mode: four listeners, each on its own Patroni endpoint", () => {
        const spec = specOf(classicWith((v) => (v.patroni.synchronousMode = true)));
        expect(haproxyServices(spec).map((s) => [s.section, s.port, s.check, s.serverPort, s.serverMaxConn])).toEqual([
            ["primary", 5000, "/primary", 5432, 200],
            ["replicas", 5001, "/replica", 5432, 200],
            ["sync_replicas", 5002, "/sync", 5432, 200],
            ["async_replicas", 5003, "/async", 5432, 200],
        ]);
        const cfg = renderHaproxyConfig(spec).content;
        expect(cfg).toMatch(/^listen sync_replicas\n {4}bind \*:5002\n(.*\n){2} {4}balance roundrobin\n {4}option httpchk OPTIONS \/sync\n/m);
        expect(cfg).toMatch(/^listen async_replicas\n {4}bind \*:5003\n(.*\n){2} {4}balance roundrobin\n {4}option httpchk OPTIONS \/async\n/m);
    });

    test("a pooled service's servers are each member's PgBouncer, with maxconn pgbouncer.maxClientConn; the others stay direct", () => {
        const spec = specOf(pooled((v) => ((v.haproxy.pooled = ["primary", "asyncReplica"]), (v.pgbouncer.maxClientConn = 700), (v.haproxy.maxConn = 9000))));
        const cfg = renderHaproxyConfig(spec).content;
        const section = (name: string) => cfg.split(/\n\n/).find((s) => s.startsWith(`listen ${name}\n`))!;
        expect(section("primary")).toContain("    server pg1 172.51.216.81:6432 maxconn 700 check port 8008 check-ssl verify required ca-file /etc/pgha/tls/ca.crt verifyhost pg1\n");
        expect(section("async_replicas")).toContain("    server pg2 172.51.216.82:6432 maxconn 700 check port 8008");
        expect(section("replicas")).toContain("    server pg2 172.51.216.82:5432 maxconn 200 check port 8008");
        expect(cfg).toContain("# Port 5000: read/write, the Patroni leader only, through each member's PgBouncer (port 6432).\n");
        expect(cfg).toContain("\n    maxconn 9000\n");
        expect(renderHaproxyDropIn(spec).content).toContain("\nLimitNOFILE=19024\n");
    });
});

describe("pg_hba, endpoints and the connection string", () => {
    test("PgBouncer on: every member's own address may log in (its PgBouncer connects from there); off: exactly as before", () => {
        // pg3 has PostgreSQL but no HAProxy here: its line is new with PgBouncer.
        const values = (on: boolean) =>
            classicWith((v) => {
                v.nodes[2].roles = ["etcd", "postgres"];
                if (on) v.pgbouncer = { port: 6432 };
            });
        const off = pgHbaLines(specOf(values(false)));
        const on = pgHbaLines(specOf(values(true)));
        expect(on.filter((l) => !off.includes(l))).toEqual(["hostssl all all 172.51.216.83/32 scram-sha-256"]);
        expect(on.slice(-2)).toEqual(["host replication all 0.0.0.0/0 reject", "host all all 0.0.0.0/0 reject"]);
        // Where every member is a balancer, the lines are already there: no DCS change at all.
        expect(pgHbaLines(specOf(pooled()))).toEqual(pgHbaLines(specOf()));
    });

    test("every endpoint, pooled or not; a pooled primary makes the superuser's URI go to the members directly", () => {
        const spec = specOf(pooled((v) => ((v.patroni.synchronousMode = true), (v.haproxy.pooled = ["primary", "syncReplica"]))));
        const ep = clusterEndpoints(spec);
        expect(ep.services).toEqual({
            primary: { address: "172.51.216.88:5000", pooled: true },
            replica: { address: "172.51.216.88:5001", pooled: false },
            syncReplica: { address: "172.51.216.88:5002", pooled: true },
            asyncReplica: { address: "172.51.216.88:5003", pooled: false },
        });
        expect([ep.primary, ep.syncReplica, ep.asyncReplica, ep.pgbouncer]).toEqual(["172.51.216.88:5000", "172.51.216.88:5002", "172.51.216.88:5003", ["172.51.216.81:6432", "172.51.216.82:6432"]]);
        expect(connectionString(spec, "pw")).toBe(
            "postgresql://postgres:pw@172.51.216.81:5432,172.51.216.82:5432/postgres?sslmode=verify-full&sslrootcert=pgha-ca.crt&target_session_attrs=read-write",
        );
        // A direct primary keeps the front door.
        expect(connectionString(specOf(pooled((v) => (v.haproxy.pooled = ["replica"]))), "pw")).toBe(
            "postgresql://postgres:pw@172.51.216.88:5000/postgres?sslmode=verify-full&sslrootcert=pgha-ca.crt",
        );
    });
});
