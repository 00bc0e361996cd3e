#!/usr/bin/env bash
# npm run test:e2e: the real engine against real lab hosts (root needed).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "test:e2e: run as root (the lab uses network namespaces and systemd-nspawn)" >&2; exit 1; }
bash toolchain/install.sh
source scripts/env.sh
# Suites in a fixed order (tests/e2e/order.js): toolchain, preview, cluster, security, day2.
exec jest --selectProjects e2e --runInBand --testSequencer ./tests/e2e/order.js "$@"
