// core/platforms.ts: reading /etc/os-release, the supported releases, and the PostgreSQL
// major a cluster defaults to when the stack leaves pgha:postgres.version unset.

import { PLATFORMS, defaultPostgresVersion, parseOsRelease, platformLabel, platformOf, supportedPlatformsText } from "../../core/platforms";

// /etc/os-release as the releases ship it (base-files of Debian 12 and 13, Ubuntu 24.04, Rocky Linux 9).
const DEBIAN_12 = [
    'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"',
    'NAME="Debian GNU/Linux"',
    'VERSION_ID="12"',
    'VERSION="12 (bookworm)"',
    "VERSION_CODENAME=bookworm",
    "ID=debian",
    'HOME_URL="https://www.debian.org/"',
    'SUPPORT_URL="https://www.debian.org/support"',
    'BUG_REPORT_URL="https://bugs.debian.org/"',
    "",
].join("\n");

const DEBIAN_13 = [
    'PRETTY_NAME="Debian GNU/Linux 13 (trixie)"',
    'NAME="Debian GNU/Linux"',
    'VERSION_ID="13"',
    'VERSION="13 (trixie)"',
    "VERSION_CODENAME=trixie",
    "DEBIAN_VERSION_FULL=13.1",
    "ID=debian",
    'HOME_URL="https://www.debian.org/"',
    'SUPPORT_URL="https://www.debian.org/support"',
    'BUG_REPORT_URL="https://bugs.debian.org/"',
    "",
].join("\n");

const UBUNTU_2404 = [
    'PRETTY_NAME="Ubuntu 24.04.1 LTS"',
    'NAME="Ubuntu"',
    'VERSION_ID="24.04"',
    'VERSION="24.04.1 LTS (Noble Numbat)"',
    "VERSION_CODENAME=noble",
    "ID=ubuntu",
    "ID_LIKE=debian",
    'HOME_URL="https://www.ubuntu.com/"',
    'SUPPORT_URL="https://help.ubuntu.com/"',
    'BUG_REPORT_URL="https://bugs.launchpad.net/ubuntu/"',
    'PRIVACY_POLICY_URL="https://www.ubuntu.com/legal/terms-and-policies/privacy-policy"',
    "UBUNTU_CODENAME=noble",
    "LOGO=ubuntu-logo",
    "",
].join("\n");

const ROCKY_9 = [
    'NAME="Rocky Linux"',
    'VERSION="9.4 (Blue Onyx)"',
    'ID="rocky"',
    'ID_LIKE="rhel centos fedora"',
    'VERSION_ID="9.4"',
    'PLATFORM_ID="platform:el9"',
    'PRETTY_NAME="Rocky Linux 9.4 (Blue Onyx)"',
    'ANSI_COLOR="0;32"',
    'LOGO="fedora-logo-icon"',
    'CPE_NAME="cpe:/o:rocky:rocky:9::baseos"',
    'HOME_URL="https://rockylinux.org/"',
    'BUG_REPORT_URL="https://bugs.rockylinux.org/"',
    'SUPPORT_END="2032-05-31"',
    'ROCKY_SUPPORT_PRODUCT="Rocky-Linux-9"',
    'ROCKY_SUPPORT_PRODUCT_VERSION="9.4"',
    'REDHAT_SUPPORT_PRODUCT="Rocky Linux"',
    'REDHAT_SUPPORT_PRODUCT_VERSION="9.4"',
    "",
].join("\n");

const platform = (codename: string) => {
    const p = PLATFORMS.find((x) => x.codename === codename);
    if (!p) throw new Error(`no platform ${codename}`);
    return p;
};

describe("the supported releases", () => {
    test("Debian 12 ships PostgreSQL 15, Debian 13 PostgreSQL 17; the oldest first; labels as users read them", () => {
        expect(PLATFORMS.map((p) => [p.id, p.versionId, p.codename, p.postgresVersion])).toEqual([
            ["debian", "12", "bookworm", 15],
            ["debian", "13", "trixie", 17],
        ]);
        expect(platformLabel(platform("trixie"))).toBe("Debian 13 (trixie)");
        expect(supportedPlatformsText()).toBe("Debian 12 (bookworm), Debian 13 (trixie)");
    });
});

describe("parseOsRelease", () => {
    test("double-quoted, single-quoted and bare values; blank lines, comments and other lines are skipped", () => {
        const text = [
            "# a comment: ID=commented",
            "",
            'NAME="Debian GNU/Linux"',
            "VERSION_CODENAME=trixie",
            "ID='debian'",
            "  # indented comment",
            "not a field",
            "lower=case",
            'EMPTY=""',
            "BARE=",
        ].join("\n");
        expect(parseOsRelease(text)).toEqual({ NAME: "Debian GNU/Linux", VERSION_CODENAME: "trixie", ID: "debian", EMPTY: "", BARE: "" });
    });

    test('shell escapes inside quotes: \\" \\\\ \\$ \\` stand for the character itself', () => {
        expect(parseOsRelease('PRETTY_NAME="say \\"hi\\" for \\$5, a \\\\ and a \\`tick\\`"\n').PRETTY_NAME).toBe('say "hi" for $5, a \\ and a `tick`');
        // Another backslash stays as written; a bare value is taken as is.
        expect(parseOsRelease('A="x\\ny"\nB=a\\"b\n')).toEqual({ A: "x\\ny", B: 'a\\"b' });
    });

    test("CRLF line ends and surrounding blanks do not end up in values; a later line wins", () => {
        expect(parseOsRelease('ID=debian\r\nVERSION_ID="13"\r\n  ID=ubuntu  \r\n')).toEqual({ ID: "ubuntu", VERSION_ID: "13" });
    });

    test("an unterminated quote is kept as written", () => {
        expect(parseOsRelease('NAME="Debian\n').NAME).toBe('"Debian');
    });

    test("Debian 13's own os-release", () => {
        expect(parseOsRelease(DEBIAN_13)).toMatchObject({ ID: "debian", VERSION_ID: "13", VERSION_CODENAME: "trixie", PRETTY_NAME: "Debian GNU/Linux 13 (trixie)" });
    });
});

describe("platformOf", () => {
    test("Debian 12 and 13, from their real os-release", () => {
        expect(platformOf(DEBIAN_12)).toEqual({ platform: platform("bookworm") });
        expect(platformOf(DEBIAN_13)).toEqual({ platform: platform("trixie") });
    });

    test("Ubuntu 24.04 and Rocky Linux 9 are unsupported, named by their PRETTY_NAME", () => {
        expect(platformOf(UBUNTU_2404)).toEqual({ unsupported: "Ubuntu 24.04.1 LTS" });
        expect(platformOf(ROCKY_9)).toEqual({ unsupported: "Rocky Linux 9.4 (Blue Onyx)" });
    });

    test("Debian by ID but an unsupported VERSION_ID, or only the codename right, is unsupported", () => {
        expect(platformOf(DEBIAN_12.replace('VERSION_ID="12"', 'VERSION_ID="11"').replace(/^PRETTY_NAME=.*$/m, 'PRETTY_NAME="Debian GNU/Linux 11 (bullseye)"'))).toEqual({
            unsupported: "Debian GNU/Linux 11 (bullseye)",
        });
        // Debian testing has no VERSION_ID.
        expect(platformOf('PRETTY_NAME="Debian GNU/Linux forky/sid"\nID=debian\nVERSION_CODENAME=trixie\n')).toEqual({ unsupported: "Debian GNU/Linux forky/sid" });
    });

    test("without PRETTY_NAME: ID and VERSION_ID; without anything: an unknown system", () => {
        expect(platformOf("ID=alpine\nVERSION_ID=3.20.0\n")).toEqual({ unsupported: "alpine 3.20.0" });
        expect(platformOf("ID=arch\n")).toEqual({ unsupported: "arch" });
        expect(platformOf("")).toEqual({ unsupported: "an unknown system (no /etc/os-release)" });
    });
});

describe("defaultPostgresVersion: the PostgreSQL nodes' release decides, and they must agree", () => {
    const releases = (entries: [string, string][]) => new Map(entries);

    test("all on Debian 12: bookworm's major; all on Debian 13: trixie's", () => {
        expect(
            defaultPostgresVersion(
                releases([
                    ["pg1", DEBIAN_12],
                    ["pg2", DEBIAN_12],
                ]),
            ),
        ).toEqual({ version: platform("bookworm").postgresVersion });
        expect(platform("bookworm").postgresVersion).toBe(15);
        expect(
            defaultPostgresVersion(
                releases([
                    ["pg1", DEBIAN_13],
                    ["pg2", DEBIAN_13],
                    ["pg3", DEBIAN_13],
                ]),
            ),
        ).toEqual({ version: 17 });
    });

    test("mixed releases: one problem naming every node with its release and each major", () => {
        const r = defaultPostgresVersion(
            releases([
                ["pg3", DEBIAN_13],
                ["pg1", DEBIAN_12],
                ["pg2", DEBIAN_13],
            ]),
        );
        expect("problems" in r && r.problems).toHaveLength(1);
        const problem = "problems" in r ? r.problems[0] : "";
        expect(problem).toContain("PostgreSQL 15 on pg1 (Debian 12 (bookworm))");
        expect(problem).toContain("PostgreSQL 17 on pg2 (Debian 13 (trixie)), pg3 (Debian 13 (trixie))");
        expect(problem).toContain("one cluster runs one major");
        expect(problem).toContain("set pgha:postgres.version");
        expect(r).not.toHaveProperty("version");
    });

    test("an unsupported node: a problem naming it, what it runs and the supported list; no version", () => {
        const r = defaultPostgresVersion(
            releases([
                ["pg1", DEBIAN_12],
                ["pg2", UBUNTU_2404],
            ]),
        );
        expect(r).toEqual({ problems: ["pg2 runs Ubuntu 24.04.1 LTS, which pgha does not support; it supports Debian 12 (bookworm), Debian 13 (trixie)"] });
    });

    test("unsupported nodes and mixed releases are all reported at once, in node order", () => {
        const r = defaultPostgresVersion(
            releases([
                ["pg4", DEBIAN_13],
                ["pg3", ROCKY_9],
                ["pg1", UBUNTU_2404],
                ["pg2", DEBIAN_12],
            ]),
        );
        if (!("problems" in r)) throw new Error("expected problems");
        expect(r.problems).toHaveLength(3);
        expect(r.problems[0]).toMatch(/^pg1 runs Ubuntu 24\.04\.1 LTS, which pgha does not support/);
        expect(r.problems[1]).toMatch(/^pg3 runs Rocky Linux 9\.4 \(Blue Onyx\), which pgha does not support/);
        expect(r.problems[2]).toContain("PostgreSQL 15 on pg2 (Debian 12 (bookworm)); PostgreSQL 17 on pg4 (Debian 13 (trixie))");
    });

    test("no node read: a problem, not a version", () => {
        expect(defaultPostgresVersion(new Map())).toEqual({ problems: ["no PostgreSQL node's release could be read"] });
    });
});
