#!/usr/bin/env bash
# After a successful deploy: tells the broker which version now runs there
# (it replaces the previous deployment of the same pacticipant/instance).
#   scripts/release/record-deployment.sh <pacticipant> [environment]
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
require_broker_token
pacticipant="${1:?usage: record-deployment.sh <pacticipant> [environment]}"
environment="${2:-$PACT_ENVIRONMENT}"
ensure_environment "$environment"
args=(record-deployment --pacticipant "$pacticipant" --version "$PACT_VERSION" --environment "$environment")
[[ -n "${PACT_APPLICATION_INSTANCE:-}" ]] && args+=(--application-instance "$PACT_APPLICATION_INSTANCE")
pact-broker "${args[@]}"
