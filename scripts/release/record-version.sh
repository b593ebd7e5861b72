#!/usr/bin/env bash
# Records this commit as a version (on its branch) of a pacticipant that has
# no contracts yet, so its first can-i-deploy has something to check:
#   scripts/release/record-version.sh <pacticipant>
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
require_broker_token
pacticipant="${1:?usage: record-version.sh <pacticipant>}"
ensure_version "$pacticipant" "$PACT_VERSION" "$PACT_BRANCH"
log "recorded $pacticipant $PACT_VERSION${PACT_BRANCH:+ on branch $PACT_BRANCH}"
