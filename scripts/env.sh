# shellcheck shell=bash
# Sourced by the project's scripts: the toolchain on PATH, no downloads, the local state backend.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PGHA_CACHE=${PGHA_CACHE:-$HOME/.cache/pgha}
export PATH="$HOME/.pulumi/bin:$ROOT/node_modules/.bin:$PATH"
export PULUMI_SKIP_UPDATE_CHECK=true PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
# Lab stacks keep their state in the repo's gitignored .pulumi-state/ and their
# secrets under a passphrase that lives outside the repo, made on first use.
export PULUMI_BACKEND_URL=${PULUMI_BACKEND_URL:-file://$ROOT/.pulumi-state}
if [ -z "${PULUMI_CONFIG_PASSPHRASE:-}" ] && [ -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]; then
    export PULUMI_CONFIG_PASSPHRASE_FILE=$PGHA_CACHE/lab/passphrase
    if [ ! -s "$PULUMI_CONFIG_PASSPHRASE_FILE" ]; then
        mkdir -p "$(dirname "$PULUMI_CONFIG_PASSPHRASE_FILE")"
        (umask 077; head -c 24 /dev/urandom | base64 >"$PULUMI_CONFIG_PASSPHRASE_FILE")
    fi
fi
mkdir -p "$ROOT/.pulumi-state"
