#!/usr/bin/env bash
# Starts or stops the Accord service processes in the background, one log and
# pid file each under .accord/. `start` waits until every /readyz answers 200.
# usage: scripts/services.sh start|stop|status
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
export_client_addresses

cd "$ROOT"
LOGS="$ACCORD_HOME/logs"; RUN="$ACCORD_HOME/run"
mkdir -p "$LOGS" "$RUN"

# name, entry point, readiness URL. Simulated external parties first
# (payment provider, carrier, SMTP sink), then the services (catalog before
# orders, which looks prices up in it), then the orchestrator.
ALL_SERVICES=(
  "payment-provider simulators/payment-provider/src/main.ts http://127.0.0.1:${PAYMENT_PROVIDER_PORT:-8091}/readyz"
  "carrier simulators/carrier/src/main.ts http://127.0.0.1:${CARRIER_PORT:-8092}/readyz"
  "smtp-sink simulators/smtp-sink/src/main.ts http://127.0.0.1:${SMTP_SINK_HTTP_PORT:-8093}/readyz"
  "catalog services/catalog/src/main.ts http://127.0.0.1:${CATALOG_PORT:-8087}/readyz"
  "orders services/orders/src/main.ts http://127.0.0.1:${ORDERS_PORT:-8081}/readyz"
  "inventory services/inventory/src/main.ts http://127.0.0.1:${INVENTORY_PORT:-8082}/readyz"
  "payments services/payments/src/main.ts http://127.0.0.1:${PAYMENTS_PORT:-8083}/readyz"
  "shipping services/shipping/src/main.ts http://127.0.0.1:${SHIPPING_PORT:-8084}/readyz"
  "notifications services/notifications/src/main.ts http://127.0.0.1:${NOTIFICATIONS_PORT:-8085}/readyz"
  "orchestrator services/orchestrator/src/main.ts http://127.0.0.1:${ORCHESTRATOR_PORT:-8086}/readyz"
  "pact-broker tools/pact-broker/src/main.ts http://127.0.0.1:${PACT_BROKER_PORT:-9292}/readyz"
  "console services/console/src/main.ts http://127.0.0.1:${CONSOLE_PORT:-8099}/readyz"
)
SERVICES=()
for entry in "${ALL_SERVICES[@]}"; do
  read -r _ main _ <<<"$entry"
  [[ -f "$ROOT/$main" ]] && SERVICES+=("$entry")
done

# The Kafka user of a process that talks to Kafka, and its password
# (kafka_password in infra/env.sh: KAFKA_PASSWORD_<USER> when set, which a real
# deployment takes from its secret store, else the dev convention), exported
# for the process started next; the other processes get none.
kafka_credentials() {
  case "$1" in
    orders | inventory | payments | shipping | notifications | orchestrator)
      export KAFKA_USERNAME="$1" KAFKA_PASSWORD
      KAFKA_PASSWORD="$(kafka_password "$1")"
      ;;
    *) unset KAFKA_USERNAME KAFKA_PASSWORD ;;
  esac
}

alive() { [[ -f "$RUN/$1.pid" ]] && kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null; }

# The realm client a process authenticates as (its client id), if it has one.
client_of() {
  case "$1" in
    catalog | orders | inventory | payments | shipping | notifications | orchestrator | carrier) echo "$1" ;;
  esac
}

# A process's client secret: <NAME>_AUTH_CLIENT_SECRET when given (a real
# deployment injects it from its secret store), else the development realm's
# (infra/keycloak/accord-realm.json, lib/auth/dev-identities.ts).
secret_of() {
  local var
  var="$(tr '[:lower:]-' '[:upper:]_' <<<"$1")_AUTH_CLIENT_SECRET"
  echo "${!var:-dev-secret-$1}"
}

start() {
  for entry in "${SERVICES[@]}"; do
    read -r name main ready <<<"$entry"
    if alive "$name"; then echo "[services] $name already running (pid $(cat "$RUN/$name.pid"))"; continue; fi
    echo "[services] starting $name (log $LOGS/$name.log)"
    kafka_credentials "$name"
    client="$(client_of "$name")"
    # In the background, exec'ing in place, so $! is the service itself and
    # nothing keeps this script's stdout open. The secret travels in the
    # environment, never on a command line (ps shows those); OIDC_ISSUER comes
    # from export_client_addresses.
    (
      if [[ -n "$client" ]]; then export AUTH_CLIENT_SECRET; AUTH_CLIENT_SECRET="$(secret_of "$client")"; fi
      # The catalog's demo products (infra/demo/catalog.json, also the demo's stock), created when missing.
      if [[ "$name" == catalog ]]; then export CATALOG_SEED_FILE="${CATALOG_SEED_FILE:-infra/demo/catalog.json}"; fi
      # Development settings of notifications (a real deployment sets its own key and leaves loopback off):
      # the dev key sealing webhook secrets (services/notifications/src/dev-secret-key.ts), and plain http
      # to receivers on this machine.
      # Where checkout looks prices up (orders requires it; there is no default in the service).
      if [[ "$name" == orders ]]; then export CATALOG_URL="${CATALOG_URL:-http://127.0.0.1:${CATALOG_PORT:-8087}}"; fi
      if [[ "$name" == notifications ]]; then
        export NOTIFICATIONS_SECRET_KEY="${NOTIFICATIONS_SECRET_KEY:-YWNjb3JkLWRldi1ub3RpZmljYXRpb25zLWtleS0zMmI=}"
        export NOTIFICATIONS_WEBHOOK_ALLOW_LOOPBACK_HTTP="${NOTIFICATIONS_WEBHOOK_ALLOW_LOOPBACK_HTTP:-true}"
      fi
      exec setsid nohup node "$main" >>"$LOGS/$name.log" 2>&1 </dev/null
    ) &
    echo $! >"$RUN/$name.pid"
  done
  for entry in "${SERVICES[@]}"; do
    read -r name main ready <<<"$entry"
    local deadline=$((SECONDS + 60))
    until curl -fsS "$ready" >/dev/null 2>&1; do
      if ! alive "$name" || ((SECONDS >= deadline)); then
        tail -n 20 "$LOGS/$name.log" >&2 || true
        echo "[services] ERROR: $name did not become ready; its log is $LOGS/$name.log" >&2
        exit 1
      fi
      sleep 0.3
    done
    echo "[services] $name ready"
  done
}

stop() {
  for entry in "${SERVICES[@]}"; do
    read -r name _ <<<"$entry"
    if alive "$name"; then
      pid="$(cat "$RUN/$name.pid")"
      echo "[services] stopping $name (pid $pid)"
      kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
      kill -KILL -- "-$pid" 2>/dev/null || true
    fi
    rm -f "$RUN/$name.pid"
  done
}

status() {
  for entry in "${SERVICES[@]}"; do
    read -r name _ ready <<<"$entry"
    if alive "$name" && curl -fsS "$ready" >/dev/null 2>&1; then echo "$name  ready"; else echo "$name  down"; fi
  done
}

"${1:-status}"
