#!/usr/bin/env bash
# Debian's monitoring programs for the unit tests, without installing their packages (no service
# starts on this machine): promtool (tests/unit/monitoring-rules.test.ts) from `prometheus`, and
# the exporters pgha deploys (tests/unit/monitoring-exporters.test.ts) from
# `prometheus-node-exporter` and `prometheus-postgres-exporter`. Each package is downloaded with
# apt-get and only its program is unpacked into the cache. apt picks the versions its sources
# offer (Debian 12: Prometheus 2.42, node_exporter 1.5, postgres_exporter 0.11; where they serve
# Debian 13: 2.53, 1.9, 0.17). Prints the directory holding them; does nothing when they are there.
set -euo pipefail
CACHE=${PGHA_CACHE:-$HOME/.cache/pgha}
dir=$CACHE/monitoring-tools/bin
say() { printf 'monitoring-tools: %s\n' "$*" >&2; }
# package:program
wanted=(prometheus:promtool prometheus-node-exporter:prometheus-node-exporter prometheus-postgres-exporter:prometheus-postgres-exporter)
missing=()
for w in "${wanted[@]}"; do
    if ! [[ -x $dir/${w#*:} ]] || ! "$dir/${w#*:}" --version >/dev/null 2>&1; then missing+=("${w%%:*}"); fi
done
if [[ ${#missing[@]} -eq 0 ]]; then
    echo "$dir"
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
download() { (cd "$tmp" && apt-get download -q "${missing[@]}" >"$tmp/apt.log" 2>&1); }
if ! download; then
    # Package lists never read on this machine: read them once, then try again.
    say "apt-get download failed; reading the package lists (apt-get update) and trying again"
    apt-get update -qq >/dev/null 2>&1 || true
    download || { cat "$tmp/apt.log" >&2; say "could not download ${missing[*]}"; exit 1; }
fi
for w in "${wanted[@]}"; do
    pkg=${w%%:*} prog=${w#*:}
    for deb in "$tmp/${pkg}"_*.deb; do
        [[ -e $deb ]] || continue
        dpkg-deb -x "$deb" "$tmp/root-$pkg"
        install -D -m 0755 "$tmp/root-$pkg/usr/bin/$prog" "$dir/$prog"
        say "$("$dir/$prog" --version 2>&1 | head -n 1)"
    done
done
echo "$dir"
