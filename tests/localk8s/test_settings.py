"""localk8s.settings: the one place every version is pinned, and one state directory."""

from __future__ import annotations

import re

from localk8s import settings
from tests.localk8s.conftest import ROOT


def test_versions_pinned_once_and_matching_the_go_modules() -> None:
    versions = settings.read_env_file(ROOT / "scripts/cluster/versions.env")
    assert re.fullmatch(r"v1\.34\.\d+", versions["KUBERNETES_VERSION"])
    k8s_mod = (ROOT / "scripts/cluster/go/kubernetes/go.mod").read_text()
    assert f"k8s.io/kubernetes {versions['KUBERNETES_VERSION']}\n" in k8s_mod
    staging = versions["KUBERNETES_VERSION"].replace("v1.", "v0.")
    replaced = re.findall(r"^\t(k8s\.io/\S+) => (\S+) (\S+)$", k8s_mod, re.M)
    assert len(replaced) >= 31
    assert {(a, b, v) for a, b, v in replaced} == {(a, a, staging) for a, _, _ in replaced}
    etcd_mod = (ROOT / "scripts/cluster/go/etcd/go.mod").read_text()
    assert f"go.etcd.io/etcd/server/v3 {versions['ETCD_VERSION']}\n" in etcd_mod
    coredns_mod = (ROOT / "scripts/cluster/go/coredns/go.mod").read_text()
    assert f"github.com/coredns/coredns {versions['COREDNS_VERSION']}\n" in coredns_mod
    router_mod = (ROOT / "scripts/cluster/go/kube-router/go.mod").read_text()
    assert (
        f"github.com/cloudnativelabs/kube-router/v2 {versions['KUBE_ROUTER_VERSION']}\n"
        in router_mod
    )
    for key in ("CRICTL_VERSION", "PAUSE_VERSION", "KUBE_ROUTER_GO"):
        assert versions[key]
    # No other file pins these versions.
    build = (ROOT / "scripts/cluster/build").read_text()
    assert "v1.34" not in build and "v3.6" not in build


def test_paths_all_derive_from_the_state_dir(s: settings.Settings) -> None:
    for attr in ("pki", "logs", "pids", "conf", "run", "kubeconfig", "etcd_data", "kubelet_root",
                 "containerd_root", "containerd_state", "cni_conf_dir", "pod_logs"):  # fmt: skip
        assert str(getattr(s, attr)).startswith(str(s.state)), attr
    assert s.kubeconfig == s.state / "kubeconfig"
    assert s.pod_gateway == "10.244.0.1/24"


def test_the_package_is_installed_not_put_on_the_path() -> None:
    """`make venv` installs localk8s (scripts/cluster/pyproject.toml), editable: the code
    imported is the checkout's, found without PYTHONPATH or a sys.path insert."""
    from importlib import metadata

    assert metadata.distribution("daskburst-localk8s").version
    assert settings.HERE == ROOT / "scripts" / "cluster"
