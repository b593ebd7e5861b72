#!/usr/bin/env bash
# `npm start`: everything from nothing. Installs Node 24 and the npm packages,
# obtains and starts PostgreSQL, RabbitMQ, Kafka and Temporal (reusing running
# ones), generates code, migrates, starts the services and sends a sample order.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
export_client_addresses
cd "$ROOT"
bash infra/infra.sh up
echo "[start] buf generate"
buf generate
# The operations console's browser app (services/console serves it).
echo "[start] building the console web app (vite build services/console/web)"
vite build services/console/web --logLevel warn
tsx scripts/migrate.ts
bash scripts/services.sh start
tsx scripts/demo.ts
cat <<MSG

Accord is running. Logs: $ACCORD_HOME/logs. Try (as the demo customer alice; every call needs a token, see the README's Identity section):
  npm run accord -- list
  npm run accord -- watch <order-id>
Operations console:   http://${CONSOLE_HOST:-127.0.0.1}:${CONSOLE_PORT:-8099}/  (log in as olivia / olivia)
Metrics (Prometheus): http://${PROMETHEUS_HOST:-127.0.0.1}:${PROMETHEUS_PORT:-9090}
Traces (Zipkin):      http://${ZIPKIN_HOST:-127.0.0.1}:${ZIPKIN_PORT:-9411}/zipkin/
Run the tests with: npm test        Stop everything with: npm run stop
MSG
if [[ "$ACCORD_TOPOLOGY" == production ]]; then
  cat <<MSG
Production topology: Kafka ${KAFKA_BROKERS}, Temporal ${TEMPORAL_ADDRESS} (UI http://${TEMPORAL_HOST}:${TEMPORAL_UI_PORT}),
two replicas of each service behind HAProxy (stats http://127.0.0.1:8404/stats). Stop with: ACCORD_TOPOLOGY=production npm run stop
MSG
fi
