// npm run fleet -- preview|up --stacks a,b,c [--parallel N] [--stream] [--tail N]
//
// One operation over many stacks of the Pulumi project in the current directory (or above it),
// with the caller's backend and passphrase (scripts/fleet.sh, scripts/ops-env.sh), through the
// Automation API driving the same pulumi binary scripts/pulumi.sh runs (the first on PATH:
// scripts/env.sh puts the toolchain's ~/.pulumi/bin first). At most --parallel stacks run at
// once; a failed stack never stops the others. `up` runs with --yes --skip-preview (the
// Automation API's way), so it never prompts. No configuration value is read or printed: the
// engine's own output masks secrets, and only its lines are shown.
//
// Ctrl-C: the first one stops further starts, and each running engine cancels as pulumi does on
// ^C (finishes the steps in flight, saves its state, stops); fleet waits for them and prints the
// table, exit 130. From a terminal the engines get that ^C themselves; when fleet alone got the
// signal (kill -INT), it passes one SIGINT to each engine that did not say it got one. A second
// Ctrl-C (a second or more later) makes fleet exit at once; the engines, which got it too from
// the terminal, terminate (pulumi's second ^C: steps in flight are abandoned, `pulumi refresh`
// tells what they did).
// Exit status: 0 all succeeded, 1 any failed, 2 bad arguments, 130 interrupted.
import * as fs from "fs";
import * as path from "path";
import { EngineEvent, LocalWorkspace, OpMap, PulumiCommand, Stack } from "@pulumi/pulumi/automation";
import { FleetCommand, USAGE, parseFleetArgs } from "./fleet-args";
import { runBounded } from "./fleet-pool";
import { StackOutcome, changeCounts, failureReason, finishedLine, formatDuration, renderTable, taggedTail, tally } from "./fleet-report";
import { OpsError, pulumiErrorReason } from "./stack";

/** The directory of the Pulumi project `dir` is in: pulumi looks for Pulumi.yaml there and in its parents. */
export function findProjectDir(dir: string): string | undefined {
    for (let d = path.resolve(dir); ; d = path.dirname(d)) {
        if (fs.existsSync(path.join(d, "Pulumi.yaml")) || fs.existsSync(path.join(d, "Pulumi.yml"))) return d;
        if (path.dirname(d) === d) return undefined;
    }
}

/** The first executable `name` on PATH, as the shell would run it. */
export function onPath(name: string, pathVar = process.env.PATH ?? ""): string | undefined {
    for (const dir of pathVar.split(":").filter((d) => d !== "")) {
        const f = path.join(dir, name);
        try {
            fs.accessSync(f, fs.constants.X_OK);
            if (fs.statSync(f).isFile()) return f;
        } catch {
            /* not here */
        }
    }
    return undefined;
}

/** A backend URL without any user:password in it (a postgres:// or http:// backend may carry one). */
export const redactUrl = (url: string): string => url.replace(/^([a-z0-9+.-]+:\/\/)[^/@]*@/i, "$1***@");

async function pulumiEngine(): Promise<PulumiCommand> {
    const bin = onPath("pulumi");
    if (bin === undefined) throw new OpsError("no pulumi on PATH: run npm run toolchain (it installs ~/.pulumi/bin/pulumi)");
    // PulumiCommand.get runs <root>/bin/pulumi: the root of the very binary found, symlinks resolved.
    const real = fs.realpathSync(bin);
    if (path.basename(path.dirname(real)) !== "bin") throw new OpsError(`${real}: the Automation API needs pulumi in a bin/ directory`);
    return PulumiCommand.get({ root: path.dirname(path.dirname(real)) });
}

/** One running stack, as the interrupt handler sees it. */
interface Running {
    readonly abort: AbortController;
    /** Whether the engine said it got ^C/SIGTERM itself. */
    sawSignal: boolean;
}

interface RunOpts {
    readonly verb: FleetCommand["verb"];
    readonly stream: boolean;
    readonly tail: number;
    readonly interrupted: () => boolean;
    readonly running: Map<string, Running>;
}

/** Prints complete lines tagged with the stack's name; keeps the partial last one for later. */
function lineTagger(stack: string): { push: (chunk: string) => void; flush: () => void } {
    let partial = "";
    const out = (l: string): void => void process.stdout.write(`  ${stack} | ${l}\n`);
    return {
        push: (chunk) => {
            const lines = (partial + chunk.replace(/\r/g, "")).split("\n");
            partial = lines.pop() ?? "";
            lines.filter((l) => l.trim() !== "").forEach(out);
        },
        flush: () => {
            if (partial.trim() !== "") out(partial);
            partial = "";
        },
    };
}

const OUTPUT_KEEP = 256 * 1024;

/** One stack's outcome, and the tagged last lines of its output when it failed (printed after its line). */
async function runStack(ws: LocalWorkspace, name: string, o: RunOpts): Promise<{ outcome: StackOutcome; tail: string[] }> {
    const t0 = Date.now();
    const diagnostics: string[] = [];
    let summary: OpMap | undefined;
    let output = "";
    let stderr = "";
    const me: Running = { abort: new AbortController(), sawSignal: false };
    const tagger = lineTagger(name);
    const onOutput = (chunk: string): void => {
        output = (output + chunk).slice(-OUTPUT_KEEP);
        if (!me.sawSignal && /(\^C|SIGTERM) received; (cancelling|terminating)/.test(output.slice(-chunk.length - 100))) me.sawSignal = true;
        if (o.stream) tagger.push(chunk);
    };
    const onError = (chunk: string): void => {
        stderr = (stderr + chunk).slice(-OUTPUT_KEEP);
        onOutput(chunk);
    };
    const onEvent = (e: EngineEvent): void => {
        if (e.diagnosticEvent?.severity === "error") diagnostics.push(e.diagnosticEvent.message);
        if (e.summaryEvent !== undefined) summary = e.summaryEvent.resourceChanges;
    };
    o.running.set(name, me);
    try {
        const stack = await Stack.select(name, ws);
        const opts = { onOutput, onError, onEvent, color: "never" as const, signal: me.abort.signal };
        // After an up the Automation API reads the stack's outputs (secret ones decrypted, in this
        // process's memory only) and its last history entry; fleet keeps only the counts.
        const changes = o.verb === "preview" ? (await stack.preview(opts)).changeSummary : ((await stack.up(opts)).summary.resourceChanges ?? summary ?? {});
        return { outcome: { stack: name, result: "succeeded", counts: changeCounts(summary ?? changes), ms: Date.now() - t0 }, tail: [] };
    } catch (e) {
        // Interrupted while it ran: the engine stopped for the ^C (or died of it before it could cancel).
        const cancelled = o.interrupted();
        const why = failureReason(diagnostics, pulumiErrorReason(stderr.trim() !== "" ? stderr : String((e as Error).message ?? e)));
        const reason = cancelled ? `interrupted${me.sawSignal ? ", the engine cancelled" : ""}: ${why}` : why;
        const counts = summary === undefined ? undefined : changeCounts(summary);
        return { outcome: { stack: name, result: cancelled ? "cancelled" : "failed", counts, ms: Date.now() - t0, reason }, tail: o.stream || cancelled ? [] : taggedTail(name, output, o.tail) };
    } finally {
        tagger.flush();
        o.running.delete(name);
    }
}

export async function fleet(c: FleetCommand): Promise<number> {
    const project = findProjectDir(process.cwd());
    if (project === undefined) throw new OpsError(`no Pulumi project in ${process.cwd()} or above it`);
    const engine = await pulumiEngine();
    const ws = await LocalWorkspace.create({ workDir: project, pulumiCommand: engine });
    // The stacks exist (one `stack ls`, not N `stack select`s): selecting would also change the
    // caller's current stack, and the operations name theirs with --stack anyway.
    const known = new Set((await ws.listStacks()).map((s) => s.name));
    ws.selectStack = async (): Promise<void> => undefined;
    const backend = redactUrl(process.env.PULUMI_BACKEND_URL ?? "pulumi's current login");
    console.log(
        `fleet: ${c.verb} of ${c.stacks.length} stack(s), ${Math.min(c.parallel, c.stacks.length)} at once; project ${project}, backend ${backend}, engine ${engine.command} ${engine.version ?? ""}`,
    );

    let interrupts = 0;
    let lastSignal = 0;
    const running = new Map<string, Running>();
    const onSignal = (): void => {
        // npm run forwards the terminal's ^C to its script, which got it from the terminal too:
        // signals within a second are one Ctrl-C.
        if (Date.now() - lastSignal < 1000) return;
        lastSignal = Date.now();
        interrupts++;
        if (interrupts > 1) {
            console.error("fleet: interrupted again: exiting now; engines that got this ^C too terminate (pulumi refresh tells what their steps in flight did)");
            process.exit(130);
        }
        console.error("fleet: interrupted: no further stack starts; the running ones cancel after their steps in flight (Ctrl-C again: exit at once)");
        // Signalled alone (not by the terminal): pass one SIGINT to each engine that did not get its own.
        setTimeout(() => running.forEach((r) => r.sawSignal || r.abort.abort()), 2000).unref();
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);

    let done = 0;
    const t0 = Date.now();
    const opts: RunOpts = { verb: c.verb, stream: c.stream, tail: c.tail, interrupted: () => interrupts > 0, running };
    const finish = (o: StackOutcome): StackOutcome => {
        console.log(finishedLine(o, ++done, c.stacks.length));
        return o;
    };
    const rows = await runBounded(c.stacks, c.parallel, {
        cancelled: () => interrupts > 0,
        run: async (name) => {
            // `stack ls` names the project's stacks unqualified: an org/project/stack name is the engine's to check.
            if (!name.includes("/") && !known.has(name)) return finish({ stack: name, result: "failed", reason: `no stack named ${name} in ${backend} (pulumi stack ls lists them)` });
            console.log(`fleet: ${name}: ${c.verb} started (${running.size + 1} running)`);
            const { outcome, tail } = await runStack(ws, name, opts);
            finish(outcome);
            tail.forEach((l) => console.log(l));
            return outcome;
        },
        failed: (name, _i, e) => finish({ stack: name, result: "failed", reason: e instanceof Error ? e.message : String(e) }),
        skipped: (name) => finish({ stack: name, result: "not started", reason: "interrupted before it started" }),
    });
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    console.log(`\n${renderTable(rows)}\n\nfleet: ${c.verb}: ${tally(rows)}, in ${formatDuration(Date.now() - t0)}`);
    if (interrupts > 0) return 130;
    return rows.every((r) => r.result === "succeeded") ? 0 : 1;
}

export async function main(argv: readonly string[]): Promise<number> {
    const parsed = parseFleetArgs(argv);
    if (!parsed.ok) {
        if (parsed.help) {
            console.log(USAGE);
            return 0;
        }
        console.error(`fleet: ${parsed.message}\n${USAGE}`);
        return 2;
    }
    try {
        return await fleet(parsed.command);
    } catch (e) {
        console.error(`fleet: ${e instanceof Error ? e.message : String(e)}`);
        return 1;
    }
}

if (require.main === module) {
    main(process.argv.slice(2)).then((code) => process.exit(code));
}
