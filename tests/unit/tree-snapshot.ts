// A compact, reviewable fingerprint of a registered component tree: every resource's type,
// parent, dependencies and ignoreChanges as they are, and each input as a short hash. Pinned in
// tests/unit/golden-tree/ (UPDATE_GOLDEN=1 rewrites it), so a change that should leave the tree
// alone (a feature switched off) is proven to leave it byte for byte as it was.
import { spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { Registered } from "./mock-cluster";

export interface ResourceFingerprint {
    type: string;
    parentType: string;
    deps: string[];
    ignoreChanges: string[];
    inputs: Record<string, string>;
}

const hash = (v: unknown): string =>
    crypto
        .createHash("sha256")
        .update(JSON.stringify(v) ?? "undefined")
        .digest("hex")
        .slice(0, 16);

export function treeFingerprint(tree: ReadonlyMap<string, Registered>): Record<string, ResourceFingerprint> {
    const out: Record<string, ResourceFingerprint> = {};
    for (const name of [...tree.keys()].sort()) {
        const r = tree.get(name)!;
        out[name] = {
            type: r.type,
            parentType: r.parentType,
            deps: [...r.deps].sort(),
            ignoreChanges: [...r.ignoreChanges].sort(),
            inputs: Object.fromEntries(
                Object.keys(r.inputs)
                    .sort()
                    .map((k) => [k, hash(r.inputs[k])]),
            ),
        };
    }
    return out;
}

export const GOLDEN_TREE_DIR = path.join(__dirname, "golden-tree");
const UPDATE = process.env.UPDATE_GOLDEN === "1";

/** The pinned fingerprint named `name` (written from `tree` under UPDATE_GOLDEN=1). */
export function pinnedTree(name: string, tree: ReadonlyMap<string, Registered>): Record<string, ResourceFingerprint> {
    const file = path.join(GOLDEN_TREE_DIR, `${name}.json`);
    if (UPDATE) {
        fs.writeFileSync(file, `${JSON.stringify(treeFingerprint(tree), null, 4)}\n`);
        // As `npm run lint` wants it (prettier checks tests/).
        spawnSync(path.join(__dirname, "..", "..", "node_modules", ".bin", "prettier"), ["--write", file], { stdio: "ignore" });
    }
    if (!fs.existsSync(file)) throw new Error(`missing ${file}: run UPDATE_GOLDEN=1 npx jest --selectProjects unit --runTestsByPath tests/unit/backup-wiring.test.ts`);
    return JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, ResourceFingerprint>;
}
