#!/usr/bin/env bash
# `npm run conformance`: the Connect conformance suite (connectrpc/conformance
# v1.0.7, server mode) against the RPC server stack, before and after ADR 0009:
#   before  the pre-fix server (connectNodeAdapter serves everything),
#           tools/connect-baseline/baseline-connect-server.ts
# The runner starts `node conformance/server.ts` (plain Node strips the types).
#   after   startRpcServer from lib/rpc/server.ts, as the services use it
# The runner is built with `go install` into .accord/cache once.
#
#   bash scripts/conformance.sh                  both variants
#   bash scripts/conformance.sh after            one variant
#   bash scripts/conformance.sh --install-only   only build the runner if missing
# CONFORMANCE_PARALLEL sets the runner's -p (default 2).
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
cd "$ROOT"

VERSION="v1.0.7"
BIN_DIR="$ACCORD_HOME/cache/connectconformance-$VERSION"
RUNNER="$BIN_DIR/connectconformance"

if [[ ! -x "$RUNNER" ]]; then
  command -v go >/dev/null || { echo "[conformance] ERROR: Go is needed to build the runner" >&2; exit 1; }
  echo "[conformance] building connectconformance $VERSION into $BIN_DIR"
  GOBIN="$BIN_DIR" go install "connectrpc.com/conformance/cmd/connectconformance@$VERSION" ||
    { echo "[conformance] ERROR: go install failed" >&2; exit 1; }
fi
[[ "${1:-}" == "--install-only" ]] && exit 0

variants=("$@")
[[ ${#variants[@]} -eq 0 ]] && variants=(before after)
status=0
summary=()
for variant in "${variants[@]}"; do
  if [[ "$variant" != before && "$variant" != after ]]; then
    echo "[conformance] unknown variant '$variant' (before|after)" >&2
    exit 2
  fi
  echo "[conformance] $variant: running the suite"
  log="$(mktemp)"
  start=$SECONDS
  "$RUNNER" --mode server --conf conformance/config.yaml --known-failing @conformance/known-failing.txt \
    -p "${CONFORMANCE_PARALLEL:-2}" -- node conformance/server.ts "--variant=$variant" 2>&1 | tee "$log"
  code=${PIPESTATUS[0]}
  result="$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)"
  rm -f "$log"
  [[ -n "$result" ]] || result="no result"
  summary+=("$variant: $result ($((SECONDS - start)) s, exit $code)")
  [[ $code -eq 0 ]] || status=1
done
echo
printf '[conformance] %s\n' "${summary[@]}"
exit $status
