"""localk8s.configs: each setting that decided, on these hosts, whether the cluster works at all.

containerd's restrict_oom_score_adj, cgroupfs, the kubelet's failCgroupV1 and oomScoreAdj,
kube-proxy's conntrack limits, a private CNI config dir, Node,RBAC and the admission chain
(K8S-NODE.md); and every file the cluster writes is under its state directory.
"""

from __future__ import annotations

from pathlib import Path

from localk8s import configs
from localk8s.settings import Settings


def test_containerd_settings_that_decide_whether_any_pod_starts(s: Settings) -> None:
    toml = configs.containerd_config(s)
    assert "restrict_oom_score_adj = true" in toml
    assert "SystemdCgroup = false" in toml
    assert f'conf_dir = "{s.cni_conf_dir}"' in toml
    assert f'sandbox_image = "{s.pause_image}"' in toml
    assert "/etc/cni/net.d" not in toml


def test_kubelet_config_for_cgroup_v1_without_cap_sys_resource(s: Settings) -> None:
    cfg = configs.kubelet_config(s, max_open_files=20000)
    assert cfg["cgroupDriver"] == "cgroupfs"
    assert cfg["failCgroupV1"] is False
    assert cfg["failSwapOn"] is False
    assert cfg["oomScoreAdj"] == 0
    assert cfg["maxOpenFiles"] == 20000
    assert cfg["clusterDNS"] == ["10.96.0.10"]
    assert cfg["authentication"]["anonymous"]["enabled"] is False
    assert cfg["imageGCHighThresholdPercent"] == 100  # loaded images can never be pulled again


def test_kube_proxy_leaves_host_sysctls_alone(s: Settings) -> None:
    cfg = configs.kube_proxy_config(s)
    assert cfg["mode"] == "iptables"
    assert cfg["conntrack"] == {"maxPerCore": 0, "min": 0}
    assert cfg["iptables"] == {"localhostNodePorts": False}
    assert cfg["oomScoreAdj"] == 0


def test_apiserver_authorization_and_admission(s: Settings) -> None:
    args = configs.apiserver_args(s)
    assert "--authorization-mode=Node,RBAC" in args
    plugins = next(a for a in args if a.startswith("--enable-admission-plugins=")).split("=")[1]
    for plugin in ("NamespaceLifecycle", "ServiceAccount", "NodeRestriction", "PodSecurity",
                   "LimitRanger", "ResourceQuota", "Priority"):  # fmt: skip
        assert plugin in plugins.split(","), plugin
    assert "--anonymous-auth=true" in args  # /readyz and /livez only (RBAC)
    assert any(a.startswith("--etcd-certfile=") for a in args)


def test_cni_bridge_private_network(s: Settings) -> None:
    net = configs.cni_conflist(s)
    bridge = net["plugins"][0]
    assert bridge["bridge"] == "daskburst0" and bridge["ipMasq"] and bridge["hairpinMode"]
    assert bridge["ipam"]["dataDir"].startswith(str(s.state))
    assert bridge["ipam"]["ranges"] == [[{"subnet": "10.244.0.0/24"}]]


def test_dns_service_points_at_coredns_on_the_node(s: Settings) -> None:
    objs = {o["kind"]: o for o in configs.bootstrap_objects(s)}
    assert objs["Service"]["spec"]["clusterIP"] == "10.96.0.10"
    assert "selector" not in objs["Service"]["spec"]
    assert objs["EndpointSlice"]["endpoints"][0]["addresses"] == ["192.0.2.7"]
    assert "bind 192.0.2.7" in configs.corefile(s)


def test_kubeconfig_embedded_or_by_path(s: Settings, tmp_path: Path) -> None:
    by_path = configs.kubeconfig(s, "u", "admin")
    assert by_path["users"][0]["user"]["client-key"].endswith("pki/admin.key")
    assert by_path["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:6443"
    s.pki.mkdir(parents=True)
    for name in ("ca.crt", "admin.crt", "admin.key"):
        (s.pki / name).write_text(name)
    embedded = configs.kubeconfig(s, "u", "admin", embed=True)
    assert "client-key-data" in embedded["users"][0]["user"]


def test_every_generated_file_is_under_the_state_dir(s: Settings) -> None:
    for path in configs.files(s, 1024):
        assert str(path).startswith(str(s.state))
