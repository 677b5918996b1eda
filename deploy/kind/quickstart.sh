#!/usr/bin/env bash
# secrets-gateway on a local kind cluster with the fake backend — see deploy/kind/README.md.
#
#   deploy/kind/quickstart.sh            # all steps: cluster driver image gateway demo rotate
#   deploy/kind/quickstart.sh <step>...  # some steps, e.g. "image gateway" after a code change
#   deploy/kind/quickstart.sh down       # delete the cluster
#
# Needs docker (or podman with KIND_EXPERIMENTAL_PROVIDER=podman), kind, kubectl and helm v3.
set -euo pipefail

# --- pinned versions (tests/chart/test_kind_quickstart.py keeps them in sync with the README) ----
KIND_VERSION=v0.33.0
CSI_DRIVER_CHART_VERSION=1.6.1
CSI_DRIVER_REPO=https://kubernetes-sigs.github.io/secrets-store-csi-driver/charts

CLUSTER_NAME=${CLUSTER_NAME:-secrets-gateway}
IMAGE=secrets-gateway:dev
NAMESPACE=kube-system
DRIVER_RELEASE=csi-secrets-store
GATEWAY_RELEASE=secrets-gateway
FAKE_STORE_CONFIGMAP=${GATEWAY_RELEASE}-fake-store
DEMO_POD=secrets-demo
ROTATION_TIMEOUT=${ROTATION_TIMEOUT:-240}

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$HERE/../.." && pwd)

log() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

need() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is not installed (see deploy/kind/README.md)"
  done
}

step_cluster() {
  need kind kubectl
  local version
  version=v$(kind version -q 2>/dev/null || true)  # kind -q prints the bare semver, e.g. 0.33.0
  [[ "$version" == "$KIND_VERSION" ]] || printf 'warning: kind %s found, the quickstart is tested with %s\n' "$version" "$KIND_VERSION" >&2
  if kind get clusters 2>/dev/null | grep -qx "$CLUSTER_NAME"; then
    log "kind cluster $CLUSTER_NAME already exists"
  else
    log "creating kind cluster $CLUSTER_NAME"
    kind create cluster --name "$CLUSTER_NAME" --config "$HERE/kind-config.yaml" --wait 180s
  fi
  kubectl config use-context "kind-$CLUSTER_NAME" >/dev/null
}

step_driver() {
  need helm kubectl
  log "installing the Secrets Store CSI Driver chart $CSI_DRIVER_CHART_VERSION (tokenRequests, rotation, secret sync)"
  helm repo add secrets-store-csi-driver "$CSI_DRIVER_REPO" --force-update >/dev/null
  helm upgrade --install "$DRIVER_RELEASE" secrets-store-csi-driver/secrets-store-csi-driver \
    --version "$CSI_DRIVER_CHART_VERSION" --namespace "$NAMESPACE" \
    --values "$HERE/csi-driver-values.yaml" --wait --timeout 5m
  kubectl get csidriver secrets-store.csi.k8s.io -o jsonpath='{.spec.tokenRequests}{"\n"}'
}

step_image() {
  need docker kind
  log "building $IMAGE from $REPO_ROOT and loading it into the cluster"
  docker build --tag "$IMAGE" "$REPO_ROOT"
  kind load docker-image "$IMAGE" --name "$CLUSTER_NAME"
}

step_gateway() {
  need helm kubectl
  log "installing the secrets-gateway chart with the fake backend and examples/fake/store.yaml"
  helm upgrade --install "$GATEWAY_RELEASE" "$REPO_ROOT/charts/secrets-gateway" --namespace "$NAMESPACE" \
    --values "$HERE/gateway-values.yaml" \
    --set-file plugins.fake.store="$REPO_ROOT/examples/fake/store.yaml" \
    --wait --timeout 3m
  kubectl --namespace "$NAMESPACE" rollout status "daemonset/$GATEWAY_RELEASE" --timeout 120s
}

step_demo() {
  need kubectl
  log "applying the example SecretProviderClass and a pod that mounts it"
  kubectl apply -f "$REPO_ROOT/examples/fake/spc.yaml" -f "$HERE/demo-pod.yaml"
  if ! kubectl wait --for=condition=Ready "pod/$DEMO_POD" --timeout 180s; then
    kubectl describe pod "$DEMO_POD" | tail -n 15  # a failed mount shows up as a FailedMount event
    die "pod $DEMO_POD did not start"
  fi
  log "the mounted files"
  kubectl exec "$DEMO_POD" -- ls -l /mnt/secrets /mnt/secrets/flags
  for file in db-user db-password prod_api-key replicated.txt flags/newCheckout; do
    printf '%-20s %s\n' "$file" "$(kubectl exec "$DEMO_POD" -- cat "/mnt/secrets/$file")"
  done
  log "the synced Kubernetes Secret db-credentials"
  kubectl get secret db-credentials -o jsonpath='{.data.password}' | base64 -d
  echo
}

read_password() { kubectl exec "$DEMO_POD" -- cat /mnt/secrets/db-password; }

step_rotate() {
  need kubectl
  local before after data waited=0
  before=$(read_password)
  log "rotating prod/db: editing ConfigMap $NAMESPACE/$FAKE_STORE_CONFIGMAP (deploy/kind/store-rotated.yaml)"
  # The same edit as `kubectl edit configmap`, scripted: replace the store document.
  data=$(kubectl create configmap rotated --from-file=store.yaml="$HERE/store-rotated.yaml" \
    --dry-run=client -o jsonpath='{.data}')
  kubectl --namespace "$NAMESPACE" patch configmap "$FAKE_STORE_CONFIGMAP" --type merge --patch "{\"data\":$data}"
  echo "db-password before: $before"
  echo "waiting for the file to change (kubelet ConfigMap sync + driver rotation poll; usually under two minutes)"
  while after=$(read_password) && [[ "$after" == "$before" ]]; do
    (( waited >= ROTATION_TIMEOUT )) && die "db-password did not change within ${ROTATION_TIMEOUT}s"
    sleep 5
    waited=$(( waited + 5 ))
    printf '.'
  done
  printf '\ndb-password after %ss: %s\n' "$waited" "$after"
  kubectl exec "$DEMO_POD" -- cat /mnt/secrets/db-previous.json
  echo
  echo "(helm upgrade of $GATEWAY_RELEASE, or running the gateway step again, restores the original store)"
}

step_down() {
  need kind
  log "deleting kind cluster $CLUSTER_NAME"
  kind delete cluster --name "$CLUSTER_NAME"
}

main() {
  local steps=("$@")
  (( ${#steps[@]} )) || steps=(cluster driver image gateway demo rotate)
  local step
  for step in "${steps[@]}"; do
    case "$step" in
      cluster|driver|image|gateway|demo|rotate|down) "step_$step" ;;
      *) die "unknown step \"$step\" (cluster, driver, image, gateway, demo, rotate, down)" ;;
    esac
  done
}

main "$@"
