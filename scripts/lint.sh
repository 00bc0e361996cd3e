#!/usr/bin/env bash
# npm run lint: ESLint, Prettier and shellcheck over the project's sources; runs each, names
# the ones that failed, exits non-zero if any did. (server/*.py: py_compile and pyflakes run in
# the unit test tests/unit/server-programs.test.ts, which also shellchecks server/.)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
export PATH="$PWD/node_modules/.bin:$PATH"
ts_js=(index.ts core components tests examples/composed/index.ts scripts/*.js scripts/ops eslint.config.js)
shell=(scripts/*.sh lab/lab.sh toolchain/install.sh .ci/run server/*.sh)
failed=()
step() { # name command...
    local name=$1; shift
    echo "== lint: $name"
    "$@" || failed+=("$name")
}
step eslint eslint --max-warnings 0 "${ts_js[@]}"
step prettier prettier --check "${ts_js[@]}"
step shellcheck shellcheck "${shell[@]}"
if [ "${#failed[@]}" -gt 0 ]; then
    echo "lint: failed: ${failed[*]}"
    exit 1
fi
echo "lint: all clean"
