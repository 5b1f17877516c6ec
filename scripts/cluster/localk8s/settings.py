"""Every path, version, address and port of the cluster, derived from one state directory."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

#: scripts/cluster (holds versions.env, go/ and this package).
HERE = Path(__file__).resolve().parents[1]
#: The daskburst checkout.
REPO = HERE.parents[1]


def read_env_file(path: Path) -> dict[str, str]:
    """Parse ``KEY=value`` lines (shell syntax without expansion; ``#`` comments).

    Args:
        path: A file such as ``scripts/cluster/versions.env``.

    Returns:
        The assignments, quotes removed.
    """
    values = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        values[key.strip()] = value.strip().strip("'\"")
    return values


def detect_node_ip() -> str:
    """Return the host's source address for its default route (the node's InternalIP).

    Returns:
        An IPv4 address.

    Raises:
        RuntimeError: When the host has no default IPv4 route.
    """
    proc = subprocess.run(
        ["ip", "-4", "-o", "route", "get", "192.0.2.250"],
        capture_output=True,
        text=True,
        check=False,
    )
    words = proc.stdout.split()
    if proc.returncode != 0 or "src" not in words:
        raise RuntimeError("no default IPv4 route: set CLUSTER_NODE_IP to the node's address")
    return words[words.index("src") + 1]


@dataclass(frozen=True)
class Settings:
    """The cluster's configuration. Every field can be set from the environment.

    Paths all derive from ``state`` except the binaries (``bin_root``, kept across
    ``cluster-down``) and the few paths the kubelet and containerd hard-code.
    """

    state: Path
    bin_root: Path
    versions: Mapping[str, str]
    node_name: str
    node_ip: str
    pod_cidr: str = "10.244.0.0/24"
    cluster_cidr: str = "10.244.0.0/16"
    service_cidr: str = "10.96.0.0/16"
    api_service_ip: str = "10.96.0.1"
    dns_ip: str = "10.96.0.10"
    cluster_domain: str = "cluster.local"
    bridge: str = "daskburst0"
    cni_network: str = "daskburst"
    api_port: int = 6443
    etcd_port: int = 2379
    etcd_peer_port: int = 2380
    etcd_metrics_port: int = 2381
    kubelet_port: int = 10250
    kubelet_healthz_port: int = 10248
    proxy_healthz_port: int = 10256
    proxy_metrics_port: int = 10249
    controller_manager_port: int = 10257
    scheduler_port: int = 10259
    coredns_health_port: int = 18080
    coredns_ready_port: int = 18181
    pause_image: str = "localhost/daskburst-pause:1.0"
    kube_router_health_port: int = 20244
    extra: Mapping[str, str] = field(default_factory=dict)

    # ---- binaries ---------------------------------------------------------------------------

    def bin(self, name: str) -> Path:
        """Return the path of a built binary (``kubelet``, ``etcd``, ``coredns``, ``crictl``...)."""
        v = self.versions
        where = {
            "etcd": f"etcd-{v['ETCD_VERSION']}",
            "coredns": f"coredns-{v['COREDNS_VERSION']}",
            "crictl": f"crictl-{v['CRICTL_VERSION']}",
            "pause": f"pause-{v.get('PAUSE_VERSION', '1.0')}",
            "kube-router": f"kube-router-{v['KUBE_ROUTER_VERSION']}",
        }.get(name, f"kubernetes-{v['KUBERNETES_VERSION']}")
        return self.bin_root / where / name

    def crictl(self) -> list[str]:
        """Return the start of a ``crictl`` command line for this node's containerd."""
        return [str(self.bin("crictl")), "--config", str(self.state / "crictl.yaml")]

    # ---- paths under the state directory ---------------------------------------------------

    @property
    def pki(self) -> Path:
        """Certificates and keys."""
        return self.state / "pki"

    @property
    def logs(self) -> Path:
        """One log per component (kept by ``cluster-down``)."""
        return self.state / "logs"

    @property
    def pids(self) -> Path:
        """One PID file per running component."""
        return self.state / "pids"

    @property
    def conf(self) -> Path:
        """Generated config files and kubeconfigs."""
        return self.state / "conf"

    @property
    def run(self) -> Path:
        """Sockets."""
        return self.state / "run"

    @property
    def kubeconfig(self) -> Path:
        """The admin kubeconfig for users: ``export KUBECONFIG=...``."""
        return self.state / "kubeconfig"

    @property
    def etcd_data(self) -> Path:
        """Etcd's data directory."""
        return self.state / "etcd"

    @property
    def kubelet_root(self) -> Path:
        """The kubelet's --root-dir (pod volumes are mounted below it)."""
        return self.state / "kubelet"

    @property
    def containerd_root(self) -> Path:
        """Containerd's persistent root (images, snapshots)."""
        return self.state / "containerd" / "root"

    @property
    def containerd_state(self) -> Path:
        """Containerd's state directory (runtime state, mounts of running containers)."""
        return self.state / "containerd" / "state"

    @property
    def containerd_socket(self) -> Path:
        """Containerd's gRPC socket."""
        return self.run / "containerd.sock"

    @property
    def cni_conf_dir(self) -> Path:
        """The CNI config directory, private to this cluster (podman keeps its own)."""
        return self.state / "cni" / "net.d"

    @property
    def cni_ipam_dir(self) -> Path:
        """host-local IPAM's allocations."""
        return self.state / "cni" / "ipam"

    @property
    def pod_logs(self) -> Path:
        """The kubelet's podLogsDir."""
        return self.logs / "pods"

    @property
    def host_record(self) -> Path:
        """What the host looked like before the first start (restored by ``down``)."""
        return self.state / "host-before.json"

    # ---- addresses --------------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        """The API server as the host reaches it."""
        return f"https://127.0.0.1:{self.api_port}"

    @property
    def pod_gateway(self) -> str:
        """The bridge's address: the first host of the pod CIDR."""
        net, _, bits = self.pod_cidr.partition("/")
        parts = net.split(".")
        parts[-1] = str(int(parts[-1]) + 1)
        return ".".join(parts) + f"/{bits}"

    @property
    def containerd_endpoint(self) -> str:
        """Containerd as a CRI endpoint URL."""
        return f"unix://{self.containerd_socket}"


def load(env: Mapping[str, str] | None = None, repo: Path = REPO) -> Settings:
    """Build :class:`Settings` from ``versions.env`` and ``CLUSTER_*`` environment variables.

    Args:
        env: The environment (default: ``os.environ``).
        repo: The daskburst checkout.

    Returns:
        The settings.
    """
    env = os.environ if env is None else env
    versions = read_env_file(HERE / "versions.env")
    versions.update({k: v for k, v in env.items() if k.endswith("_VERSION") and k in versions})
    node = env.get("CLUSTER_NODE_NAME") or socket.gethostname().split(".")[0].lower()
    kwargs: dict[str, object] = {}
    ints = {
        "CLUSTER_API_PORT": "api_port",
        "CLUSTER_ETCD_PORT": "etcd_port",
        "CLUSTER_ETCD_PEER_PORT": "etcd_peer_port",
        "CLUSTER_ETCD_METRICS_PORT": "etcd_metrics_port",
    }
    for var, attr in ints.items():
        if env.get(var):
            kwargs[attr] = int(env[var])
    strings = {
        "CLUSTER_POD_CIDR": "pod_cidr",
        "CLUSTER_SERVICE_CIDR": "service_cidr",
        "CLUSTER_API_SERVICE_IP": "api_service_ip",
        "CLUSTER_DNS_IP": "dns_ip",
        "CLUSTER_BRIDGE": "bridge",
    }
    for var, attr in strings.items():
        if env.get(var):
            kwargs[attr] = env[var]
    return Settings(
        state=Path(env.get("CLUSTER_DIR") or repo / "build" / "cluster").resolve(),
        bin_root=Path(env.get("CLUSTER_BIN_ROOT") or repo / "build" / "bin").resolve(),
        versions=versions,
        node_name=node,
        node_ip=env.get("CLUSTER_NODE_IP") or detect_node_ip(),
        **kwargs,  # type: ignore[arg-type]
    )
