# Shared settings of the release scripts (sourced, not run).
# Everything talks to the broker through the official pact-broker CLI or its
# documented HTTP API, so PACT_BROKER_BASE_URL may name Accord's own broker
# (tools/pact-broker) or the real one (docker compose, :9292) unchanged.
set -euo pipefail

RELEASE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export PATH="$RELEASE_ROOT/node_modules/.bin:$PATH"
# The project's pinned Node, when bootstrap installed it.
if [[ -d "$RELEASE_ROOT/.accord/cache/node24/bin" ]]; then export PATH="$RELEASE_ROOT/.accord/cache/node24/bin:$PATH"; fi
export PACT_BROKER_BASE_URL="${PACT_BROKER_BASE_URL:-http://127.0.0.1:9292}"
export PACT_DO_NOT_TRACK="${PACT_DO_NOT_TRACK:-true}"

# The version is the commit; the branch is the git branch. CI checks out a
# detached HEAD, so fall back to the variables GitHub Actions sets.
PACT_VERSION="${PACT_VERSION:-$(git -C "$RELEASE_ROOT" rev-parse --short HEAD)}"
PACT_BRANCH="${PACT_BRANCH:-$(git -C "$RELEASE_ROOT" branch --show-current 2>/dev/null || true)}"
PACT_BRANCH="${PACT_BRANCH:-${GITHUB_HEAD_REF:-${GITHUB_REF_NAME:-}}}"
PACT_ENVIRONMENT="${PACT_ENVIRONMENT:-production}"

log() { echo "[release] $*" >&2; }
die() { echo "[release] ERROR: $*" >&2; exit 1; }

# Credentials come from the environment, never from files here: the broker
# refuses writes without a bearer token whose caller holds the realm role
# "release" (tools/pact-broker/src/access.ts). PACT_BROKER_TOKEN when the
# caller sets it (a static token of the real broker); else one fetched by
# client credentials of accord-ci (broker-token.ts: PACT_BROKER_CLIENT_SECRET,
# the dev realm's secret off CI). Each script fetches its own, so a long
# pipeline never carries a token past its few minutes of life.
# PACT_BROKER_USERNAME/PASSWORD (basic auth of a real broker) skip it.
require_broker_token() {
  if [[ -n "${PACT_BROKER_TOKEN:-}" || -n "${PACT_BROKER_USERNAME:-}" ]]; then return 0; fi
  local token
  token="$(node "$RELEASE_ROOT/scripts/release/broker-token.ts")" || die "cannot obtain a Pact Broker token (see above)"
  export PACT_BROKER_TOKEN="$token"
}

curl_auth() {
  if [[ -n "${PACT_BROKER_TOKEN:-}" ]]; then
    printf -- '-H\nAuthorization: Bearer %s\n' "$PACT_BROKER_TOKEN"
  elif [[ -n "${PACT_BROKER_USERNAME:-}" ]]; then
    printf -- '-u\n%s:%s\n' "$PACT_BROKER_USERNAME" "${PACT_BROKER_PASSWORD:-}"
  fi
}

broker_curl() {
  local args=()
  while IFS= read -r line; do args+=("$line"); done < <(curl_auth)
  curl -sS -H 'Accept: application/hal+json' "${args[@]}" "$@"
}

urlencode() { node -e 'process.stdout.write(encodeURIComponent(process.argv[1]))' "$1"; }

# Environments are created once; creating an existing one is an error in the broker.
ensure_environment() {
  local name="$1" production="${2:-}"
  local found
  local listing
  listing="$(pact-broker list-environments --output json 2>&1)" || die "cannot list environments: $listing"
  found="$(node -e '
    try {
      const envs = JSON.parse(process.argv[1])?._embedded?.environments ?? [];
      process.stdout.write(envs.some((e) => e.name === process.argv[2]) ? "yes" : "no");
    } catch { process.stdout.write("error"); }' "$listing" "$name")"
  [[ "$found" == "error" ]] && die "cannot list environments at $PACT_BROKER_BASE_URL: $listing"
  if [[ "$found" == "yes" ]]; then return 0; fi
  # Only "production" is a production environment unless told otherwise.
  if [[ -z "$production" && "$name" == "production" ]]; then production="--production"; fi
  log "creating environment $name"
  pact-broker create-environment --name "$name" ${production:+"$production"} >/dev/null
}

# Records a pacticipant version (and its branch) in the broker. A pacticipant
# that neither publishes pacts nor has verified any yet (a provider before its
# first consumer) would otherwise be unknown to can-i-deploy, which says "no".
ensure_version() {
  local pacticipant="$1" version="$2" branch="${3:-}"
  local url
  if [[ -n "$branch" ]]; then
    url="$PACT_BROKER_BASE_URL/pacticipants/$(urlencode "$pacticipant")/branches/$(urlencode "$branch")/versions/$(urlencode "$version")"
  else
    url="$PACT_BROKER_BASE_URL/pacticipants/$(urlencode "$pacticipant")/versions/$(urlencode "$version")"
  fi
  local status
  status="$(broker_curl -o /dev/null -w '%{http_code}' -X PUT -H 'Content-Type: application/json' -d '{}' "$url")"
  [[ "$status" == 200 || "$status" == 201 ]] || die "could not record $pacticipant $version (HTTP $status from $url)"
}

version_exists() {
  local pacticipant="$1" version="$2"
  local status
  status="$(broker_curl -o /dev/null -w '%{http_code}' \
    "$PACT_BROKER_BASE_URL/pacticipants/$(urlencode "$pacticipant")/versions/$(urlencode "$version")")"
  [[ "$status" == 200 ]]
}
