#!/usr/bin/env bash
# buf breaking against the previous commit (CI: the previous main commit).
# Set BUF_BREAKING_AGAINST to compare with another git ref.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ref="${BUF_BREAKING_AGAINST:-HEAD~1}"
if ! git rev-parse --verify -q "$ref^{commit}" >/dev/null; then
  echo "[buf breaking] no commit $ref to compare with (first commit): skipped"
  exit 0
fi
if ! git cat-file -e "$ref:buf.yaml" 2>/dev/null; then
  echo "[buf breaking] $ref has no buf.yaml yet: nothing to compare with"
  exit 0
fi
buf breaking --against ".git#ref=$(git rev-parse "$ref")"
echo "[buf breaking] no breaking change against $ref"
