// pgha's Prometheus rules and configuration checked by promtool (Debian's, from
// scripts/get-monitoring-tools.sh: PGHA_PROMTOOL, the cache, or PATH): the rendered rules and
// prometheus.yml are valid, and tests/unit/promtool/pgha-rules.test.yml makes every alert fire
// and stay silent. Without promtool the test skips, except under CI=true, where it fails.
// The rules are tested without their annotations (texts for people): promtool compares an
// alert's annotations too, and what is tested here is when each alert fires, with which labels.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parse, stringify } from "yaml";
import { alertRules } from "../../core/render/monitoring-rules";
import { renderPrometheusConfig, renderPrometheusRules } from "../../core/render/prometheus";
import { classicWith, specOf } from "./fixtures";

const CACHE = process.env.PGHA_CACHE ?? path.join(os.homedir(), ".cache", "pgha");
const candidates = [process.env.PGHA_PROMTOOL, path.join(CACHE, "monitoring-tools", "bin", "promtool"), "promtool"].filter((p): p is string => p !== undefined && p !== "");
const works = (p: string) => spawnSync(p, ["--version"], { stdio: "ignore" }).status === 0;
const PROMTOOL = candidates.find(works);
const FIXTURE = path.join(__dirname, "promtool", "pgha-rules.test.yml");

/** Every job (HAProxy, etcd, a keepalived VIP) and pgha:backup: every alert exists. */
const spec = specOf(
    classicWith((v) => {
        v.nodes.push({ name: "bk1", address: "172.51.216.90", roles: ["backup"] });
        v.backup = { repository: { host: "bk1" }, encryption: false };
        v.monitoring = { prometheusHost: "pg3" };
    }),
);

if (PROMTOOL === undefined && process.env.CI === "true") {
    test("promtool is there (CI=true)", () => {
        throw new Error(`promtool not found (tried ${candidates.join(", ")}): run bash scripts/get-monitoring-tools.sh (npm test and npm run toolchain do)`);
    });
}

(PROMTOOL !== undefined ? describe : describe.skip)("pgha's rules under promtool", () => {
    jest.setTimeout(60_000);
    let dir = "";
    const promtool = (...args: string[]) => spawnSync(PROMTOOL!, args, { cwd: dir, encoding: "utf8" });
    beforeAll(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgha-promtool-"));
    });
    afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

    test("the rendered rules and prometheus.yml are valid (promtool check)", () => {
        fs.writeFileSync(path.join(dir, "full-rules.yml"), renderPrometheusRules(spec).content);
        const rules = promtool("check", "rules", "full-rules.yml");
        expect([rules.status, rules.stdout + rules.stderr]).toEqual([0, expect.stringContaining("SUCCESS")]);
        fs.writeFileSync(path.join(dir, "prometheus.yml"), renderPrometheusConfig(spec).content);
        const config = promtool("check", "config", "--syntax-only", "prometheus.yml");
        expect([config.status, config.stdout + config.stderr]).toEqual([0, expect.stringContaining("SUCCESS")]);
    });

    test("every alert fires in its own test group and stays silent in the healthy one (promtool test rules)", () => {
        const rules = parse(renderPrometheusRules(spec).content) as { groups: { rules: Record<string, unknown>[] }[] };
        for (const g of rules.groups) for (const r of g.rules) delete r.annotations;
        fs.writeFileSync(path.join(dir, "rules.yml"), stringify(rules));
        fs.copyFileSync(FIXTURE, path.join(dir, "pgha-rules.test.yml"));
        const run = promtool("test", "rules", "pgha-rules.test.yml");
        expect([run.status, run.stdout + run.stderr]).toEqual([0, expect.stringContaining("SUCCESS")]);

        const tests = (parse(fs.readFileSync(FIXTURE, "utf8")) as { tests: { alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[] }[] }).tests.flatMap((t) => t.alert_rule_test ?? []);
        const names = alertRules(spec).map((a) => a.alert);
        expect(names.filter((n) => !tests.some((t) => t.alertname === n && t.exp_alerts.length > 0))).toEqual([]);
        expect(names.filter((n) => !tests.some((t) => t.alertname === n && t.exp_alerts.length === 0))).toEqual([]);
    });
});
