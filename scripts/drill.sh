#!/usr/bin/env bash
# npm run drill -- <scenario|all> [--runs N] [--json FILE] [--profile default|fast] [--release bookworm|trixie] [--vip keepalived|vip-manager]
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "drill: run as root (the lab uses network namespaces and systemd-nspawn)" >&2; exit 1; }
[ -x node_modules/.bin/ts-node ] || npm ci --no-audit --no-fund
bash toolchain/install.sh >/dev/null
source scripts/env.sh
exec node_modules/.bin/ts-node --transpile-only tests/drill/cli.ts "$@"
