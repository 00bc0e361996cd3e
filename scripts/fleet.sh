#!/usr/bin/env bash
# npm run fleet -- preview|up --stacks a,b,c [--parallel N] [--stream] [--tail N]
# Acts on stacks of the Pulumi project in the caller's directory (scripts/ops-env.sh), with the
# caller's Pulumi environment; `npm run` starts scripts in the package's directory, so the
# directory npm was called from (INIT_CWD) is where it looks.
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
if [ "${npm_lifecycle_event:-}" = fleet ] && [ -n "${INIT_CWD:-}" ]; then cd "$INIT_CWD"; fi
[ -x "$HERE/node_modules/.bin/ts-node" ] || { echo "fleet: $HERE/node_modules is missing: run npm ci in $HERE" >&2; exit 1; }
# The usage needs no project.
case " $* " in *" -h "* | *" --help "*) exec "$HERE/node_modules/.bin/ts-node" --transpile-only "$HERE/scripts/ops/fleet.ts" --help ;; esac
source "$HERE/scripts/ops-env.sh"
exec "$HERE/node_modules/.bin/ts-node" --transpile-only "$HERE/scripts/ops/fleet.ts" "$@"
