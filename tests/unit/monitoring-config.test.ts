// pgha:monitoring: the block validated into the spec (every problem at once, with its key path),
// the monitor role, the generated secret, pg_hba's line for the exporter's role, and the files
// rendered for the exporters and Prometheus (pure core, no Pulumi).
import { FAKE_SECRETS, classicValues, classicWith, errorsOf, parse, specOf, withHostKeys } from "./fixtures";
import { pgHbaLines } from "../../core/topology";
import { PLACEHOLDER_SECRETS } from "../../core/render/file";
import { renderHaproxyConfig } from "../../core/render/haproxy";
import { packagesFor } from "../../components/host-prep";
import { renderCertificateMetrics, renderExporterWebConfig, renderNodeExporterDefaults, renderPostgresExporterDefaults, renderPostgresExporterPassword } from "../../core/render/monitoring-exporters";
import { prometheusEndpoint, renderPrometheusConfig, renderPrometheusDefaults, renderPrometheusTargets, scrapeJobs } from "../../core/render/prometheus";
import { alertRules } from "../../core/render/monitoring-rules";
import { parse as parseYaml } from "yaml";

const monitored = (edit: (v: any) => void = () => {}) =>
    classicWith((v) => {
        v.monitoring = { prometheusHost: "pg3" };
        edit(v);
    });
const node = (spec: ReturnType<typeof specOf>, name: string) => spec.nodes.find((n) => n.name === name)!;

describe("pgha:monitoring, the block", () => {
    test("absent or {}: no monitoring, no monitor role, no secret to generate", () => {
        for (const v of [classicValues(), classicWith((x) => (x.monitoring = {}))]) {
            const r = parse(withHostKeys(v), { superuserPassword: "a", replicationPassword: "b", keepalivedPassword: "c" });
            expect(r.ok && [r.spec.monitoring, r.spec.nodes.some((n) => n.roles.includes("monitor")), r.secretsToGenerate]).toEqual([undefined, false, []]);
        }
    });

    test("the defaults; prometheusHost gets the monitor role (after its own); the exporter's password is generated when missing", () => {
        const r = parse(withHostKeys(monitored()), { superuserPassword: "a", replicationPassword: "b", keepalivedPassword: "c" });
        expect(r.ok && r.spec.monitoring).toEqual({
            prometheusHost: "pg3",
            prometheusPort: 9090,
            retention: "15d",
            scrapeInterval: "15s",
            nodeExporterPort: 9100,
            postgresExporterPort: 9187,
            alerts: { replicationLagBytes: 16777216, replicationLagSeconds: 60, diskFreePercent: 15, certExpiryDays: 21, backupMaxAgeHours: 26, replicationLagFor: "2m" },
        });
        expect(r.ok && r.spec.nodes.map((n) => n.roles.join("+"))).toEqual(["etcd+postgres+haproxy+keepalived", "etcd+postgres+haproxy+keepalived", "etcd+monitor"]);
        expect(r.ok && r.secretsToGenerate).toEqual(["monitoringPassword"]);
        // Listing the role on prometheusHost itself is allowed (and changes nothing).
        expect(specOf(monitored((v) => v.nodes[2].roles.push("monitor")))).toEqual(specOf(monitored()));
    });

    test("every problem at once, each with its key path", () => {
        const errors = errorsOf(
            withHostKeys(
                classicWith((v) => {
                    v.monitoring = {
                        prometheusHost: "pg9",
                        prometheusPort: 70000,
                        retention: "15 days",
                        scrapeInterval: "0s",
                        nodeExporterPort: 22,
                        alerts: { diskFreePercent: 100, replicationLagFor: "2 min", bogus: 1 },
                        extra: true,
                    };
                    v.nodes[0].roles.push("monitor");
                }),
            ),
        );
        expect(errors).toEqual([
            "pgha:monitoring.prometheusPort: 70000 is not an integer in 1..65535",
            'pgha:monitoring.retention: "15 days" is not a duration such as "30s", "15m", "12h", "15d" or "4w" (one number, then ms, s, m, h, d, w or y)',
            'pgha:monitoring.scrapeInterval: "0s" is not a duration such as "30s", "15m", "12h", "15d" or "4w" (one number, then ms, s, m, h, d, w or y)',
            "pgha:monitoring.alerts.diskFreePercent: 100 is not an integer in 1..99",
            'pgha:monitoring.alerts.replicationLagFor: "2 min" is not a duration such as "30s", "15m", "12h", "15d" or "4w" (one number, then ms, s, m, h, d, w or y)',
            "pgha:monitoring.alerts.bogus: unknown key",
            "pgha:monitoring.extra: unknown key",
            "pgha:ssh.port: 22 clashes with pgha:monitoring.nodeExporterPort on pg1, pg2, pg3 (both listen there)",
            "pgha:nodes[0].roles: has the monitor role, but pgha:monitoring.prometheusHost is pg9: only that node runs Prometheus (pgha gives it the role; listing it is optional)",
            'pgha:monitoring.prometheusHost: "pg9" names no node of pgha:nodes; it must name the node that runs Prometheus',
        ]);
    });

    test("the monitor role without the block; ports clashing on prometheusHost only; a bad secret", () => {
        expect(errorsOf(withHostKeys(classicWith((v) => v.nodes[1].roles.push("monitor"))))).toEqual([
            "pgha:nodes[1].roles: has the monitor role, but pgha:monitoring is not set (the monitor role is the node of pgha:monitoring.prometheusHost)",
        ]);
        expect(errorsOf(withHostKeys(monitored((v) => ((v.monitoring.prometheusHost = "pg1"), (v.monitoring.prometheusPort = 5000)))))).toEqual([
            "pgha:monitoring.prometheusPort: 5000 clashes with pgha:haproxy.primaryPort on pg1 (both listen there)",
        ]);
        // pg3 has no HAProxy: 5000 is free there.
        expect(specOf(monitored((v) => (v.monitoring.prometheusPort = 5000))).monitoring!.prometheusPort).toBe(5000);
        expect(errorsOf(withHostKeys(monitored()), { ...FAKE_SECRETS, monitoringPassword: "a\nb" })).toEqual(["pgha:monitoringPassword: contains a control character or newline"]);
        for (const pw of ["a b", `a"b`, "a'b", "a\\b", "pässword"]) {
            expect(errorsOf(withHostKeys(monitored()), { ...FAKE_SECRETS, monitoringPassword: pw })).toEqual([
                "pgha:monitoringPassword: must be printable ASCII without spaces, quotes or backslashes (postgres_exporter cannot read them from its data source)",
            ]);
        }
    });

    test("a repository host may be prometheusHost (the backup role stays its only declared one)", () => {
        const spec = specOf(
            monitored((v) => {
                v.nodes.push({ name: "bk1", address: "172.51.216.90", roles: ["backup"] });
                v.backup = { repository: { host: "bk1" }, encryption: false };
                v.monitoring.prometheusHost = "bk1";
            }),
        );
        expect(node(spec, "bk1").roles).toEqual(["backup", "monitor"]);
        // node_exporter's systemd collector reads the backup timers through dbus there.
        expect(packagesFor(spec, node(spec, "bk1").roles).packages).toEqual(["pgbackrest", "prometheus", "prometheus-node-exporter", "dbus"]);
    });
});

describe("pgha:monitoring, what it changes elsewhere", () => {
    test("pg_hba admits pgha_monitor over TLS from loopback only, and only with monitoring", () => {
        const line = "hostssl all pgha_monitor 127.0.0.1/32 scram-sha-256";
        const lines = pgHbaLines(specOf(monitored()));
        expect(lines).toContain(line);
        expect(lines.indexOf(line)).toBeLessThan(lines.indexOf("host all all 0.0.0.0/0 reject"));
        expect(pgHbaLines(specOf())).not.toContain(line);
    });

    test("HAProxy's stats listener serves its Prometheus exporter on /metrics, only with monitoring", () => {
        const use = "http-request use-service prometheus-exporter if { path /metrics }";
        expect(renderHaproxyConfig(specOf(monitored())).content).toContain(use);
        expect(renderHaproxyConfig(specOf()).content).not.toContain("prometheus");
    });

    test("packages: node_exporter everywhere, postgres_exporter on PostgreSQL nodes, prometheus on prometheusHost", () => {
        const spec = specOf(monitored());
        expect(packagesFor(spec, node(spec, "pg1").roles).packages).toEqual(expect.arrayContaining(["prometheus-node-exporter", "prometheus-postgres-exporter"]));
        expect(packagesFor(spec, node(spec, "pg1").roles).packages).not.toContain("prometheus");
        expect(packagesFor(spec, node(spec, "pg3").roles).packages).toEqual(["etcd-server", "etcd-client", "python3", "prometheus", "prometheus-node-exporter"]);
        expect(packagesFor(specOf(), node(specOf(), "pg3").roles).packages).toEqual(["etcd-server", "etcd-client", "python3"]);
    });
});

describe("pgha:monitoring, the exporters' files", () => {
    const spec = specOf(monitored());
    const pg1 = node(spec, "pg1");

    test("both exporters on the node's address, TLS only with a client certificate of the cluster CA", () => {
        expect(renderNodeExporterDefaults(spec, pg1).content).toContain(
            "ARGS='--web.listen-address=172.51.216.81:9100 --web.config.file=/etc/pgha/monitoring/exporter-web.yml --collector.textfile.directory=/var/lib/pgha/node-exporter'",
        );
        const pg = renderPostgresExporterDefaults(spec, pg1).content;
        expect(pg).toContain("ARGS='--web.listen-address=172.51.216.81:9187 --web.config.file=/etc/pgha/monitoring/exporter-web.yml'");
        expect(pg).toContain("DATA_SOURCE_URI='127.0.0.1:5432/postgres?sslmode=verify-full&sslrootcert=/etc/pgha/tls/ca.crt'");
        expect(pg).toContain("DATA_SOURCE_USER='pgha_monitor'");
        expect(pg).toContain("DATA_SOURCE_PASS_FILE='/etc/pgha/monitoring/postgres-exporter.password'");
        expect(parseYaml(renderExporterWebConfig(spec).content)).toEqual({
            tls_server_config: {
                cert_file: "/etc/pgha/tls/prometheus.crt",
                key_file: "/etc/pgha/tls/prometheus.key",
                client_auth_type: "RequireAndVerifyClientCert",
                client_ca_file: "/etc/pgha/tls/ca.crt",
                min_version: "TLS12",
            },
        });
    });

    test("the password file: 0600, prometheus's, the password alone; the certificate record", () => {
        const f = renderPostgresExporterPassword(spec, pg1, "pw-1");
        expect([f.path, f.mode, f.owner, f.content]).toEqual(["/etc/pgha/monitoring/postgres-exporter.password", "0600", "prometheus", "pw-1"]);
        expect(renderPostgresExporterPassword(spec, pg1, PLACEHOLDER_SECRETS.monitoringPassword).content).toBe("<redacted:monitoringPassword>");
        expect(() => renderPostgresExporterPassword(spec, pg1, "a\nb")).toThrow(/monitoringPassword contains a control character/);
        expect(renderCertificateMetrics(spec, pg1, "2031-01-01T00:00:00.000Z").content).toContain('pgha_certificate_not_after_seconds{node="pg1"} 1924992000');
        expect(() => renderPostgresExporterDefaults(spec, node(spec, "pg3"))).toThrow(/lacks the postgres role/);
    });
});

describe("pgha:monitoring, Prometheus' files", () => {
    const spec = specOf(monitored());

    test("arguments: the listener on prometheusHost, the retention, HTTPS with its certificate; the endpoint", () => {
        const args = renderPrometheusDefaults(spec, node(spec, "pg3")).content;
        expect(args).toContain(
            "ARGS='--config.file=/etc/pgha/prometheus/prometheus.yml --storage.tsdb.path=/var/lib/prometheus/metrics2 --storage.tsdb.retention.time=15d " +
                "--web.listen-address=172.51.216.83:9090 --web.config.file=/etc/pgha/prometheus/web.yml --web.external-url=https://172.51.216.83:9090/'",
        );
        expect(prometheusEndpoint(spec)).toBe("https://172.51.216.83:9090/");
        expect(() => renderPrometheusDefaults(spec, node(spec, "pg1"))).toThrow(/lacks the monitor role/);
    });

    test("every target from the topology, in one file; each job keeps its own, with the TLS it needs", () => {
        expect(JSON.parse(renderPrometheusTargets(spec).content)).toEqual([
            { targets: ["172.51.216.83:9090"], labels: { pgha_job: "prometheus", node: "pg3" } },
            { targets: ["172.51.216.81:9100"], labels: { pgha_job: "node", node: "pg1" } },
            { targets: ["172.51.216.82:9100"], labels: { pgha_job: "node", node: "pg2" } },
            { targets: ["172.51.216.83:9100"], labels: { pgha_job: "node", node: "pg3" } },
            { targets: ["172.51.216.81:9187"], labels: { pgha_job: "postgres", node: "pg1" } },
            { targets: ["172.51.216.82:9187"], labels: { pgha_job: "postgres", node: "pg2" } },
            { targets: ["172.51.216.81:8008"], labels: { pgha_job: "patroni", node: "pg1" } },
            { targets: ["172.51.216.82:8008"], labels: { pgha_job: "patroni", node: "pg2" } },
            { targets: ["172.51.216.81:2379"], labels: { pgha_job: "etcd", node: "pg1" } },
            { targets: ["172.51.216.82:2379"], labels: { pgha_job: "etcd", node: "pg2" } },
            { targets: ["172.51.216.83:2379"], labels: { pgha_job: "etcd", node: "pg3" } },
            { targets: ["172.51.216.81:7000"], labels: { pgha_job: "haproxy", node: "pg1" } },
            { targets: ["172.51.216.82:7000"], labels: { pgha_job: "haproxy", node: "pg2" } },
            { targets: ["172.51.216.88:7000"], labels: { pgha_job: "vip" } },
        ]);
        const config = parseYaml(renderPrometheusConfig(spec).content) as { global: unknown; scrape_configs: { job_name: string; scheme: string; tls_config?: Record<string, string> }[] };
        expect(config.global).toEqual({ scrape_interval: "15s", evaluation_interval: "15s", external_labels: { cluster: "pgsql" } });
        const tls = Object.fromEntries(config.scrape_configs.map((c) => [c.job_name, `${c.scheme}${c.tls_config?.cert_file !== undefined ? "+client-cert" : ""}`]));
        expect(tls).toEqual({ prometheus: "https", node: "https+client-cert", postgres: "https+client-cert", patroni: "https", etcd: "https+client-cert", haproxy: "http", vip: "http" });
    });

    test("vip-manager: no HAProxy job and no VIP job (nothing scrapeable listens on the VIP); without a VIP no VIP job", () => {
        const vm = specOf(
            monitored((v) => {
                v.vip.manager = "vip-manager";
                v.nodes[0].roles = ["etcd", "postgres"];
                v.nodes[1].roles = ["etcd", "postgres"];
            }),
        );
        expect(scrapeJobs(vm)).toEqual(["prometheus", "node", "postgres", "patroni", "etcd"]);
        expect(JSON.parse(renderPrometheusTargets(vm).content).some((g: { labels: { pgha_job: string } }) => g.labels.pgha_job === "vip")).toBe(false);
        expect(alertRules(vm).map((a) => a.alert)).not.toContain("PghaVipNotAnswering");
        const noVip = specOf(
            monitored((v) => {
                delete v.vip;
                v.nodes[0].roles = ["etcd", "postgres", "haproxy"];
                v.nodes[1].roles = ["etcd", "postgres", "haproxy"];
            }),
        );
        expect(scrapeJobs(noVip)).not.toContain("vip");
        expect(alertRules(noVip).map((a) => a.alert)).not.toContain("PghaVipNotAnswering");
    });

    test("thresholds come from pgha:monitoring.alerts; backup alerts only with pgha:backup", () => {
        const strict = specOf(monitored((v) => (v.monitoring.alerts = { replicationLagBytes: 1024, diskFreePercent: 30, certExpiryDays: 7, replicationLagFor: "15s" })));
        const expr = (name: string) => alertRules(strict).find((a) => a.alert === name)!.expr;
        const forOf = (spec: typeof strict, name: string) => alertRules(spec).find((a) => a.alert === name)!.for;
        expect(expr("PghaReplicationLagBytes")).toBe("pgha:replica_lag:bytes > 1024");
        expect([forOf(strict, "PghaReplicationLagBytes"), forOf(strict, "PghaReplicationLagSeconds"), forOf(strict, "PghaReplicaNotStreaming")]).toEqual(["15s", "15s", "2m"]);
        expect(forOf(specOf(monitored()), "PghaReplicationLagBytes")).toBe("2m");
        expect(expr("PghaFilesystemFilling")).toBe("pgha:filesystem_free:percent < 30");
        expect(expr("PghaCertificateExpiring")).toBe(`pgha_certificate_not_after_seconds{job="node"} - time() < ${7 * 86400}`);
        expect(alertRules(strict).map((a) => a.alert)).not.toContain("PghaBackupTooOld");
    });
});
