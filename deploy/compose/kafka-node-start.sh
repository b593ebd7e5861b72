#!/usr/bin/env bash
# One node of the production profile's Kafka cluster (docker-compose.yml,
# kafka-1..3) in the apache/kafka image: the same broker configuration as
# the native production topology (infra/kafka/server-properties.sh with a
# node id, a static quorum of three controllers, replication factor 3 and
# min.insync.replicas 2, as infra/production/kafka-cluster.sh passes it),
# storage formatted once with the SCRAM users in $KAFKA_SCRAM_ARGS_FILE,
# then the broker in the foreground. The three nodes share one network
# namespace (kafka-1's), so their controllers talk over loopback as natively.
# No --standalone here (unlike infra/kafka/container-start.sh): the quorum is
# the static controller.quorum.voters list.
set -euo pipefail
: "${KAFKA_NODE_ID:?}" "${CLUSTER_ID:?}" "${KAFKA_SCRAM_ARGS_FILE:?}" "${KAFKA_ADMIN_PASSWORD:?}"
KAFKA_HOME="${KAFKA_HOME:-/opt/kafka}"
conf="/tmp/accord-server-$KAFKA_NODE_ID.properties"

(umask 077 && bash /accord-kafka/server-properties.sh >"$conf")
# For the healthcheck (kafka-broker-api-versions.sh --command-config).
(umask 077 && cat >/tmp/accord-admin.properties <<PROPS
security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-256
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$KAFKA_ADMIN_PASSWORD";
PROPS
)

if [[ ! -f "$KAFKA_LOG_DIR/meta.properties" ]]; then
  scram=()
  while IFS= read -r line; do
    [[ -n "$line" ]] && scram+=(--add-scram "$line")
  done <"$KAFKA_SCRAM_ARGS_FILE"
  ((${#scram[@]})) || { echo "kafka-node-start.sh: no SCRAM users in $KAFKA_SCRAM_ARGS_FILE" >&2; exit 1; }
  "$KAFKA_HOME/bin/kafka-storage.sh" format -t "$CLUSTER_ID" -c "$conf" "${scram[@]}"
fi
exec "$KAFKA_HOME/bin/kafka-server-start.sh" "$conf"
