#!/usr/bin/env bash
# `npm run stop`: stops the services, then the infrastructure. Data stays in .accord/data.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/services.sh" stop
bash "$ROOT/infra/infra.sh" down
