# shellcheck shell=bash
# Sourced by the operational scripts (npm run backup, ...): they act on a stack of the Pulumi
# project in the CURRENT directory, as the pulumi CLI does (Pulumi.yaml there or in a parent),
# with the caller's PULUMI_BACKEND_URL and PULUMI_CONFIG_PASSPHRASE[_FILE]. When the backend is
# unset, a project with lab state (.pulumi-state/ beside its Pulumi.yaml) uses it, and any other
# project pulumi's own login, as the CLI would; scripts/env.sh adds the toolchain to PATH and the
# lab's passphrase file when no passphrase is set. Nothing here changes the directory.
pgha_ops_name=${0##*/}
pgha_ops_name=${pgha_ops_name%.sh}
pgha_ops_project=$PWD
while [ ! -f "$pgha_ops_project/Pulumi.yaml" ] && [ ! -f "$pgha_ops_project/Pulumi.yml" ] && [ "$pgha_ops_project" != / ]; do
    pgha_ops_project=$(dirname "$pgha_ops_project")
done
if [ ! -f "$pgha_ops_project/Pulumi.yaml" ] && [ ! -f "$pgha_ops_project/Pulumi.yml" ]; then
    echo "$pgha_ops_name: no Pulumi project here: run it in the directory of the stack's Pulumi.yaml (or below it)" >&2
    exit 1
fi
pgha_ops_login=false
if [ -z "${PULUMI_BACKEND_URL:-}" ]; then
    if [ -d "$pgha_ops_project/.pulumi-state" ]; then
        export PULUMI_BACKEND_URL="file://$pgha_ops_project/.pulumi-state"
    else
        pgha_ops_login=true
    fi
fi
# shellcheck source=scripts/env.sh
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
# env.sh's backend is its own checkout's lab state, not this project's.
if $pgha_ops_login; then unset PULUMI_BACKEND_URL; fi
unset pgha_ops_name pgha_ops_project pgha_ops_login
