//go:build tools

// Package tools pins the Kubernetes commands that `make cluster-up` builds, and kubeadm for
// the kind node image (scripts/kind).
// Nothing here is compiled into a program: `go build` of each k8s.io/kubernetes/cmd/...
// package uses this module's go.mod (the pinned version and its staging modules).
package tools

import (
	_ "k8s.io/kubernetes/cmd/kubeadm"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
