"""The single-node cluster's parts (scripts/cluster/localk8s), tested without a cluster.

Each setting that decided, on these hosts, whether the cluster works at all is pinned here
(K8S-NODE.md): containerd's restrict_oom_score_adj, cgroupfs, the kubelet's failCgroupV1 and
oomScoreAdj, kube-proxy's conntrack limits, a private CNI config dir, Node,RBAC and the
admission chain; and the one place every version is pinned.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import socket
import subprocess
import tarfile
from pathlib import Path

import pytest

from tests.cluster.conftest import ROOT, localk8s
from tests.helpers import require

configs = localk8s("configs")
images = localk8s("images")
pki = localk8s("pki")
settings = localk8s("settings")
host = localk8s("host")
netfilter = localk8s("netfilter")
local_cluster = localk8s("cluster")


@pytest.fixture
def s(tmp_path: Path) -> object:
    return settings.load(
        {"CLUSTER_DIR": str(tmp_path / "state"), "CLUSTER_NODE_IP": "192.0.2.7",
         "CLUSTER_NODE_NAME": "node1", "CLUSTER_BIN_ROOT": str(tmp_path / "bin")}
    )  # fmt: skip


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


def test_paths_all_derive_from_the_state_dir(s: object) -> None:
    for attr in ("pki", "logs", "pids", "conf", "run", "kubeconfig", "etcd_data", "kubelet_root",
                 "containerd_root", "containerd_state", "cni_conf_dir", "pod_logs"):  # fmt: skip
        assert str(getattr(s, attr)).startswith(str(s.state)), attr  # type: ignore[attr-defined]
    assert s.kubeconfig == s.state / "kubeconfig"  # type: ignore[attr-defined]
    assert s.pod_gateway == "10.244.0.1/24"  # type: ignore[attr-defined]


def test_containerd_settings_that_decide_whether_any_pod_starts(s: object) -> None:
    toml = configs.containerd_config(s)
    assert "restrict_oom_score_adj = true" in toml
    assert "SystemdCgroup = false" in toml
    assert f'conf_dir = "{s.cni_conf_dir}"' in toml  # type: ignore[attr-defined]
    assert f'sandbox_image = "{s.pause_image}"' in toml  # type: ignore[attr-defined]
    assert "/etc/cni/net.d" not in toml


def test_kubelet_config_for_cgroup_v1_without_cap_sys_resource(s: object) -> None:
    cfg = configs.kubelet_config(s, max_open_files=20000)
    assert cfg["cgroupDriver"] == "cgroupfs"
    assert cfg["failCgroupV1"] is False
    assert cfg["failSwapOn"] is False
    assert cfg["oomScoreAdj"] == 0
    assert cfg["maxOpenFiles"] == 20000
    assert cfg["clusterDNS"] == ["10.96.0.10"]
    assert cfg["authentication"]["anonymous"]["enabled"] is False
    assert cfg["imageGCHighThresholdPercent"] == 100  # loaded images can never be pulled again


def test_kube_proxy_leaves_host_sysctls_alone(s: object) -> None:
    cfg = configs.kube_proxy_config(s)
    assert cfg["mode"] == "iptables"
    assert cfg["conntrack"] == {"maxPerCore": 0, "min": 0}
    assert cfg["iptables"] == {"localhostNodePorts": False}
    assert cfg["oomScoreAdj"] == 0


def test_apiserver_authorization_and_admission(s: object) -> None:
    args = configs.apiserver_args(s)
    assert "--authorization-mode=Node,RBAC" in args
    plugins = next(a for a in args if a.startswith("--enable-admission-plugins=")).split("=")[1]
    for plugin in ("NamespaceLifecycle", "ServiceAccount", "NodeRestriction", "PodSecurity",
                   "LimitRanger", "ResourceQuota", "Priority"):  # fmt: skip
        assert plugin in plugins.split(","), plugin
    assert "--anonymous-auth=true" in args  # /readyz and /livez only (RBAC)
    assert any(a.startswith("--etcd-certfile=") for a in args)


def test_cni_bridge_private_network(s: object) -> None:
    net = configs.cni_conflist(s)
    bridge = net["plugins"][0]
    assert bridge["bridge"] == "daskburst0" and bridge["ipMasq"] and bridge["hairpinMode"]
    assert bridge["ipam"]["dataDir"].startswith(str(s.state))  # type: ignore[attr-defined]
    assert bridge["ipam"]["ranges"] == [[{"subnet": "10.244.0.0/24"}]]


def test_dns_service_points_at_coredns_on_the_node(s: object) -> None:
    objs = {o["kind"]: o for o in configs.bootstrap_objects(s)}
    assert objs["Service"]["spec"]["clusterIP"] == "10.96.0.10"
    assert "selector" not in objs["Service"]["spec"]
    assert objs["EndpointSlice"]["endpoints"][0]["addresses"] == ["192.0.2.7"]
    assert "bind 192.0.2.7" in configs.corefile(s)


def test_certificates_identities_and_sans(s: object) -> None:
    certs = {c.name: c for c in pki.certificates(s)}
    assert certs["kubelet-client"].subject() == "/O=system:nodes/CN=system:node:node1"
    assert certs["admin"].organizations == ("system:masters",)
    api = certs["apiserver"]
    assert {"127.0.0.1", "10.96.0.1", "192.0.2.7"} <= set(api.ips)
    assert "kubernetes.default.svc.cluster.local" in api.dns
    assert "extendedKeyUsage = serverAuth" in api.extensions()
    assert "clientAuth" in certs["controller-manager"].extensions()
    assert "subjectAltName" not in certs["scheduler"].extensions()


def test_kubeconfig_embedded_or_by_path(s: object, tmp_path: Path) -> None:
    by_path = configs.kubeconfig(s, "u", "admin")
    assert by_path["users"][0]["user"]["client-key"].endswith("pki/admin.key")
    assert by_path["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:6443"
    s.pki.mkdir(parents=True)  # type: ignore[attr-defined]
    for name in ("ca.crt", "admin.crt", "admin.key"):
        (s.pki / name).write_text(name)  # type: ignore[attr-defined]
    embedded = configs.kubeconfig(s, "u", "admin", embed=True)
    assert "client-key-data" in embedded["users"][0]["user"]


def test_every_generated_file_is_under_the_state_dir(s: object) -> None:
    for path in configs.files(s, 1024):
        assert str(path).startswith(str(s.state))  # type: ignore[attr-defined]


def test_pause_image_archive_is_deterministic_and_loadable() -> None:
    one = images.single_binary_archive(b"\x7fELF", "/pause", "localhost/daskburst-pause:1.0")
    two = images.single_binary_archive(b"\x7fELF", "/pause", "localhost/daskburst-pause:1.0")
    assert one == two
    with tarfile.open(fileobj=io.BytesIO(one)) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        config = json.loads(tar.extractfile(manifest[0]["Config"]).read())  # type: ignore[union-attr]
        layer = tar.extractfile(manifest[0]["Layers"][0]).read()  # type: ignore[union-attr]
    assert manifest[0]["RepoTags"] == ["localhost/daskburst-pause:1.0"]
    assert config["config"]["Entrypoint"] == ["/pause"]
    with tarfile.open(fileobj=io.BytesIO(layer)) as inner:
        member = inner.getmember("pause")
        assert member.mode == 0o755


def test_preflight_names_what_is_missing_in_one_line(
    s: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(host.platform, "system", lambda: "Darwin")
    assert host.preflight(s) == ["this is Darwin: the single-node cluster needs Linux"]
    monkeypatch.setattr(host.platform, "system", lambda: "Linux")
    monkeypatch.setattr(host.os, "geteuid", lambda: 1000)
    [line] = host.preflight(s)
    assert line.startswith("must run as root")


def test_iptables_chain_pattern_is_ours_only() -> None:
    for chain in (
        "KUBE-FIREWALL",
        "KUBE-KUBELET-CANARY",
        "KUBE-IPTABLES-HINT",
        "CNI-HOSTPORT-DNAT",
    ):
        assert netfilter.CHAIN.match(chain)
    for chain in ("NETAVARK_FORWARD", "INPUT", "DOCKER", "PODMAN-abc"):
        assert not netfilter.CHAIN.match(chain)


def test_sweep_removes_a_cni_chain_whose_jump_carries_a_quoted_comment() -> None:
    """A pod the kubelet never tore down (a crash) leaves the bridge plugin's chain behind,
    jumped to from POSTROUTING by a rule with a quoted comment; cluster-down must delete it."""
    require(os.geteuid() == 0 and shutil.which("iptables") is not None, "iptables needs root")
    ours = re.compile(r"^CNI-dbtest")
    chain = f"CNI-dbtest{os.getpid()}"
    comment = 'name: "daskburst" id: "0123abcd"'
    try:
        for rule in (["-N", chain], ["-A", "POSTROUTING", "-s", "192.0.2.99/32", "-m", "comment",
                                     "--comment", comment, "-j", chain]):  # fmt: skip
            subprocess.run(["iptables", "-w", "-t", "nat", *rule], check=True)
        assert netfilter.iptables_leftovers(ours) == [f"iptables nat {chain}"]
        assert netfilter.sweep_iptables(ours) == []
        rules = subprocess.run(["iptables", "-w", "-t", "nat", "-S"], capture_output=True,
                               text=True, check=True).stdout  # fmt: skip
        assert chain not in rules
    finally:
        netfilter.sweep_iptables(ours)


def test_a_killed_clusters_husk_is_ours_to_remove_with_or_without_a_record(tmp_path: Path) -> None:
    """A kubelet killed before cluster-down finished leaves empty directories and a dead
    socket in the hard-coded paths; the next cluster's record must not adopt them as the
    host's own (that left /var/lib/kubelet behind after a clean down). Anything with data,
    or a socket something listens on, stays the host's."""
    husk = tmp_path / "kubelet"
    (husk / "device-plugins").mkdir(parents=True)
    (husk / "pods").mkdir()
    with socket.socket(socket.AF_UNIX) as dead:
        dead.bind(str(husk / "device-plugins" / "kubelet.sock"))
    assert host.is_husk(husk)
    assert host._ours(husk, {}, set())
    assert host._ours(husk, {"preexisting": [str(husk)]}, {str(husk)})

    with socket.socket(socket.AF_UNIX) as live:
        live.bind(str(husk / "pods" / "live.sock"))
        live.listen(1)
        assert not host.is_husk(husk)
    (husk / "pods" / "live.sock").unlink()
    (husk / "pods" / "state.json").write_text("{}")
    assert not host.is_husk(husk)
    assert not host._ours(husk, {}, set())
    assert not host._ours(husk, {"preexisting": [str(husk)]}, {str(husk)})
    assert host._ours(husk, {"preexisting": []}, set())
    assert not host._ours(tmp_path / "absent", {"preexisting": []}, set())


def test_up_names_kubernetes_state_it_did_not_make() -> None:
    """A killed cluster of another checkout, or another kubelet: named once, left alone."""
    assert host.foreign_note({"iptables": [], "netns": ["podman-1"], "cgroups": []}) is None
    note = host.foreign_note({
        "iptables": ["iptables nat KUBE-SERVICES", "iptables nat CNI-0e3d"],
        "netns": ["cni-43c9", "cni-166f", "podman-1"],
        "cgroups": ["/sys/fs/cgroup/memory/kubepods"],
    })  # fmt: skip
    assert note is not None and "\n" not in note
    assert "2 KUBE-*/CNI-* iptables chain(s), 2 cni-* netns, 1 kubepods cgroup(s)" in note
    assert "left alone" in note and "make cluster-down" in note


def test_up_refuses_a_bridge_that_holds_another_clusters_pods(tmp_path: Path) -> None:
    """Its address pool would hand their addresses out again: refused before anything starts."""
    require(os.geteuid() == 0, "bridges and network namespaces need root")
    bridge, ns = "dbt-husk0", "cni-dbt-husk"
    s = settings.load({"CLUSTER_DIR": str(tmp_path / "state"), "CLUSTER_BRIDGE": bridge,
                       "CLUSTER_BIN_ROOT": str(ROOT / "build" / "bin")})  # fmt: skip
    require(not host.preflight(s), f"the host cannot run the cluster: {host.preflight(s)}")

    def ip(*args: str) -> None:
        subprocess.run(["ip", *args], check=True, capture_output=True)

    try:
        ip("link", "add", bridge, "type", "bridge")
        ip("netns", "add", ns)
        ip("link", "add", "vethdbthusk", "type", "veth", "peer", "name", "eth0", "netns", ns)
        ip("link", "set", "vethdbthusk", "master", bridge)
        with pytest.raises(local_cluster.ClusterError) as err:
            local_cluster.prepare(s)
        assert f"bridge {bridge} already has 1 pod interface(s) (vethdbthusk)" in str(err.value)
        assert "make cluster-down" in str(err.value)
        assert not (tmp_path / "state").exists(), "nothing is written before the refusal"
    finally:
        subprocess.run(["ip", "link", "delete", bridge], capture_output=True, check=False)
        subprocess.run(["ip", "netns", "delete", ns], capture_output=True, check=False)
    assert not Path(f"/sys/class/net/{bridge}").exists()
    assert not Path(f"/run/netns/{ns}").exists()
