"""What the host must offer the cluster, and everything a cluster leaves on it.

``preflight`` fails fast, in one line, when the host cannot run the cluster. ``leftovers``
lists what a cluster leaves on the host outside its state directory: processes, mounts,
network namespaces, links, iptables chains (the kubelet's own included) and kube-router's
ipsets, cgroups, sysctls
and the few paths the kubelet and containerd hard-code. ``down`` removes them and a test
asserts that ``leftovers`` is empty afterwards.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import socket
import stat
import subprocess
from pathlib import Path
from typing import Any

from localk8s.netfilter import NFT_TABLES, ipset_leftovers, iptables_leftovers, nft_leftovers
from localk8s.settings import Settings

#: Executables the node needs from the host (Debian packages in versions.env).
HOST_TOOLS = {
    "containerd": "containerd",
    "containerd-shim-runc-v2": "containerd",
    "ctr": "containerd",
    "runc": "runc",
    "iptables": "iptables",
    "ip6tables": "iptables",
    "iptables-save": "iptables",
    "conntrack": "conntrack",
    "ip": "iproute2",
    "openssl": "openssl",
    "nft": "nftables",
    "ipset": "ipset",
    "podman": "podman (make podman-setup)",
}
CNI_PLUGINS = ("bridge", "host-local", "portmap", "loopback")
CNI_BIN = Path("/usr/lib/cni")
#: Paths outside the state directory that the kubelet, containerd and CNI hard-code.
HARD_CODED = (
    Path("/var/lib/kubelet"),
    Path("/var/log/containers"),
    Path("/var/log/pods"),
    Path("/run/containerd"),
    Path("/var/lib/cni"),
)
#: Directories the cluster may create that other programs share (podman, `ip netns`):
#: removed only when the cluster created them and they are empty.
NETNS_DIR = Path("/run/netns")
SHARED_DIRS = (NETNS_DIR,)
SYSCTLS = (
    "net/ipv4/conf/all/route_localnet",
    "net/ipv4/ip_forward",
    "net/bridge/bridge-nf-call-iptables",
)
CGROUP_ROOT = Path("/sys/fs/cgroup")


def preflight(s: Settings) -> list[str]:
    """Return one line per thing that stops this host from running the cluster (none: ok)."""
    if platform.system() != "Linux":
        return [f"this is {platform.system()}: the single-node cluster needs Linux"]
    if os.geteuid() != 0:
        return ["must run as root (it starts containerd, the kubelet and changes iptables)"]
    problems = []
    missing = sorted({pkg for tool, pkg in HOST_TOOLS.items() if shutil.which(tool) is None})
    if missing:
        problems.append(f"missing host tools from: {', '.join(missing)} (apt-get install them)")
    gone = [p for p in CNI_PLUGINS if not (CNI_BIN / p).exists()]
    if gone:
        problems.append(f"missing CNI plugins in {CNI_BIN}: {', '.join(gone)} "
                        "(apt-get install containernetworking-plugins)")  # fmt: skip
    if "overlay" not in Path("/proc/filesystems").read_text():
        problems.append("kernel lacks overlayfs (containerd's snapshotter needs it)")
    if not Path("/proc/sys/net/bridge/bridge-nf-call-iptables").exists():
        problems.append("kernel lacks br_netfilter (Services to pods on the bridge need it)")
    for ctrl in ("cpu", "cpuacct", "memory", "pids", "cpuset"):
        if not _has_cgroup(ctrl):
            problems.append(f"cgroup controller {ctrl!r} is not mounted")
    for name, path in binaries(s, CORE).items():
        if not path.exists():
            problems.append(f"{name} not built ({path} missing): run `make cluster-build`")
            break
    return problems


def _has_cgroup(ctrl: str) -> bool:
    if (CGROUP_ROOT / ctrl).is_dir():
        return True
    controllers = CGROUP_ROOT / "cgroup.controllers"
    return controllers.exists() and ctrl in controllers.read_text().split()


#: Binaries ``scripts/cluster/build core`` makes: the cluster cannot start without them.
CORE = (
    "etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet",
    "kube-proxy", "kubectl", "coredns", "crictl", "pause",
)  # fmt: skip


def binaries(s: Settings, names: tuple[str, ...] = (*CORE, "kube-router")) -> dict[str, Path]:
    """Return the paths of the cluster's binaries (those ``scripts/cluster/build`` makes)."""
    return {n: s.bin(n) for n in names}


def ports_in_use(ports: list[int]) -> list[int]:
    """Return the TCP ports of ``ports`` that something already listens on."""
    taken = []
    for port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.5)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                taken.append(port)
    return taken


def cluster_ports(s: Settings) -> list[int]:
    """Return the ports the cluster's host processes listen on."""
    return [
        s.etcd_port, s.etcd_peer_port, s.etcd_metrics_port, s.api_port, s.kubelet_port,
        s.kubelet_healthz_port, s.proxy_healthz_port, s.proxy_metrics_port,
        s.controller_manager_port, s.scheduler_port, s.coredns_health_port, s.coredns_ready_port,
        s.kube_router_health_port,
    ]  # fmt: skip


# ---- the host before the cluster ------------------------------------------------------------


def read_sysctl(name: str) -> str | None:
    """Return a sysctl's value (``net/ipv4/ip_forward`` form), or None when absent."""
    try:
        return Path("/proc/sys", name).read_text().strip()
    except OSError:
        return None


def write_sysctl(name: str, value: str) -> None:
    """Set a sysctl."""
    Path("/proc/sys", name).write_text(value + "\n")


def read_record(s: Settings) -> dict[str, Any]:
    """Return what ``record`` saved, or an empty dict when there is no record."""
    if not s.host_record.exists():
        return {}
    return dict(json.loads(s.host_record.read_text()))


def _last_record(s: Settings) -> Path:
    return s.host_record.with_name("host-before.last.json")


def before(s: Settings) -> dict[str, list[str]]:
    """What existed before the cluster (the current record's, else the last clean down's).

    Chains, network namespaces, mounts, nftables tables and cgroups listed here belong to
    someone else (podman, Docker, another kubelet): ``down`` never touches them and
    ``leftovers`` never reports them. With no record at all, nothing is assumed ours.
    """
    rec = read_record(s)
    if not rec and _last_record(s).exists():
        rec = dict(json.loads(_last_record(s).read_text()))
    return {k: list(v) for k, v in rec.get("before", {}).items()}


def retire_record(s: Settings) -> None:
    """After a clean ``down``: keep the record as the last one (what was someone else's)."""
    if s.host_record.exists():
        os.replace(s.host_record, _last_record(s))


def _netns_names() -> list[str]:
    return sorted(p.name for p in NETNS_DIR.iterdir()) if NETNS_DIR.is_dir() else []


def _mount_roots(s: Settings) -> list[Path]:
    """Where the cluster's mounts are: its state, the hard-coded paths, /run/netns."""
    return [s.state, *HARD_CODED, NETNS_DIR]


def _mountpoints_in(roots: list[Path]) -> list[str]:
    return [p for root in roots for p in _mountpoints_under(root)]


def record(s: Settings) -> dict[str, Any]:
    """Save what ``down`` must restore (once: a restarted cluster keeps the first record).

    Returns:
        The record.
    """
    if rec := read_record(s):
        return rec
    rec = {
        "sysctls": {name: read_sysctl(name) for name in SYSCTLS},
        "preexisting": [str(p) for p in (*HARD_CODED, *SHARED_DIRS) if p.exists()],
        # Whatever of these exists before the cluster is someone else's: down leaves it.
        "before": {
            "iptables": iptables_leftovers(),
            "netns": _netns_names(),
            "mounts": sorted(set(_mountpoints_in(_mount_roots(s)))),
            "nftables": nft_leftovers(),
            "ipsets": ipset_leftovers(),
            "cgroups": cgroup_leftovers(),
        },
    }
    s.host_record.parent.mkdir(parents=True, exist_ok=True)
    s.host_record.write_text(json.dumps(rec, indent=2) + "\n")
    return rec


def bridge_ports(s: Settings) -> list[str]:
    """Interfaces already attached to the cluster's bridge (a killed cluster's pods' veths)."""
    brif = Path("/sys/class/net") / s.bridge / "brif"
    return sorted(p.name for p in brif.iterdir()) if brif.is_dir() else []


def foreign_note(before: dict[str, list[str]]) -> str | None:
    """One line on Kubernetes state that was on the host before this cluster, if any."""
    parts = [
        f"{n} {what}"
        for n, what in (
            (len(before.get("iptables", [])), "KUBE-*/CNI-* iptables chain(s)"),
            (sum(n.startswith("cni-") for n in before.get("netns", [])), "cni-* netns"),
            (len(before.get("cgroups", [])), "kubepods cgroup(s)"),
        )
        if n
    ]
    if not parts:
        return None
    return (
        f"note: the host already has {', '.join(parts)} that this cluster did not make "
        "(another Kubernetes, or a cluster killed without `make cluster-down`: run that in its "
        "checkout); they are left alone, and kube-proxy chains of the same name are shared"
    )


# ---- what a cluster leaves behind -----------------------------------------------------------


def our_processes(s: Settings) -> list[tuple[int, str]]:
    """Return (PID, command) of every process running one of the cluster's binaries.

    The control plane and node binaries are matched by path; containerd shims by the
    socket address of this cluster's containerd.
    """
    ours = {str(p) for p in binaries(s).values()}
    socket_path = str(s.containerd_socket)
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = [
                a.decode(errors="replace")
                for a in (entry / "cmdline").read_bytes().split(b"\0")
                if a
            ]
        except OSError:
            continue
        if not argv:
            continue
        if argv[0] in ours or (
            "containerd" in Path(argv[0]).name and any(socket_path in a for a in argv)
        ):
            found.append((int(entry.name), " ".join(argv)[:200]))
    return found


def our_mounts(s: Settings) -> list[str]:
    """Return the cluster's mount points, made since it started.

    Under its state directory, the hard-coded paths and /run/netns; what was mounted there
    before is someone else's. /run/netns itself is :func:`share_netns_dir`'s, undone by
    :func:`unshare_netns_dir`.
    """
    theirs = set(before(s).get("mounts", []))
    found = []
    for point in dict.fromkeys(_mountpoints_in(_mount_roots(s))):
        if point in theirs or point == str(NETNS_DIR):
            continue
        if point.startswith(str(NETNS_DIR) + "/") and not Path(point).name.startswith("cni-"):
            continue  # podman's (netns-*) and `ip netns add`'s namespaces
        found.append(point)
    return found


def remove_ipsets(s: Settings) -> list[str]:
    """Destroy the ipsets the cluster made (after its iptables rules, which refer to them).

    Returns:
        Sets that could not be destroyed (still referenced).
    """
    theirs = set(before(s).get("ipsets", []))
    failed = []
    for name in ipset_leftovers():
        if name in theirs:
            continue
        if subprocess.run(["ipset", "destroy", name], capture_output=True, check=False).returncode:
            failed.append(name)
    return failed


def cgroup_leftovers() -> list[str]:
    """Return the kubelet's ``kubepods`` cgroup directories still present."""
    found: list[str] = []
    if not CGROUP_ROOT.is_dir():
        return found
    for ctrl in sorted(CGROUP_ROOT.iterdir()):
        for name in ("kubepods", "kubepods.slice"):
            if (ctrl / name).is_dir():
                found.append(str(ctrl / name))
    return found


def is_husk(path: Path) -> bool:
    """Return whether ``path`` is a directory tree holding nothing but directories and dead sockets.

    That is what a kubelet and containerd leave behind when they are killed before ``down``
    finishes (``/var/lib/kubelet/device-plugins/kubelet.sock``, ``/run/containerd/runc/k8s.io``):
    it holds no one's data, and a socket nothing listens on serves no one.
    """
    if not path.is_dir() or path.is_symlink():
        return False
    for root, dirs, files in os.walk(path):
        if any(Path(root, d).is_symlink() for d in dirs):
            return False
        for name in files:
            entry = Path(root, name)
            if entry.is_symlink() or not stat.S_ISSOCK(entry.lstat().st_mode):
                return False
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
                probe.settimeout(1)
                try:
                    probe.connect(str(entry))
                except OSError:
                    continue
            return False  # something listens: in use
    return True


def _ours(path: Path, rec: dict[str, Any], preexisting: set[str]) -> bool:
    """Return whether a hard-coded path is the cluster's to remove (and a leftover if present).

    With a host record: every path that did not exist before ``up``. With or without one: a
    husk (:func:`is_husk`), whoever left it, so the next ``up`` does not take a killed
    cluster's remains for the host's own and keep them forever.
    """
    if not path.exists():
        return False
    return is_husk(path) or (bool(rec) and str(path) not in preexisting)


def leftovers(s: Settings) -> dict[str, list[str]]:
    """Return everything a stopped cluster must not leave behind, by kind (empty: clean)."""
    rec = read_record(s)
    sysctls = [
        f"{name}={read_sysctl(name)} (was {was})"
        for name, was in rec.get("sysctls", {}).items()
        if was is not None and read_sysctl(name) != was
    ]
    theirs = before(s)
    preexisting = set(rec.get("preexisting", []))
    paths = [str(p) for p in HARD_CODED if _ours(p, rec, preexisting)]
    # A directory shared with podman and iproute2 is ours to remove only if the record says
    # it did not exist before the cluster; with no record (after a clean ``down``, or on a
    # host that never ran one) an empty /run/netns says nothing about a cluster.
    paths += [
        str(p)
        for p in SHARED_DIRS
        if rec and p.is_dir() and str(p) not in preexisting and not any(p.iterdir())
    ]
    links = subprocess.run(
        ["ip", "-o", "link", "show"], capture_output=True, text=True, check=False
    )
    bridge = (
        [s.bridge] if re.search(rf"^\d+: {re.escape(s.bridge)}[:@]", links.stdout, re.M) else []
    )
    return {
        "processes": [f"{pid} {cmd}" for pid, cmd in our_processes(s)],
        "mounts": our_mounts(s),
        "netns": our_netns(s),
        "links": bridge,
        "iptables": [c for c in iptables_leftovers() if c not in theirs.get("iptables", [])],
        "nftables": [t for t in nft_leftovers() if t not in theirs.get("nftables", [])],
        "ipsets": [n for n in ipset_leftovers() if n not in theirs.get("ipsets", [])],
        "cgroups": [c for c in cgroup_leftovers() if c not in theirs.get("cgroups", [])],
        "sysctls": sysctls,
        "paths": paths,
    }


def our_netns(s: Settings) -> list[str]:
    """The CRI's network namespaces (``cni-*``) made since the cluster started."""
    theirs = set(before(s).get("netns", []))
    return [n for n in _netns_names() if n.startswith("cni-") and n not in theirs]


# ---- cleaning up ----------------------------------------------------------------------------


def _mountpoints_under(root: Path) -> list[str]:
    prefix = str(root)
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point == prefix or point.startswith(prefix + "/"):
            points.append(point)
    return points


def unmount_ours(s: Settings) -> list[str]:
    """Unmount the cluster's mount points (:func:`our_mounts`), deepest first.

    Returns:
        Mount points that could not be unmounted.
    """
    failed = []
    for point in sorted(set(our_mounts(s)), key=len, reverse=True):
        if subprocess.run(["umount", point], capture_output=True, check=False).returncode != 0:
            if subprocess.run(["umount", "-l", point], capture_output=True, check=False).returncode:
                failed.append(point)
    return failed


def safe_rmtree(path: Path) -> None:
    """Delete ``path`` recursively, but never through a mount point.

    Raises:
        RuntimeError: When something is still mounted below ``path``.
    """
    if not path.exists() and not path.is_symlink():
        return
    mounted = _mountpoints_under(path)
    if mounted:
        raise RuntimeError(f"refusing to delete {path}: still mounted below it: {mounted[0]}")
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def is_mountpoint(path: Path) -> bool:
    """Whether ``path`` is a mount point in this mount namespace."""
    target = str(path)
    return any(
        line.split()[4] == target for line in Path("/proc/self/mountinfo").read_text().splitlines()
    )


def share_netns_dir(s: Settings) -> bool:
    """Make /run/netns a shared bind mount of itself before the CRI mounts any netns there.

    iproute2 and podman (netavark) do this the first time they need a network namespace.
    If they do it while containerd already has pod netns mounted there, their bind mount
    hides those mounts, and containerd can no longer remove them ("unlinkat
    /run/netns/cni-...: device or resource busy"): pods can never be deleted. Doing it first,
    the same way, they find it done. Recorded so that ``down`` can undo it.

    Returns:
        Whether this call made the mount.
    """
    if is_mountpoint(NETNS_DIR):
        return False
    NETNS_DIR.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "--bind", str(NETNS_DIR), str(NETNS_DIR)], check=True)
    subprocess.run(["mount", "--make-shared", str(NETNS_DIR)], check=True)
    marker = s.state / "netns-bind"
    marker.write_text("made by cluster-up\n")
    return True


def unshare_netns_dir(s: Settings) -> None:
    """Undo :func:`share_netns_dir` when nothing else has a namespace in /run/netns."""
    marker = s.state / "netns-bind"
    if not marker.exists():
        return
    inside = [p for p in _mountpoints_under(NETNS_DIR) if p != str(NETNS_DIR)]
    if not inside and is_mountpoint(NETNS_DIR):
        subprocess.run(["umount", str(NETNS_DIR)], capture_output=True, check=False)
    if not inside:
        marker.unlink(missing_ok=True)


def remove_nft_tables(s: Settings) -> None:
    """Delete kube-proxy's nftables tables the cluster made."""
    theirs = before(s).get("nftables", [])
    for fam, name in NFT_TABLES:
        if f"{fam} {name}" in nft_leftovers() and f"{fam} {name}" not in theirs:
            subprocess.run(["nft", "delete", "table", fam, name], capture_output=True, check=False)


def remove_cgroups(s: Settings) -> list[str]:
    """Remove the (empty) ``kubepods`` cgroup trees the cluster made, deepest first.

    Returns:
        Directories that could not be removed (they still hold processes).
    """
    failed = []
    theirs = before(s).get("cgroups", [])
    for top in cgroup_leftovers():
        if top in theirs:
            continue
        for dirpath, _dirs, _files in sorted(os.walk(top), key=lambda w: -w[0].count("/")):
            try:
                os.rmdir(dirpath)
            except OSError:
                failed.append(dirpath)
    return failed


def remove_netns(s: Settings) -> None:
    """Delete network namespaces the CRI made (``cni-*``) that no sandbox removed."""
    for name in our_netns(s):
        subprocess.run(["ip", "netns", "delete", name], capture_output=True, check=False)


def restore(s: Settings) -> None:
    """Delete the bridge, restore sysctls and remove hard-coded paths the cluster created."""
    subprocess.run(["ip", "link", "delete", s.bridge], capture_output=True, check=False)
    rec = read_record(s)
    preexisting = set(rec.get("preexisting", []))
    for path in HARD_CODED:
        if _ours(path, rec, preexisting):
            safe_rmtree(path)
    if not rec:
        return
    for name, was in rec.get("sysctls", {}).items():
        if was is not None and read_sysctl(name) != was:
            write_sysctl(name, was)
    for cached in Path("/var/lib/cni/results").glob(f"{s.cni_network}-*"):
        cached.unlink(missing_ok=True)
    for path in SHARED_DIRS:
        if str(path) not in preexisting and path.is_dir() and not any(path.iterdir()):
            path.rmdir()
