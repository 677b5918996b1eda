#!/usr/bin/env bash
# Refuse a Dockerfile whose base images are not pinned by digest: every global `ARG *_IMAGE=` default must
# end in @sha256:<64 hex digits> (the index digest, so both architectures are pinned). The release workflow
# runs this before it builds; a local `docker build` works unpinned. DOCKERFILE=<path> checks another file.
# Prints each image as NAME=reference (for $GITHUB_OUTPUT) and an ::error line for each unpinned one.
set -euo pipefail
dockerfile="${DOCKERFILE:-$(dirname "$0")/../Dockerfile}"
status=0
found=0
while IFS='=' read -r name ref; do
  found=1
  if [[ "$ref" =~ @sha256:[0-9a-f]{64}$ ]]; then
    echo "$name=$ref"
  else
    echo "::error file=Dockerfile::ARG $name=$ref is not pinned by digest: append @sha256:<index digest> (docs/operations.md, \"Pinning the base images\")"
    status=1
  fi
done < <(sed -n 's/^ARG \([A-Z_]*_IMAGE\)=\(.*\)$/\1=\2/p' "$dockerfile")
if [[ "$found" == 0 ]]; then
  echo "::error file=Dockerfile::no ARG *_IMAGE= base image found in $dockerfile"
  exit 1
fi
exit "$status"
