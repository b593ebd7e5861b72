#!/usr/bin/env bash
# Prints Accord's Kafka broker configuration (one KRaft node, broker and
# controller in one process) for infra/infra.sh and the containers
# (infra/kafka/container-start.sh: docker-compose.yml, the tests' testcontainers).
#
#   client listener  CLIENT      SASL_PLAINTEXT, SCRAM-SHA-256; also the inter-broker listener (as admin)
#   controller       CONTROLLER  SASL_PLAINTEXT, PLAIN (JAAS user "controller"), loopback only
#   authorizer       StandardAuthorizer, allow.everyone.if.no.acl.found=false,
#                    super.users admin (client listener) and controller (controller listener)
#
# Every grant beyond the super users is in infra/kafka/acl-table.ts.
# Variables: KAFKA_LISTEN_HOST (default KAFKA_HOST), KAFKA_ADVERTISED_HOST
# (default KAFKA_HOST), KAFKA_PORT, KAFKA_CONTROLLER_PORT, KAFKA_LOG_DIR,
# KAFKA_ADMIN_PASSWORD, KAFKA_CONTROLLER_PASSWORD (no quotes in them).
# A node of a cluster (infra/production/kafka-cluster.sh) also sets
# KAFKA_NODE_ID (default 1), KAFKA_CONTROLLER_QUORUM_VOTERS (id@host:port,...:
# a static quorum; unset, the node is a quorum of its own, formatted
# --standalone), KAFKA_REPLICATION_FACTOR and KAFKA_MIN_INSYNC_REPLICAS
# (default 1 each: every topic, the internal ones included), and
# KAFKA_BROKER_SESSION_TIMEOUT_MS / KAFKA_BROKER_HEARTBEAT_INTERVAL_MS: how soon
# the controllers fence a broker that stopped heartbeating, so its partitions
# get new leaders (Kafka's defaults, 9000 / 2000 ms, unless set).
set -euo pipefail

: "${KAFKA_HOST:=127.0.0.1}" "${KAFKA_PORT:=9092}" "${KAFKA_CONTROLLER_PORT:=9093}"
: "${KAFKA_LOG_DIR:?}" "${KAFKA_ADMIN_PASSWORD:?}" "${KAFKA_CONTROLLER_PASSWORD:?}"
: "${KAFKA_NODE_ID:=1}" "${KAFKA_REPLICATION_FACTOR:=1}" "${KAFKA_MIN_INSYNC_REPLICAS:=1}"
: "${KAFKA_BROKER_SESSION_TIMEOUT_MS:=9000}" "${KAFKA_BROKER_HEARTBEAT_INTERVAL_MS:=2000}"
if [[ -n "${KAFKA_CONTROLLER_QUORUM_VOTERS:-}" ]]; then
  quorum="controller.quorum.voters=$KAFKA_CONTROLLER_QUORUM_VOTERS"
else
  quorum="controller.quorum.bootstrap.servers=127.0.0.1:$KAFKA_CONTROLLER_PORT"
fi
listen_host="${KAFKA_LISTEN_HOST:-$KAFKA_HOST}"
advertised_host="${KAFKA_ADVERTISED_HOST:-$KAFKA_HOST}"
for p in "$KAFKA_ADMIN_PASSWORD" "$KAFKA_CONTROLLER_PASSWORD"; do
  [[ "$p" != *'"'* && "$p" != *'\'* ]] || { echo "server-properties.sh: a Kafka password contains a quote or backslash" >&2; exit 1; }
done

cat <<CONF
process.roles=broker,controller
node.id=$KAFKA_NODE_ID
$quorum
listeners=CLIENT://$listen_host:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=CLIENT://$advertised_host:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=CLIENT
listener.security.protocol.map=CONTROLLER:SASL_PLAINTEXT,CLIENT:SASL_PLAINTEXT

# Client listener: SCRAM users (created at format time, see infra/kafka/acls.ts scram-args).
listener.name.client.sasl.enabled.mechanisms=SCRAM-SHA-256
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-256
listener.name.client.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$KAFKA_ADMIN_PASSWORD";

# Controller listener: PLAIN, its only user is the node itself.
sasl.mechanism.controller.protocol=PLAIN
listener.name.controller.sasl.enabled.mechanisms=PLAIN
listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="controller" password="$KAFKA_CONTROLLER_PASSWORD" user_controller="$KAFKA_CONTROLLER_PASSWORD";

authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:admin;User:controller

log.dirs=$KAFKA_LOG_DIR
num.partitions=3
# Replication: an acks=all write is refused while fewer than min.insync.replicas
# replicas are in sync, and a replica that fell behind never becomes leader.
default.replication.factor=$KAFKA_REPLICATION_FACTOR
min.insync.replicas=$KAFKA_MIN_INSYNC_REPLICAS
unclean.leader.election.enable=false
broker.session.timeout.ms=$KAFKA_BROKER_SESSION_TIMEOUT_MS
broker.heartbeat.interval.ms=$KAFKA_BROKER_HEARTBEAT_INTERVAL_MS
offsets.topic.replication.factor=$KAFKA_REPLICATION_FACTOR
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=$KAFKA_REPLICATION_FACTOR
transaction.state.log.min.isr=$KAFKA_MIN_INSYNC_REPLICAS
share.coordinator.state.topic.replication.factor=$KAFKA_REPLICATION_FACTOR
share.coordinator.state.topic.min.isr=$KAFKA_MIN_INSYNC_REPLICAS
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
CONF
