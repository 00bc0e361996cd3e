// pgha:packages.repositories → apt sources, each with its own key. The key goes to
// /etc/apt/keyrings (apt's place for keys that only the sources naming them may use)
// and the source names it with Signed-By, so a key added for one repository can never
// vouch for another, nor for Debian's own archive.
import { AptRepository } from "../spec";
import { createHash } from "crypto";
import { RenderedFile } from "./file";

export const APT_KEYRINGS_DIR = "/etc/apt/keyrings";
export const APT_SOURCES_DIR = "/etc/apt/sources.list.d";

/**
 * A repository's file name stem: from what identifies it (URI and suites), so reordering
 * the list or replacing a key keeps its files, and another repository never shares them.
 */
export function repositoryId(r: Pick<AptRepository, "uri" | "suites">): string {
    return `pgha-${createHash("sha256")
        .update(`${r.uri}\n${r.suites.join(" ")}`)
        .digest("hex")
        .slice(0, 12)}`;
}

/** The two files of one repository: its key (0644, as apt reads it unprivileged) and its deb822 source. */
export function renderAptRepository(r: AptRepository): RenderedFile[] {
    const id = repositoryId(r);
    const keyPath = `${APT_KEYRINGS_DIR}/${id}.asc`;
    const key = `${r.signingKey.replace(/\r\n/g, "\n").trim()}\n`;
    const source = [
        `# Managed by pgha (pgha:packages.repositories): ${r.uri}`,
        "Types: deb",
        `URIs: ${r.uri}`,
        `Suites: ${r.suites.join(" ")}`,
        ...(r.components.length > 0 ? [`Components: ${r.components.join(" ")}`] : []),
        `Signed-By: ${keyPath}`,
        "",
    ].join("\n");
    return [
        { path: keyPath, content: key, mode: "0644", owner: "root", group: "root" },
        { path: `${APT_SOURCES_DIR}/${id}.sources`, content: source, mode: "0644", owner: "root", group: "root" },
    ];
}
