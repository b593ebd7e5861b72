# shellcheck shell=bash
# The production topology's Kafka: three KRaft nodes, each broker and
# controller in one process (process.roles=broker,controller), node ids 1..3,
# a static controller quorum of the three. Node n's client listener is
# KAFKA_PORT + 2(n-1), its controller listener KAFKA_CONTROLLER_PORT + 2(n-1)
# (19092/19093, 19094/19095, 19096/19097 with infra/env.sh's defaults).
# The same SASL/SCRAM listeners and ACLs as the development broker
# (infra/kafka/server-properties.sh), with replication factor 3 for every
# topic (the internal ones too), min.insync.replicas 2 and no unclean leader
# election: an acks=all write survives one node lost and is refused, not
# acknowledged, with two lost.
#
# Sourced by infra/infra.sh when ACCORD_TOPOLOGY=production; it redefines
# kafka_up, kafka_down, kafka_status and kafka_bootstrap. kafka_install stays
# the development one (the same jars). Data in $DATA/kafka-cluster/broker-N,
# logs $LOGS/kafka-broker-N.log, pids $RUN/kafka-broker-N.pid.

KAFKA_CLUSTER_NODES=(1 2 3)
KAFKA_CLUSTER_DIR="$DATA/kafka-cluster"
# A modest heap per node: three of them share the machine with everything else.
KAFKA_BROKER_HEAP="${KAFKA_BROKER_HEAP:--Xms256m -Xmx512m}"
# StorageTool's --add-scram arguments, listed once per `up` (only formatting needs them).
KAFKA_SCRAM_ARGS=()

kafka_broker_port() { echo $((KAFKA_PORT + 2 * ($1 - 1))); }
kafka_controller_port() { echo $((KAFKA_CONTROLLER_PORT + 2 * ($1 - 1))); }
kafka_broker_pidfile() { echo "$RUN/kafka-broker-$1.pid"; }
kafka_broker_log() { echo "$LOGS/kafka-broker-$1.log"; }

# True while node n's process runs. Not pidfile_alive alone: a kill -9'd JVM
# stays a zombie (kill -0 succeeds) until it is reaped, which can take a while.
kafka_broker_running() {
  local pidfile state
  pidfile="$(kafka_broker_pidfile "$1")"
  pidfile_alive "$pidfile" || return 1
  state="$(sed -E 's/.*\) (.).*/\1/' "/proc/$(cat "$pidfile")/stat" 2>/dev/null)" || return 1
  [[ -n "$state" && "$state" != Z ]]
}

# host:port of every node's client listener, comma-separated (what KAFKA_BROKERS lists).
kafka_bootstrap() {
  local n list=()
  for n in "${KAFKA_CLUSTER_NODES[@]}"; do list+=("$KAFKA_HOST:$(kafka_broker_port "$n")"); done
  local IFS=,
  echo "${list[*]}"
}

# id@127.0.0.1:port of every node's controller listener: the static quorum.
kafka_quorum_voters() {
  local n list=()
  for n in "${KAFKA_CLUSTER_NODES[@]}"; do list+=("$n@127.0.0.1:$(kafka_controller_port "$n")"); done
  local IFS=,
  echo "${list[*]}"
}

# Node 24 on infra/production/kafka/cluster.ts (what the cluster says about itself).
kafka_cluster_node() {
  local node
  node="$(command -v node || true)"
  if [[ -z "$node" || "$("$node" -p 'process.versions.node.split(".")[0]' 2>/dev/null)" != 24 ]]; then
    node="$ACCORD_HOME/cache/node24/bin/node"
  fi
  [[ -x "$node" ]] || return 1
  KAFKA_BROKERS="$(kafka_bootstrap)" "$node" "$ROOT/infra/production/kafka/cluster.ts" "$@"
}

# The cluster id every node is formatted with: made once and kept beside the
# nodes' data; taken from a formatted node when the file is gone.
kafka_cluster_id() {
  local file="$KAFKA_CLUSTER_DIR/cluster-id" meta
  if [[ ! -s "$file" ]]; then
    mkdir -p "$KAFKA_CLUSTER_DIR"
    meta="$(cat "$KAFKA_CLUSTER_DIR"/broker-*/logs/meta.properties 2>/dev/null | sed -n 's/^cluster\.id=//p' | head -n 1 || true)"
    [[ -n "$meta" ]] || meta="$(tr -d - </proc/sys/kernel/random/uuid | head -c 22)"
    echo "$meta" >"$file"
  fi
  cat "$file"
}

# Writes node n's server.properties and formats its storage on first use.
# A lost broker is fenced after 3 s without heartbeats (Kafka's default: 9 s),
# so its partitions' leaders move within the 5 s the confirmations may pause.
kafka_broker_prepare() {
  local n="$1" dir="$KAFKA_CLUSTER_DIR/broker-$1"
  local conf="$dir/server.properties"
  # Worked out first: the assignments below would otherwise see the node's own ports.
  local port controller_port voters
  port="$(kafka_broker_port "$n")" controller_port="$(kafka_controller_port "$n")" voters="$(kafka_quorum_voters)"
  mkdir -p "$dir/logs"
  (umask 077 && KAFKA_NODE_ID="$n" KAFKA_PORT="$port" KAFKA_CONTROLLER_PORT="$controller_port" \
    KAFKA_CONTROLLER_QUORUM_VOTERS="$voters" KAFKA_REPLICATION_FACTOR=3 KAFKA_MIN_INSYNC_REPLICAS=2 \
    KAFKA_BROKER_SESSION_TIMEOUT_MS=3000 KAFKA_BROKER_HEARTBEAT_INTERVAL_MS=750 \
    KAFKA_LOG_DIR="$dir/logs" KAFKA_ADMIN_PASSWORD="$(kafka_password admin)" \
    KAFKA_CONTROLLER_PASSWORD="$(kafka_password controller)" \
    bash "$ROOT/infra/kafka/server-properties.sh" >"$conf") || die "kafka: could not write $conf"
  [[ -f "$dir/logs/meta.properties" ]] && return 0
  # Every node gets the SCRAM users: whichever controller is elected first
  # writes its bootstrap records into the metadata log.
  say "kafka: formatting node $n's KRaft storage in $dir/logs (cluster $(kafka_cluster_id)), with the SCRAM users of infra/kafka/acl-table.ts"
  if ((${#KAFKA_SCRAM_ARGS[@]} == 0)); then
    local lines line
    lines="$(kafka_node scram-args)" || die "kafka: could not list the SCRAM users (infra/kafka/acls.ts scram-args)"
    while IFS= read -r line; do [[ -n "$line" ]] && KAFKA_SCRAM_ARGS+=(--add-scram "$line"); done <<<"$lines"
  fi
  # A static quorum (controller.quorum.voters): no --standalone, no --initial-controllers.
  kafka_java kafka.tools.StorageTool format -t "$(kafka_cluster_id)" -c "$conf" "${KAFKA_SCRAM_ARGS[@]}" \
    >"$LOGS/kafka-broker-$n-format.log" 2>&1 || die "kafka: storage format of node $n failed; see $LOGS/kafka-broker-$n-format.log"
}

kafka_broker_start() {
  local n="$1" conf="$KAFKA_CLUSTER_DIR/broker-$1/server.properties"
  say "kafka: starting node $n on $KAFKA_HOST:$(kafka_broker_port "$n") (controller :$(kafka_controller_port "$n"))"
  # kafka_java's own heap flags come first; the JVM takes the last -Xms/-Xmx.
  # shellcheck disable=SC2086
  exec_prefix="exec setsid nohup" kafka_java $KAFKA_BROKER_HEAP kafka.Kafka "$conf" \
    >"$(kafka_broker_log "$n")" 2>&1 </dev/null &
  echo $! >"$(kafka_broker_pidfile "$n")"
}

# True once the cluster's metadata lists every node as a live broker.
kafka_cluster_complete() { [[ "$(kafka_cluster_node brokers 2>/dev/null)" == "${KAFKA_CLUSTER_NODES[*]}" ]]; }

kafka_up() {
  local n starting=() dead=()
  for n in "${KAFKA_CLUSTER_NODES[@]}"; do
    if port_open "$KAFKA_HOST" "$(kafka_broker_port "$n")"; then
      say "kafka: reusing node $n on $KAFKA_HOST:$(kafka_broker_port "$n")"
    elif kafka_broker_running "$n"; then
      say "kafka: node $n (pid $(cat "$(kafka_broker_pidfile "$n")")) is still starting; waiting for it"
      starting+=("$n")
    else
      port_open 127.0.0.1 "$(kafka_controller_port "$n")" &&
        die "kafka: port 127.0.0.1:$(kafka_controller_port "$n") (node $n's controller) is taken by another process; stop it or set KAFKA_CONTROLLER_PORT"
      dead+=("$n")
    fi
  done
  if ((${#dead[@]})); then
    command -v java >/dev/null || apt_install openjdk-17-jre-headless
    kafka_install
    for n in "${dead[@]}"; do kafka_broker_prepare "$n"; done
    # Started together: a node that finds no quorum within
    # initial.broker.registration.timeout.ms (60 s) gives up.
    for n in "${dead[@]}"; do kafka_broker_start "$n"; done
    starting+=("${dead[@]}")
  fi
  # A node that rejoins loads every partition's log before it listens: under
  # load, with a few hundred partitions, that took 135 s. The wait ends at
  # once if the process dies, so a long limit only lets a slow node finish.
  for n in "${starting[@]}"; do
    wait_for "kafka node $n" "${KAFKA_NODE_START_TIMEOUT_S:-300}" "$(kafka_broker_log "$n")" "$(kafka_broker_pidfile "$n")" \
      port_open "$KAFKA_HOST" "$(kafka_broker_port "$n")"
  done
  kafka_provision
  wait_for "kafka cluster (all of nodes ${KAFKA_CLUSTER_NODES[*]} live)" 60 "$(kafka_broker_log 1)" - kafka_cluster_complete
  say "kafka: cluster of nodes ${KAFKA_CLUSTER_NODES[*]} up on $(kafka_bootstrap)"
}

# Stops every node at once: one by one, the last would wait for a quorum
# that is already gone before it gave up its leaderships.
kafka_down() {
  local n pid pids=()
  for n in "${KAFKA_CLUSTER_NODES[@]}"; do
    if kafka_broker_running "$n"; then
      pid="$(cat "$(kafka_broker_pidfile "$n")")"
      say "stopping kafka node $n (pid $pid)"
      kill "$pid" 2>/dev/null || true
      pids+=("$pid")
    fi
  done
  local deadline=$((SECONDS + 60))
  for pid in "${pids[@]}"; do
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
  done
  for n in "${KAFKA_CLUSTER_NODES[@]}"; do rm -f "$(kafka_broker_pidfile "$n")"; done
}

kafka_status() {
  local n port
  for n in "${KAFKA_CLUSTER_NODES[@]}"; do
    port="$(kafka_broker_port "$n")"
    if port_open "$KAFKA_HOST" "$port"; then
      echo "kafka-$n   up    $KAFKA_HOST:$port (controller :$(kafka_controller_port "$n"))"
    else
      echo "kafka-$n   down  $KAFKA_HOST:$port"
    fi
  done
  local live under
  if live="$(kafka_cluster_node brokers 2>/dev/null)"; then
    under="$(kafka_cluster_node under-replicated 2>/dev/null | wc -l)"
    echo "kafka     live brokers: ${live:-none}; under-replicated partitions: $under"
  fi
}
