#!/usr/bin/env bash
# `make kind-test`: the whole Kubernetes flow on a throwaway kind cluster.
#
#   kind cluster -> project image built and loaded -> `make k8s-test` (the flow of
#   scripts/k8s/e2e_check.py plus the fault, admission and network tests of tests/cluster,
#   against this cluster) -> teardown.
#
# Two ways to get the cluster (KIND_PROVIDER, default auto: docker when its engine answers,
# else podman as root):
#   docker  kind and a Docker engine of your own, kind's published node image
#           (KIND_NODE_IMAGE), k8s/kind-config.yaml; the operator image is pulled (upstream).
#   podman  kind and a node image built on this machine (`make kind-node-image`, made here
#           when missing), scripts/kind/kind-cluster: three nodes, one of them a spot node;
#           no registry, so the operator runs from the project image (bundled).
#
# Uses a temporary KUBECONFIG (never ~/.kube/config). Whatever happens, the EXIT trap saves
# cluster state and every pod's log under $ARTIFACTS/kind-test-<time>/ before deleting the
# cluster (KEEP_CLUSTER=1 keeps it for debugging). Skips (exit 0) on a machine with neither
# Docker nor root and podman; with CI=true that is a failure.
set -euo pipefail
cd "$(dirname "$0")/../.."

KIND_PROVIDER=${KIND_PROVIDER:-auto}
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
# What `make k8s-test` runs (a pytest path or node ids); all of tests/cluster by default.
KIND_TESTS=${KIND_TESTS:-tests/cluster}

cannot_run() {
  if [[ ${CI:-} == true ]]; then
    echo "kind-test: FAILED: kind cannot run here: $1" >&2
    exit 1
  fi
  echo "kind-test: SKIPPED: $1"
  echo "kind-test: the offline Kubernetes checks still run with \`make k8s-check\`."
  exit 0
}

case $KIND_PROVIDER in
  docker) why=$(scripts/k8s/require-kind.sh 2>&1) || cannot_run "$why" ;;
  podman)
    [[ $(id -u) == 0 ]] || cannot_run "KIND_PROVIDER=podman needs root (kind's podman provider, rootful)"
    command -v podman >/dev/null || cannot_run "KIND_PROVIDER=podman but podman is not installed" ;;
  auto)
    if why=$(scripts/k8s/require-kind.sh 2>&1); then KIND_PROVIDER=docker
    elif [[ $(id -u) == 0 ]] && command -v podman >/dev/null; then KIND_PROVIDER=podman
    else cannot_run "$why; nor root and podman for kind's podman provider"
    fi ;;
  *) echo "kind-test: KIND_PROVIDER=$KIND_PROVIDER: expected auto, docker or podman" >&2; exit 2 ;;
esac
if [[ $KIND_PROVIDER == podman ]]; then
  # kind, kubectl and the node image built here (scripts/cluster/build, make kind-node-image)
  # shellcheck source=scripts/cluster/versions.env
  source scripts/cluster/versions.env
  KIND=$PWD/build/bin/kind-$KIND_VERSION/kind
  command -v "$KUBECTL" >/dev/null || KUBECTL=$PWD/build/bin/kubernetes-$KUBERNETES_VERSION/kubectl
  KIND_NODE_IMAGE=${KIND_LOCAL_NODE_IMAGE:?set by mk/k8s.mk}
  export KIND_EXPERIMENTAL_PROVIDER=podman
fi
command -v "$KUBECTL" >/dev/null || { echo "kind-test: $KUBECTL not found" >&2; exit 1; }
echo "kind-test: provider $KIND_PROVIDER"
"$MAKE" --no-print-directory venv

run_dir=$(mktemp -d "${TMPDIR:-/tmp}/daskburst-kind.XXXXXX")
export KUBECONFIG="$run_dir/kubeconfig"
out="$ARTIFACTS/kind-test-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out"
created=0

# kind_cluster ARGS...: scripts/kind/kind-cluster on this run's cluster, kind, node image
# and temporary kubeconfig (the podman provider).
kind_cluster() {
  KIND_CLUSTER=$KIND_CLUSTER KIND_KUBECONFIG=$KUBECONFIG KIND=$KIND KIND_NODE_IMAGE=$KIND_NODE_IMAGE \
    scripts/kind/kind-cluster "$@"
}

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
  if [[ $KIND_PROVIDER == podman ]]; then
    kind_cluster logs "$out/kind" 2>/dev/null || true
  else
    "$KIND" export logs "$out/kind" --name "$KIND_CLUSTER" >/dev/null 2>&1 || true
  fi
}

# delete_cluster: the cluster and, on podman, its network and what it held on the host.
delete_cluster() {
  if [[ $KIND_PROVIDER == podman ]]; then
    kind_cluster down || true
  else
    "$KIND" delete cluster --name "$KIND_CLUSTER" --kubeconfig "$KUBECONFIG" || true
  fi
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
      delete_cluster
    fi
  fi
  rm -rf "$run_dir"
  if [[ $rc == 0 ]]; then echo "kind-test: PASSED (artifacts: $out)"; else echo "kind-test: FAILED with exit code $rc (artifacts: $out)" >&2; fi
  exit "$rc"
}
trap cleanup EXIT

# a signal ends the script through its EXIT trap (which collects and deletes)
trap 'exit 130' INT
trap 'exit 143' TERM

if [[ $KIND_PROVIDER == podman ]]; then
  if ! podman image exists "$KIND_NODE_IMAGE" || [[ ! -x $KIND ]]; then
    echo "kind-test: building kind and the node image $KIND_NODE_IMAGE (make kind-node-image)"
    "$MAKE" --no-print-directory kind-node-image
  fi
  echo "kind-test: creating kind cluster $KIND_CLUSTER ($KIND_NODE_IMAGE, podman)"
  kind_cluster down >/dev/null 2>&1 || true
  created=1
  kind_cluster up
  echo "kind-test: building and loading $IMG"
  "$MAKE" --no-print-directory image IMG="$IMG"
  podman tag "$IMG" "$KIND_IMG_DEV"
  kind_cluster load "$IMG" "$KIND_IMG_DEV"
  operator=bundled
else
  echo "kind-test: creating kind cluster $KIND_CLUSTER ($KIND_NODE_IMAGE)"
  "$KIND" delete cluster --name "$KIND_CLUSTER" >/dev/null 2>&1 || true
  created=1
  "$KIND" create cluster --name "$KIND_CLUSTER" --image "$KIND_NODE_IMAGE" \
    --config k8s/kind-config.yaml --kubeconfig "$KUBECONFIG" --wait 180s
  echo "kind-test: building and loading $IMG"
  "$MAKE" --no-print-directory image IMG="$IMG"
  "$MAKE" --no-print-directory kind-load IMG="$IMG" KIND_IMG_DEV="$KIND_IMG_DEV" KIND_CLUSTER="$KIND_CLUSTER"
  operator=upstream
fi

echo "kind-test: installing the Dask operator ($operator image) and the platform (daskburst k8s install)"
install_flags=(--timeout 300 --kubectl "$KUBECTL")
[[ $operator == bundled ]] && install_flags+=(--bundled-operator)
"$BIN/daskburst" k8s install "${install_flags[@]}"

echo "kind-test: running the flow (make k8s-test $KIND_TESTS)"
"$MAKE" --no-print-directory k8s-test KUBECONFIG="$KUBECONFIG" K8S_TEST_OPERATOR=$operator \
  K8S_TESTS="$KIND_TESTS" K8S_MARKERS="cluster and not lifecycle" DASKBURST_TEST_KUBECTL="$KUBECTL" \
  K8S_PYTEST_ARGS="--junitxml=$out/junit.xml -o cache_dir=$run_dir/pytest-cache"
