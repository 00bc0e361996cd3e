#!/usr/bin/env bash
# npm run status -- --stack NAME [--json]: the cluster at a glance, read-only (scripts/ops/status.ts).
# Acts on a stack of the Pulumi project in the caller's directory (scripts/ops-env.sh), as
# scripts/backup.sh does.
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
if [ "${npm_lifecycle_event:-}" = status ] && [ -n "${INIT_CWD:-}" ]; then cd "$INIT_CWD"; fi
[ -x "$HERE/node_modules/.bin/ts-node" ] || { echo "status: $HERE/node_modules is missing: run npm ci in $HERE" >&2; exit 1; }
source "$HERE/scripts/ops-env.sh"
exec "$HERE/node_modules/.bin/ts-node" --transpile-only "$HERE/scripts/ops/status.ts" "$@"
