#!/usr/bin/env bash
# Build (or reuse) the real ASCP — AWS's Secrets Store CSI provider, github.com/aws/
# secrets-store-csi-driver-provider-aws — at a pinned release commit, for side-by-side
# benchmarks (benchmarks/versus_ascp.py). Nothing of ASCP is kept in this repository: its
# tree is exported from git into the cache and built there.
#
# Usage: scripts/build-ascp.sh
# Prints ascp=<absolute path of the binary>.
#
# Source: the Go module proxy does not serve this module at its release commits, so the tree
# comes from git: ASCP_GIT names a local git directory (a clone or a bare mirror) or a URL to
# clone (default: the GitHub repository; the clone is cached as src.git). The build's other
# modules come from the Go module proxy as usual (go env GOPROXY GOMODCACHE GOCACHE).
#
# Cache: ${SECRETS_GATEWAY_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/secrets-gateway/tools}/ascp-<version>/
# holding the exported tree (src/), build.log and the binary; a stamp records the commit and a
# hash of this recipe, so a warm run only checks the stamp.
set -euo pipefail

ASCP_VERSION=3.1.1
ASCP_COMMIT=5f47771b11645e19c11057dc690d3012f7a2345d   # tag 3.1.1
ASCP_GIT=${ASCP_GIT:-https://github.com/aws/secrets-store-csi-driver-provider-aws.git}
ASCP_MODULE=github.com/aws/secrets-store-csi-driver-provider-aws

CACHE=${SECRETS_GATEWAY_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/secrets-gateway/tools}
DIR="$CACHE/ascp-$ASCP_VERSION"
export GOFLAGS="-mod=mod -buildvcs=false"
export CGO_ENABLED=0

die() { echo "build-ascp: $*" >&2; exit 1; }
command -v go >/dev/null || die "Go is not installed"
command -v git >/dev/null || die "git is not installed"

# git_dir: a git directory holding ASCP_COMMIT (ASCP_GIT itself when local, else a cached clone).
git_dir() {
  if [[ -d $ASCP_GIT ]]; then
    echo "$ASCP_GIT"
    return
  fi
  [[ -d "$DIR/src.git" ]] || git clone --bare --quiet "$ASCP_GIT" "$DIR/src.git" >&2
  git -C "$DIR/src.git" cat-file -e "$ASCP_COMMIT^{commit}" 2>/dev/null ||
    git -C "$DIR/src.git" fetch --quiet origin "$ASCP_COMMIT" >&2
  echo "$DIR/src.git"
}

# recipe: export the pinned tree and build its main package with the release's version flags.
recipe() {
  local src
  src=$(git_dir)
  git -C "$src" cat-file -e "$ASCP_COMMIT^{commit}" 2>/dev/null || die "$src has no commit $ASCP_COMMIT"
  rm -rf src && mkdir src
  git -C "$src" archive "$ASCP_COMMIT" | tar -x -C src
  (cd src && go build -trimpath -o ../ascp \
    -ldflags "-X $ASCP_MODULE/server.Version=$ASCP_VERSION -X $ASCP_MODULE/server.ProviderVersion=$ASCP_VERSION" .)
}

mkdir -p "$DIR"
exec 9>"$DIR/.lock"
flock 9
stamp="$ASCP_COMMIT $(declare -f recipe git_dir | sha256sum | cut -c1-16)"
if [[ -x "$DIR/ascp" && "$(cat "$DIR/.stamp" 2>/dev/null)" == "$stamp" ]]; then
  echo "ascp=$DIR/ascp"
  exit 0
fi
rm -f "$DIR/.stamp" "$DIR/ascp"
started=$SECONDS
if ! (cd "$DIR" && recipe) >"$DIR/build.log" 2>&1; then
  tail -n 20 "$DIR/build.log" >&2
  die "building ASCP $ASCP_VERSION failed (log: $DIR/build.log)"
fi
echo "$stamp" >"$DIR/.stamp"
echo "built ASCP $ASCP_VERSION in $((SECONDS - started))s" >&2
echo "ascp=$DIR/ascp"
