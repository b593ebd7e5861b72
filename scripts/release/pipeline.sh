#!/usr/bin/env bash
# The steps of .github/workflows/release.yml and contracts-pr.yml, as one
# script the workflows call and test/contract/release-pipeline.test.ts runs
# (ADR 0008):
#   scripts/release/pipeline.sh breaking          buf breaking against the base of the change
#   scripts/release/pipeline.sh consumer-tests    consumer contract tests (write contracts/)
#   scripts/release/pipeline.sh publish           publish contracts/ (version = sha, branch)
#   scripts/release/pipeline.sh verify            verify each provider, publish the results
#   scripts/release/pipeline.sh contracts         the four above, in that order
#   scripts/release/pipeline.sh deploy <service>  can-i-deploy -> deploy -> record-deployment
#   scripts/release/pipeline.sh mark-released     move the tag released/<env> to this commit
#   scripts/release/pipeline.sh can-i-merge       can-i-merge for every pacticipant (pull requests)
#   scripts/release/pipeline.sh require-broker    fail unless a long-lived broker (and credentials for it) is configured
#   scripts/release/pipeline.sh broker-credentials  fail unless a broker token can be had
#
# Broker credentials: every script that talks to the broker takes
# PACT_BROKER_TOKEN, or fetches one by client credentials of accord-ci
# (common.sh require_broker_token, broker-token.ts); require_broker fails
# when there are none.
#
# The broker: deploy, mark-released and can-i-merge need one that keeps its
# history (deployments, main-branch results) between runs, named by
# PACT_BROKER_BASE_URL. They FAIL when none is named (the default of common.sh
# does not count) or when it is one started for this run only
# (PACT_BROKER_EPHEMERAL=true): a gate without history cannot say no.
#
# The base buf breaking compares with: BUF_BREAKING_AGAINST when set (pull
# requests: origin/<base>), else the tag released/<env>, which mark-released
# moves after every service was deployed. It is fetched from origin when there
# is one; a missing tag fails (see the ADR for the first release).
#
# Other settings: PACT_ENVIRONMENT (default production), RELEASE_PROVIDERS
# (providers verified by `verify`), RELEASE_PACTICIPANTS (checked by
# `can-i-merge`), RELEASE_DEPLOY_COMMAND (an executable run as
# `<command> <service> <environment>`; by default a placeholder that prints).
requested_broker="${PACT_BROKER_BASE_URL:-}"
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
scripts="$RELEASE_ROOT/scripts/release"

RELEASE_PROVIDERS="${RELEASE_PROVIDERS:-catalog orders inventory payments shipping notifications}"
RELEASE_PACTICIPANTS="${RELEASE_PACTICIPANTS:-catalog inventory payments shipping orders notifications orchestrator accord-cli partner-webhook}"
released_tag="released/$PACT_ENVIRONMENT"

require_broker() {
  if [[ -z "$requested_broker" ]]; then
    die "no Pact Broker configured (PACT_BROKER_BASE_URL is empty): $1 needs a long-lived broker that keeps the deployment history; set the repository variable PACT_BROKER_BASE_URL (and the secret PACT_BROKER_TOKEN). Refusing to continue unchecked."
  fi
  if [[ "${PACT_BROKER_EPHEMERAL:-false}" == true ]]; then
    die "the broker at $requested_broker was started for this run only and keeps no deployment history: $1 needs a long-lived broker (repository variable PACT_BROKER_BASE_URL). Refusing to continue unchecked."
  fi
  # Fail closed up front: without credentials every write to it is refused.
  # (In a subshell: each later script fetches a token of its own, fresh.)
  (require_broker_token) ||
    die "no credentials for the broker at $requested_broker: $1 needs the secret PACT_BROKER_CLIENT_SECRET (client accord-ci, realm role release; issuer PACT_BROKER_OIDC_ISSUER) or PACT_BROKER_TOKEN."
}

has_origin() { git -C "$RELEASE_ROOT" remote get-url origin >/dev/null 2>&1; }

breaking() {
  local base="${BUF_BREAKING_AGAINST:-}"
  if [[ -z "$base" ]]; then
    base="$released_tag"
    if has_origin; then
      # The tag moves after each release: take origin's, with the history it needs.
      git -C "$RELEASE_ROOT" fetch --quiet --no-tags --force origin "+refs/tags/$base:refs/tags/$base" 2>/dev/null ||
        log "origin has no tag $base"
    fi
    git -C "$RELEASE_ROOT" rev-parse --verify -q "refs/tags/$base^{commit}" >/dev/null ||
      die "no tag $base: the last commit released to $PACT_ENVIRONMENT is unknown, so buf breaking has no base. First release: tag the commit that runs in $PACT_ENVIRONMENT (the repository's first commit if nothing does) with 'git tag $base <sha> && git push origin $base', or set BUF_BREAKING_AGAINST."
    base="refs/tags/$base"
  elif has_origin && ! git -C "$RELEASE_ROOT" rev-parse --verify -q "$base^{commit}" >/dev/null; then
    # origin/<branch> or a sha that is not here yet (a shallow checkout).
    local branch="${base#origin/}"
    if [[ "$branch" != "$base" ]]; then
      git -C "$RELEASE_ROOT" fetch --quiet --no-tags origin "+refs/heads/$branch:refs/remotes/origin/$branch" || true
    else
      git -C "$RELEASE_ROOT" fetch --quiet --no-tags origin "$base" || true
    fi
  fi
  log "buf breaking against $base"
  BUF_BREAKING_AGAINST="$base" bash "$RELEASE_ROOT/scripts/buf-breaking.sh"
}

consumer_tests() { (cd "$RELEASE_ROOT" && npx vitest run --project contract test/contract/consumer); }

publish() { bash "$scripts/publish-pacts.sh" "$RELEASE_ROOT/contracts"; }

verify() {
  local provider
  for provider in $RELEASE_PROVIDERS; do bash "$scripts/verify-provider.sh" "$provider"; done
}

# Providers first (release.yml calls it in that order): the gate of each
# service is asked right before it deploys, against what runs at that moment,
# so a consumer that needs what its provider adds in the same commit passes
# once that provider is deployed. Asking every service up front cannot pass it.
deploy() {
  local service="${1:?usage: pipeline.sh deploy <service>}"
  require_broker "deploy $service"
  log "can-i-deploy $service $PACT_VERSION to $PACT_ENVIRONMENT"
  bash "$scripts/can-i-deploy.sh" "$service" "$PACT_ENVIRONMENT"
  if [[ -n "${RELEASE_DEPLOY_COMMAND:-}" ]]; then
    "$RELEASE_DEPLOY_COMMAND" "$service" "$PACT_ENVIRONMENT"
  else
    log "deploy $service $PACT_VERSION to $PACT_ENVIRONMENT (your deploy step here: RELEASE_DEPLOY_COMMAND)"
  fi
  bash "$scripts/record-deployment.sh" "$service" "$PACT_ENVIRONMENT"
}

# After every service deployed: this commit is the base of the next release's buf breaking.
mark_released() {
  require_broker "mark-released"
  git -C "$RELEASE_ROOT" tag --force "$released_tag" HEAD >/dev/null
  if has_origin; then git -C "$RELEASE_ROOT" push --quiet --force origin "refs/tags/$released_tag"; fi
  log "$released_tag is now $(git -C "$RELEASE_ROOT" rev-parse --short HEAD)"
}

can_i_merge() {
  require_broker "can-i-merge"
  local pacticipant
  for pacticipant in $RELEASE_PACTICIPANTS; do bash "$scripts/can-i-merge.sh" "$pacticipant"; done
}

command="${1:?usage: pipeline.sh breaking|consumer-tests|publish|verify|contracts|deploy <service>|mark-released|can-i-merge|require-broker|broker-credentials}"
shift
case "$command" in
  breaking) breaking ;;
  consumer-tests) consumer_tests ;;
  publish) publish ;;
  verify) verify ;;
  contracts)
    breaking
    consumer_tests
    publish
    verify
    ;;
  deploy) deploy "$@" ;;
  mark-released) mark_released ;;
  can-i-merge) can_i_merge ;;
  require-broker)
    require_broker "this workflow"
    log "broker: $PACT_BROKER_BASE_URL"
    ;;
  broker-credentials)
    (require_broker_token) || die "no credentials for the broker at $PACT_BROKER_BASE_URL (PACT_BROKER_CLIENT_SECRET or PACT_BROKER_TOKEN)"
    log "broker credentials: a token for $PACT_BROKER_BASE_URL can be had"
    ;;
  *) die "unknown step $command" ;;
esac
