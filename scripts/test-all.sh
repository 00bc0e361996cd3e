#!/usr/bin/env bash
# npm test: everything, on a fresh machine too: npm packages, type check, lint, unit
# tests, the toolchain build, then the end-to-end suite on lab hosts.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
[ -x node_modules/.bin/jest ] || npm ci --no-audit --no-fund || exit 1
# The real programs some unit tests check rendered files and helper scripts with
# (haproxy -c, keepalived --config-test, PyYAML, etcd on loopback, PgBouncer 1.18 before PostgreSQL 15, pyflakes and shellcheck on server/; scripts/lint.sh
# runs shellcheck too); without them those tests skip, so install them here when running as root on Debian.
tools=(haproxy keepalived etcd-server etcd-client python3-yaml python3-psycopg2 postgresql-15 pgbouncer python3-pyflakes shellcheck)
missing=(); for p in "${tools[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p"); done
if [ "${#missing[@]}" -gt 0 ] && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    echo "== installing ${missing[*]} for the unit tests (services are not started)"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}") >/dev/null 2>&1 ||
        echo "test: could not install ${missing[*]}; the tests needing them will skip"
fi
# promtool and the exporters (Debian packages, unpacked, not installed) for the monitoring unit tests; under CI=true they fail without them.
bash scripts/get-monitoring-tools.sh >/dev/null || echo "test: could not get promtool and the exporters; tests/unit/monitoring-*.test.ts need them"
export PATH="$PWD/node_modules/.bin:$PATH"
results=$(mktemp -d)
passed=0 failed=0 skipped=0
tally() { # jest --json result file
    [ -s "$1" ] || { failed=$((failed + 1)); return; }
    local p f s
    read -r p f s < <(node -e 'const r=require(process.argv[1]);console.log(r.numPassedTests, r.numFailedTests + r.numRuntimeErrorTestSuites, r.numPendingTests + r.numTodoTests)' "$1")
    passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
}
# The skipped tests of a jest --json result file, one per line.
skipped_tests() {
    # JavaScript in single quotes: its ${...} are template literals, not shell.
    # shellcheck disable=SC2016
    node -e 'const r=require(process.argv[1]);for(const f of r.testResults)for(const a of f.assertionResults)if(a.status==="pending"||a.status==="todo")console.log(`  ${require("path").relative(process.cwd(),f.name)}: ${a.fullName}`)' "$1"
}
# The toolchain builds (minutes of Go on a fresh machine, nothing when built) while the checks and
# unit tests below run: they need none of it. Its output is shown once the unit tests end.
toolchain_log="$results/toolchain.log"
bash toolchain/install.sh >"$toolchain_log" 2>&1 &
toolchain_pid=$!
echo "== type check"; tsc --noEmit || failed=$((failed + 1))
echo "== lint"; if bash scripts/lint.sh; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
echo "== unit tests"; jest --selectProjects unit --json --outputFile="$results/unit.json"; tally "$results/unit.json"
# A unit test skips only when a real program it needs is missing (`(has(...) ? describe :
# describe.skip)`: haproxy, keepalived, etcd, PostgreSQL, PyYAML, psycopg2, openssl...). CI must
# not pass without them: there a skipped unit test is a failure, named.
if [ "${CI:-}" = true ] && [ -s "$results/unit.json" ]; then
    unit_skipped=$(skipped_tests "$results/unit.json")
    if [ -n "$unit_skipped" ]; then
        echo "test: CI=true and $(wc -l <<<"$unit_skipped") unit tests skipped (a program they need is missing; see the tools installed above):"
        echo "$unit_skipped"
        failed=$((failed + 1))
    fi
fi
echo "== toolchain (the official CLI, language host and command provider; built beside the unit tests)"
if wait "$toolchain_pid"; then toolchain_ok=1; else toolchain_ok=0; fi
cat "$toolchain_log"
if [ "$toolchain_ok" -eq 1 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
echo "== end-to-end tests on lab hosts"
bash scripts/test-e2e.sh --json --outputFile="$results/e2e.json"; tally "$results/e2e.json"
echo
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
