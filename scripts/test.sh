#!/usr/bin/env bash
# `npm test`: every test project (unit, integration, contract, conformance,
# chaos) in one vitest run, on a machine that may never have seen the project.
# First it prepares, idempotently, what the tests need, saying what it does:
#   1. Node 24 and the npm packages (scripts/bootstrap.sh);
#   2. the Connect conformance runner and, when scripts/grpcurl.sh exists,
#      grpcurl: built once with `go install` into .accord/cache; Debian's
#      chromium for the console's browser tests (apt-get) when missing;
#   3. the infrastructure, when the tests would use the natively started one
#      (test/setup/infrastructure.ts: no KAFKA_BROKERS/AMQP_URL/TEMPORAL_ADDRESS
#      given, no Docker engine answering) and a part of it does not answer
#      (Keycloak counts once its realm's discovery document answers):
#      `bash infra/infra.sh up` starts it, reusing what answers. It keeps running
#      afterwards, as after `npm start`; `npm run stop` stops it.
# The tests create their own databases and topics, so no migration is needed.
# Extra arguments go to vitest. Ends with one line `N passed, N failed`,
# counted from vitest's JSON report (a failed preparation ends with
# `0 passed, 1 failed`).
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
cd "$ROOT"

say() { printf '[test] %s\n' "$*"; }
give_up() { printf '[test] ERROR: %s\n' "$*" >&2; echo "0 passed, 1 failed"; exit 1; }

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# The realm the tests take their tokens from. Keycloak listens before it has
# imported the realm, so its discovery document is what counts, not the port.
realm_issuer() { echo "${OIDC_ISSUER:-http://${KEYCLOAK_HOST:-127.0.0.1}:${KEYCLOAK_PORT:-8180}/realms/${KEYCLOAK_REALM:-accord}}"; }
realm_answers() {
  node -e 'fetch(process.argv[1], { signal: AbortSignal.timeout(3000) }).then((r) => process.exit(r.status === 200 ? 0 : 1), () => process.exit(1))' \
    "$(realm_issuer)/.well-known/openid-configuration"
}

# The Docker engine test/setup/infrastructure.ts would start containers on.
docker_answers() {
  local host="${DOCKER_HOST:-unix:///var/run/docker.sock}"
  command -v curl >/dev/null || return 1
  case "$host" in
    unix://*) curl -fsS -m 2 --unix-socket "${host#unix://}" http://docker/_ping >/dev/null 2>&1 ;;
    tcp://*) curl -fsS -m 2 "http://${host#tcp://}/_ping" >/dev/null 2>&1 ;;
    *) return 1 ;;
  esac
}

prepare_tools() {
  bash scripts/conformance.sh --install-only || give_up "could not build the Connect conformance runner (see above)"
  # The console's browser tests drive Debian's chromium (playwright-core with
  # its executablePath): installed here when missing, never downloaded.
  if [[ -z "${CHROMIUM_PATH:-}" ]] && ! command -v chromium >/dev/null; then
    [[ $EUID -eq 0 ]] || give_up "chromium is missing: sudo apt-get install chromium (or set CHROMIUM_PATH)"
    say "chromium: apt-get install chromium (Debian's, for the console's browser tests)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >/dev/null 2>&1 ||
      give_up "apt-get install chromium failed"
  fi
  if [[ -f scripts/grpcurl.sh ]]; then
    bash scripts/grpcurl.sh --install-only || give_up "could not build grpcurl (see above)"
  fi
}

prepare_infrastructure() {
  if [[ -n "${KAFKA_BROKERS:-}" && -n "${AMQP_URL:-}" && -n "${TEMPORAL_ADDRESS:-}" ]]; then
    say "infrastructure: the services named by PGHOST/PGPORT, KAFKA_BROKERS, AMQP_URL, TEMPORAL_ADDRESS"
    return
  fi
  if docker_answers; then
    say "infrastructure: a Docker engine answers, so the tests start their own containers"
    return
  fi
  local down=()
  port_open "$PGHOST" "$PGPORT" || down+=("PostgreSQL $PGHOST:$PGPORT")
  port_open "$RABBITMQ_HOST" "$RABBITMQ_PORT" || down+=("RabbitMQ $RABBITMQ_HOST:$RABBITMQ_PORT")
  port_open "$KAFKA_HOST" "$KAFKA_PORT" || down+=("Kafka $KAFKA_HOST:$KAFKA_PORT")
  port_open "$TEMPORAL_HOST" "$TEMPORAL_PORT" || down+=("Temporal $TEMPORAL_HOST:$TEMPORAL_PORT")
  realm_answers || down+=("Keycloak $(realm_issuer)")
  # test/integration/metrics-gauges.test.ts reads the gauges through it.
  port_open "$PROMETHEUS_HOST" "$PROMETHEUS_PORT" || down+=("Prometheus $PROMETHEUS_HOST:$PROMETHEUS_PORT")
  if ((${#down[@]} == 0)); then
    say "infrastructure: PostgreSQL, RabbitMQ, Kafka, Temporal, Keycloak and Prometheus answer"
    return
  fi
  local list
  printf -v list '%s, ' "${down[@]}"
  say "infrastructure: nothing answers for ${list%, }; starting it with 'bash infra/infra.sh up' (it stays up; 'npm run stop' stops it)"
  bash infra/infra.sh up || give_up "the infrastructure did not start (see above); 'bash infra/infra.sh up' starts it"
}

prepare_tools
prepare_infrastructure

mkdir -p "$ACCORD_HOME/reports"
report="$ACCORD_HOME/reports/vitest.json"
rm -f "$report"
vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@"
status=$?
if [[ -f "$report" ]]; then
  node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
    // A suite that failed to load counts as a failure even with no test inside.
    const brokenFiles = (r.testResults ?? []).filter((f) => f.status === "failed" && (f.assertionResults ?? []).length === 0).length;
    let failed = r.numFailedTests + brokenFiles;
    // Errors outside any test (config, unhandled rejections) fail the run too.
    if (!r.success && failed === 0) failed = 1;
    const line = `${r.numPassedTests} passed, ${failed} failed` + (skipped ? `, ${skipped} skipped` : "");
    console.log(line);
  ' "$report"
else
  echo "0 passed, 1 failed"
  [[ $status -eq 0 ]] && status=1
fi
exit $status
