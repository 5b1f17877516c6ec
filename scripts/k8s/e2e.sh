#!/usr/bin/env bash
# `make kind-test`: the whole Kubernetes flow on a throwaway kind cluster.
#
#   kind cluster (pinned node image) -> project image built and loaded -> `make k8s-test`
#   (the flow of scripts/k8s/e2e_check.py plus the fault, admission and network tests of
#   tests/cluster, against this cluster) -> teardown.
#
# Uses a temporary KUBECONFIG (never ~/.kube/config). Whatever happens, the EXIT trap saves
# cluster state and every pod's log under $ARTIFACTS/kind-test-<time>/ before deleting the
# cluster (KEEP_CLUSTER=1 keeps it for debugging). Skips (exit 0) without Docker and kind.
set -euo pipefail
cd "$(dirname "$0")/../.."

KIND=${KIND:-kind}
KUBECTL=${KUBECTL:-kubectl}
KIND_CLUSTER=${KIND_CLUSTER:-daskburst-e2e}
KIND_NODE_IMAGE=${KIND_NODE_IMAGE:?set by mk/k8s.mk}
IMG=${IMG:?set by mk/image.mk}
KIND_IMG_DEV=${KIND_IMG_DEV:-localhost/daskburst:dev}
ARTIFACTS=${ARTIFACTS:-$PWD/artifacts}
BIN=${BIN:-.venv/bin}
MAKE=${MAKE:-make}
KIND_TEST_TIMEOUT=${KIND_TEST_TIMEOUT:-1800}
KEEP_CLUSTER=${KEEP_CLUSTER:-0}

if ! why=$(scripts/k8s/require-kind.sh 2>&1); then
  echo "kind-test: SKIPPED: $why"
  echo "kind-test: the offline Kubernetes checks still run with \`make k8s-check\`."
  exit 0
fi
command -v "$KUBECTL" >/dev/null || { echo "kind-test: $KUBECTL not found" >&2; exit 1; }
"$MAKE" --no-print-directory venv

run_dir=$(mktemp -d "${TMPDIR:-/tmp}/daskburst-kind.XXXXXX")
export KUBECONFIG="$run_dir/kubeconfig"
out="$ARTIFACTS/kind-test-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out"
created=0

collect() {
  echo "kind-test: saving cluster state and logs to $out"
  "$KUBECTL" get nodes -o wide >"$out/nodes.txt" 2>&1 || true
  "$KUBECTL" get all,daskjobs,daskclusters,daskworkergroups,daskautoscalers,networkpolicies,resourcequotas \
    -A -o wide >"$out/resources.txt" 2>&1 || true
  "$KUBECTL" get daskjobs,daskclusters,daskworkergroups,daskautoscalers -A -o yaml \
    >"$out/dask-resources.yaml" 2>&1 || true
  "$KUBECTL" get events -A --sort-by=.lastTimestamp >"$out/events.txt" 2>&1 || true
  for ns in dask-operator daskburst; do
    mkdir -p "$out/pods/$ns"
    for pod in $("$KUBECTL" get pods -n "$ns" -o name 2>/dev/null); do
      name=${pod#pod/}
      "$KUBECTL" logs -n "$ns" "$name" --all-containers --timestamps >"$out/pods/$ns/$name.log" 2>&1 || true
      "$KUBECTL" describe -n "$ns" "$pod" >"$out/pods/$ns/$name.describe.txt" 2>&1 || true
    done
  done
  "$KIND" export logs "$out/kind" --name "$KIND_CLUSTER" >/dev/null 2>&1 || true
}

cleanup() {
  rc=$?
  trap - EXIT
  if [[ $created == 1 ]]; then
    collect
    if [[ $KEEP_CLUSTER == 1 ]]; then
      cp "$KUBECONFIG" "$out/kubeconfig"
      echo "kind-test: KEEP_CLUSTER=1: cluster $KIND_CLUSTER kept; export KUBECONFIG=$out/kubeconfig"
    else
      "$KIND" delete cluster --name "$KIND_CLUSTER" --kubeconfig "$KUBECONFIG" || true
    fi
  fi
  rm -rf "$run_dir"
  if [[ $rc == 0 ]]; then echo "kind-test: PASSED (artifacts: $out)"; else echo "kind-test: FAILED with exit code $rc (artifacts: $out)" >&2; fi
  exit "$rc"
}
trap cleanup EXIT

echo "kind-test: creating kind cluster $KIND_CLUSTER ($KIND_NODE_IMAGE)"
"$KIND" delete cluster --name "$KIND_CLUSTER" >/dev/null 2>&1 || true
created=1
"$KIND" create cluster --name "$KIND_CLUSTER" --image "$KIND_NODE_IMAGE" \
  --config k8s/kind-config.yaml --kubeconfig "$KUBECONFIG" --wait 180s

echo "kind-test: building and loading $IMG"
"$MAKE" --no-print-directory image IMG="$IMG"
"$MAKE" --no-print-directory kind-load IMG="$IMG" KIND_IMG_DEV="$KIND_IMG_DEV" KIND_CLUSTER="$KIND_CLUSTER"

echo "kind-test: running the flow (make k8s-test)"
"$MAKE" --no-print-directory k8s-test KUBECONFIG="$KUBECONFIG" K8S_TEST_OPERATOR=upstream \
  K8S_PYTEST_ARGS="--junitxml=$out/junit.xml -o cache_dir=$run_dir/pytest-cache"
