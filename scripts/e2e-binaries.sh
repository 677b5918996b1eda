#!/usr/bin/env bash
# Build (or reuse) the three binaries tests/e2e runs: etcd, kube-apiserver and the
# Secrets Store CSI Driver, each from its Go module through a small generated wrapper module
# (none of them can be `go install`ed: replace directives / a module the proxy refuses).
#
# Usage: scripts/e2e-binaries.sh [etcd|kube-apiserver|secrets-store-csi-driver ...]
#   (no argument: all three; independent builds run in parallel)
# Prints one line per binary, <name>=<absolute path>, then the Go module directories the
# tests read manifests and protos from: driver-module=<dir> (CRDs, RBAC, CSIDriver) and
# csi-spec=<dir> (csi.proto), both at the versions the driver was built with.
#
# Cache: ${SECRETS_GATEWAY_E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/secrets-gateway/e2e}/<name>-<version>/
# holding the wrapper module, build.log and the binary; a stamp file records what was built
# (version + recipe hash), so a warm run only checks stamps. Go's own module and build caches
# are the usual ones (go env GOMODCACHE GOCACHE).
set -euo pipefail

ETCD_VERSION=v3.6.16
KUBE_VERSION=v1.36.3
DRIVER_VERSION=v1.6.1

REPO=$(cd "$(dirname "$0")/.." && pwd)
MLOG_STANDIN="$REPO/tests/interop/third_party/mlog"
CACHE=${SECRETS_GATEWAY_E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/secrets-gateway/e2e}
export GOFLAGS="-mod=mod -buildvcs=false"
export CGO_ENABLED=0

die() { echo "e2e-binaries: $*" >&2; exit 1; }
command -v go >/dev/null || die "Go is not installed"

# A binary's stamp: its version and a hash of its recipe (the wrapper function's text, and the
# mlog stand-in for the driver), so editing one recipe rebuilds only that binary.
recipe_hash() { { declare -f "$1"; [[ $1 != wrapper_driver ]] || cat "$MLOG_STANDIN"/*; } | sha256sum | cut -c1-16; }

# wrapper_etcd DIR: a module requiring etcd's server module as a tool.
wrapper_etcd() {
  go mod init sgw-e2e/etcd >/dev/null 2>&1
  go get -tool "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
  go build -trimpath -o etcd go.etcd.io/etcd/server/v3
}

# wrapper_kube_apiserver: k8s.io/kubernetes replaces its 33 staging modules with ./staging
# paths; map each one (read from kubernetes' own go.mod) to the published module at v0.x.y.
wrapper_kube_apiserver() {
  local staging_version=v0.${KUBE_VERSION#v1.} minor=${KUBE_VERSION#v1.} gomod
  minor=${minor%%.*}
  go mod init sgw-e2e/kube-apiserver >/dev/null 2>&1
  gomod=$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/^\t"GoMod": "\(.*\)",$/\1/p')
  [[ -f "$gomod" ]] || die "no go.mod for k8s.io/kubernetes@$KUBE_VERSION"
  local count=0 module
  for module in $(awk '$2 == "=>" && $3 ~ /^\.\/staging\// { print $1 }' "$gomod"); do
    go mod edit -replace "$module=$module@$staging_version"
    count=$((count + 1))
  done
  (( count > 0 )) || die "found no staging replace directives in $gomod"
  echo "mapped $count staging modules to $staging_version"
  go get "k8s.io/kubernetes@$KUBE_VERSION"
  go build -trimpath -o kube-apiserver \
    -ldflags "-X k8s.io/component-base/version.gitVersion=$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor" \
    k8s.io/kubernetes/cmd/kube-apiserver
}

# wrapper_driver: the driver's main with monis.app/mlog replaced by our stand-in (copied in).
wrapper_driver() {
  go mod init sgw-e2e/secrets-store-csi-driver >/dev/null 2>&1
  rm -rf mlog && cp -r "$MLOG_STANDIN" mlog
  go mod edit -replace monis.app/mlog=./mlog
  go get "sigs.k8s.io/secrets-store-csi-driver@$DRIVER_VERSION"
  go build -trimpath -o secrets-store-csi-driver \
    -ldflags "-X sigs.k8s.io/secrets-store-csi-driver/pkg/version.BuildVersion=$DRIVER_VERSION" \
    sigs.k8s.io/secrets-store-csi-driver/cmd/secrets-store-csi-driver
}

# build NAME VERSION FUNCTION: run FUNCTION in the cache dir unless the stamp matches.
build() {
  local name=$1 version=$2 recipe=$3 dir="$CACHE/$1-$2" stamp
  stamp="$version $(recipe_hash "$recipe")"
  mkdir -p "$dir"
  exec 9>"$dir/.lock"
  flock 9
  if [[ -x "$dir/$name" && "$(cat "$dir/.stamp" 2>/dev/null)" == "$stamp" ]]; then
    echo "$name=$dir/$name"
    return
  fi
  rm -f "$dir/.stamp" "$dir/go.mod" "$dir/go.sum"
  local started=$SECONDS
  if ! (cd "$dir" && "$recipe") >"$dir/build.log" 2>&1; then
    tail -n 20 "$dir/build.log" >&2
    die "building $name $version failed (log: $dir/build.log)"
  fi
  echo "$stamp" >"$dir/.stamp"
  echo "built $name $version in $((SECONDS - started))s" >&2
  echo "$name=$dir/$name"
}

build_one() {
  case $1 in
    etcd) build etcd "$ETCD_VERSION" wrapper_etcd ;;
    kube-apiserver) build kube-apiserver "$KUBE_VERSION" wrapper_kube_apiserver ;;
    secrets-store-csi-driver) build secrets-store-csi-driver "$DRIVER_VERSION" wrapper_driver ;;
    *) die "unknown binary $1 (etcd, kube-apiserver, secrets-store-csi-driver)" ;;
  esac
}

names=("$@")
(( ${#names[@]} )) || names=(etcd kube-apiserver secrets-store-csi-driver)
outputs=()
pids=()
for name in "${names[@]}"; do
  out=$(mktemp)
  outputs+=("$out")
  build_one "$name" >"$out" &
  pids+=($!)
done
status=0
for i in "${!pids[@]}"; do
  wait "${pids[$i]}" || status=1
  cat "${outputs[$i]}"
  rm -f "${outputs[$i]}"
done
(( status == 0 )) || exit $status
if [[ " ${names[*]} " == *" secrets-store-csi-driver "* ]]; then
  (cd "$CACHE/secrets-store-csi-driver-$DRIVER_VERSION" &&
    go list -m -f '{{.Dir}}' sigs.k8s.io/secrets-store-csi-driver github.com/container-storage-interface/spec) |
    paste -d= <(printf '%s\n' driver-module csi-spec) -
fi
