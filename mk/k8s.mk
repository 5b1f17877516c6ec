##@ Kubernetes

# Pinned tools and cluster. kind v0.27.0's node image for Kubernetes v1.32.2, by digest.
KIND ?= kind
KUBECTL ?= kubectl
KIND_VERSION ?= v0.27.0
KIND_CLUSTER ?= daskburst
KIND_NODE_IMAGE ?= kindest/node:v1.32.2@sha256:f226345927d7e348497136874b6d207e0b32cc52154ad8323129352923a3142f
# kind-up/deploy/kind-down keep the cluster's credentials here, never in ~/.kube/config:
#   export KUBECONFIG=$(KIND_KUBECONFIG)
KIND_KUBECONFIG ?= $(CURDIR)/build/kind/$(KIND_CLUSTER).kubeconfig
# The kind overlay of charts/dask-burst runs this tag of the project image.
KIND_IMG_DEV ?= localhost/daskburst:dev
# IMG and CONTAINER_TOOL come from mk/image.mk.
DASK_OPERATOR_IMAGE ?= ghcr.io/dask/dask-kubernetes-operator:2026.3.0
K8S_NAMESPACE ?= daskburst
# Seconds `make kind-test` waits for all jobs.
KIND_TEST_TIMEOUT ?= 1800
# Scanner for `make k8s-check`, in its own venv so its pins never touch .venv.
CHECKOV_VERSION ?= 3.3.30
CHECKOV_VENV ?= build/checkov-venv
K8S_PYTEST_ARGS ?=
# What `make k8s-test` runs (pytest paths or node ids, and a marker expression): the
# multi-node checks only on a cluster that has a spot node (make kind-test).
K8S_TESTS ?= tests/cluster
K8S_MARKERS ?= cluster and not lifecycle and not multinode

.PHONY: k8s-crds
k8s-crds: venv ## Copy the Dask CRDs from the installed dask-kubernetes into charts/dask-operator
	@src=$$($(BIN)/python -c 'import dask_kubernetes, pathlib; print(pathlib.Path(dask_kubernetes.__file__).parent / "operator/deployment/helm/dask-kubernetes-operator/crds")'); \
	cp "$$src"/daskautoscaler.yaml "$$src"/daskcluster.yaml "$$src"/daskjob.yaml "$$src"/daskworkergroup.yaml \
	  charts/dask-operator/base/crds/; \
	echo "k8s-crds: copied from $$src"

.PHONY: k8s-manifests
k8s-manifests: venv ## Regenerate jobs/*.yaml and charts/dask-burst/base from src/daskburst/k8s/_specs.py and catalogue.py
	$(BIN)/python scripts/k8s/render_manifests.py

$(CHECKOV_VENV)/bin/checkov:
	python3 -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet 'checkov==$(CHECKOV_VERSION)'

.PHONY: k8s-tools
k8s-tools: $(CHECKOV_VENV)/bin/checkov ## Install the checkov scanner into build/checkov-venv (idempotent)
	@$(CHECKOV_VENV)/bin/checkov --version | sed 's/^/k8s-tools: checkov /'

.PHONY: k8s-check
k8s-check: venv k8s-tools ## Offline checks: renders, schemas, CRD/manifest drift, checkov, names
	$(BIN)/python scripts/k8s/render_manifests.py --check
	CHECKOV=$(CHECKOV_VENV)/bin/checkov $(BIN)/python -m pytest -m 'k8s and not containers' tests/k8s $(K8S_PYTEST_ARGS)

.PHONY: kind-up
kind-up: ## Create the kind cluster (1 control plane + 2 workers, pinned node image)
	@scripts/k8s/require-kind.sh || exit 1
	@mkdir -p $(dir $(KIND_KUBECONFIG))
	@if $(KIND) get clusters 2>/dev/null | grep -qx '$(KIND_CLUSTER)'; then \
	  echo "kind-up: cluster $(KIND_CLUSTER) exists"; \
	  $(KIND) export kubeconfig --name '$(KIND_CLUSTER)' --kubeconfig '$(KIND_KUBECONFIG)'; \
	else \
	  $(KIND) create cluster --name '$(KIND_CLUSTER)' --image '$(KIND_NODE_IMAGE)' \
	    --config k8s/kind-config.yaml --kubeconfig '$(KIND_KUBECONFIG)' --wait 180s; \
	fi
	@echo "kind-up: export KUBECONFIG=$(KIND_KUBECONFIG)"

.PHONY: kind-load
kind-load: ## Load the project image (IMG, also tagged :dev) into the kind cluster
	@scripts/k8s/require-kind.sh || exit 1
	@$(CONTAINER_TOOL) image inspect '$(IMG)' >/dev/null 2>&1 || $(MAKE) image
	$(CONTAINER_TOOL) tag '$(IMG)' '$(KIND_IMG_DEV)'
	@mkdir -p build/kind
	$(CONTAINER_TOOL) save $(if $(filter podman,$(CONTAINER_TOOL)),-m) -o build/kind/daskburst-image.tar \
	  '$(IMG)' '$(KIND_IMG_DEV)'
	$(KIND) load image-archive build/kind/daskburst-image.tar --name '$(KIND_CLUSTER)'
	@rm -f build/kind/daskburst-image.tar

.PHONY: deploy
deploy: venv ## Install the operator and k8s/ on the kind cluster, then dask-burst (kind overlay)
	KUBECONFIG='$(KIND_KUBECONFIG)' $(BIN)/daskburst k8s install --timeout 300
	KUBECONFIG='$(KIND_KUBECONFIG)' $(KUBECTL) apply -k charts/dask-burst/overlays/kind

# `make k8s-test`: which operator image the flow installs: upstream (ghcr.io, pulled by the
# cluster) or bundled (the daskburst image, for clusters without a registry).
# Default: bundled on this repository's single-node cluster (make cluster-up), else upstream.
K8S_TEST_OPERATOR ?= $(if $(filter $(CLUSTER_DIR)/kubeconfig,$(KUBECONFIG)),bundled,upstream)

.PHONY: k8s-test
k8s-test: venv ## The whole Kubernetes flow + faults/admission/network checks on the cluster KUBECONFIG points at
	@test -n "$${KUBECONFIG:-}" || { echo "k8s-test: set KUBECONFIG to the cluster to test (make cluster-up prints it)" >&2; exit 2; }
	DASKBURST_TEST_KUBECONFIG="$$KUBECONFIG" DASKBURST_TEST_OPERATOR='$(K8S_TEST_OPERATOR)' \
	  $(if $(DASKBURST_TEST_KUBECTL),DASKBURST_TEST_KUBECTL='$(DASKBURST_TEST_KUBECTL)') \
	  $(BIN)/python -m pytest -m '$(K8S_MARKERS)' $(K8S_TESTS) $(K8S_PYTEST_ARGS)

# `make kind-test`: auto (Docker when its engine answers, else podman as root), docker or
# podman (kind and the node image built here, the three-node cluster of scripts/kind).
KIND_PROVIDER ?= auto
# What `make kind-test` runs against its cluster (pytest paths or node ids).
KIND_TESTS ?= tests/cluster

.PHONY: kind-test
kind-test: ## Full flow on a fresh kind cluster (Docker, or podman with a node image built here): image, operator, jobs/, results, scaling
	@KIND='$(KIND)' KUBECTL='$(KUBECTL)' KIND_CLUSTER='$(KIND_CLUSTER)-e2e' \
	  KIND_PROVIDER='$(KIND_PROVIDER)' KIND_TESTS='$(KIND_TESTS)' \
	  KIND_LOCAL_NODE_IMAGE='$(KIND_LOCAL_NODE_IMAGE)' \
	  KIND_NODE_IMAGE='$(KIND_NODE_IMAGE)' IMG='$(IMG)' KIND_IMG_DEV='$(KIND_IMG_DEV)' \
	  CONTAINER_TOOL='$(CONTAINER_TOOL)' ARTIFACTS='$(ARTIFACTS)' BIN='$(BIN)' \
	  KIND_TEST_TIMEOUT='$(KIND_TEST_TIMEOUT)' MAKE='$(MAKE)' \
	  scripts/k8s/e2e.sh

.PHONY: kind-down
kind-down: ## Delete the kind cluster and its kubeconfig
	@if command -v $(KIND) >/dev/null 2>&1; then $(KIND) delete cluster --name '$(KIND_CLUSTER)'; \
	else echo "kind-down: $(KIND) not installed, nothing to delete"; fi
	@rm -f '$(KIND_KUBECONFIG)'

# The kind cluster built here (scripts/kind): kind, kubeadm and every image from their Go
# modules and Debian's packages, no registry. kind's podman provider; root.
KIND_LOCAL_NODE_IMAGE ?= localhost/daskburst-kind-node:$(shell sed -n 's/^KUBERNETES_VERSION=//p' scripts/cluster/versions.env)

.PHONY: kind-node-image
kind-node-image: ## Build kind and the kind node image KIND_LOCAL_NODE_IMAGE here (scripts/kind/node-image)
	scripts/cluster/build all
	@$(MAKE) --no-print-directory base-image CONTAINER_TOOL=podman
	KIND_NODE_IMAGE='$(KIND_LOCAL_NODE_IMAGE)' scripts/kind/node-image

.PHONY: kind-cluster-up
kind-cluster-up: ## Create the 3-node kind cluster (spot worker included) from KIND_LOCAL_NODE_IMAGE with podman
	KIND_CLUSTER='$(KIND_CLUSTER)' KIND_NODE_IMAGE='$(KIND_LOCAL_NODE_IMAGE)' scripts/kind/kind-cluster up

.PHONY: kind-cluster-smoke
kind-cluster-smoke: ## Check that cluster: nodes, DNS, IMG on each worker, pod IPs and a Service across nodes, a NetworkPolicy
	KIND_CLUSTER='$(KIND_CLUSTER)' IMG='$(IMG)' scripts/kind/kind-cluster smoke

.PHONY: kind-cluster-down
kind-cluster-down: ## Delete that cluster, its podman network and kubeconfig
	KIND_CLUSTER='$(KIND_CLUSTER)' scripts/kind/kind-cluster down
