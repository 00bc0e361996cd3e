#!/usr/bin/env bash
# npm run pack: pgha as a library package (dist/pgha-<version>.tgz) for other Pulumi programs:
# the compiled core/ and components/ with their declarations, beside the templates and the
# server-side programs they read at run time (same relative layout as in the repository).
# @pulumi/pulumi and @pulumi/command are peer dependencies: the importing program's own
# copies must be the ones the components register with.
set -euo pipefail
cd "$(dirname "$0")/.."
out=dist/lib
rm -rf "$out" && mkdir -p "$out"
npx tsc -p tsconfig.lib.json
cp -r templates server "$out/"
find "$out/server" -name '__pycache__' -prune -exec rm -rf {} +
node - "$out" <<'JS'
const fs = require("fs");
const root = require("./package.json");
const out = process.argv[2];
const pin = (n) => root.dependencies[n];
const pkg = {
    name: root.name,
    version: root.version,
    description: "PostgreSQL HA cluster (etcd, Patroni, HAProxy, keepalived) on existing servers over SSH, as a Pulumi component",
    license: root.license,
    main: "components/index.js",
    types: "components/index.d.ts",
    dependencies: { handlebars: pin("handlebars"), yaml: pin("yaml"), zod: pin("zod") },
    peerDependencies: { "@pulumi/pulumi": pin("@pulumi/pulumi"), "@pulumi/command": pin("@pulumi/command") },
    engines: root.engines,
};
fs.writeFileSync(`${out}/package.json`, JSON.stringify(pkg, null, 2) + "\n");
fs.copyFileSync("README.md", `${out}/README.md`);
JS
tgz=$(cd dist && npm pack ./lib --silent)
echo "dist/$tgz"
