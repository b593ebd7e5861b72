#!/usr/bin/env bash
# Entry point of Accord's Kafka in the apache/kafka image: the default
# stack's single broker (docker-compose.yml `kafka`, the tests'
# testcontainers in test/setup/infrastructure.ts) and each node of the
# production profile's cluster (`kafka-1..3`). The broker configuration is
# infra/infra.sh's (infra/kafka/server-properties.sh); storage is formatted
# once with the SCRAM users listed in $KAFKA_SCRAM_ARGS_FILE (the output of
# `node infra/kafka/acls.ts scram-args`), then the broker runs in the
# foreground. The ACLs are applied afterwards by `node infra/kafka/acls.ts apply`.
#
# A single node formats with --standalone (a one-voter dynamic quorum); a
# cluster node is given KAFKA_CONTROLLER_QUORUM_VOTERS (a static quorum, as
# infra/production/kafka-cluster.sh passes it) and formats without it.
#
# Variables: CLUSTER_ID, KAFKA_SCRAM_ARGS_FILE, KAFKA_ADMIN_PASSWORD,
# KAFKA_CONTROLLER_PASSWORD, and those of server-properties.sh
# (KAFKA_NODE_ID, KAFKA_CONTROLLER_QUORUM_VOTERS, KAFKA_REPLICATION_FACTOR,
# KAFKA_MIN_INSYNC_REPLICAS, KAFKA_LISTEN_HOST, KAFKA_ADVERTISED_HOST,
# KAFKA_PORT, KAFKA_CONTROLLER_PORT, KAFKA_LOG_DIR).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
: "${CLUSTER_ID:?}" "${KAFKA_SCRAM_ARGS_FILE:?}" "${KAFKA_ADMIN_PASSWORD:?}"
export KAFKA_LOG_DIR="${KAFKA_LOG_DIR:-/var/lib/kafka/data}"
KAFKA_HOME="${KAFKA_HOME:-/opt/kafka}"
conf="/tmp/accord-server-${KAFKA_NODE_ID:-1}.properties"

(umask 077 && bash "$here/server-properties.sh" >"$conf")
# For the healthcheck: kafka-broker-api-versions.sh --command-config /tmp/accord-admin.properties
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
  ((${#scram[@]})) || { echo "container-start.sh: no SCRAM users in $KAFKA_SCRAM_ARGS_FILE" >&2; exit 1; }
  quorum=(--standalone)
  [[ -n "${KAFKA_CONTROLLER_QUORUM_VOTERS:-}" ]] && quorum=()
  "$KAFKA_HOME/bin/kafka-storage.sh" format "${quorum[@]}" -t "$CLUSTER_ID" -c "$conf" "${scram[@]}"
fi
exec "$KAFKA_HOME/bin/kafka-server-start.sh" "$conf"
