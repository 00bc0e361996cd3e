#!/usr/bin/env bash
# Runs the project's pulumi with the lab environment: bash scripts/pulumi.sh <args>.
# shellcheck source=scripts/env.sh
source "$(dirname "$0")/env.sh"
cd "$ROOT" && exec pulumi "$@"
