// What pgha placed on each node, as `npm run drift` compares it: every file placeFile writes
// (path, sha256 of its content, owner, group, mode) and every unit serviceUnit runs (enabled,
// active). Filled while the tree is built, from the very RenderedFile each placeFile receives,
// so the manifest cannot disagree with what `pulumi up` writes. Exported as stack outputs:
// - managedFiles (public): a secret file's sha256 is "secret", a file a service rewrites
//   (etcd's config on a joining member) "unchecked": only its owner, group and mode compare;
// - managedFileSecrets (secret): node → path → sha256 of the real content of each secret file;
//   a hash of a password file is as good as the password to anyone who can guess it.
// - managedUnits (public).
import * as pulumi from "@pulumi/pulumi";
import { RenderedFile } from "../core/render/file";
import { sha256 } from "./ssh";

export const SECRET_CONTENT = "secret";
export const UNCHECKED_CONTENT = "unchecked";

export interface ManagedFile {
    readonly path: string;
    /** Hex sha256 of the content, or SECRET_CONTENT / UNCHECKED_CONTENT. */
    readonly sha256: string;
    readonly owner: string;
    readonly group: string;
    readonly mode: string;
}

export interface ManagedUnit {
    readonly unit: string;
    readonly enabled: boolean;
    readonly active: boolean;
}

export type ByNode<T> = Record<string, T[]>;

/** A file's manifest entry (pure): `how` says whether its content is compared. */
export function managedFile(f: RenderedFile, how: "content" | "secret" | "unchecked"): ManagedFile {
    const digest = how === "content" ? sha256(f.content) : how === "secret" ? SECRET_CONTENT : UNCHECKED_CONTENT;
    return { path: f.path, sha256: digest, owner: f.owner, group: f.group, mode: f.mode };
}

export class ManagedManifest {
    private readonly files = new Map<string, ManagedFile[]>();
    private readonly units = new Map<string, ManagedUnit[]>();
    private readonly secrets: { node: string; path: string; hash: pulumi.Output<string> }[] = [];

    addFile(node: string, entry: ManagedFile, secretContent?: pulumi.Output<string>): void {
        const list = this.files.get(node) ?? [];
        // A path placed twice on one node is one file (the last placement wins on the node too).
        this.files.set(node, [...list.filter((e) => e.path !== entry.path), entry]);
        if (secretContent !== undefined) this.secrets.push({ node, path: entry.path, hash: secretContent.apply((c) => sha256(c)) });
    }

    addUnit(node: string, unit: string): void {
        const list = this.units.get(node) ?? [];
        if (!list.some((u) => u.unit === unit)) this.units.set(node, [...list, { unit, enabled: true, active: true }]);
    }

    /** node → files, sorted by node and path (a stable output: an unchanged stack shows no diff). */
    managedFiles(): ByNode<ManagedFile> {
        return sortedByNode(this.files, (e) => e.path);
    }

    managedUnits(): ByNode<ManagedUnit> {
        return sortedByNode(this.units, (u) => u.unit);
    }

    /** node → path → sha256 of the real content of every secret file; secret. */
    managedFileSecrets(): pulumi.Output<Record<string, Record<string, string>>> {
        const entries = [...this.secrets].sort((a, b) => (a.node + "\0" + a.path < b.node + "\0" + b.path ? -1 : 1));
        return pulumi.secret(
            pulumi.all(entries.map((e) => e.hash)).apply((hashes) => {
                const out: Record<string, Record<string, string>> = {};
                entries.forEach((e, i) => ((out[e.node] ??= {})[e.path] = hashes[i]));
                return out;
            }),
        );
    }
}

function sortedByNode<T>(m: ReadonlyMap<string, T[]>, key: (t: T) => string): ByNode<T> {
    return Object.fromEntries([...m.keys()].sort().map((n) => [n, [...m.get(n)!].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0))]));
}
