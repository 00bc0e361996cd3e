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
import { specOf } from "./fixtures";
import { Registered, registerCluster } from "./mock-cluster";

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
        const script = innerScript(String(m.get(`pg1:${path_}`)!.inputs[phase])).split(path_).join(target);
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
