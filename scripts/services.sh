#!/usr/bin/env bash
# Starts or stops the Accord service processes in the background, one log and
# pid file each under .accord/. `start` waits until every /readyz answers 200.
# In the production topology (ACCORD_TOPOLOGY=production, infra/env.sh) each
# product service runs as two replicas behind HAProxy (see PRODUCTION below).
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

# The processes to run: "instance service main ready [PORT_VARIABLE=port]".
# In development one instance per service, named after it, on its own port.
#
# PRODUCTION: each service below (each has outbox relays, Kafka consumers or
# Temporal workers, so those run twice as well) runs as replicas 1 and 2,
# named <service>-1 and <service>-2, on ports 1P and 2P where P is its
# public port (orders 8081: 18081 and 28081). HAProxy listens on P and
# balances over them (infra/production/haproxy.sh), so every client and the
# calls between services keep using P. Simulators, the pact broker and the
# console stay single, on their own ports. Prometheus scrapes each replica
# through the target file of job replicas (infra/prometheus/prometheus.yml).
REPLICATED_SERVICES=(catalog orders inventory payments shipping notifications orchestrator)
REPLICA_TARGETS="$RUN/prometheus-production/replicas.json"
INSTANCES=()
BALANCED=() # "service public-port replica-1-port replica-2-port"
for entry in "${SERVICES[@]}"; do
  read -r name main ready <<<"$entry"
  if [[ "$ACCORD_TOPOLOGY" == production && " ${REPLICATED_SERVICES[*]} " == *" $name "* ]]; then
    public="${ready#http://127.0.0.1:}"; public="${public%%/*}"
    variable="$(tr '[:lower:]-' '[:upper:]_' <<<"$name")_PORT"
    for r in 1 2; do
      if (($r$public > 65535)); then
        echo "[services] ERROR: $variable=$public leaves no port $r$public for replica $r; choose a port of at most 4 digits" >&2
        exit 1
      fi
      INSTANCES+=("$name-$r $name $main http://127.0.0.1:$r$public/readyz $variable=$r$public")
    done
    BALANCED+=("$name $public 1$public 2$public")
  else
    INSTANCES+=("$name $name $main $ready")
  fi
done
if [[ "$ACCORD_TOPOLOGY" == production ]]; then
  # shellcheck source=infra/production/haproxy.sh
  source "$ROOT/infra/production/haproxy.sh"
fi

# The Prometheus targets of the replicas and of HAProxy itself (production).
write_replica_targets() {
  local first=1 entry service public
  mkdir -p "$(dirname "$REPLICA_TARGETS")"
  {
    echo "["
    for entry in "${BALANCED[@]}"; do
      read -r service public _ <<<"$entry"
      for r in 1 2; do
        ((first)) || echo ","
        first=0
        printf '  { "targets": ["127.0.0.1:%s"], "labels": { "service": "%s", "replica": "%s" } }' "$r$public" "$service" "$r"
      done
    done
    ((first)) || echo ","
    printf '  { "targets": ["127.0.0.1:%s"], "labels": { "service": "haproxy" } }\n' "$HAPROXY_STATS_PORT"
    echo "]"
  } >"$REPLICA_TARGETS.tmp"
  # Renamed into place: Prometheus never reads a half-written file.
  mv "$REPLICA_TARGETS.tmp" "$REPLICA_TARGETS"
}

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
  # Up before the replicas, so that calls between services find it at once.
  if [[ "$ACCORD_TOPOLOGY" == production ]]; then haproxy_up "${BALANCED[@]}"; fi
  # The orchestrator's workflow code, bundled once here instead of by every
  # replica as it starts or restarts (ADR 0028); the workers load this file.
  # Only when an orchestrator instance is about to start (about 2 s otherwise spent for nothing).
  export ORCHESTRATOR_WORKFLOW_BUNDLE="${ORCHESTRATOR_WORKFLOW_BUNDLE:-$RUN/orchestrator-workflows.js}"
  local orchestrator_down=0
  for entry in "${INSTANCES[@]}"; do
    read -r instance name _ <<<"$entry"
    if [[ "$name" == orchestrator ]] && ! alive "$instance"; then orchestrator_down=1; fi
  done
  if ((orchestrator_down)); then
    node scripts/bundle-workflows.ts || { echo "[services] ERROR: could not bundle the workflow code" >&2; exit 1; }
  fi
  for entry in "${INSTANCES[@]}"; do
    read -r instance name main ready listen <<<"$entry"
    if alive "$instance"; then echo "[services] $instance already running (pid $(cat "$RUN/$instance.pid"))"; continue; fi
    echo "[services] starting $instance (log $LOGS/$instance.log)"
    kafka_credentials "$name"
    client="$(client_of "$name")"
    # In the background, exec'ing in place, so $! is the service itself and
    # nothing keeps this script's stdout open. The secret travels in the
    # environment, never on a command line (ps shows those); OIDC_ISSUER comes
    # from export_client_addresses.
    (
      # A replica's own port (production); its clients use the public one.
      if [[ -n "$listen" ]]; then export "${listen?}"; fi
      if [[ "$ACCORD_TOPOLOGY" == production ]]; then production_upstreams "$name"; fi
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
      exec setsid nohup node "$main" >>"$LOGS/$instance.log" 2>&1 </dev/null
    ) &
    echo $! >"$RUN/$instance.pid"
  done
  for entry in "${INSTANCES[@]}"; do
    read -r instance name main ready _ <<<"$entry"
    local deadline=$((SECONDS + 60))
    until curl -fsS "$ready" >/dev/null 2>&1; do
      if ! alive "$instance" || ((SECONDS >= deadline)); then
        tail -n 20 "$LOGS/$instance.log" >&2 || true
        echo "[services] ERROR: $instance did not become ready; its log is $LOGS/$instance.log" >&2
        exit 1
      fi
      sleep 0.3
    done
    echo "[services] $instance ready"
  done
  if [[ "$ACCORD_TOPOLOGY" == production ]]; then
    write_replica_targets
    # Through HAProxy: ready once its health checks have seen a replica up.
    for entry in "${BALANCED[@]}"; do
      read -r name public _ <<<"$entry"
      local deadline=$((SECONDS + 30))
      until curl -fsS "http://127.0.0.1:$public/readyz" >/dev/null 2>&1; do
        if ((SECONDS >= deadline)); then
          echo "[services] ERROR: $name is not ready through haproxy on port $public; see $HAPROXY_LOG and http://127.0.0.1:$HAPROXY_STATS_PORT/stats" >&2
          exit 1
        fi
        sleep 0.3
      done
      echo "[services] $name ready through haproxy on port $public"
    done
  fi
}

# Production: the orchestrator and the console reach the services at their
# public ports (HAProxy), whatever those ports are set to.
production_upstreams() {
  local url=http://127.0.0.1
  case "$1" in
    orchestrator | console)
      export ORDERS_URL="${ORDERS_URL:-$url:${ORDERS_PORT:-8081}}" INVENTORY_URL="${INVENTORY_URL:-$url:${INVENTORY_PORT:-8082}}"
      export PAYMENTS_URL="${PAYMENTS_URL:-$url:${PAYMENTS_PORT:-8083}}" SHIPPING_URL="${SHIPPING_URL:-$url:${SHIPPING_PORT:-8084}}"
      ;;
  esac
  if [[ "$1" == console ]]; then
    export NOTIFICATIONS_URL="${NOTIFICATIONS_URL:-$url:${NOTIFICATIONS_PORT:-8085}}"
    export ORCHESTRATOR_URL="${ORCHESTRATOR_URL:-$url:${ORCHESTRATOR_PORT:-8086}}"
    export CATALOG_URL="${CATALOG_URL:-$url:${CATALOG_PORT:-8087}}"
  fi
}

stop() {
  for entry in "${INSTANCES[@]}"; do
    read -r instance _ <<<"$entry"
    if alive "$instance"; then
      pid="$(cat "$RUN/$instance.pid")"
      echo "[services] stopping $instance (pid $pid)"
      kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
      kill -KILL -- "-$pid" 2>/dev/null || true
    fi
    rm -f "$RUN/$instance.pid"
  done
  # Last, so a replica draining its requests stays reachable until it is done.
  if [[ "$ACCORD_TOPOLOGY" == production ]]; then
    rm -f "$REPLICA_TARGETS"
    haproxy_down
  fi
}

status() {
  for entry in "${INSTANCES[@]}"; do
    read -r instance _ _ ready _ <<<"$entry"
    if alive "$instance" && curl -fsS "$ready" >/dev/null 2>&1; then echo "$instance  ready"; else echo "$instance  down"; fi
  done
  if [[ "$ACCORD_TOPOLOGY" == production ]]; then haproxy_status; fi
}

"${1:-status}"
