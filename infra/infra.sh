#!/usr/bin/env bash
# Starts, stops and reports the infrastructure Accord needs, without Docker:
# PostgreSQL and RabbitMQ from Debian packages, Kafka (KRaft) from its Maven
# Central jars, the Temporal CLI dev server built with `go install`, and
# Keycloak (the identity provider) from its Maven Central distribution,
# Zipkin (traces) from its Maven Central jar and Prometheus (metrics) from
# Debian's package.
# Idempotent: a service that already answers on its port is reused, caches are
# reused, and `up` only returns once every service really answers.
#
# usage: infra/infra.sh up|down|status [postgres|rabbitmq|kafka|temporal|keycloak|zipkin|prometheus ...]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=infra/env.sh
source "$ROOT/infra/env.sh"

CACHE="$ACCORD_HOME/cache"
DATA="$ACCORD_HOME/data"
LOGS="$ACCORD_HOME/logs"
RUN="$ACCORD_HOME/run"
mkdir -p "$CACHE" "$DATA" "$LOGS" "$RUN"

say() { printf '[infra] %s\n' "$*"; }
die() { printf '[infra] ERROR: %s\n' "$*" >&2; exit 1; }

# port_open HOST PORT: true when something accepts TCP connections there.
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# wait_for NAME SECONDS LOGFILE PIDFILE CHECK...: polls CHECK until it
# succeeds; gives up early when the process in PIDFILE ("-" for none) died.
wait_for() {
  local name="$1" secs="$2" log="$3" pidfile="$4"; shift 4
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if [[ "$pidfile" != - ]] && ! pidfile_alive "$pidfile"; then
      echo "----- last lines of $log -----" >&2
      tail -n 30 "$log" >&2 2>/dev/null || true
      die "$name exited while starting; its log is $log"
    fi
    if ((SECONDS >= deadline)); then
      echo "----- last lines of $log -----" >&2
      tail -n 30 "$log" >&2 2>/dev/null || true
      die "$name did not answer within ${secs}s; its log is $log"
    fi
    sleep 0.5
  done
}

apt_install() {
  # Installs Debian packages once; `apt-get update` only when a package is missing.
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  ((${#missing[@]} == 0)) && return 0
  [[ $EUID -eq 0 ]] || die "missing Debian packages: ${missing[*]}; install them with sudo apt-get install ${missing[*]}"
  say "installing ${missing[*]} (apt-get)"
  apt-get update -qq >"$LOGS/apt.log" 2>&1 || die "apt-get update failed; see $LOGS/apt.log"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >>"$LOGS/apt.log" 2>&1 ||
    die "apt-get install ${missing[*]} failed; see $LOGS/apt.log"
}

# as_user USER CMD...: runs CMD as USER when we are root (PostgreSQL refuses root).
as_user() {
  local user="$1"; shift
  if [[ $EUID -eq 0 ]]; then "$(command -v runuser || echo /usr/sbin/runuser)" -u "$user" -- "$@"; else "$@"; fi
}

pidfile_alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

stop_pidfile() {
  local name="$1" pidfile="$2"
  if pidfile_alive "$pidfile"; then
    local pid; pid="$(cat "$pidfile")"
    say "stopping $name (pid $pid)"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

# ---------------------------------------------------------------- PostgreSQL
pg_bin() {
  local dir
  for dir in /usr/lib/postgresql/*/bin; do [[ -x "$dir/pg_ctl" ]] && { echo "$dir"; return; }; done
  return 1
}

postgres_ready() { "$(pg_bin)/pg_isready" -q -h "$PGHOST" -p "$PGPORT"; }

postgres_up() {
  if port_open "$PGHOST" "$PGPORT"; then say "postgres: reusing the server on $PGHOST:$PGPORT"; return; fi
  pg_bin >/dev/null || apt_install postgresql
  local bin; bin="$(pg_bin)"
  local dir="$DATA/postgres" log="$LOGS/postgres.log"
  if [[ ! -f "$dir/PG_VERSION" ]]; then
    say "postgres: initialising a cluster in $dir"
    mkdir -p "$dir"
    local pwfile; pwfile="$(mktemp)"
    printf '%s\n' "$PGPASSWORD" >"$pwfile"
    if [[ $EUID -eq 0 ]]; then chown -R postgres:postgres "$dir" "$pwfile"; fi
    as_user postgres "$bin/initdb" -D "$dir" -U "$PGUSER" --pwfile="$pwfile" \
      --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$LOGS/initdb.log" 2>&1 ||
      { rm -f "$pwfile"; die "postgres: initdb failed; see $LOGS/initdb.log"; }
    rm -f "$pwfile"
  fi
  touch "$log"
  [[ $EUID -eq 0 ]] && chown postgres:postgres "$log"
  say "postgres: starting on $PGHOST:$PGPORT"
  as_user postgres "$bin/pg_ctl" -D "$dir" -l "$log" -w -t 60 start \
    -o "-c listen_addresses=$PGHOST -c port=$PGPORT -c unix_socket_directories=$dir -c max_connections=300 -c shared_buffers=256MB" \
    >>"$LOGS/pg_ctl.log" 2>&1 || true
  wait_for postgres 60 "$log" - postgres_ready
}

postgres_down() {
  local dir="$DATA/postgres"
  if [[ -f "$dir/postmaster.pid" ]]; then
    say "stopping postgres"
    as_user postgres "$(pg_bin)/pg_ctl" -D "$dir" -m fast -w stop >>"$LOGS/pg_ctl.log" 2>&1 || true
  fi
}

postgres_status() { postgres_ready && echo "postgres  up    $PGHOST:$PGPORT" || echo "postgres  down  $PGHOST:$PGPORT"; }

# ---------------------------------------------------------------- RabbitMQ
rabbit_env() {
  # The node name carries the port so two checkouts can run side by side on one epmd.
  export RABBITMQ_NODENAME="accord-$RABBITMQ_PORT@localhost"
  export RABBITMQ_NODE_IP_ADDRESS="$RABBITMQ_HOST"
  export RABBITMQ_NODE_PORT="$RABBITMQ_PORT"
  export RABBITMQ_DIST_PORT="$RABBITMQ_DIST_PORT"
  export RABBITMQ_MNESIA_BASE="$DATA/rabbitmq/mnesia"
  export RABBITMQ_LOG_BASE="$LOGS/rabbitmq"
  export RABBITMQ_ENABLED_PLUGINS_FILE="$DATA/rabbitmq/enabled_plugins"
  export RABBITMQ_CONFIG_FILE="$DATA/rabbitmq/rabbitmq"
  export RABBITMQ_PID_FILE="$RUN/rabbitmq.pid"
  export RABBITMQ_ADVANCED_CONFIG_FILE="$DATA/rabbitmq/advanced.config"
}

rabbit_ready() {
  curl -fsS -u "$RABBITMQ_USER:$RABBITMQ_PASSWORD" "http://$RABBITMQ_HOST:$RABBITMQ_MANAGEMENT_PORT/api/overview" >/dev/null
}

rabbitmq_up() {
  if port_open "$RABBITMQ_HOST" "$RABBITMQ_PORT"; then say "rabbitmq: reusing the broker on $RABBITMQ_HOST:$RABBITMQ_PORT"; return; fi
  [[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ]] || apt_install rabbitmq-server
  rabbit_env
  mkdir -p "$DATA/rabbitmq/mnesia" "$LOGS/rabbitmq"
  echo '[rabbitmq_management].' >"$RABBITMQ_ENABLED_PLUGINS_FILE"
  echo '[].' >"$RABBITMQ_ADVANCED_CONFIG_FILE"
  cat >"$RABBITMQ_CONFIG_FILE.conf" <<CONF
listeners.tcp.default = $RABBITMQ_HOST:$RABBITMQ_PORT
management.tcp.ip = $RABBITMQ_HOST
management.tcp.port = $RABBITMQ_MANAGEMENT_PORT
default_user = $RABBITMQ_USER
default_pass = $RABBITMQ_PASSWORD
loopback_users = none
log.console = false
log.file.level = warning
CONF
  local log="$LOGS/rabbitmq.out"
  say "rabbitmq: starting on $RABBITMQ_HOST:$RABBITMQ_PORT (management $RABBITMQ_MANAGEMENT_PORT)"
  # The wrapper in /usr/sbin switches to the rabbitmq user; the server script
  # itself runs as whoever calls it, which keeps data inside this checkout.
  setsid nohup /usr/lib/rabbitmq/bin/rabbitmq-server >"$log" 2>&1 </dev/null &
  echo $! >"$RUN/rabbitmq.launcher.pid"
  wait_for rabbitmq 120 "$log" "$RUN/rabbitmq.launcher.pid" rabbit_ready
}

rabbitmq_down() {
  if [[ -f "$RUN/rabbitmq.pid" ]] || [[ -f "$RUN/rabbitmq.launcher.pid" ]]; then
    rabbit_env
    say "stopping rabbitmq"
    /usr/lib/rabbitmq/bin/rabbitmqctl -n "$RABBITMQ_NODENAME" stop >>"$LOGS/rabbitmqctl.log" 2>&1 || true
    stop_pidfile rabbitmq "$RUN/rabbitmq.pid"
    stop_pidfile rabbitmq-launcher "$RUN/rabbitmq.launcher.pid"
  fi
}

rabbitmq_status() { rabbit_ready && echo "rabbitmq  up    $RABBITMQ_HOST:$RABBITMQ_PORT (management :$RABBITMQ_MANAGEMENT_PORT)" || echo "rabbitmq  down  $RABBITMQ_HOST:$RABBITMQ_PORT"; }

# ---------------------------------------------------------------- Kafka
# The cache folder is keyed by the pom's content, so editing it refetches.
kafka_libs() { echo "$CACHE/kafka-$KAFKA_VERSION-$(sha256sum "$ROOT/infra/kafka/pom.xml" | head -c 12)/libs"; }

kafka_install() {
  local libs; libs="$(kafka_libs)"
  [[ -f "$libs/.complete" ]] && return 0
  command -v mvn >/dev/null || apt_install maven
  say "kafka: fetching Apache Kafka $KAFKA_VERSION jars (Maven)"
  rm -rf "$libs"
  mvn -q -B -f "$ROOT/infra/kafka/pom.xml" -Dkafka.version="$KAFKA_VERSION" \
    dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$libs" >"$LOGS/kafka-mvn.log" 2>&1 ||
    die "kafka: fetching jars failed; see $LOGS/kafka-mvn.log"
  touch "$libs/.complete"
}

kafka_java() {
  exec_prefix=${exec_prefix:-}
  $exec_prefix java -Xms256m -Xmx768m -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$ROOT/infra/kafka/log4j2.yaml" \
    -cp "$(kafka_libs)/*" "$@"
}

# The brokers that provisioning talks to; the production cluster redefines it (all three).
kafka_bootstrap() { echo "$KAFKA_HOST:$KAFKA_PORT"; }

# Node 24 with the npm packages, for infra/kafka/acls.ts (users and ACLs as code).
kafka_node() {
  local node
  node="$(command -v node || true)"
  if [[ -z "$node" || "$("$node" -p 'process.versions.node.split(".")[0]' 2>/dev/null)" != 24 ]]; then
    node="$ACCORD_HOME/cache/node24/bin/node"
  fi
  [[ -x "$node" ]] || die "kafka: Node 24 is needed to provision Kafka's users and ACLs; run scripts/bootstrap.sh (npm start does)"
  [[ -d "$ROOT/node_modules/kafkajs" ]] || die "kafka: the npm packages are missing; run npm ci (npm start does)"
  KAFKA_BROKERS="$(kafka_bootstrap)" "$node" "$ROOT/infra/kafka/acls.ts" "$@"
}

# The broker's users and ACLs, on every `up` (also of a reused broker): the ACL
# table of infra/kafka/acl-table.ts is applied (missing ACLs created, unlisted
# ones of its principals deleted); a user that cannot log in with its password
# (added to the table after the data directory was formatted, or its
# KAFKA_PASSWORD_<USER> changed) is created or updated with ConfigCommand.
kafka_provision() {
  local log="$LOGS/kafka-provision.log"
  local summary missing
  summary="$(kafka_node apply 2>>"$log")" ||
    die "kafka: applying the ACLs as admin failed; see $log. A broker on $KAFKA_HOST:$KAFKA_PORT that is not Accord's SASL/SCRAM one (an older PLAINTEXT broker?) must be stopped first: bash infra/infra.sh down kafka"
  say "kafka: $summary"
  missing="$(kafka_node check-users 2>>"$log")" || die "kafka: checking the users' logins failed; see $log"
  [[ -z "$missing" ]] && return 0
  local props="$RUN/kafka-admin.properties" user
  (umask 077 && cat >"$props" <<PROPS
security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-256
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$(kafka_password admin)";
PROPS
  )
  for user in $missing; do
    say "kafka: setting the SCRAM credential of $user"
    kafka_java kafka.admin.ConfigCommand --bootstrap-server "$(kafka_bootstrap)" --command-config "$props" \
      --alter --entity-type users --entity-name "$user" \
      --add-config "SCRAM-SHA-256=[password=$(kafka_password "$user")]" >>"$log" 2>&1 ||
      { rm -f "$props"; die "kafka: could not set the credential of $user; see $log"; }
  done
  rm -f "$props"
  missing="$(kafka_node check-users 2>>"$log")" || die "kafka: checking the users' logins failed; see $log"
  [[ -z "$missing" ]] || die "kafka: these users still cannot log in: $missing; see $log"
}

kafka_up() {
  if port_open "$KAFKA_HOST" "$KAFKA_PORT"; then
    say "kafka: reusing the broker on $KAFKA_HOST:$KAFKA_PORT"
    kafka_provision
    return
  fi
  command -v java >/dev/null || apt_install openjdk-17-jre-headless
  kafka_install
  # SASL/SCRAM users live in the KRaft metadata written at format time, so the
  # SASL broker has a data directory of its own: the PLAINTEXT one of before
  # ($DATA/kafka) is never reused, nor this one by an older checkout.
  local dir="$DATA/kafka-scram" conf="$DATA/kafka-scram/server.properties" log="$LOGS/kafka.log"
  mkdir -p "$dir/logs"
  (umask 077 && KAFKA_LOG_DIR="$dir/logs" KAFKA_ADMIN_PASSWORD="$(kafka_password admin)" \
    KAFKA_CONTROLLER_PASSWORD="$(kafka_password controller)" bash "$ROOT/infra/kafka/server-properties.sh" >"$conf") ||
    die "kafka: could not write $conf"
  if [[ ! -f "$dir/logs/meta.properties" ]]; then
    say "kafka: formatting KRaft storage in $dir/logs, with the SCRAM users of infra/kafka/acl-table.ts"
    local lines scram=() line
    lines="$(kafka_node scram-args)" || die "kafka: could not list the SCRAM users (infra/kafka/acls.ts scram-args)"
    while IFS= read -r line; do [[ -n "$line" ]] && scram+=(--add-scram "$line"); done <<<"$lines"
    kafka_java kafka.tools.StorageTool format --standalone -t "$(cat /proc/sys/kernel/random/uuid | tr -d - | head -c 22)" \
      -c "$conf" "${scram[@]}" >"$LOGS/kafka-format.log" 2>&1 || die "kafka: storage format failed; see $LOGS/kafka-format.log"
  fi
  say "kafka: starting on $KAFKA_HOST:$KAFKA_PORT (SASL_PLAINTEXT, SCRAM-SHA-256, ACLs)"
  exec_prefix="exec setsid nohup" kafka_java kafka.Kafka "$conf" >"$log" 2>&1 </dev/null &
  echo $! >"$RUN/kafka.pid"
  wait_for kafka 90 "$log" "$RUN/kafka.pid" port_open "$KAFKA_HOST" "$KAFKA_PORT"
  kafka_provision
}

kafka_down() { stop_pidfile kafka "$RUN/kafka.pid"; }
kafka_status() { port_open "$KAFKA_HOST" "$KAFKA_PORT" && echo "kafka     up    $KAFKA_HOST:$KAFKA_PORT" || echo "kafka     down  $KAFKA_HOST:$KAFKA_PORT"; }

# ---------------------------------------------------------------- Temporal
temporal_bin() { echo "$CACHE/temporal-$TEMPORAL_CLI_VERSION/temporal"; }

temporal_install() {
  local bin; bin="$(temporal_bin)"
  [[ -x "$bin" ]] && return 0
  command -v go >/dev/null || die "temporal: Go is needed to build the Temporal CLI (go install); install Go 1.24+"
  say "temporal: building the Temporal CLI $TEMPORAL_CLI_VERSION with go install (a few minutes, once)"
  mkdir -p "$(dirname "$bin")"
  GOBIN="$(dirname "$bin")" go install "github.com/temporalio/cli/cmd/temporal@$TEMPORAL_CLI_VERSION" \
    >"$LOGS/temporal-build.log" 2>&1 || die "temporal: go install failed; see $LOGS/temporal-build.log"
}

temporal_ready() { "$(temporal_bin)" operator cluster health --address "$TEMPORAL_HOST:$TEMPORAL_PORT" >/dev/null 2>&1; }

temporal_up() {
  if port_open "$TEMPORAL_HOST" "$TEMPORAL_PORT"; then say "temporal: reusing the server on $TEMPORAL_HOST:$TEMPORAL_PORT"; return; fi
  temporal_install
  mkdir -p "$DATA/temporal"
  local log="$LOGS/temporal.log"
  say "temporal: starting the dev server on $TEMPORAL_HOST:$TEMPORAL_PORT (UI :$TEMPORAL_UI_PORT)"
  # A SQLite file keeps workflows across restarts of the dev server. WAL with
  # synchronous=normal still survives a process crash (only an OS crash can
  # lose the last transactions) and cuts the fsync per write that otherwise
  # bounds how many sagas per second the dev server takes.
  GOGC="$TEMPORAL_GOGC" GOMEMLIMIT="$TEMPORAL_GOMEMLIMIT" setsid nohup "$(temporal_bin)" server start-dev \
    --ip "$TEMPORAL_HOST" --port "$TEMPORAL_PORT" --ui-port "$TEMPORAL_UI_PORT" \
    --db-filename "$DATA/temporal/temporal.db" --namespace "$TEMPORAL_NAMESPACE" \
    --sqlite-pragma journal_mode=wal --sqlite-pragma synchronous=normal \
    --dynamic-config-value system.enableActivityEagerExecution=true \
    --dynamic-config-value matching.numTaskqueueReadPartitions=1 \
    --dynamic-config-value matching.numTaskqueueWritePartitions=1 \
    --log-level warn >"$log" 2>&1 </dev/null &
  echo $! >"$RUN/temporal.pid"
  wait_for temporal 90 "$log" "$RUN/temporal.pid" temporal_ready
}

temporal_down() { stop_pidfile temporal "$RUN/temporal.pid"; }
temporal_status() { port_open "$TEMPORAL_HOST" "$TEMPORAL_PORT" && echo "temporal  up    $TEMPORAL_HOST:$TEMPORAL_PORT (UI :$TEMPORAL_UI_PORT)" || echo "temporal  down  $TEMPORAL_HOST:$TEMPORAL_PORT"; }

# ---------------------------------------------------------------- Keycloak
# The identity provider: the Keycloak distribution from Maven Central, built
# once for PostgreSQL (`kc.sh build`) and started with `start --optimized`,
# the way a production server runs. Realm as code:
# infra/keycloak/accord-realm.json (dev-only secrets and demo users, see
# infra/keycloak/README.md). The bootstrap admin is admin/admin: DEV ONLY.
KEYCLOAK_BUILD_OPTS=(--db=postgres --health-enabled=true --metrics-enabled=true)
KEYCLOAK_DB=keycloak

keycloak_home() { echo "$CACHE/keycloak-$KEYCLOAK_VERSION"; }
keycloak_base() { echo "http://$KEYCLOAK_HOST:$KEYCLOAK_PORT"; }

keycloak_install() {
  local home; home="$(keycloak_home)"
  if [[ ! -f "$home/.complete" ]]; then
    command -v mvn >/dev/null || apt_install maven
    command -v unzip >/dev/null || apt_install unzip
    local dl="$CACHE/keycloak-$KEYCLOAK_VERSION.download"
    say "keycloak: fetching the Keycloak $KEYCLOAK_VERSION distribution (Maven)"
    rm -rf "$dl" "$home"
    mkdir -p "$dl"
    mvn -q -B dependency:copy -Dartifact="org.keycloak:keycloak-quarkus-dist:$KEYCLOAK_VERSION:zip" \
      -DoutputDirectory="$dl" >"$LOGS/keycloak-mvn.log" 2>&1 ||
      die "keycloak: fetching the distribution failed; see $LOGS/keycloak-mvn.log"
    unzip -q "$dl/keycloak-quarkus-dist-$KEYCLOAK_VERSION.zip" -d "$dl" >>"$LOGS/keycloak-mvn.log" 2>&1 ||
      die "keycloak: unpacking the distribution failed; see $LOGS/keycloak-mvn.log"
    mv "$dl/keycloak-$KEYCLOAK_VERSION" "$home"
    rm -rf "$dl"
    touch "$home/.complete"
  fi
  # `kc.sh build` bakes the build-time options into the distribution; the stamp
  # records them, so changing KEYCLOAK_BUILD_OPTS builds again.
  local stamp="$home/.build-options" opts="${KEYCLOAK_BUILD_OPTS[*]}"
  [[ -f "$stamp" && "$(cat "$stamp")" == "$opts" ]] && return 0
  [[ -n "${JAVA_HOME:-}" ]] || command -v java >/dev/null || apt_install openjdk-17-jre-headless
  say "keycloak: building the server once ($opts)"
  rm -f "$stamp"
  local t0=$SECONDS
  "$home/bin/kc.sh" build "${KEYCLOAK_BUILD_OPTS[@]}" >"$LOGS/keycloak-build.log" 2>&1 ||
    die "keycloak: kc.sh build failed; see $LOGS/keycloak-build.log"
  printf '%s\n' "$opts" >"$stamp"
  say "keycloak: built in $((SECONDS - t0))s"
}

keycloak_ready() {
  curl -fs -o /dev/null --max-time 5 "$(keycloak_base)/realms/$KEYCLOAK_REALM/.well-known/openid-configuration"
}

# keycloak_psql SQL: runs SQL against the maintenance database as $PGUSER.
keycloak_psql() {
  local psql; psql="$(command -v psql || echo "$(pg_bin)/psql")"
  "$psql" -X -q -v ON_ERROR_STOP=1 -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -d postgres -tAc "$1"
}

keycloak_realm_sha() { sha256sum "$ROOT/infra/keycloak/accord-realm.json" | cut -d' ' -f1; }

# --import-realm skips a realm that already exists, so the database is
# recreated (dev data only) whenever the realm file differs from the one it
# was imported from; the imported file's sha256 is kept in $DATA/keycloak.
keycloak_database() {
  local shafile="$DATA/keycloak/realm.sha256" recorded="" exists
  [[ -f "$shafile" ]] && recorded="$(cat "$shafile")"
  exists="$(keycloak_psql "SELECT 1 FROM pg_database WHERE datname = '$KEYCLOAK_DB'")" ||
    die "keycloak: cannot query PostgreSQL on $PGHOST:$PGPORT as $PGUSER"
  if [[ "$exists" == 1 && "$recorded" != "$(keycloak_realm_sha)" ]]; then
    say "keycloak: infra/keycloak/accord-realm.json differs from the realm in database $KEYCLOAK_DB; recreating the database (dev data only)"
    keycloak_psql "DROP DATABASE $KEYCLOAK_DB WITH (FORCE)" >/dev/null || die "keycloak: dropping database $KEYCLOAK_DB failed"
    exists=""
  fi
  if [[ "$exists" != 1 ]]; then
    rm -f "$shafile"
    say "keycloak: creating database $KEYCLOAK_DB"
    keycloak_psql "CREATE DATABASE $KEYCLOAK_DB" >/dev/null || die "keycloak: creating database $KEYCLOAK_DB failed"
  fi
}

keycloak_up() {
  local base home pidfile="$RUN/keycloak.pid" log="$LOGS/keycloak.log" shafile="$DATA/keycloak/realm.sha256"
  base="$(keycloak_base)"; home="$(keycloak_home)"
  if keycloak_ready; then
    say "keycloak: reusing the server on $base (realm $KEYCLOAK_REALM)"
    if [[ -f "$shafile" && "$(cat "$shafile")" != "$(keycloak_realm_sha)" ]]; then
      say "keycloak: note: the realm file changed since this server imported it; 'infra.sh down keycloak && infra.sh up keycloak' re-imports it"
    fi
    return
  fi
  if pidfile_alive "$pidfile"; then
    say "keycloak: pid $(cat "$pidfile") is still starting; waiting for it"
    wait_for keycloak 180 "$log" "$pidfile" keycloak_ready
    return
  fi
  port_open "$KEYCLOAK_HOST" "$KEYCLOAK_PORT" &&
    die "keycloak: something listens on $KEYCLOAK_HOST:$KEYCLOAK_PORT but does not serve $base/realms/$KEYCLOAK_REALM/.well-known/openid-configuration; stop it or set KEYCLOAK_PORT"
  port_open "$KEYCLOAK_HOST" "$KEYCLOAK_MANAGEMENT_PORT" &&
    die "keycloak: port $KEYCLOAK_HOST:$KEYCLOAK_MANAGEMENT_PORT (management) is taken by another process; stop it or set KEYCLOAK_MANAGEMENT_PORT"
  # Keycloak keeps everything in PostgreSQL: start (or reuse) it first.
  postgres_ready || postgres_up
  keycloak_install
  keycloak_database
  mkdir -p "$home/data/import" "$DATA/keycloak"
  rm -f "$home/data/import/"*.json
  cp "$ROOT/infra/keycloak/accord-realm.json" "$home/data/import/accord-realm.json"
  say "keycloak: starting on $base (realm $KEYCLOAK_REALM, management :$KEYCLOAK_MANAGEMENT_PORT)"
  local t0=$SECONDS
  # Secrets go through the environment, not the command line (ps shows that).
  # The fixed --hostname makes the issuer $base/realms/<realm> whatever host
  # name a client used; --cache=local: one node, no cluster discovery.
  KC_BOOTSTRAP_ADMIN_USERNAME=admin KC_BOOTSTRAP_ADMIN_PASSWORD=admin \
    KC_DB_URL="jdbc:postgresql://$PGHOST:$PGPORT/$KEYCLOAK_DB" KC_DB_USERNAME="$PGUSER" KC_DB_PASSWORD="$PGPASSWORD" \
    JAVA_OPTS_KC_HEAP="${JAVA_OPTS_KC_HEAP:--Xms128m -Xmx512m}" \
    setsid nohup "$home/bin/kc.sh" start --optimized \
    --http-enabled=true --http-host="$KEYCLOAK_HOST" --http-port="$KEYCLOAK_PORT" \
    --http-management-port="$KEYCLOAK_MANAGEMENT_PORT" --hostname="$base" \
    --cache=local --import-realm --log-console-color=false >"$log" 2>&1 </dev/null &
  echo $! >"$pidfile"
  wait_for keycloak 180 "$log" "$pidfile" keycloak_ready
  sha256sum "$home/data/import/accord-realm.json" | cut -d' ' -f1 >"$shafile"
  say "keycloak: ready in $((SECONDS - t0))s"
}

keycloak_down() { stop_pidfile keycloak "$RUN/keycloak.pid"; }
keycloak_status() { keycloak_ready && echo "keycloak  up    $KEYCLOAK_HOST:$KEYCLOAK_PORT (realm $KEYCLOAK_REALM, management :$KEYCLOAK_MANAGEMENT_PORT)" || echo "keycloak  down  $KEYCLOAK_HOST:$KEYCLOAK_PORT"; }

# ---------------------------------------------------------------- Zipkin
# The tracing backend: Zipkin's self-contained server (the `exec` jar from
# Maven Central, web UI included), in-memory storage: traces are for looking
# at now, not for keeping.
zipkin_jar() { echo "$CACHE/zipkin-$ZIPKIN_VERSION/zipkin-server-$ZIPKIN_VERSION-exec.jar"; }

zipkin_install() {
  local jar; jar="$(zipkin_jar)"
  [[ -f "$jar" ]] && return 0
  command -v mvn >/dev/null || apt_install maven
  say "zipkin: fetching zipkin-server $ZIPKIN_VERSION (Maven)"
  local dl="$CACHE/zipkin-$ZIPKIN_VERSION.download"
  rm -rf "$dl"
  mvn -q -B dependency:copy -Dartifact="io.zipkin:zipkin-server:$ZIPKIN_VERSION:jar:exec" \
    -DoutputDirectory="$dl" >"$LOGS/zipkin-mvn.log" 2>&1 || die "zipkin: fetching the jar failed; see $LOGS/zipkin-mvn.log"
  mkdir -p "$(dirname "$jar")"
  mv "$dl/zipkin-server-$ZIPKIN_VERSION-exec.jar" "$jar"
  rm -rf "$dl"
}

zipkin_ready() { curl -fs -o /dev/null --max-time 3 "http://$ZIPKIN_HOST:$ZIPKIN_PORT/health"; }

zipkin_up() {
  if zipkin_ready; then say "zipkin: reusing the server on $ZIPKIN_HOST:$ZIPKIN_PORT"; return; fi
  local pidfile="$RUN/zipkin.pid" log="$LOGS/zipkin.log"
  if pidfile_alive "$pidfile"; then
    say "zipkin: pid $(cat "$pidfile") is still starting; waiting for it"
    wait_for zipkin 180 "$log" "$pidfile" zipkin_ready
    return
  fi
  port_open "$ZIPKIN_HOST" "$ZIPKIN_PORT" &&
    die "zipkin: something listens on $ZIPKIN_HOST:$ZIPKIN_PORT but does not answer /health; stop it or set ZIPKIN_PORT"
  command -v java >/dev/null || apt_install openjdk-17-jre-headless
  zipkin_install
  say "zipkin: starting on $ZIPKIN_HOST:$ZIPKIN_PORT (in-memory storage, UI /zipkin/)"
  local t0=$SECONDS
  # Armeria binds to ARMERIA_PORT on every address unless told the host too.
  # In-memory storage keeps the newest MEM_MAX_SPANS spans: 50,000 (a few
  # thousand orders' traces) fit the heap; 200,000 filled it during a day of
  # tests and the server stopped answering.
  STORAGE_TYPE=mem MEM_MAX_SPANS="${ZIPKIN_MAX_SPANS:-50000}" QUERY_PORT="$ZIPKIN_PORT" \
    setsid nohup java -Xms64m -Xmx512m -XX:+UseSerialGC -Djava.awt.headless=true \
    -Darmeria.ports[0].ip="$ZIPKIN_HOST" -Darmeria.ports[0].port="$ZIPKIN_PORT" -Darmeria.ports[0].protocols=http \
    -jar "$(zipkin_jar)" >"$log" 2>&1 </dev/null &
  echo $! >"$pidfile"
  wait_for zipkin 180 "$log" "$pidfile" zipkin_ready
  say "zipkin: ready in $((SECONDS - t0))s (UI http://$ZIPKIN_HOST:$ZIPKIN_PORT/zipkin/)"
}

zipkin_down() { stop_pidfile zipkin "$RUN/zipkin.pid"; }
zipkin_status() { zipkin_ready && echo "zipkin    up    $ZIPKIN_HOST:$ZIPKIN_PORT (UI /zipkin/)" || echo "zipkin    down  $ZIPKIN_HOST:$ZIPKIN_PORT"; }

# ---------------------------------------------------------------- Prometheus
# Debian's prometheus binary run directly (not its service unit), with the
# committed configuration and rules in infra/prometheus and its data under
# .accord. Tests register the processes they start as file_sd targets in
# $RUN/prometheus-targets (see infra/prometheus/prometheus.yml).
prometheus_base() { echo "http://$PROMETHEUS_HOST:$PROMETHEUS_PORT"; }
prometheus_ready() { curl -fs -o /dev/null --max-time 3 "$(prometheus_base)/-/ready"; }

prometheus_install() {
  [[ -x /usr/bin/prometheus && -x /usr/bin/promtool ]] && return 0
  apt_install prometheus
  # On a machine with systemd the package starts its own unit on :9090 with
  # /etc/prometheus's config; Accord runs the binary itself, so that one goes.
  if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null; then
    systemctl disable --now prometheus >>"$LOGS/apt.log" 2>&1 || true
  fi
}

# True when the server on the port runs Accord's configuration (natively or
# from docker-compose), which has the tests' job; Debian's own unit does not.
prometheus_ours() { curl -fs --max-time 3 "$(prometheus_base)/api/v1/status/config" | grep -q 'job_name: tests'; }

prometheus_up() {
  mkdir -p "$RUN/prometheus-targets"
  if prometheus_ready; then
    prometheus_ours ||
      die "prometheus: the server on $(prometheus_base) does not run infra/prometheus/prometheus.yml (Debian's prometheus unit? systemctl disable --now prometheus); stop it or set PROMETHEUS_PORT"
    say "prometheus: reusing the server on $(prometheus_base)"
    # A running server picks up edited rules and scrape configs without a restart.
    curl -fs -o /dev/null -X POST --max-time 5 "$(prometheus_base)/-/reload" ||
      say "prometheus: note: it did not accept a reload (started without --web.enable-lifecycle?)"
    return
  fi
  local pidfile="$RUN/prometheus.pid" log="$LOGS/prometheus.log"
  port_open "$PROMETHEUS_HOST" "$PROMETHEUS_PORT" &&
    die "prometheus: something listens on $PROMETHEUS_HOST:$PROMETHEUS_PORT but does not answer /-/ready; stop it or set PROMETHEUS_PORT"
  prometheus_install
  /usr/bin/promtool check config "$ROOT/infra/prometheus/prometheus.yml" >"$LOGS/promtool.log" 2>&1 ||
    die "prometheus: infra/prometheus/prometheus.yml or its rules do not check; see $LOGS/promtool.log"
  mkdir -p "$DATA/prometheus"
  say "prometheus: starting on $(prometheus_base)"
  local t0=$SECONDS
  setsid nohup /usr/bin/prometheus --config.file="$ROOT/infra/prometheus/prometheus.yml" \
    --storage.tsdb.path="$DATA/prometheus" --storage.tsdb.retention.time=7d \
    --web.listen-address="$PROMETHEUS_HOST:$PROMETHEUS_PORT" --web.enable-lifecycle \
    >"$log" 2>&1 </dev/null &
  echo $! >"$pidfile"
  wait_for prometheus 60 "$log" "$pidfile" prometheus_ready
  say "prometheus: ready in $((SECONDS - t0))s"
}

prometheus_down() { stop_pidfile prometheus "$RUN/prometheus.pid"; }
prometheus_status() { prometheus_ready && echo "prometheus up   $PROMETHEUS_HOST:$PROMETHEUS_PORT" || echo "prometheus down $PROMETHEUS_HOST:$PROMETHEUS_PORT"; }

# ---------------------------------------------------------------- topology
# ACCORD_TOPOLOGY=production (infra/env.sh) swaps the single-node Kafka and the
# Temporal dev server for a three-broker KRaft cluster and the Temporal server
# on PostgreSQL, each on ports of its own so the development stack can run
# beside it. The files below redefine kafka_* and temporal_* for that.
if [[ "$ACCORD_TOPOLOGY" == production ]]; then
  for part in kafka-cluster temporal-server; do
    [[ -f "$ROOT/infra/production/$part.sh" ]] || die "production topology: infra/production/$part.sh is missing"
    # shellcheck source=/dev/null
    source "$ROOT/infra/production/$part.sh"
  done
fi

# ---------------------------------------------------------------- main
ALL=(postgres rabbitmq kafka temporal keycloak zipkin prometheus)
cmd="${1:-status}"; shift || true
targets=("$@"); ((${#targets[@]})) || targets=("${ALL[@]}")

case "$cmd" in
  up)
    # Install/build steps that take minutes on a fresh machine run in parallel
    # with the starts that do not need them.
    installs=()
    for t in "${targets[@]}"; do
      case "$t" in kafka|temporal|keycloak|zipkin) "${t}_install" & installs+=($!) ;; esac
    done
    for t in "${targets[@]}"; do
      case "$t" in postgres|rabbitmq) "${t}_up" ;; esac
    done
    for pid in "${installs[@]}"; do wait "$pid" || die "an install step failed (see $LOGS)"; done
    for t in "${targets[@]}"; do
      case "$t" in kafka|temporal|keycloak|zipkin|prometheus) "${t}_up" ;; esac
    done
    say "all up: ${targets[*]}"
    ;;
  down)
    for ((i = ${#targets[@]} - 1; i >= 0; i--)); do "${targets[i]}_down"; done
    ;;
  status)
    for t in "${targets[@]}"; do "${t}_status"; done
    ;;
  *) die "usage: infra/infra.sh up|down|status [postgres|rabbitmq|kafka|temporal|keycloak|zipkin|prometheus ...]" ;;
esac
