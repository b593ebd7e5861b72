#!/usr/bin/env bash
# Checks the running Keycloak against what infra/keycloak/accord-realm.json
# promises (see infra/keycloak/README.md): every token kind, its claims, the
# refusals, the 1 s expiry probe, the device flow and the console's PKCE flow,
# the browser halves scripted with curl. Needs curl, node and openssl.
#
# usage: bash infra/keycloak/verify.sh      (exit 0 when every check passes)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=infra/env.sh
source "$ROOT/infra/env.sh"
export_client_addresses
command -v node >/dev/null || PATH="$ACCORD_HOME/cache/node24/bin:$PATH"

KC="http://$KEYCLOAK_HOST:$KEYCLOAK_PORT"
OIDC="$KC/realms/$KEYCLOAK_REALM/protocol/openid-connect"
passed=0 failed=0
ok() { passed=$((passed + 1)); printf '  ok    %s\n' "$1"; }
ko() { failed=$((failed + 1)); printf '  FAIL  %s\n' "$1"; }
check() { local what="$1"; shift; if "$@"; then ok "$what"; else ko "$what"; fi; }

# js EXPR [JSON]: evaluates EXPR with `j` = JSON (argument or stdin) and `p` =
# the decoded payload of j.access_token (when there is one); prints the result.
js() {
  local expr="$1" json="${2-}"
  [[ $# -ge 2 ]] || json="$(cat)"
  node -e '
    const j = JSON.parse(process.argv[2]);
    const p = j.access_token ? JSON.parse(Buffer.from(j.access_token.split(".")[1], "base64url")) : {};
    const v = (0, eval)("(j, p) => " + process.argv[1])(j, p);
    console.log(typeof v === "string" ? v : JSON.stringify(v));
  ' "$expr" "$json"
}
is() { [[ "$(js "$2" "$1")" == true ]]; } # is JSON EXPR: EXPR is true
token() { curl -sS "$OIDC/token" "$@"; }
cc() { token -d grant_type=client_credentials -d client_id="$1" -d client_secret="dev-secret-$1" ${2:+-d scope="$2"}; }

echo "discovery"
disc="$(curl -fsS "$KC/realms/$KEYCLOAK_REALM/.well-known/openid-configuration")"
check "issuer is $OIDC_ISSUER" is "$disc" "j.issuer === '$OIDC_ISSUER'"
check "token endpoint is $OIDC/token" is "$disc" "j.token_endpoint === '$OIDC/token'"
check "device authorization endpoint advertised" is "$disc" "j.device_authorization_endpoint === '$OIDC/auth/device'"
check "management /health/ready is 200" curl -fsS -o /dev/null "http://$KEYCLOAK_HOST:$KEYCLOAK_MANAGEMENT_PORT/health/ready"

echo "service clients (client_credentials)"
audiences=(orders inventory payments shipping notifications catalog pact-broker)
for client in orders inventory payments shipping notifications orchestrator catalog carrier; do
  t="$(cc "$client")"
  check "$client: no scope -> no aud, azp $client, roles [service], sub set" \
    is "$t" "p.aud === undefined && p.azp === '$client' && JSON.stringify(p.realm_access.roles) === '[\"service\"]' && !!p.sub && !j.refresh_token"
  bad=""
  for a in "${audiences[@]}"; do
    t="$(cc "$client" "audience-$a")"
    is "$t" "p.aud === '$a' && p.azp === '$client'" || bad+=" audience-$a->$(js 'p.aud' "$t")"
  done
  if [[ -z "$bad" ]]; then ok "$client: scope audience-<name> -> aud <name>, for each of ${audiences[*]}"; else ko "$client: wrong aud for$bad"; fi
done
t="$(cc orchestrator audience-payments)"
check "orchestrator + audience-payments: aud has payments and not orders, azp orchestrator, role service" \
  is "$t" "[].concat(p.aud).includes('payments') && ![].concat(p.aud).includes('orders') && p.azp === 'orchestrator' && p.realm_access.roles.includes('service')"
t="$(cc orchestrator "audience-payments audience-shipping")"
check "orchestrator + two audience scopes: aud has both" is "$t" "JSON.stringify([].concat(p.aud).sort()) === '[\"payments\",\"shipping\"]'"
check "wrong secret -> unauthorized_client" is "$(token -d grant_type=client_credentials -d client_id=orders -d client_secret=nope)" "j.error === 'unauthorized_client'"
check "service client may not use the password grant" \
  is "$(token -d grant_type=password -d client_id=orders -d client_secret=dev-secret-orders -d username=alice -d password=alice)" "j.error === 'unauthorized_client'"

echo "accord-ci"
check "accord-ci + audience-pact-broker: aud pact-broker, roles [release]" \
  is "$(cc accord-ci audience-pact-broker)" "p.aud === 'pact-broker' && JSON.stringify(p.realm_access.roles) === '[\"release\"]'"
check "accord-ci may not ask for audience-orders (invalid_scope)" is "$(cc accord-ci audience-orders)" "j.error === 'invalid_scope'"

echo "accord-expiry-probe"
t="$(cc accord-expiry-probe)"
check "exp - iat = 1, aud orders+notifications, roles [ops]" \
  is "$t" "p.exp - p.iat === 1 && j.expires_in <= 1 && JSON.stringify([].concat(p.aud).sort()) === '[\"notifications\",\"orders\"]' && JSON.stringify(p.realm_access.roles) === '[\"ops\"]'"
at="$(js 'j.access_token' "$t")"
sleep 2.1
check "introspection 2.1 s later: active false" \
  is "$(curl -sS "$OIDC/token/introspect" -u orders:dev-secret-orders -d token="$at")" "j.active === false"
t="$(cc orchestrator audience-orders)"
check "(control) a 300 s token introspected by its audience: active" \
  is "$(curl -sS "$OIDC/token/introspect" -u orders:dev-secret-orders -d token="$(js 'j.access_token' "$t")")" "j.active === true && j.expires_in === undefined"

echo "people on accord-cli (password grant, dev only)"
for u in alice:a11ce000-0000-4000-8000-000000000001:customer bob:b0b00000-0000-4000-8000-000000000002:customer \
  acme:ac3e0000-0000-4000-8000-000000000003:partner globex:9100be00-0000-4000-8000-000000000004:partner \
  olivia:0b5e0000-0000-4000-8000-000000000005:ops; do
  IFS=: read -r name id role <<<"$u"
  t="$(token -d grant_type=password -d client_id=accord-cli -d username="$name" -d password="$name")"
  check "$name: sub $id, roles [$role], aud has orders, email $name@example.com" \
    is "$t" "p.sub === '$id' && JSON.stringify(p.realm_access.roles) === '[\"$role\"]' && [].concat(p.aud).includes('orders') && !([].concat(p.aud).includes('pact-broker')) && p.azp === 'accord-cli' && p.email === '$name@example.com' && p.preferred_username === '$name'"
done
# The console's pages read the saga (orchestrator) and the console's own service.
check "olivia's token also names the orchestrator and console audiences" \
  is "$(token -d grant_type=password -d client_id=accord-cli -d username=olivia -d password=olivia)" "[].concat(p.aud).includes('orchestrator') && [].concat(p.aud).includes('console')"
check "wrong password -> invalid_grant" \
  is "$(token -d grant_type=password -d client_id=accord-cli -d username=alice -d password=wrong)" "j.error === 'invalid_grant'"

echo "device authorization grant (accord-cli)"
d="$(curl -sS "$OIDC/auth/device" -d client_id=accord-cli)"
check "device endpoint answers with device_code, user_code, verification_uri" is "$d" "!!j.device_code && !!j.user_code && j.verification_uri === '$KC/realms/$KEYCLOAK_REALM/device'"
check "device endpoint refuses accord-console" is "$(curl -sS "$OIDC/auth/device" -d client_id=accord-console)" "j.error === 'unauthorized_client'"
jar="$(mktemp)"; trap 'rm -f "$jar"' EXIT
formaction() { grep -o 'action="[^"]*"' | head -1 | sed "s/^action=\"//; s/\"\$//; s/&amp;/\\&/g; s|^/|$KC/|"; }
dc="$(js 'j.device_code' "$d")"
check "polling before approval: authorization_pending" \
  is "$(token -d grant_type=urn:ietf:params:oauth:grant-type:device_code -d client_id=accord-cli -d device_code="$dc")" "j.error === 'authorization_pending'"
action="$(curl -fsS -L -c "$jar" -b "$jar" "$(js 'j.verification_uri_complete' "$d")" | formaction)"
consent="$(curl -fsS -L -c "$jar" -b "$jar" --data-urlencode username=bob --data-urlencode password=bob "$action")"
code="$(printf '%s' "$consent" | grep -o 'name="code" value="[^"]*"' | sed 's/.*value="//; s/"$//')"
done_page="$(curl -fsS -L -c "$jar" -b "$jar" -d accept=Yes -d code="$code" "$(printf '%s' "$consent" | formaction)")"
check "bob approves the device (login, then the consent screen)" grep -q 'Device Login Successful' <<<"$done_page"
sleep "$(js 'j.interval' "$d")"
check "the device's poll then gets bob's token" \
  is "$(token -d grant_type=urn:ietf:params:oauth:grant-type:device_code -d client_id=accord-cli -d device_code="$dc")" "p.sub === 'b0b00000-0000-4000-8000-000000000002' && p.azp === 'accord-cli'"

echo "accord-console (authorization code + PKCE S256)"
redirect="http://127.0.0.1:8099/callback"
auth="$OIDC/auth?client_id=accord-console&response_type=code&scope=openid&redirect_uri=$redirect&state=s1"
loc="$(curl -sS -o /dev/null -w '%{redirect_url}' "$auth")"
check "without code_challenge: redirected back with an error" grep -q 'error=invalid_request' <<<"$loc"
check "password grant refused" is "$(token -d grant_type=password -d client_id=accord-console -d username=alice -d password=alice)" "j.error === 'unauthorized_client'"
check "unregistered redirect_uri refused" test "$(curl -sS -o /dev/null -w '%{http_code}' "${auth/8099/8098}&code_challenge=x&code_challenge_method=S256")" = 400
rm -f "$jar"
verifier="$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
challenge="$(printf '%s' "$verifier" | openssl dgst -sha256 -binary | base64 | tr '+/' '-_' | tr -d '=\n')"
action="$(curl -fsS -c "$jar" -b "$jar" "$auth&code_challenge=$challenge&code_challenge_method=S256" | formaction)"
loc="$(curl -sS -o /dev/null -c "$jar" -b "$jar" -w '%{redirect_url}' --data-urlencode username=alice --data-urlencode password=alice "$action")"
code="$(sed -n 's/.*[?&]code=\([^&]*\).*/\1/p' <<<"$loc")"
check "alice logs in: redirected to $redirect with a code" grep -q "^$redirect?.*code=" <<<"$loc"
check "code exchange without the verifier refused" \
  is "$(token -d grant_type=authorization_code -d client_id=accord-console -d code="$code" -d redirect_uri="$redirect")" "j.error === 'invalid_grant'"
# That failed exchange burnt the code: log in again for a fresh one.
action="$(curl -fsS -c "$jar" -b "$jar" "$auth&code_challenge=$challenge&code_challenge_method=S256&prompt=login" | formaction)"
loc="$(curl -sS -o /dev/null -c "$jar" -b "$jar" -w '%{redirect_url}' --data-urlencode username=alice --data-urlencode password=alice "$action")"
code="$(sed -n 's/.*[?&]code=\([^&]*\).*/\1/p' <<<"$loc")"
headers="$(mktemp)"
t="$(token -D "$headers" -H 'Origin: http://localhost:8099' -d grant_type=authorization_code -d client_id=accord-console \
  -d code="$code" -d redirect_uri="$redirect" -d code_verifier="$verifier")"
check "code + verifier -> alice's token (sub, customer, aud has orders, azp accord-console)" \
  is "$t" "p.sub === 'a11ce000-0000-4000-8000-000000000001' && p.realm_access.roles.includes('customer') && [].concat(p.aud).includes('orders') && p.azp === 'accord-console'"
check "token endpoint allows the origin http://localhost:8099 (CORS)" grep -qi '^access-control-allow-origin: http://localhost:8099' "$headers"
rm -f "$headers"

echo "$passed passed, $failed failed"
((failed == 0))
