#!/usr/bin/env bash
# grpcurl (fullstorydev/grpcurl, pinned below), built with `go install` into
# .accord/cache once, then run with the arguments given:
#
#   bash scripts/grpcurl.sh -plaintext 127.0.0.1:4101 list
#   bash scripts/grpcurl.sh --install-only     only build it if missing
#   bash scripts/grpcurl.sh --path             build if missing, print its path
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh" >&2
cd "$ROOT"

VERSION="v1.9.3"
BIN_DIR="$ACCORD_HOME/cache/grpcurl-$VERSION"
GRPCURL="$BIN_DIR/grpcurl"

if [[ ! -x "$GRPCURL" ]]; then
  command -v go >/dev/null || { echo "[grpcurl] ERROR: Go is needed to build grpcurl" >&2; exit 1; }
  echo "[grpcurl] building grpcurl $VERSION into $BIN_DIR" >&2
  GOBIN="$BIN_DIR" go install "github.com/fullstorydev/grpcurl/cmd/grpcurl@$VERSION" >&2 ||
    { echo "[grpcurl] ERROR: go install failed" >&2; exit 1; }
fi
case "${1:-}" in
  --install-only) exit 0 ;;
  --path) echo "$GRPCURL"; exit 0 ;;
esac
exec "$GRPCURL" "$@"
