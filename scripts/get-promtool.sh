#!/usr/bin/env bash
# promtool, for the unit test of pgha's Prometheus rules (tests/unit/monitoring-rules.test.ts), from
# Debian's `prometheus` package without installing it (no Prometheus service on this machine): the
# package is downloaded with apt-get and promtool alone is unpacked into the cache. apt picks the
# version its sources offer (2.42 on Debian 12; 2.53 where they serve Debian 13). Prints its path.
# Does nothing when it is already there.
set -euo pipefail
CACHE=${PGHA_CACHE:-$HOME/.cache/pgha}
bin=$CACHE/promtool/bin/promtool
say() { printf 'promtool: %s\n' "$*" >&2; }
if [[ -x $bin ]] && "$bin" --version >/dev/null 2>&1; then
    echo "$bin"
    exit 0
fi
if ! command -v apt-get >/dev/null || ! command -v dpkg-deb >/dev/null; then
    say "needs apt-get and dpkg-deb (Debian)"
    exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# apt-get writes where it runs; as root, its sandbox user must be able to write there too.
chmod 0755 "$tmp"
download() { (cd "$tmp" && apt-get download -q prometheus >"$tmp/apt.log" 2>&1); }
if ! download; then
    # Package lists never read on this machine: read them once, then try again.
    say "apt-get download failed; reading the package lists (apt-get update) and trying again"
    apt-get update -qq >/dev/null 2>&1 || true
    download || { cat "$tmp/apt.log" >&2; say "could not download Debian's prometheus package"; exit 1; }
fi
dpkg-deb -x "$tmp"/prometheus_*.deb "$tmp/root"
install -D -m 0755 "$tmp/root/usr/bin/promtool" "$bin"
say "$("$bin" --version 2>&1 | head -n 1)"
echo "$bin"
