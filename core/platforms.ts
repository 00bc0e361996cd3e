// The operating systems pgha deploys to, and what each one ships. Everything that
// differs between releases is decided here (and nowhere else in the core), so adding
// a release, or another distribution, is one entry and the server-side check it feeds.
import { Role } from "./spec";

/** One supported release: `ID` and `VERSION_ID` of /etc/os-release, and what its archive ships. */
export interface Platform {
    /** /etc/os-release ID. */
    readonly id: "debian";
    /** /etc/os-release VERSION_ID. */
    readonly versionId: string;
    /** /etc/os-release VERSION_CODENAME. */
    readonly codename: string;
    /** The PostgreSQL major of the release's own archive: pgha:postgres.version's default there. */
    readonly postgresVersion: number;
    /** Patroni in the release's archive (its start-up patch is decided on the host, from the installed version). */
    readonly patroni: string;
    /** etcd in the release's archive. */
    readonly etcd: string;
}

export const PLATFORMS: readonly Platform[] = [
    { id: "debian", versionId: "12", codename: "bookworm", postgresVersion: 15, patroni: "3.0.2", etcd: "3.4.23" },
    { id: "debian", versionId: "13", codename: "trixie", postgresVersion: 17, patroni: "4.0.7", etcd: "3.5.16" },
];

/** "Debian 13 (trixie)". */
export const platformLabel = (p: Pick<Platform, "id" | "versionId" | "codename">): string => `${p.id === "debian" ? "Debian" : p.id} ${p.versionId} (${p.codename})`;

/** "Debian 12 (bookworm), Debian 13 (trixie)": what an error about an unsupported host lists. */
export const supportedPlatformsText = (): string => PLATFORMS.map(platformLabel).join(", ");

/** The fields of an /etc/os-release text (shell-style KEY=value lines, values optionally quoted). */
export function parseOsRelease(text: string): Record<string, string> {
    const out: Record<string, string> = {};
    for (const line of text.split("\n")) {
        const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
        if (!m) continue;
        let v = m[2];
        if (/^".*"$/.test(v) || /^'.*'$/.test(v)) v = v.slice(1, -1).replace(/\\(["\\$`])/g, "$1");
        out[m[1]] = v;
    }
    return out;
}

/** The supported platform an /etc/os-release describes, or a description of what it is instead. */
export function platformOf(osRelease: string): { platform: Platform } | { unsupported: string } {
    const f = parseOsRelease(osRelease);
    const platform = PLATFORMS.find((p) => p.id === f.ID && p.versionId === f.VERSION_ID);
    if (platform) return { platform };
    return { unsupported: f.PRETTY_NAME || [f.ID, f.VERSION_ID].filter(Boolean).join(" ") || "an unknown system (no /etc/os-release)" };
}

/**
 * pgha:postgres.version when the stack leaves it unset and nothing is deployed yet: the
 * PostgreSQL nodes' own release's major, which must be the same on all of them. Otherwise
 * the problems, each naming nodes (one cluster runs one major).
 */
export function defaultPostgresVersion(osReleases: ReadonlyMap<string, string>): { version: number } | { problems: string[] } {
    const problems: string[] = [];
    const byVersion = new Map<number, string[]>();
    for (const [node, text] of [...osReleases].sort(([a], [b]) => a.localeCompare(b))) {
        const found = platformOf(text);
        if ("unsupported" in found) {
            problems.push(`${node} runs ${found.unsupported}, which pgha does not support; it supports ${supportedPlatformsText()}`);
            continue;
        }
        const v = found.platform.postgresVersion;
        byVersion.set(v, [...(byVersion.get(v) ?? []), `${node} (${platformLabel(found.platform)})`]);
    }
    if (byVersion.size > 1) {
        const list = [...byVersion].map(([v, nodes]) => `PostgreSQL ${v} on ${nodes.join(", ")}`).join("; ");
        problems.push(
            `the PostgreSQL nodes' releases ship different majors (${list}), and one cluster runs one major: ` +
                `set pgha:postgres.version to a major every PostgreSQL node can install (through pgha:packages.repositories where its release lacks it)`,
        );
    }
    if (problems.length > 0) return { problems };
    const [version] = [...byVersion.keys()];
    return version === undefined ? { problems: ["no PostgreSQL node's release could be read"] } : { version };
}

/**
 * The Debian packages a node's roles need, and the programs they must provide (checked
 * after installing). The same names on every supported release; another distribution
 * family would add its own table here.
 */
export function rolePackages(roles: readonly Role[], postgres: { readonly version: number; readonly binDir: string }): { packages: string[]; programs: string[] } {
    const v = postgres.version;
    const table: Record<Role, { packages: string[]; programs: string[] }> = {
        // python3: pgha's etcd-member.py (join, leave, membership) runs on every member.
        etcd: { packages: ["etcd-server", "etcd-client", "python3"], programs: ["/usr/bin/etcd", "/usr/bin/etcdctl", "/usr/bin/python3"] },
        postgres: {
            // etcd-client: the verification (pgha-verify.py) runs etcdctl here, also where no etcd member runs.
            packages: [`postgresql-${v}`, `postgresql-client-${v}`, "patroni", "python3-etcd", "python3-psycopg2", "etcd-client"],
            programs: [`${postgres.binDir}/postgres`, `${postgres.binDir}/pg_rewind`, "/usr/bin/patroni", "/usr/bin/patronictl", "/usr/bin/psql", "/usr/bin/etcdctl"],
        },
        haproxy: { packages: ["haproxy"], programs: ["/usr/sbin/haproxy"] },
        keepalived: { packages: ["keepalived"], programs: ["/usr/sbin/keepalived"] },
        // A pgBackRest repository host (PostgreSQL nodes add pgbackrest too when pgha:backup is set: core/render/pgbackrest.ts).
        backup: { packages: ["pgbackrest"], programs: ["/usr/bin/pgbackrest"] },
        // Prometheus 2.42 (Debian 12) or 2.53 (Debian 13); the exporters every node gets come with pgha:monitoring (host-prep.ts).
        monitor: { packages: ["prometheus"], programs: ["/usr/bin/prometheus"] },
    };
    return { packages: [...new Set(roles.flatMap((r) => table[r].packages))], programs: [...new Set(roles.flatMap((r) => table[r].programs))] };
}
