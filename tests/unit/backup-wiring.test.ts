// pgha:backup's wiring (components/backup-repository.ts) under pulumi.runtime.setMocks.
import { classicWith, specOf } from "./fixtures";
import { registerCluster as register } from "./mock-cluster";
import { pinnedTree, treeFingerprint } from "./tree-snapshot";

/** Configurations without pgha:backup whose trees are pinned as they were before backups existed. */
const UNCHANGED: Record<string, () => Record<string, unknown>> = {
    classic: () => classicWith(() => undefined),
    "deploy-user-pg4": () =>
        classicWith((v) => {
            v.ssh.user = "deploy";
            v.nodes.push({ name: "pg4", address: "172.51.216.84", roles: ["postgres"] });
        }),
};

describe("without pgha:backup, the tree is exactly as before backups existed", () => {
    for (const [name, values] of Object.entries(UNCHANGED)) {
        test(`${name}: every resource, parent, dependency and input as pinned`, async () => {
            const tree = await register(specOf(values()));
            expect(treeFingerprint(tree)).toEqual(pinnedTree(name, tree));
        });
    }
});
