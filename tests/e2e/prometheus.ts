// Prometheus' HTTP API as the e2e suites read it: HTTPS, verified against the stack's CA,
// every call bounded, so a dead Prometheus fails a step instead of hanging it.
import * as fs from "fs";
import * as https from "https";
import { pulumi } from "./harness";

export interface Target {
    readonly job: string;
    readonly node?: string;
    readonly instance: string;
    readonly scrapeUrl: string;
    readonly health: string;
    readonly lastError: string;
}

export interface ActiveAlert {
    readonly alertname: string;
    readonly node?: string;
    readonly job?: string;
    readonly state: "pending" | "firing";
}

export class PrometheusApi {
    private readonly ca: Buffer;

    /** `endpoint` as the stack output prometheusEndpoint gives it ("https://ADDR:PORT/"). */
    constructor(
        readonly endpoint: string,
        caPath: string,
    ) {
        this.ca = fs.readFileSync(caPath);
    }

    /** The stack's Prometheus, from its outputs. */
    static ofStack(stack: string, caPath: string): PrometheusApi {
        return new PrometheusApi(pulumi(["stack", "output", "prometheusEndpoint", "--stack", stack], { echo: false }).stdout.trim(), caPath);
    }

    private get(apiPath: string): Promise<{ status: string; data: unknown }> {
        return new Promise((resolve, reject) => {
            const req = https.get(new URL(apiPath, this.endpoint), { ca: this.ca, timeout: 5000 }, (res) => {
                let body = "";
                res.on("data", (d) => (body += d));
                res.on("end", () => {
                    try {
                        resolve(JSON.parse(body));
                    } catch {
                        reject(new Error(`${apiPath}: HTTP ${res.statusCode}: ${body.slice(0, 300)}`));
                    }
                });
            });
            req.on("timeout", () => req.destroy(new Error(`${apiPath}: no answer in 5 s`)));
            req.on("error", reject);
        });
    }

    async targets(): Promise<Target[]> {
        const d = (await this.get("api/v1/targets?state=active")).data as { activeTargets: { labels: Record<string, string>; scrapeUrl: string; health: string; lastError: string }[] };
        return d.activeTargets.map((t) => ({ job: t.labels.job, node: t.labels.node, instance: t.labels.instance, scrapeUrl: t.scrapeUrl, health: t.health, lastError: t.lastError }));
    }

    async alerts(): Promise<ActiveAlert[]> {
        const d = (await this.get("api/v1/alerts")).data as { alerts: { labels: Record<string, string>; state: "pending" | "firing" }[] };
        return d.alerts.map((a) => ({ alertname: a.labels.alertname, node: a.labels.node, job: a.labels.job, state: a.state }));
    }

    /** An instant query's samples: labels and value. */
    async query(expr: string): Promise<{ metric: Record<string, string>; value: number }[]> {
        const d = (await this.get(`api/v1/query?query=${encodeURIComponent(expr)}`)).data as { result: { metric: Record<string, string>; value: [number, string] }[] };
        return d.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
    }

    /**
     * Polls every 2 s until `probe` returns a value (API errors count as "not yet"); the seconds it
     * took come back with it. Fails naming what it last saw after `timeoutSec`.
     */
    async until<T>(what: string, timeoutSec: number, probe: (api: PrometheusApi) => Promise<T | undefined>): Promise<{ value: T; seconds: number }> {
        const t0 = Date.now();
        for (;;) {
            let last: string;
            try {
                const v = await probe(this);
                if (v !== undefined) return { value: v, seconds: (Date.now() - t0) / 1000 };
                last = JSON.stringify(await this.alerts());
            } catch (e) {
                last = e instanceof Error ? e.message : String(e);
            }
            if (Date.now() - t0 > timeoutSec * 1000) throw new Error(`${what}: not seen after ${timeoutSec} s; active alerts or last error: ${last.slice(0, 1500)}`);
            await new Promise((r) => setTimeout(r, 2000));
        }
    }
}

/** Whether `alerts` has `name` in `state` (for `node`, when given). */
export const hasAlert = (alerts: readonly ActiveAlert[], name: string, state: "pending" | "firing", node?: string): boolean =>
    alerts.some((a) => a.alertname === name && a.state === state && (node === undefined || a.node === node));
