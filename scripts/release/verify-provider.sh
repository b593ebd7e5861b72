#!/usr/bin/env bash
# Verifies one provider against the pacts the broker selects for it and
# PUBLISHES the results (a provider that only verifies local files never
# publishes, and its consumers stay blocked forever):
#   scripts/release/verify-provider.sh <provider> [vitest test file]
# Runs the provider's contract test (default test/contract/provider/<provider>.test.ts)
# with these variables, which its verifyProvider source must honour:
#   PACT_BROKER_BASE_URL, PACT_PUBLISH_VERIFICATION_RESULTS=true,
#   PACT_PROVIDER_VERSION, PACT_PROVIDER_BRANCH
# (selectors { mainBranch: true }, { deployedOrReleased: true }, pending on).
# Fails if no result reached the broker for this provider version.
# An optional third argument is the URL of one pact to verify, the way a
# webhook passes it on (${pactbroker.pactUrl}; see scripts/release/verification-runner.ts):
#   scripts/release/verify-provider.sh <provider> "" <pact URL>
# It reaches the provider test as PACT_URL.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
require_broker_token
provider="${1:?usage: verify-provider.sh <provider> [test file]}"
test_file="${2:-test/contract/provider/$provider.test.ts}"
[[ -n "$PACT_BRANCH" ]] || die "no branch: set PACT_BRANCH (detached HEAD)"
pact_url="${3:-}"
if [[ -n "$pact_url" ]]; then
  export PACT_URL="$pact_url"
  log "the pact to verify: $pact_url"
fi

# The version exists (with its branch) even when no consumer has a pact yet,
# so the provider's first deploy can be checked by can-i-deploy.
ensure_version "$provider" "$PACT_VERSION" "$PACT_BRANCH"
# How many consumers have a pact with this provider (0 on a provider's first run).
pact_count="$(broker_curl "$PACT_BROKER_BASE_URL/pacts/provider/$(urlencode "$provider")/latest" | node -e '
  let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
    try { process.stdout.write(String(JSON.parse(s)?._links?.pacts?.length ?? 0)); } catch { process.stdout.write("0"); }
  });')"

log "verifying $provider $PACT_VERSION ($PACT_BRANCH) against $PACT_BROKER_BASE_URL"
(
  cd "$RELEASE_ROOT"
  PACT_PUBLISH_VERIFICATION_RESULTS=true PACT_PROVIDER_VERSION="$PACT_VERSION" PACT_PROVIDER_BRANCH="$PACT_BRANCH" \
    npx vitest run --project contract "$test_file"
)

# Guard against the silent pitfall: with pacts in the broker, a run that
# published nothing verified local files only.
if [[ "$pact_count" -gt 0 ]]; then
  matrix="$(broker_curl -G "$PACT_BROKER_BASE_URL/matrix" \
    --data-urlencode "q[][pacticipant]=$provider" --data-urlencode "q[][version]=$PACT_VERSION" \
    --data-urlencode "latestby=cvpv")"
  published="$(node -e '
    const m = JSON.parse(process.argv[1]);
    const rows = (m.matrix ?? []).filter((r) => r.provider?.name === process.argv[2] && r.verificationResult);
    process.stdout.write(String(rows.length));' "$matrix" "$provider")"
  [[ "$published" -gt 0 ]] || die "no verification result of $provider $PACT_VERSION reached the broker: does $test_file verify from the broker (PACT_BROKER_BASE_URL) with publishing on?"
  log "$published verification result(s) published for $provider $PACT_VERSION"
fi
