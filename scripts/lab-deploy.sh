#!/usr/bin/env bash
# npm run lab:deploy: from a fresh machine to a verified PostgreSQL HA cluster on 3 local lab hosts.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "lab:deploy: run as root (the lab uses network namespaces and systemd-nspawn)" >&2; exit 1; }
[ -x node_modules/.bin/jest ] || npm ci --no-audit --no-fund
bash toolchain/install.sh
bash lab/lab.sh up --nodes 3
source scripts/env.sh
node scripts/lab-stack.js lab
pulumi up --yes --stack lab --skip-preview
cat <<EOT

pgha: the cluster is up and verified.
  psql through the VIP (read/write), the server verified against the cluster CA:
    bash scripts/pulumi.sh stack output caCertificate --stack lab > pgha-ca.crt
    psql "\$(bash scripts/pulumi.sh stack output connectionString --show-secrets --stack lab)"
  Patroni:     npm run lab -- ssh lab1 patronictl -c /etc/patroni/config.yml list
  HAProxy:     $(pulumi stack output haproxyStatsUrl --stack lab)
EOT
