##@ Single-node Kubernetes (Linux, root, no Docker needed)

# A real Kubernetes of host processes built from pinned upstream sources
# (scripts/cluster/versions.env), for this machine, CI and any Linux box where you are root.
# State, logs and the kubeconfig live in CLUSTER_DIR; binaries in CLUSTER_BIN_ROOT (kept by
# cluster-down, so the next cluster-up takes seconds).
CLUSTER_DIR ?= $(CURDIR)/build/cluster
CLUSTER_BIN_ROOT ?= $(CURDIR)/build/bin
CLUSTER_ENV = CLUSTER_DIR='$(CLUSTER_DIR)' CLUSTER_BIN_ROOT='$(CLUSTER_BIN_ROOT)' PYTHON='$(CURDIR)/$(BIN)/python'
CLUSTER_KUBECTL = $(CLUSTER_DIR)/bin/kubectl

.PHONY: cluster-build
cluster-build: ## Build etcd, Kubernetes 1.34, CoreDNS, crictl, kube-router from pinned Go modules (~17 min cold; cached)
	CLUSTER_BIN_ROOT='$(CLUSTER_BIN_ROOT)' scripts/cluster/build all

.PHONY: cluster-up
cluster-up: venv ## Start the single-node cluster with the image and the Dask operator loaded (root)
	$(CLUSTER_ENV) IMG='$(IMG)' scripts/cluster/cluster-up

.PHONY: cluster-down
cluster-down: ## Stop the single-node cluster; leave no process, mount, iptables chain or cgroup
	$(CLUSTER_ENV) scripts/cluster/cluster-down

.PHONY: cluster-status
cluster-status: venv ## Show the single-node cluster's components and node
	@$(BIN)/python -m localk8s status
	@test ! -x '$(CLUSTER_KUBECTL)' || KUBECONFIG='$(CLUSTER_DIR)/kubeconfig' '$(CLUSTER_KUBECTL)' get nodes,pods -A -o wide 2>/dev/null || true

.PHONY: cluster-vulncheck
cluster-vulncheck: ## govulncheck kube-router's wrapper module, offline (~3 min; not in CI)
	scripts/cluster/vulncheck
