#!/usr/bin/env bash
# Publishes the consumer pacts in a folder (default: contracts/) for this
# commit and branch:
#   scripts/release/publish-pacts.sh [dir]
# Env: PACT_BROKER_BASE_URL, PACT_VERSION (default: short sha), PACT_BRANCH (default: git branch).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
require_broker_token
dir="${1:-$RELEASE_ROOT/contracts}"
[[ -d "$dir" ]] || die "no pact folder $dir"
[[ -n "$PACT_BRANCH" ]] || die "no branch: set PACT_BRANCH (detached HEAD)"
log "publishing $dir as version $PACT_VERSION on branch $PACT_BRANCH to $PACT_BROKER_BASE_URL"
# The CLI exits 0 even when a pact is refused, so its output is checked too.
output="$(pact-broker publish "$dir" --consumer-app-version "$PACT_VERSION" --branch "$PACT_BRANCH" 2>&1)" || {
  echo "$output"
  die "publish failed"
}
echo "$output"
if grep -q '❌' <<<"$output"; then die "the broker refused a pact (see above)"; fi
