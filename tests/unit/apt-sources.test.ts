// core/render/apt-sources.ts: pgha:packages.repositories as apt sources, each with its own key.

import { APT_KEYRINGS_DIR, APT_SOURCES_DIR, renderAptRepository, repositoryId } from "../../core/render/apt-sources";
import { AptRepository } from "../../core/spec";

const KEY = ["-----BEGIN PGP PUBLIC KEY BLOCK-----", "", "mQINBGPfakeKeyMaterialForTests", "=abcd", "-----END PGP PUBLIC KEY BLOCK-----"].join("\n");
const OTHER_KEY = KEY.replace("fakeKeyMaterial", "anotherFakeKey");

const PGDG: AptRepository = { uri: "https://apt.postgresql.org/pub/repos/apt", suites: ["bookworm-pgdg"], components: ["main"], signingKey: KEY };
const FLAT: AptRepository = { uri: "http://10.0.0.5:8080/repo", suites: ["./"], components: [], signingKey: KEY };

describe("renderAptRepository", () => {
    test("two files named by the repository's id: the key in /etc/apt/keyrings, the deb822 source in sources.list.d, both 0644 root", () => {
        const id = repositoryId(PGDG);
        expect(id).toMatch(/^pgha-[0-9a-f]{12}$/);
        const [key, source] = renderAptRepository(PGDG);
        expect([key.path, source.path]).toEqual([`/etc/apt/keyrings/${id}.asc`, `/etc/apt/sources.list.d/${id}.sources`]);
        expect([APT_KEYRINGS_DIR, APT_SOURCES_DIR]).toEqual(["/etc/apt/keyrings", "/etc/apt/sources.list.d"]);
        for (const f of [key, source]) expect([f.mode, f.owner, f.group]).toEqual(["0644", "root", "root"]);
        expect(key.content).toBe(`${KEY}\n`);
    });

    test("the source is deb822 with Signed-By naming exactly its own key file", () => {
        const [key, source] = renderAptRepository({ ...PGDG, suites: ["bookworm-pgdg", "bookworm-pgdg-testing"], components: ["main", "15"] });
        const lines = source.content.split("\n");
        expect(lines[0]).toBe("# Managed by pgha (pgha:packages.repositories): https://apt.postgresql.org/pub/repos/apt");
        expect(lines.slice(1)).toEqual([
            "Types: deb",
            "URIs: https://apt.postgresql.org/pub/repos/apt",
            "Suites: bookworm-pgdg bookworm-pgdg-testing",
            "Components: main 15",
            `Signed-By: ${key.path}`,
            "",
        ]);
    });

    test("a flat repository (suite ending in /) has no Components line", () => {
        const [key, source] = renderAptRepository(FLAT);
        expect(source.content).not.toMatch(/Components/);
        expect(source.content).toContain("Suites: ./\n");
        expect(source.content).toContain(`Signed-By: ${key.path}\n`);
    });

    test("a key with CRLF line ends and surrounding blanks is written with LF and one final newline", () => {
        const [key] = renderAptRepository({ ...PGDG, signingKey: `\r\n  ${KEY.replace(/\n/g, "\r\n")}\r\n\r\n` });
        expect(key.content).toBe(`${KEY}\n`);
        expect(key.content).not.toContain("\r");
    });
});

describe("repositoryId: stable for the same URI and suites, different for another", () => {
    test("a new key, other components, or the list reordered keep the files' names", () => {
        const before = renderAptRepository(PGDG).map((f) => f.path);
        expect(renderAptRepository({ ...PGDG, signingKey: OTHER_KEY, components: ["main", "16"] }).map((f) => f.path)).toEqual(before);
        // The id depends on the repository only, so its place in the list does not matter.
        const list = [PGDG, FLAT];
        const ids = list.map(repositoryId);
        expect([...list].reverse().map(repositoryId)).toEqual([...ids].reverse());
        // But the key content changes with the key.
        expect(renderAptRepository({ ...PGDG, signingKey: OTHER_KEY })[0].content).not.toBe(renderAptRepository(PGDG)[0].content);
    });

    test("another URI or another suite: another id", () => {
        const id = repositoryId(PGDG);
        const others = [
            { ...PGDG, uri: "https://apt-archive.postgresql.org/pub/repos/apt" },
            { ...PGDG, suites: ["trixie-pgdg"] },
            { ...PGDG, suites: ["bookworm-pgdg", "bookworm-pgdg-testing"] },
            FLAT,
        ].map(repositoryId);
        for (const o of others) expect(o).not.toBe(id);
        expect(new Set(others).size).toBe(others.length);
        // URI and suites cannot be shifted into one another to collide.
        expect(repositoryId({ uri: "http://a/b", suites: ["c"] })).not.toBe(repositoryId({ uri: "http://a/b c", suites: [] }));
    });
});
