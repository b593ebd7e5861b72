#!/usr/bin/env bash
# The release gate: may this version of a pacticipant go to an environment?
#   scripts/release/can-i-deploy.sh <pacticipant> [environment]
# Exit 0: yes. Exit 1: no (the CLI prints why). Waits for results still being
# verified when CAN_I_DEPLOY_RETRIES (default 0) and CAN_I_DEPLOY_INTERVAL are set.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
require_broker_token
pacticipant="${1:?usage: can-i-deploy.sh <pacticipant> [environment]}"
environment="${2:-$PACT_ENVIRONMENT}"
ensure_environment "$environment"
if ! version_exists "$pacticipant" "$PACT_VERSION"; then
  # Not created silently: a consumer whose pacts were never published would
  # then look like it had no dependencies and pass.
  die "$pacticipant $PACT_VERSION is unknown to the broker. Publish its pacts (publish-pacts.sh), verify it as a provider (verify-provider.sh), or, for a service with no contracts at all, record it (record-version.sh)."
fi
args=(can-i-deploy --pacticipant "$pacticipant" --version "$PACT_VERSION" --to-environment "$environment")
if [[ "${CAN_I_DEPLOY_RETRIES:-0}" -gt 0 ]]; then
  args+=(--retry-while-unknown "$CAN_I_DEPLOY_RETRIES" --retry-interval "${CAN_I_DEPLOY_INTERVAL:-10}")
fi
pact-broker "${args[@]}"
