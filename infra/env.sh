# shellcheck shell=bash
# Defaults for every port and credential; any of them can be set in the
# environment first. Sourced by infra/infra.sh and scripts/*.sh.
ACCORD_ROOT="${ACCORD_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
export ACCORD_HOME="${ACCORD_HOME:-$ACCORD_ROOT/.accord}"

export PGHOST="${PGHOST:-127.0.0.1}"
export PGPORT="${PGPORT:-5432}"
export PGUSER="${PGUSER:-accord}"
export PGPASSWORD="${PGPASSWORD:-accord}"

export RABBITMQ_HOST="${RABBITMQ_HOST:-127.0.0.1}"
export RABBITMQ_PORT="${RABBITMQ_PORT:-5672}"
export RABBITMQ_MANAGEMENT_PORT="${RABBITMQ_MANAGEMENT_PORT:-15672}"
# Erlang distribution (rabbitmqctl talks to the node through it); keep it below
# the kernel's ephemeral port range so an outgoing connection cannot take it.
export RABBITMQ_DIST_PORT="${RABBITMQ_DIST_PORT:-25672}"
export RABBITMQ_USER="${RABBITMQ_USER:-accord}"
export RABBITMQ_PASSWORD="${RABBITMQ_PASSWORD:-accord}"

# The topology: "development" (the default: one Kafka broker, the Temporal dev
# server on SQLite, one process per service) or "production" (three KRaft
# brokers with replication factor 3, the Temporal server on PostgreSQL, two
# replicas of the services behind HAProxy; see docs/adr/0021). The production
# infrastructure has ports of its own, so both stacks can run side by side.
export ACCORD_TOPOLOGY="${ACCORD_TOPOLOGY:-development}"
# A shell (or a parent process) that sourced this file for the other topology
# exported that topology's Kafka and Temporal addresses; they must not carry over.
if [[ -n "${ACCORD_ENV_TOPOLOGY:-}" && "$ACCORD_ENV_TOPOLOGY" != "$ACCORD_TOPOLOGY" ]]; then
  unset KAFKA_PORT KAFKA_CONTROLLER_PORT KAFKA_BROKERS TEMPORAL_PORT TEMPORAL_UI_PORT TEMPORAL_ADDRESS
fi
export ACCORD_ENV_TOPOLOGY="$ACCORD_TOPOLOGY"
case "$ACCORD_TOPOLOGY" in
  development) ;;
  production)
    export KAFKA_PORT="${KAFKA_PORT:-19092}"
    export KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-19093}"
    # Broker n (1..3) listens on KAFKA_PORT + 2(n-1), its controller on the port after.
    export KAFKA_BROKERS="${KAFKA_BROKERS:-127.0.0.1:19092,127.0.0.1:19094,127.0.0.1:19096}"
    export TEMPORAL_PORT="${TEMPORAL_PORT:-7333}"
    export TEMPORAL_UI_PORT="${TEMPORAL_UI_PORT:-8333}"
    ;;
  *)
    echo "ACCORD_TOPOLOGY must be development or production, not '$ACCORD_TOPOLOGY'" >&2
    return 1 2>/dev/null || exit 1
    ;;
esac

export KAFKA_HOST="${KAFKA_HOST:-127.0.0.1}"
export KAFKA_PORT="${KAFKA_PORT:-9092}"
export KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
export KAFKA_VERSION="${KAFKA_VERSION:-4.1.1}"
# Kafka authenticates every client (SASL/SCRAM-SHA-256) and authorizes it by
# the ACL table in infra/kafka/acl-table.ts; one user per service and tool,
# plus admin (the super user). Dev passwords follow one convention:
# "dev-kafka-<user>", unless KAFKA_PASSWORD_<USER> is set (upper case, - as _).
# Production sets KAFKA_PASSWORD_<USER> for provisioning, and each process's
# KAFKA_USERNAME / KAFKA_PASSWORD, from the secret store. The Node side's
# twin is kafkaPasswordFor in lib/messaging/kafka.ts.
kafka_password() {
  local var="KAFKA_PASSWORD_${1^^}"
  var="${var//[^A-Z0-9_]/_}"
  printf '%s' "${!var:-dev-kafka-$1}"
}

export TEMPORAL_HOST="${TEMPORAL_HOST:-127.0.0.1}"
export TEMPORAL_PORT="${TEMPORAL_PORT:-7233}"
export TEMPORAL_UI_PORT="${TEMPORAL_UI_PORT:-8233}"
export TEMPORAL_NAMESPACE="${TEMPORAL_NAMESPACE:-default}"
export TEMPORAL_CLI_VERSION="${TEMPORAL_CLI_VERSION:-v1.5.1}"
# The Temporal server of the production topology (infra/production/temporal-server.sh):
# the newest release whose go.mod asks for no newer Go than this machine's 1.26.8.
export TEMPORAL_SERVER_VERSION="${TEMPORAL_SERVER_VERSION:-v1.32.1}"
# The Go runtime of both Temporal servers: collect at 4x the live heap instead
# of Go's 2x, under a soft 1 GiB limit. The dev server's GC marking fell from
# 7 % to 2 % of its samples and its CPU per order by about 10 % (ADR 0025).
export TEMPORAL_GOGC="${TEMPORAL_GOGC:-400}"
export TEMPORAL_GOMEMLIMIT="${TEMPORAL_GOMEMLIMIT:-1GiB}"

# Keycloak, the identity provider (OIDC issuer of every token the services
# accept). Realm as code: infra/keycloak/accord-realm.json.
export KEYCLOAK_HOST="${KEYCLOAK_HOST:-127.0.0.1}"
export KEYCLOAK_PORT="${KEYCLOAK_PORT:-8180}"
export KEYCLOAK_MANAGEMENT_PORT="${KEYCLOAK_MANAGEMENT_PORT:-9180}"
export KEYCLOAK_VERSION="${KEYCLOAK_VERSION:-26.7.3}"
export KEYCLOAK_REALM="${KEYCLOAK_REALM:-accord}"

# Zipkin, the tracing backend (UI at /zipkin/), and Prometheus, which scrapes
# every process's /metrics (infra/prometheus/prometheus.yml).
export ZIPKIN_HOST="${ZIPKIN_HOST:-127.0.0.1}"
export ZIPKIN_PORT="${ZIPKIN_PORT:-9411}"
export ZIPKIN_VERSION="${ZIPKIN_VERSION:-3.6.1}"
export PROMETHEUS_HOST="${PROMETHEUS_HOST:-127.0.0.1}"
export PROMETHEUS_PORT="${PROMETHEUS_PORT:-9090}"

# The operations console (services/console): the web app and its same-origin
# front door for the browser. The realm's accord-console client allows
# redirects to this port only (infra/keycloak/accord-realm.json).
export CONSOLE_HOST="${CONSOLE_HOST:-127.0.0.1}"
export CONSOLE_PORT="${CONSOLE_PORT:-8099}"

# Client-side addresses derived from the ports above, for the services and
# scripts (not for the tests, whose setup derives them itself: see
# test/setup/infrastructure.ts). Call after sourcing this file.
export_client_addresses() {
  export KAFKA_BROKERS="${KAFKA_BROKERS:-$KAFKA_HOST:$KAFKA_PORT}"
  export AMQP_URL="${AMQP_URL:-amqp://$RABBITMQ_USER:$RABBITMQ_PASSWORD@$RABBITMQ_HOST:$RABBITMQ_PORT}"
  export TEMPORAL_ADDRESS="${TEMPORAL_ADDRESS:-$TEMPORAL_HOST:$TEMPORAL_PORT}"
  export OIDC_ISSUER="${OIDC_ISSUER:-http://$KEYCLOAK_HOST:$KEYCLOAK_PORT/realms/$KEYCLOAK_REALM}"
}
