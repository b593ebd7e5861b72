# shellcheck shell=bash
# HAProxy for the production topology: the public port of each replicated
# service balances over its two replicas (h2c to them, /readyz health checks),
# and a stats page listens on 127.0.0.1:$HAPROXY_STATS_PORT. Sourced by
# scripts/services.sh when ACCORD_TOPOLOGY=production; uses its $ROOT, $RUN
# and $LOGS. The configuration is rendered from infra/production/haproxy/
# into $RUN/haproxy.cfg; HAProxy runs in the foreground of its own session,
# pid in $RUN/haproxy.pid, log in $LOGS/haproxy.log.

export HAPROXY_STATS_PORT="${HAPROXY_STATS_PORT:-8404}"
HAPROXY_CONFIG="$RUN/haproxy.cfg"
HAPROXY_PIDFILE="$RUN/haproxy.pid"
HAPROXY_LOG="$LOGS/haproxy.log"

haproxy_die() { printf '[haproxy] ERROR: %s\n' "$*" >&2; exit 1; }

# Debian's package, installed once (as infra/infra.sh's apt_install does).
# Its own service is not used: the package's postinst may not start it here,
# and the config below is ours.
haproxy_install() {
  dpkg -s haproxy >/dev/null 2>&1 && return 0
  [[ $EUID -eq 0 ]] || haproxy_die "the Debian package haproxy is missing; install it with sudo apt-get install haproxy"
  echo "[haproxy] installing haproxy (apt-get)"
  apt-get update -qq >"$LOGS/apt.log" 2>&1 || haproxy_die "apt-get update failed; see $LOGS/apt.log"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends haproxy >>"$LOGS/apt.log" 2>&1 ||
    haproxy_die "apt-get install haproxy failed; see $LOGS/apt.log"
}

# haproxy_render "SERVICE PORT PORT_1 PORT_2"...: writes $HAPROXY_CONFIG, one
# frontend and backend per service.
haproxy_render() {
  local dir="$ROOT/infra/production/haproxy" tmp="$HAPROXY_CONFIG.tmp" service port port1 port2
  sed -e "s/@STATS_PORT@/$HAPROXY_STATS_PORT/g" "$dir/haproxy.cfg.in" >"$tmp"
  for line in "$@"; do
    read -r service port port1 port2 <<<"$line"
    sed -e "s/@SERVICE@/$service/g" -e "s/@PORT@/$port/g" -e "s/@PORT_1@/$port1/g" -e "s/@PORT_2@/$port2/g" \
      "$dir/service.cfg.in" >>"$tmp"
  done
  mv "$tmp" "$HAPROXY_CONFIG"
}

haproxy_alive() { [[ -f "$HAPROXY_PIDFILE" ]] && kill -0 "$(cat "$HAPROXY_PIDFILE")" 2>/dev/null; }
haproxy_ready() { curl -fs -o /dev/null --max-time 2 "http://127.0.0.1:$HAPROXY_STATS_PORT/stats"; }

# haproxy_up "SERVICE PORT PORT_1 PORT_2"...: renders, checks and starts
# HAProxy; returns once its stats page answers. The replicas need not be up
# yet: their backends stay down until their /readyz answers.
haproxy_up() {
  if haproxy_alive; then echo "[haproxy] already running (pid $(cat "$HAPROXY_PIDFILE"))"; return 0; fi
  haproxy_install
  haproxy_render "$@"
  # The check's warnings, if any, open the log. (No -q when running: it
  # silences the log lines on stderr too, not only the startup messages.)
  haproxy -c -f "$HAPROXY_CONFIG" >"$HAPROXY_LOG" 2>&1 ||
    { cat "$HAPROXY_LOG" >&2; haproxy_die "$HAPROXY_CONFIG does not check (haproxy -c)"; }
  echo "[services] starting haproxy (config $HAPROXY_CONFIG, stats http://127.0.0.1:$HAPROXY_STATS_PORT/stats, log $HAPROXY_LOG)"
  setsid nohup haproxy -db -f "$HAPROXY_CONFIG" >>"$HAPROXY_LOG" 2>&1 </dev/null &
  echo $! >"$HAPROXY_PIDFILE"
  local deadline=$((SECONDS + 10))
  until haproxy_ready; do
    if ! haproxy_alive || ((SECONDS >= deadline)); then
      tail -n 20 "$HAPROXY_LOG" >&2 || true
      haproxy_die "haproxy did not start (a public port taken by another process?); its log is $HAPROXY_LOG"
    fi
    sleep 0.2
  done
  echo "[services] haproxy ready"
}

haproxy_down() {
  if haproxy_alive; then
    local pid; pid="$(cat "$HAPROXY_PIDFILE")"
    echo "[services] stopping haproxy (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$HAPROXY_PIDFILE"
}

haproxy_status() {
  if haproxy_alive && haproxy_ready; then echo "haproxy  ready"; else echo "haproxy  down"; fi
}
