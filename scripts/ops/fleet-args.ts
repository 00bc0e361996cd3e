// npm run fleet's command line: preview|up --stacks a,b,c [--parallel N] [--stream] [--tail N].
export const USAGE = [
    "usage: npm run fleet -- preview|up --stacks NAME[,NAME...] [--parallel N] [--stream] [--tail N]",
    "  --parallel N  stacks run at once (default 4)",
    "  --stream      every engine output line, tagged with its stack (default: only a failed stack's last lines)",
    "  --tail N      lines of a failed stack's output to show (default 20, 0: none)",
].join("\n");

export const DEFAULT_PARALLEL = 4;
export const DEFAULT_TAIL = 20;
/** Pulumi's stack names: letters, digits, '-', '_', '.', optionally org/project/ qualified. */
const STACK_RE = /^(?:[A-Za-z0-9_.-]+\/){0,2}[A-Za-z0-9_.-]+$/;

export type FleetVerb = "preview" | "up";
export interface FleetCommand {
    readonly verb: FleetVerb;
    readonly stacks: readonly string[];
    readonly parallel: number;
    readonly stream: boolean;
    readonly tail: number;
}
export type ParsedFleetArgs =
    { readonly ok: true; readonly command: FleetCommand } | { readonly ok: false; readonly help: true } | { readonly ok: false; readonly help: false; readonly message: string };

/** A whole number >= min, or undefined. */
const wholeNumber = (v: string, min: number): number | undefined => (/^\d+$/.test(v) && Number(v) >= min && Number(v) <= 1000 ? Number(v) : undefined);

export function parseFleetArgs(argv: readonly string[]): ParsedFleetArgs {
    const bad = (message: string): ParsedFleetArgs => ({ ok: false, help: false, message });
    if (argv.includes("-h") || argv.includes("--help")) return { ok: false, help: true };
    const positional: string[] = [];
    const values = new Map<string, string>();
    let stream = false;
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        if (a === "--stream") {
            if (stream) return bad("--stream given twice");
            stream = true;
            continue;
        }
        const m = /^(--stacks|--parallel|--tail)(?:=(.*))?$/.exec(a);
        if (m !== null) {
            const v = m[2] ?? argv[++i];
            if (v === undefined || v === "" || v.startsWith("-")) return bad(`${m[1]} needs a value`);
            if (values.has(m[1])) return bad(`${m[1]} given twice`);
            values.set(m[1], v);
            continue;
        }
        if (a.startsWith("-")) return bad(`unknown option ${a}`);
        positional.push(a);
    }
    if (positional.length === 0) return bad("say preview or up");
    if (positional.length > 1) return bad(`one command only, got ${positional.join(" ")}`);
    const verb = positional[0];
    if (verb !== "preview" && verb !== "up") return bad(`unknown command ${verb} (preview or up)`);
    const list = values.get("--stacks");
    if (list === undefined) return bad("--stacks NAME[,NAME...] is required");
    const stacks = list.split(",").map((s) => s.trim());
    const wrong = stacks.find((s) => !STACK_RE.test(s));
    if (wrong !== undefined) return bad(`--stacks: ${JSON.stringify(wrong)} is not a stack name`);
    const twice = stacks.find((s, i) => stacks.indexOf(s) !== i);
    // The same stack twice at once would race for its own lock and state.
    if (twice !== undefined) return bad(`--stacks names ${twice} twice`);
    const p = values.get("--parallel");
    const parallel = p === undefined ? DEFAULT_PARALLEL : wholeNumber(p, 1);
    if (parallel === undefined) return bad(`--parallel must be a whole number from 1 to 1000, not ${p}`);
    const t = values.get("--tail");
    const tail = t === undefined ? DEFAULT_TAIL : wholeNumber(t, 0);
    if (tail === undefined) return bad(`--tail must be a whole number from 0 to 1000, not ${t}`);
    return { ok: true, command: { verb, stacks, parallel, stream, tail } };
}
