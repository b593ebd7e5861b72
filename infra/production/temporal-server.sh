# shellcheck shell=bash
# The Temporal server of the production topology, sourced by infra/infra.sh
# when ACCORD_TOPOLOGY=production: it replaces the dev server's temporal_*
# functions. The real server (frontend, history, matching and worker in one
# process) keeps its state in two databases of the shared PostgreSQL,
# `temporal` and `temporal_visibility`, and listens on ports of its own
# (frontend $TEMPORAL_PORT, 7333), so the development stack's dev server on
# 7233 runs beside it. The web UI is temporal-ui-server on $TEMPORAL_UI_PORT.
# Both are built with `go install` once, into $CACHE by pinned version.
#
# Uses infra.sh's helpers (say, die, port_open, wait_for, pidfile_alive,
# stop_pidfile, pg_bin, postgres_ready, postgres_up) and keeps its
# temporal_bin and temporal_ready: the dev CLI stays the client that checks
# health and manages namespaces.

# The dev topology's temporal_install builds that CLI; it stays available
# under another name before temporal_install is redefined below.
eval "$(declare -f temporal_install | sed '1s/^temporal_install /temporal_cli_install /')"

TEMPORAL_SERVER_DB=temporal
TEMPORAL_SERVER_VISIBILITY_DB=temporal_visibility
# The UI server release that goes with it: the newest whose go.mod asks for no
# newer Go than this machine's 1.26.8 (v2.56.0 wants 1.26.9).
TEMPORAL_UI_VERSION="${TEMPORAL_UI_VERSION:-v2.55.0}"

# Internal ports, next to the frontend's as in Temporal's own layout
# (frontend 7233, history 7234, matching 7235, worker 7239, HTTP 7243), here
# shifted with TEMPORAL_PORT; ringpop membership on 6933 and after. All of
# them stay below the kernel's ephemeral range.
TEMPORAL_SERVER_MEMBERSHIP_PORT="${TEMPORAL_SERVER_MEMBERSHIP_PORT:-6933}"

temporal_server_home() { echo "$CACHE/temporal-server-$TEMPORAL_SERVER_VERSION"; }
temporal_server_bin() { echo "$(temporal_server_home)/temporal-server"; }
temporal_sql_tool() { echo "$(temporal_server_home)/temporal-sql-tool"; }
temporal_ui_bin() { echo "$CACHE/temporal-ui-$TEMPORAL_UI_VERSION/temporal-ui-server"; }
temporal_address() { echo "$TEMPORAL_HOST:$TEMPORAL_PORT"; }

# temporal_go_install DIR PACKAGE@VERSION...: builds into DIR.build, then
# renames it to DIR, so an interrupted build never looks finished.
# GOTOOLCHAIN=local: a release that needs a newer Go fails here instead of
# silently fetching another toolchain.
temporal_go_install() {
  local dir="$1" log="$2"; shift 2
  command -v go >/dev/null || die "temporal: Go is needed to build the Temporal server (go install); install Go (the pinned releases need 1.26.8)"
  rm -rf "$dir.build"
  mkdir -p "$dir.build"
  (cd "$dir.build" && GOBIN="$dir.build" GOTOOLCHAIN=local nice -n 10 go install "$@") >"$log" 2>&1 ||
    die "temporal: go install $* failed; see $log"
}

temporal_server_install() {
  local home; home="$(temporal_server_home)"
  [[ -f "$home/.complete" ]] && return 0
  local log="$LOGS/temporal-server-build.log" t0=$SECONDS
  say "temporal: building the Temporal server $TEMPORAL_SERVER_VERSION and temporal-sql-tool with go install (10+ minutes, once)"
  temporal_go_install "$home" "$log" \
    "go.temporal.io/server/cmd/server@$TEMPORAL_SERVER_VERSION" \
    "go.temporal.io/server/cmd/tools/sql@$TEMPORAL_SERVER_VERSION"
  local build="$home.build" src
  mv "$build/server" "$build/temporal-server"
  mv "$build/sql" "$build/temporal-sql-tool"
  # The schema files ship with the module's source; a copy keeps the cache
  # independent of GOMODCACHE (go clean -modcache).
  src="$(cd "$build" && GOTOOLCHAIN=local go mod download -json "go.temporal.io/server@$TEMPORAL_SERVER_VERSION" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
  [[ -d "$src/schema/postgresql/v12" ]] || die "temporal: no PostgreSQL schema in the module source ($src)"
  local part
  for part in temporal visibility; do
    mkdir -p "$build/schema/postgresql/v12/$part"
    cp -R "$src/schema/postgresql/v12/$part/versioned" "$build/schema/postgresql/v12/$part/"
  done
  chmod -R u+w "$build/schema" # the module cache's files are read-only
  touch "$build/.complete"
  rm -rf "$home"
  mv "$build" "$home"
  say "temporal: server built in $((SECONDS - t0))s"
}

temporal_ui_install() {
  local bin; bin="$(temporal_ui_bin)"
  [[ -x "$bin" ]] && return 0
  local home; home="$(dirname "$bin")"
  local log="$LOGS/temporal-ui-build.log" t0=$SECONDS
  say "temporal: building the Temporal web UI server $TEMPORAL_UI_VERSION with go install (once)"
  # The module carries the built web assets (ui/assets), embedded at build time.
  temporal_go_install "$home" "$log" "github.com/temporalio/ui-server/v2/cmd/server@$TEMPORAL_UI_VERSION"
  mv "$home.build/server" "$home.build/temporal-ui-server"
  rm -rf "$home"
  mv "$home.build" "$home"
  say "temporal: UI server built in $((SECONDS - t0))s"
}

temporal_install() {
  temporal_cli_install
  temporal_server_install
  temporal_ui_install
}

# temporal_psql SQL [DATABASE]: runs SQL as $PGUSER (the maintenance database by default).
temporal_psql() {
  local psql; psql="$(command -v psql || echo "$(pg_bin)/psql")"
  "$psql" -X -q -v ON_ERROR_STOP=1 -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -d "${2:-postgres}" -tAc "$1"
}

# temporal_sql DATABASE ARGS...: temporal-sql-tool against DATABASE; the
# password goes through the environment, not the command line.
temporal_sql() {
  local db="$1"; shift
  SQL_PASSWORD="$PGPASSWORD" "$(temporal_sql_tool)" --endpoint "$PGHOST" --port "$PGPORT" --user "$PGUSER" \
    --plugin postgres12 --database "$db" "$@"
}

# Both databases exist and carry the schema of the pinned release: created
# once with version 0.0, then brought up to date on every start (update-schema
# applies only the versions a database lacks).
temporal_server_schema() {
  local log="$LOGS/temporal-server-schema.log" db part exists versioned
  for db in "$TEMPORAL_SERVER_DB" "$TEMPORAL_SERVER_VISIBILITY_DB"; do
    part=temporal
    [[ "$db" == "$TEMPORAL_SERVER_VISIBILITY_DB" ]] && part=visibility
    exists="$(temporal_psql "SELECT 1 FROM pg_database WHERE datname = '$db'")" ||
      die "temporal: cannot query PostgreSQL on $PGHOST:$PGPORT as $PGUSER"
    if [[ "$exists" != 1 ]]; then
      say "temporal: creating database $db"
      temporal_psql "CREATE DATABASE $db" >/dev/null || die "temporal: creating database $db failed"
    fi
    exists="$(temporal_psql "SELECT 1 FROM pg_tables WHERE schemaname = 'public' AND tablename = 'schema_version'" "$db")" ||
      die "temporal: cannot query database $db"
    if [[ "$exists" != 1 ]]; then
      say "temporal: setting up the schema of $db"
      temporal_sql "$db" setup-schema -v 0.0 >>"$log" 2>&1 || die "temporal: setup-schema of $db failed; see $log"
    fi
    versioned="$(temporal_server_home)/schema/postgresql/v12/$part/versioned"
    temporal_sql "$db" update-schema -d "$versioned" >>"$log" 2>&1 || die "temporal: update-schema of $db failed; see $log"
  done
}

temporal_server_start() {
  local pidfile="$RUN/temporal-server.pid" log="$LOGS/temporal-server.log"
  local conf="$ROOT/infra/production/temporal/config.yaml"
  say "temporal: starting the Temporal server $TEMPORAL_SERVER_VERSION on $(temporal_address) (PostgreSQL databases $TEMPORAL_SERVER_DB, $TEMPORAL_SERVER_VISIBILITY_DB)"
  local t0=$SECONDS m="$TEMPORAL_SERVER_MEMBERSHIP_PORT"
  # config.yaml is a template the server fills from these variables (and
  # PGHOST, PGPORT, PGUSER, PGPASSWORD, TEMPORAL_HOST, TEMPORAL_PORT).
  TEMPORAL_SERVER_DB="$TEMPORAL_SERVER_DB" TEMPORAL_SERVER_VISIBILITY_DB="$TEMPORAL_SERVER_VISIBILITY_DB" \
    TEMPORAL_SERVER_HISTORY_PORT=$((TEMPORAL_PORT + 1)) TEMPORAL_SERVER_MATCHING_PORT=$((TEMPORAL_PORT + 2)) \
    TEMPORAL_SERVER_WORKER_PORT=$((TEMPORAL_PORT + 6)) TEMPORAL_SERVER_HTTP_PORT=$((TEMPORAL_PORT + 10)) \
    TEMPORAL_SERVER_METRICS_ADDRESS="$TEMPORAL_HOST:$((TEMPORAL_PORT + 15))" \
    TEMPORAL_SERVER_FRONTEND_MEMBERSHIP_PORT="$m" TEMPORAL_SERVER_HISTORY_MEMBERSHIP_PORT=$((m + 1)) \
    TEMPORAL_SERVER_MATCHING_MEMBERSHIP_PORT=$((m + 2)) TEMPORAL_SERVER_WORKER_MEMBERSHIP_PORT=$((m + 6)) \
    TEMPORAL_SERVER_DYNAMIC_CONFIG="$ROOT/infra/production/temporal/dynamicconfig.yaml" \
    GOGC="$TEMPORAL_GOGC" GOMEMLIMIT="$TEMPORAL_GOMEMLIMIT" setsid nohup "$(temporal_server_bin)" --config-file "$conf" --allow-no-auth start >"$log" 2>&1 </dev/null &
  echo $! >"$pidfile"
  wait_for "temporal server" 180 "$log" "$pidfile" temporal_ready
  say "temporal: server ready in $((SECONDS - t0))s"
}

# A new cluster has no namespace but temporal-system; $TEMPORAL_NAMESPACE is
# created once. The frontend may take a few seconds to see a new namespace,
# so this waits until a call in it succeeds.
temporal_namespace() {
  local cli log="$LOGS/temporal-server.log" address
  cli="$(temporal_bin)"; address="$(temporal_address)"
  if ! "$cli" operator namespace describe --namespace "$TEMPORAL_NAMESPACE" --address "$address" >/dev/null 2>&1; then
    say "temporal: creating namespace $TEMPORAL_NAMESPACE (retention 72h)"
    "$cli" operator namespace create --namespace "$TEMPORAL_NAMESPACE" --retention 72h --address "$address" >>"$log" 2>&1 ||
      "$cli" operator namespace describe --namespace "$TEMPORAL_NAMESPACE" --address "$address" >/dev/null 2>&1 ||
      die "temporal: creating namespace $TEMPORAL_NAMESPACE failed; see $log"
  fi
  wait_for "temporal namespace $TEMPORAL_NAMESPACE" 60 "$log" "$RUN/temporal-server.pid" \
    "$cli" workflow count --namespace "$TEMPORAL_NAMESPACE" --address "$address"
}

temporal_ui_ready() { curl -fs -o /dev/null --max-time 3 "http://$TEMPORAL_HOST:$TEMPORAL_UI_PORT/healthz"; }

temporal_ui_up() {
  local pidfile="$RUN/temporal-ui.pid" log="$LOGS/temporal-ui.log"
  if temporal_ui_ready; then say "temporal: reusing the web UI on $TEMPORAL_HOST:$TEMPORAL_UI_PORT"; return; fi
  port_open "$TEMPORAL_HOST" "$TEMPORAL_UI_PORT" &&
    die "temporal: something listens on $TEMPORAL_HOST:$TEMPORAL_UI_PORT but does not answer /healthz; stop it or set TEMPORAL_UI_PORT"
  temporal_ui_install
  say "temporal: starting the web UI on http://$TEMPORAL_HOST:$TEMPORAL_UI_PORT (server $(temporal_address))"
  # The UI server reads <root>/<config>/<env>.yaml, a template it fills from
  # TEMPORAL_HOST, TEMPORAL_PORT, TEMPORAL_UI_PORT and TEMPORAL_NAMESPACE.
  setsid nohup "$(temporal_ui_bin)" --root "$ROOT" --config infra/production/temporal/ui --env production start \
    >"$log" 2>&1 </dev/null &
  echo $! >"$pidfile"
  wait_for "temporal web UI" 60 "$log" "$pidfile" temporal_ui_ready
}

# True when the server on the port is this topology's: the "accord" cluster
# on PostgreSQL, not the dev server on SQLite. A shell that sourced
# infra/env.sh in the development topology exports TEMPORAL_PORT=7233, which
# the production defaults then keep.
temporal_server_ours() {
  "$(temporal_bin)" operator cluster describe --address "$(temporal_address)" -o json 2>/dev/null |
    grep -q '"persistenceStore": "postgres12"'
}

temporal_up() {
  local pidfile="$RUN/temporal-server.pid"
  if port_open "$TEMPORAL_HOST" "$TEMPORAL_PORT"; then
    temporal_server_ours ||
      die "temporal: the server on $(temporal_address) is not the production one (no PostgreSQL persistence): the development dev server? TEMPORAL_PORT=$TEMPORAL_PORT and TEMPORAL_UI_PORT=$TEMPORAL_UI_PORT may come from a shell that sourced infra/env.sh without ACCORD_TOPOLOGY=production; unset them (production uses 7333 and 8333)"
    say "temporal: reusing the server on $(temporal_address)"
  elif pidfile_alive "$pidfile"; then
    say "temporal: pid $(cat "$pidfile") is still starting; waiting for it"
    wait_for "temporal server" 180 "$LOGS/temporal-server.log" "$pidfile" temporal_ready
  else
    postgres_ready || postgres_up
    temporal_install
    temporal_server_schema
    temporal_server_start
  fi
  temporal_namespace
  temporal_ui_up
}

temporal_down() {
  stop_pidfile temporal-ui "$RUN/temporal-ui.pid"
  stop_pidfile temporal-server "$RUN/temporal-server.pid"
}

temporal_status() {
  if temporal_server_ours; then
    echo "temporal  up    $(temporal_address) (server $TEMPORAL_SERVER_VERSION on PostgreSQL)"
  elif temporal_ready; then
    echo "temporal  other $(temporal_address) (a Temporal server without PostgreSQL: not the production one)"
  else
    echo "temporal  down  $(temporal_address)"
  fi
  if temporal_ui_ready; then
    echo "temporal-ui up  http://$TEMPORAL_HOST:$TEMPORAL_UI_PORT"
  else
    echo "temporal-ui down http://$TEMPORAL_HOST:$TEMPORAL_UI_PORT"
  fi
}
