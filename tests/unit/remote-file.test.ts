// placeFile's scripts, taken from the mock cluster and run for real by bash in a sandbox
// (the path redirected into a temp dir, chown stubbed): what happens to a file that was
// already there when pgha first places its own.

import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { HAPROXY_CONFIG_PATH } from "../../core/render/haproxy";
import { KEEPALIVED_CONFIG_PATH } from "../../core/render/keepalived";
import { ETCD_CONFIG_PATH } from "../../core/render/etcd";
import { PATRONI_CONFIG_PATH } from "../../core/render/patroni";
import { specOf } from "./fixtures";
import { Registered, registerCluster, remoteCommands } from "./mock-cluster";

/** The script inside `bash -c '…'` of a command text. */
function innerScript(text: string): string {
    const m = /bash -c '((?:[^']|'\\'')*)'/.exec(text);
    if (m === null) throw new Error(`no bash -c in:\n${text}`);
    return m[1].split(`'\\''`).join("'");
}

describe("placeFile: a file already at the path (bash, sandboxed)", () => {
    let m: Map<string, Registered>;
    let dir = "";
    beforeAll(async () => {
        m = await registerCluster(specOf());
    });
    beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgha-file-"))));
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    /** Runs the resource's create or update script against `<dir>/<basename of path>`, content on stdin. */
    const place = (path_: string, phase: "create" | "update", content: string): string => {
        const target = path.join(dir, path.basename(path_));
        const script = innerScript(String(m.get(`pg1:${path_}`)!.inputs[phase]))
            .split(path_)
            .join(target);
        const r = spawnSync("bash", ["-c", `chown() { :; }\n${script}`], { input: content, encoding: "utf8" });
        expect([r.status, r.stderr]).toEqual([0, ""]);
        expect(fs.readFileSync(target, "utf8")).toBe(content);
        return target;
    };

    for (const shared of [HAPROXY_CONFIG_PATH, KEEPALIVED_CONFIG_PATH]) {
        test(`${shared}: the first placement keeps the file found there as .pgha-orig, once`, () => {
            const target = path.join(dir, path.basename(shared));
            fs.writeFileSync(target, "the distro's default\n", { mode: 0o640 });
            place(shared, "create", "pgha's first\n");
            expect(fs.readFileSync(`${target}.pgha-orig`, "utf8")).toBe("the distro's default\n");
            expect(fs.statSync(`${target}.pgha-orig`).mode & 0o777).toBe(0o640);
            // Later placements (an update, or a create after the state was lost) never replace the copy.
            place(shared, "update", "pgha's second\n");
            place(shared, "create", "pgha's third\n");
            expect(fs.readFileSync(`${target}.pgha-orig`, "utf8")).toBe("the distro's default\n");
        });

        test(`${shared}: nothing there, nothing kept; an update never takes pgha's own file for an original`, () => {
            const target = place(shared, "create", "pgha's first\n");
            expect(fs.existsSync(`${target}.pgha-orig`)).toBe(false);
            fs.rmSync(target);
            fs.writeFileSync(target, "pgha's, from before this version\n");
            place(shared, "update", "pgha's second\n");
            expect(fs.existsSync(`${target}.pgha-orig`)).toBe(false);
        });
    }

    test("a path of pgha's own keeps no copy", () => {
        const target = path.join(dir, path.basename(ETCD_CONFIG_PATH));
        fs.writeFileSync(target, "left over\n");
        place(ETCD_CONFIG_PATH, "create", "pgha's\n");
        expect(fs.readdirSync(dir)).toEqual([path.basename(ETCD_CONFIG_PATH)]);
    });
});

/**
 * What each placed file must end up as. Secrets (private keys, keepalived's auth_pass, the
 * Patroni config with the role passwords) are readable by their daemon's user only; the
 * helper programs are executable; a daemon's TLS pair belongs to the daemon's user.
 */
function expectedModeAndOwner(p: string): { mode: string; owner: string } {
    const mode = /\.key$/.test(p) || p === KEEPALIVED_CONFIG_PATH || p === PATRONI_CONFIG_PATH ? "0600" : p.startsWith("/usr/local/libexec/pgha/") ? "0755" : "0644";
    const owner = /\/tls\/etcd\.(crt|key)$/.test(p) ? "etcd:etcd" : /\/tls\/postgres\.(crt|key)$/.test(p) || p === PATRONI_CONFIG_PATH ? "postgres:postgres" : "root:root";
    return { mode, owner };
}

describe("placeFile: every placed file's mode and owner, and what delete leaves (bash, sandboxed)", () => {
    let files: Registered[];
    let dir = "";
    beforeAll(async () => {
        // pg1 has every role; pg3 only etcd.
        files = remoteCommands(await registerCluster(specOf())).filter((c) => /^pg[13]:\//.test(c.name));
    });
    beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgha-file-"))));
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    /** Runs one phase's script against `<dir>/<basename>`; chown is stubbed to log its owner and the inode it was given. */
    const run = (c: Registered, phase: "create" | "update" | "delete", target: string) => {
        const p = c.name.slice(c.name.indexOf(":") + 1);
        const log = path.join(dir, "chown.log");
        const script = innerScript(String(c.inputs[phase])).split(p).join(target);
        const stub = `chown() { [ "$#" -eq 2 ] || return 1; printf '%s %s\\n' "$1" "$(stat -c %i -- "$2")" >>${JSON.stringify(log)}; }`;
        const r = spawnSync("bash", ["-c", `${stub}\n${script}`], { input: "content\n", encoding: "utf8" });
        expect([c.name, phase, r.status, r.stderr]).toEqual([c.name, phase, 0, ""]);
        const chowned = fs.existsSync(log) ? fs.readFileSync(log, "utf8") : "";
        fs.rmSync(log, { force: true });
        return chowned;
    };

    test("create and update give each file its mode and owner (the file as placed, not only its temp copy)", () => {
        expect(files.length).toBeGreaterThan(20);
        for (const c of files) {
            const p = c.name.slice(c.name.indexOf(":") + 1);
            const { mode, owner } = expectedModeAndOwner(p);
            for (const phase of ["create", "update"] as const) {
                const target = path.join(dir, `${phase}-${path.basename(p)}`);
                const chowned = run(c, phase, target);
                expect([c.name, phase, (fs.statSync(target).mode & 0o7777).toString(8).padStart(4, "0")]).toEqual([c.name, phase, mode]);
                expect([c.name, phase, chowned]).toEqual([c.name, phase, `${owner} ${fs.statSync(target).ino}\n`]);
                expect(fs.readFileSync(target, "utf8")).toBe("content\n");
            }
        }
        // The secrets are really 0600 (the rule above is not vacuous).
        const secret = files.filter((c) => expectedModeAndOwner(c.name.slice(4)).mode === "0600").map((c) => c.name);
        expect(secret).toEqual(
            expect.arrayContaining(["pg1:/etc/pgha/tls/etcd.key", "pg1:/etc/pgha/tls/postgres.key", `pg1:${KEEPALIVED_CONFIG_PATH}`, `pg1:${PATRONI_CONFIG_PATH}`, "pg3:/etc/pgha/tls/etcd.key"]),
        );
    });

    test("delete removes every file pgha owns, and leaves haproxy.cfg (the haproxy package's path) in place", () => {
        const kept: string[] = [];
        for (const c of files) {
            const p = c.name.slice(c.name.indexOf(":") + 1);
            if (c.inputs.delete === undefined) {
                kept.push(c.name);
                continue;
            }
            const target = path.join(dir, path.basename(p));
            fs.writeFileSync(target, "placed\n");
            run(c, "delete", target);
            expect([c.name, fs.existsSync(target)]).toEqual([c.name, false]);
        }
        expect(kept).toEqual([`pg1:${HAPROXY_CONFIG_PATH}`]);
    });
});
