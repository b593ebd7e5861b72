#!/usr/bin/env bash
# The pull-request gate: may this version of a pacticipant merge, i.e. is it
# compatible with the main branch of every pacticipant it is integrated with?
#   scripts/release/can-i-merge.sh <pacticipant>
# Exit 0: yes. Exit 1: no (the CLI prints why). Waits for results still being
# verified when CAN_I_MERGE_RETRIES (default 0) and CAN_I_MERGE_INTERVAL are set.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
require_broker_token
pacticipant="${1:?usage: can-i-merge.sh <pacticipant>}"
if ! version_exists "$pacticipant" "$PACT_VERSION"; then
  # As in can-i-deploy.sh: an unknown version is not quietly created.
  die "$pacticipant $PACT_VERSION is unknown to the broker. Publish its pacts (publish-pacts.sh), verify it as a provider (verify-provider.sh), or, for a service with no contracts at all, record it (record-version.sh)."
fi
args=(can-i-merge --pacticipant "$pacticipant" --version "$PACT_VERSION")
if [[ "${CAN_I_MERGE_RETRIES:-0}" -gt 0 ]]; then
  args+=(--retry-while-unknown "$CAN_I_MERGE_RETRIES" --retry-interval "${CAN_I_MERGE_INTERVAL:-10}")
fi
pact-broker "${args[@]}"
