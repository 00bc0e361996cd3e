#!/usr/bin/env bash
# npm run toolchain: make the Pulumi engine available without downloading binaries.
# Builds the official Pulumi CLI from the Go module proxy (matching node_modules/@pulumi/pulumi),
# and the official nodejs language host and `command` provider plugin (matching @pulumi/command)
# from their upstream source archives, with dependencies from the proxy; installs them where the official installer would (~/.pulumi/bin, plugin cache), and
# does nothing when everything is already there at the right version.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${PGHA_CACHE:-$HOME/.cache/pgha}
PULUMI_BIN=$HOME/.pulumi/bin
BUILD_DIR=$CACHE/toolchain/bin
LOG_DIR=$CACHE/toolchain/logs
export PULUMI_SKIP_UPDATE_CHECK=true PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
# One Pulumi home for the CLI and this script: without it the CLI takes the passwd entry's home,
# and its plugin cache and this script's stamp could be in two places when $HOME differs.
export PULUMI_HOME=${PULUMI_HOME:-$HOME/.pulumi}

say() { printf 'toolchain: %s\n' "$*"; }
die() { printf 'toolchain: ERROR: %s\n' "$*" >&2; exit 1; }

pkg_version() { # version of an installed npm package, or empty
    local f="$ROOT/node_modules/$1/package.json"
    [[ -f $f ]] && node -e 'process.stdout.write(require(process.argv[1]).version)' "$f"
}

PULUMI_VERSION=$(pkg_version @pulumi/pulumi) || true
COMMAND_VERSION=$(pkg_version @pulumi/command) || true
[[ -n ${PULUMI_VERSION:-} && -n ${COMMAND_VERSION:-} ]] ||
    die "node_modules/@pulumi/pulumi or @pulumi/command is missing: run 'npm ci' in $ROOT first."

cli_version() { "$1" version 2>/dev/null | tr -d '[:space:]'; }

need_go() {
    command -v go >/dev/null 2>&1 || die "Go is not installed, and it is needed to build the Pulumi binaries here.
  Install Go >= 1.25 (the official tarball into /usr/local/go; put its bin/ on PATH),
  or put a Pulumi CLI v$PULUMI_VERSION with its nodejs language host on PATH and re-run."
    export GOMODCACHE=$CACHE/go/mod GOCACHE=$CACHE/go/build GOFLAGS="-mod=mod -buildvcs=false" GOTOOLCHAIN=local
    mkdir -p "$GOMODCACHE" "$GOCACHE" "$BUILD_DIR" "$LOG_DIR"
}

# go build with a heartbeat, because a cold CLI build takes many minutes on 2 cores.
go_build() { # name dir out ldflags pkg
    local name=$1 dir=$2 out=$3 ldflags=$4 pkg=$5 log="$LOG_DIR/$1.log" start=$SECONDS pid
    say "building $name (log: $log)"
    (cd "$dir" && go build -v -trimpath -ldflags "$ldflags" -o "$out.tmp" "$pkg") >"$log" 2>&1 &
    pid=$!
    while kill -0 "$pid" 2>/dev/null; do
        sleep 5
        if (( (SECONDS - start) % 30 < 5 )); then
            say "  $name: $((SECONDS - start))s, $(grep -c '^go: downloading' "$log" || true) modules downloaded, $(grep -vc '^go: ' "$log" || true) packages compiled"
        fi
    done
    if ! wait "$pid"; then
        tail -n 25 "$log" >&2
        if grep -qE '403 Forbidden|404 Not Found|410 Gone|dial tcp|no such host|proxyconnect' "$log"; then
            die "building $name failed: the Go module proxy refused or could not be reached (GOPROXY=$(go env GOPROXY)).
  Check network access to the Go module proxy; the full log is $log."
        fi
        die "building $name failed; the full log is $log"
    fi
    mv -f "$out.tmp" "$out"
    say "built $name in $((SECONDS - start))s"
}

install_bin() { install -D -m 0755 "$1" "$PULUMI_BIN/$(basename "$2")"; }

# 1. The CLI: an existing real CLI of the right version on PATH wins; else ours in ~/.pulumi/bin.
want="v$PULUMI_VERSION"
PULUMI=""
if on_path=$(command -v pulumi 2>/dev/null) && [[ $(cli_version "$on_path") == "$want" ]]; then
    PULUMI=$on_path
elif [[ -x $PULUMI_BIN/pulumi && $(cli_version "$PULUMI_BIN/pulumi") == "$want" ]]; then
    PULUMI=$PULUMI_BIN/pulumi
else
    need_go
    go_build "pulumi-cli-$want" "$ROOT/toolchain/go/cli" "$BUILD_DIR/pulumi" \
        "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$want" \
        github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
    install_bin "$BUILD_DIR/pulumi" pulumi
    PULUMI=$PULUMI_BIN/pulumi
fi
say "pulumi CLI $want: $PULUMI"

# The language host and the command provider are built from the upstream source archives
# (the Go module proxy refuses their modules but serves all their dependencies): by default
# ../shared/upstream beside the checkout, or the folder named by PGHA_UPSTREAM_DIR.
UPSTREAM_DIR=${PGHA_UPSTREAM_DIR:-$ROOT/../shared/upstream}
LH_ARCHIVE=pulumi-$want-language-nodejs-src.tar.gz
CP_ARCHIVE=pulumi-command-v$COMMAND_VERSION-provider-src.tar.gz

# Path of an upstream archive, or a clear failure naming what is missing and where it looked.
upstream_archive() {
    local f=$UPSTREAM_DIR/$1
    [[ -f $f ]] && { echo "$f"; return; }
    die "the upstream source archive $1 is missing from $UPSTREAM_DIR.
  It holds the official $2 source that the Go module proxy does not serve.
  Put it there, or set PGHA_UPSTREAM_DIR to the folder that holds it, and re-run."
}

# A build's stamp: the archive's checksum plus the version, so a new archive rebuilds.
archive_stamp() { echo "$(sha256sum "$1" | cut -c1-16)-$2"; }

# Unpacks an archive afresh into the cache; prints the folder.
unpack() { # archive
    local dir
    dir=$CACHE/toolchain/src/$(basename "$1" .tar.gz)
    rm -rf "$dir" && mkdir -p "$dir" && tar -xzf "$1" -C "$dir"
    echo "$dir"
}

# 2. The nodejs language host. One found beside a real CLI (not ours) is kept as is.
lh_stamp_file=$PULUMI_BIN/.pgha-language-nodejs.stamp
lh_existing=$(dirname "$PULUMI")/pulumi-language-nodejs
if [[ -x $lh_existing && ! -f $lh_stamp_file && $lh_existing != "$PULUMI_BIN/pulumi-language-nodejs" ]]; then
    say "nodejs language host: using $lh_existing"
else
    lh_archive=$(upstream_archive "$LH_ARCHIVE" "nodejs language host $want")
    lh_stamp=$(archive_stamp "$lh_archive" "$want")
    if [[ -x $PULUMI_BIN/pulumi-language-nodejs && -f $lh_stamp_file && $(cat "$lh_stamp_file") == "$lh_stamp" ]]; then
        say "nodejs language host $want: up to date"
    else
        need_go
        lh_src=$(unpack "$lh_archive")
        go_build "pulumi-language-nodejs-$want" "$lh_src/pulumi-$want/sdk/nodejs/cmd/pulumi-language-nodejs" "$BUILD_DIR/pulumi-language-nodejs" \
            "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$want" .
        install_bin "$BUILD_DIR/pulumi-language-nodejs" pulumi-language-nodejs
        # The dynamic-provider shim ships in the npm package, as in the official install.
        install_bin "$ROOT/node_modules/@pulumi/pulumi/pulumi-resource-pulumi-nodejs" pulumi-resource-pulumi-nodejs
        echo "$lh_stamp" >"$lh_stamp_file"
    fi
fi

# 3. The command provider plugin, installed into the plugin cache through the CLI.
plugin_dir=$PULUMI_HOME/plugins/resource-command-v$COMMAND_VERSION
cp_stamp_file=$plugin_dir.pgha-stamp
if [[ -x $plugin_dir/pulumi-resource-command && ! -f $cp_stamp_file ]]; then
    say "command plugin $COMMAND_VERSION: using the installed one"
else
    cp_archive=$(upstream_archive "$CP_ARCHIVE" "command provider $COMMAND_VERSION")
    cp_stamp=$(archive_stamp "$cp_archive" "$COMMAND_VERSION")
    if [[ -x $plugin_dir/pulumi-resource-command && $(cat "$cp_stamp_file") == "$cp_stamp" ]]; then
        say "command plugin $COMMAND_VERSION: up to date"
    else
        need_go
        cp_src=$(unpack "$cp_archive")
        go_build "pulumi-resource-command-$COMMAND_VERSION" "$cp_src/pulumi-command-v$COMMAND_VERSION/provider" "$BUILD_DIR/pulumi-resource-command" \
            "-s -w -X github.com/pulumi/pulumi-command/provider/pkg/version.Version=$COMMAND_VERSION" ./cmd/pulumi-resource-command
        "$PULUMI" plugin install resource command "$COMMAND_VERSION" --file "$BUILD_DIR/pulumi-resource-command" --reinstall >/dev/null
        echo "$cp_stamp" >"$cp_stamp_file"
        say "installed command plugin $COMMAND_VERSION"
    fi
fi

# 4. promtool and the exporters (Debian packages, unpacked into the cache, not installed): the monitoring unit tests run them.
# Not needed to deploy: a failure here is only said (that unit test fails under CI=true without it).
if tools=$(bash "$ROOT/scripts/get-monitoring-tools.sh"); then say "promtool and the exporters: $tools"; else say "promtool and the exporters: not available (the monitoring unit tests need them)"; fi

case ":$PATH:" in *":$PULUMI_BIN:"*) ;; *) say "add $PULUMI_BIN to PATH (the project's npm scripts do this themselves)";; esac
say "ready: $("$PULUMI" version) with the nodejs language host and the command plugin $COMMAND_VERSION"
