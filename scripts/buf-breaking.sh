#!/usr/bin/env bash
# buf breaking against the base of the change (ADR 0008):
#   BUF_BREAKING_AGAINST=<git ref or sha>   what to compare with:
#     pull requests: origin/<base branch> (ci.yml, contracts-pr.yml);
#     pushes to main: the commit before the push (ci.yml);
#     releases: the last released commit, tag released/<env> (scripts/release/pipeline.sh breaking).
#   Default: HEAD~1 (a local check of the last commit).
# The ref must exist. A missing one (a shallow clone, a branch or tag that was
# not fetched) FAILS: a check that cannot run is not a pass. The one
# exception is the genuine first commit of the repository: the default HEAD~1
# in a complete (not shallow) clone whose HEAD has no parent.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

fail() { echo "[buf breaking] ERROR: $*" >&2; exit 1; }
has_commit() { git rev-parse --verify -q "$1^{commit}" >/dev/null; }
shallow() { [[ "$(git rev-parse --is-shallow-repository)" == true ]]; }

ref="${BUF_BREAKING_AGAINST:-}"
if [[ -z "$ref" ]]; then
  ref="HEAD~1"
  if ! has_commit "$ref"; then
    if shallow; then
      fail "HEAD~1 is not in this shallow clone, so there is nothing to compare with; fetch the history (actions/checkout fetch-depth: 0, or git fetch --deepen=1) or set BUF_BREAKING_AGAINST to a fetched base"
    fi
    # A complete clone whose HEAD has no parent: the repository's first commit.
    echo "[buf breaking] HEAD ($(git rev-parse --short HEAD)) is the first commit of the repository: there is no earlier contract to compare with"
    exit 0
  fi
elif ! has_commit "$ref"; then
  hint="fetch it first (git fetch origin <branch, tag or sha>; actions/checkout fetch-depth: 0)"
  if shallow; then hint="this is a shallow clone: $hint"; fi
  fail "the ref to compare with, $ref, is not in this clone: $hint"
fi

if ! git cat-file -e "$ref:buf.yaml" 2>/dev/null; then
  # The base predates the buf workspace: every proto is new, none can break.
  echo "[buf breaking] $ref ($(git rev-parse --short "$ref")) has no buf.yaml: the protos are all new, nothing to compare with"
  exit 0
fi
buf breaking --against ".git#ref=$(git rev-parse "$ref^{commit}")"
echo "[buf breaking] no breaking change against $ref ($(git rev-parse --short "$ref^{commit}"))"
