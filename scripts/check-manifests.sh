#!/usr/bin/env bash
# Builds every kustomize overlay under deploy/k8s/overlays and validates what
# it renders, offline:
#   1. kustomize build (a broken kustomization, patch or reference fails here);
#   2. kubeconform -strict against the Kubernetes JSON schemas of
#      KUBERNETES_VERSION (unknown fields, wrong types, missing required
#      fields; a kind without a schema counts as an error, not a skip);
#   3. scripts/check-manifest-config.ts: each service's environment, as the
#      overlay gives it, against that service's own config schema.
# Then docker-compose.yml (no Docker here: scripts/check-compose.ts parses it
# and checks the production profile, the service environments included) and
# the HAProxy configurations (haproxy -c, when HAProxy is installed).
# Exits non-zero when anything fails; the last line is a one-line summary.
#
#   bash scripts/check-manifests.sh                 the repository's files
#   bash scripts/check-manifests.sh <dir> [compose] the overlays of another deploy/k8s copy
#                                                   (and another compose file)
#
# kustomize and kubeconform are built once with `go install` at the versions
# below into .accord/cache/<tool>-<version>. kubeconform embeds no schemas and
# this machine reaches no schema site, so the schemas come from the PyPI
# package kubernetes-validate (pinned by version and hash), which ships the
# Kubernetes OpenAPI schemas as JSON Schema for each release; they are
# extracted once into .accord/cache and their references made file-relative.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=infra/env.sh
source "$ROOT/infra/env.sh"
cd "$ROOT"

KUSTOMIZE_VERSION="v5.8.1"
KUBECONFORM_VERSION="v0.7.0"
KUBERNETES_VERSION="${KUBERNETES_VERSION:-1.34.0}"
SCHEMA_PACKAGE="kubernetes-validate"
SCHEMA_PACKAGE_VERSION="1.37.0"
SCHEMA_PACKAGE_SHA256="85136d018a27b50ec7fc049d902bfa5193f5976807e6c0f408e3ab6fe078cad9"

CACHE="$ACCORD_HOME/cache"
KUSTOMIZE="$CACHE/kustomize-$KUSTOMIZE_VERSION/kustomize"
KUBECONFORM="$CACHE/kubeconform-$KUBECONFORM_VERSION/kubeconform"
SCHEMAS="$CACHE/kubernetes-json-schema-$SCHEMA_PACKAGE_VERSION"
K8S_DIR="${1:-$ROOT/deploy/k8s}"
COMPOSE_FILE="${2:-$ROOT/docker-compose.yml}"

say() { echo "[check-manifests] $*"; }
die() {
  echo "[check-manifests] ERROR: $*" >&2
  echo "[check-manifests] FAILED: $*"
  exit 1
}

# The services' config loaders run on Node 24 (type stripping), as the services do.
if [[ "$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null)" != 24 ]]; then
  export PATH="$CACHE/node24/bin:$PATH"
fi
[[ -d "$ROOT/node_modules/yaml" ]] || die "node_modules is missing (npm ci first: scripts/bootstrap.sh)"

go_tool() { # name, module path, version, binary
  [[ -x "$4" ]] && return 0
  command -v go >/dev/null || die "Go is needed to build $1"
  say "building $1 $3 into $(dirname "$4") (once)"
  GOBIN="$(dirname "$4")" nice -n 10 go install "$2@$3" >&2 || die "go install $2@$3 failed"
}
go_tool kustomize sigs.k8s.io/kustomize/kustomize/v5 "$KUSTOMIZE_VERSION" "$KUSTOMIZE"
go_tool kubeconform github.com/yannh/kubeconform/cmd/kubeconform "$KUBECONFORM_VERSION" "$KUBECONFORM"

# The schemas of one Kubernetes version, both flavours kubeconform asks for
# (-strict reads the -strict one, which forbids properties the API does not know).
schema_dir="$SCHEMAS/v$KUBERNETES_VERSION-local"
if [[ ! -f "$schema_dir/.complete" || ! -f "$schema_dir-strict/.complete" ]]; then
  say "extracting the Kubernetes $KUBERNETES_VERSION schemas from $SCHEMA_PACKAGE $SCHEMA_PACKAGE_VERSION (once)"
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  echo "$SCHEMA_PACKAGE==$SCHEMA_PACKAGE_VERSION --hash=sha256:$SCHEMA_PACKAGE_SHA256" >"$tmp/requirements.txt"
  python3 -m pip download --quiet --no-deps --only-binary=:all: --require-hashes \
    -r "$tmp/requirements.txt" -d "$tmp" >&2 || die "pip download $SCHEMA_PACKAGE==$SCHEMA_PACKAGE_VERSION failed"
  # Each schema names itself by an https $id and its definitions by an
  # absolute /api/ path, which would send the validator to the network:
  # drop the $id and make the references relative to the file.
  python3 - "$tmp"/*.whl "$SCHEMAS" "v$KUBERNETES_VERSION" <<'PY' || die "extracting the schemas failed"
import json, os, sys, zipfile
wheel, target, version = sys.argv[1:4]
prefix = "kubernetes_validate/kubernetes-json-schema/"
count = 0
with zipfile.ZipFile(wheel) as z:
    for flavour in (f"{version}-local", f"{version}-local-strict"):
        names = [n for n in z.namelist() if n.startswith(f"{prefix}{flavour}/") and n.endswith(".json")]
        if not names:
            sys.exit(f"the package has no schemas for {flavour}")
        out = os.path.join(target, flavour)
        os.makedirs(out, exist_ok=True)
        for name in names:
            schema = json.loads(z.read(name))
            schema.pop("$id", None)
            text = json.dumps(schema).replace('"/api/_definitions.json#', '"_definitions.json#')
            with open(os.path.join(out, os.path.basename(name)), "w") as f:
                f.write(text)
            count += 1
        open(os.path.join(out, ".complete"), "w").close()
print(f"[check-manifests] {count} schema files in {target}")
PY
fi

[[ -d "$K8S_DIR/overlays" ]] || die "no overlays folder in $K8S_DIR"
out="$(mktemp -d)"
trap 'rm -rf "$out" "${tmp:-}"' EXIT
overlays=0 failed=() resources=0 valid=0 containers=0
for overlay in "$K8S_DIR"/overlays/*/; do
  name="$(basename "$overlay")"
  overlays=$((overlays + 1))
  say "overlay $name"
  if ! "$KUSTOMIZE" build "$overlay" >"$out/$name.yaml" 2>"$out/$name.err"; then
    cat "$out/$name.err" >&2
    failed+=("$name: kustomize build")
    continue
  fi
  "$KUBECONFORM" -strict -summary -kubernetes-version "$KUBERNETES_VERSION" \
    -schema-location "$SCHEMAS/{{ .NormalizedKubernetesVersion }}-local{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json" \
    "$out/$name.yaml" | tee "$out/$name.kubeconform"
  kc=${PIPESTATUS[0]}
  summary="$(grep '^Summary:' "$out/$name.kubeconform" || true)"
  found="$(sed -n 's/^Summary: \([0-9]*\) resource.*/\1/p' <<<"$summary")"
  ok="$(sed -n 's/.*Valid: \([0-9]*\),.*/\1/p' <<<"$summary")"
  resources=$((resources + ${found:-0})) valid=$((valid + ${ok:-0}))
  # Nothing rendered is a broken overlay too, whatever the exit code says.
  if ((kc != 0)) || [[ -z "$found" || "$found" == 0 || "$found" != "$ok" ]]; then
    failed+=("$name: kubeconform")
  fi
  node scripts/check-manifest-config.ts "$out/$name.yaml" | tee "$out/$name.config"
  ((PIPESTATUS[0] == 0)) || failed+=("$name: service config")
  n="$(sed -n 's/.* \([0-9]*\) service containers checked.*/\1/p' "$out/$name.config")"
  containers=$((containers + ${n:-0}))
done

say "docker-compose.yml"
node scripts/check-compose.ts "$COMPOSE_FILE" || failed+=("compose")
haproxy_checked=0
if command -v haproxy >/dev/null; then
  for cfg in "$K8S_DIR/base/console/haproxy.cfg" "$(dirname "$COMPOSE_FILE")/deploy/compose/haproxy.cfg"; do
    [[ -f "$cfg" ]] || continue
    # Warnings are expected here: the upstream names resolve only in their cluster or compose network.
    if haproxy -c -f "$cfg" >"$out/haproxy.log" 2>&1; then
      haproxy_checked=$((haproxy_checked + 1))
    else
      cat "$out/haproxy.log" >&2
      failed+=("haproxy -c $cfg")
    fi
  done
  haproxy_note="$haproxy_checked HAProxy configs checked"
else
  haproxy_note="HAProxy configs NOT checked (haproxy not installed)"
fi

line="$overlays overlays, $resources resources ($valid valid, kubeconform $KUBECONFORM_VERSION -strict, Kubernetes $KUBERNETES_VERSION), $containers service containers against their config schemas, compose production profile parsed and checked, $haproxy_note"
if ((${#failed[@]})); then
  say "FAILED: ${failed[*]} | $line"
  exit 1
fi
say "OK: $line"
