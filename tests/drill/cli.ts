// npm run drill -- <scenario|all> [--runs N] [--json FILE] [--profile default|fast] [--release bookworm|trixie] [--vip keepalived|vip-manager]
// Deploys (or reuses) the drill stack on lab1..lab3, runs the failure drills
// under write load, prints a table and writes the figures as JSON.
import * as fs from "fs";
import { labVerb } from "./exec";
import { DRILL_HOSTS, DRILL_ROLES_ARG, StackRef, drillContext, stackPulumi, stackUp } from "./context";
import { RunFigures, ScenarioSummary, formatTable, summarise } from "./measures";
import { SCENARIOS, Scenario, runScenario } from "./scenarios";
import { labHosts, run } from "../e2e/harness";

function usage(msg?: string): never {
    if (msg) console.error(`drill: ${msg}`);
    console.error(`usage: npm run drill -- <${SCENARIOS.join("|")}|all> [--runs N] [--json FILE] [--profile default|fast] [--release bookworm|trixie] [--vip keepalived|vip-manager]`);
    process.exit(2);
}

function parseArgs(argv: string[]) {
    const opt = (name: string) => {
        const i = argv.indexOf(name);
        if (i < 0) return undefined;
        const v = argv[i + 1];
        if (v === undefined || v.startsWith("--")) usage(`${name} needs a value`);
        argv.splice(i, 2);
        return v;
    };
    const runs = Number(opt("--runs") ?? "1");
    const json = opt("--json");
    const profile = opt("--profile") ?? "default";
    // The lab hosts' Debian release, when the drill brings the lab up (a running lab keeps its own).
    const release = opt("--release") ?? "trixie";
    if (!["bookworm", "trixie"].includes(release)) usage("--release must be bookworm or trixie");
    if (!Number.isInteger(runs) || runs < 1) usage("--runs must be a positive integer");
    if (!["default", "fast"].includes(profile)) usage("--profile must be default or fast");
    // How the VIP is held: keepalived in front of HAProxy (the default), or vip-manager on the leader itself.
    const vip = opt("--vip") ?? "keepalived";
    if (!["keepalived", "vip-manager"].includes(vip)) usage("--vip must be keepalived or vip-manager");
    if (argv.length !== 1) usage();
    const which = argv[0];
    // Without HAProxy and keepalived there is no balancer to lose.
    const available = SCENARIOS.filter((s) => vip === "keepalived" || s !== "kill-balancer");
    const scenarios: Scenario[] =
        which === "all" ? [...available] : available.includes(which as Scenario) ? [which as Scenario] : usage(`unknown scenario ${which}${vip === "vip-manager" ? " (with --vip vip-manager)" : ""}`);
    return { runs, json, profile, release, vip, scenarios };
}

async function main(): Promise<void> {
    const { runs, json, profile, release, vip, scenarios } = parseArgs(process.argv.slice(2));
    const log = (s: string) => console.log(s);
    const name = ["drill", ...(profile === "default" ? [] : [profile]), ...(vip === "keepalived" ? [] : ["vipm"])].join("-");
    const ref: StackRef = { stack: name, env: process.env, log };

    // The lab: up if absent; every drill host powered on and connected (an interrupted drill may have left one off).
    if (!fs.existsSync(".lab/hosts.json") || labHosts().hosts.length < DRILL_HOSTS.length) await labVerb("up", "--nodes", String(DRILL_HOSTS.length), "--release", release);
    for (const h of DRILL_HOSTS) {
        await labVerb("start", h);
        await labVerb("heal", h);
    }
    log(`drill: deploying (or reusing) stack ${ref.stack}, profile ${profile}, VIP by ${vip}`);
    const roles = vip === "keepalived" ? DRILL_ROLES_ARG : `--roles=${DRILL_HOSTS.map((h) => `${h}=etcd+postgres`).join(",")}`;
    run("bash", ["-c", `source scripts/env.sh && node scripts/lab-stack.js ${ref.stack} ${roles}`], { env: ref.env, timeoutSec: 120 });
    stackPulumi(ref, ["config", "set", "--path", "pgha:patroni.profile", profile]);
    if (vip === "vip-manager") stackPulumi(ref, ["config", "set", "--path", "pgha:vip.manager", "vip-manager"]);
    stackUp(ref);
    const ctx = await drillContext(ref);
    log(`drill: ttl ${ctx.ttl} s, members ${ctx.cluster.members.join(", ")}, VIP ${ctx.cluster.vip}:${ctx.cluster.primaryPort}`);

    const results: Record<string, ScenarioSummary> = {};
    const failures: string[] = [];
    // sync-kill-leader turns synchronous mode on: it runs last.
    for (const s of scenarios) {
        const figures: RunFigures[] = [];
        for (let i = 1; i <= runs; i++) {
            log(`drill: ${s} run ${i}/${runs}`);
            try {
                const f = await runScenario(ctx, s);
                figures.push(f);
                log(`  ${JSON.stringify(f)}`);
            } catch (e) {
                failures.push(`${s} run ${i}: ${e instanceof Error ? e.message : String(e)}`);
                log(`  FAILED: ${failures[failures.length - 1]}`);
            }
        }
        if (figures.length) results[s] = summarise(figures);
    }
    await ctx.setSynchronous(false);
    log("\n" + formatTable(results));
    const doc = { profile, vip, release: labHosts().hosts[0].release, ttl_s: ctx.ttl, measured_at: new Date().toISOString(), ...results };
    if (json) fs.writeFileSync(json, JSON.stringify(doc, null, 2) + "\n");
    if (failures.length) {
        console.error(`\ndrill: ${failures.length} run(s) failed:\n${failures.join("\n")}`);
        process.exit(1);
    }
}

main().catch((e) => {
    console.error(`drill: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
});
