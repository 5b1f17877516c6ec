"""`make cluster-down` leaves nothing behind; `make cluster-up` then brings the cluster back.

Runs after every other test (marker ``lifecycle``) and leaves the cluster up, as it found it.
"Nothing behind" is checked twice: by ``localk8s leftovers`` (the same inventory `cluster-down`
uses) and independently here from /proc, iptables-save, ip link and /sys/fs/cgroup, so a
blind spot in one is caught by the other.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from tests.cluster.conftest import ROOT, Cluster
from tests.helpers import require

pytestmark = [pytest.mark.cluster, pytest.mark.lifecycle, pytest.mark.slow]


def _make(target: str, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", target],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _independent_leftovers(state: Path) -> dict[str, list[str]]:
    bins = str(ROOT / "build" / "bin")
    procs = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if cmd.startswith(bins) or str(state) in cmd:
                procs.append(f"{entry.name} {cmd[:150]}")
    mounts = [
        line.split()[4]
        for line in Path("/proc/self/mountinfo").read_text().splitlines()
        if line.split()[4].startswith(
            (str(state), "/var/lib/kubelet", "/run/containerd", "/run/netns/cni-")
        )
    ]
    chains = []
    for tool in ("iptables-save", "ip6tables-save"):
        dump = subprocess.run([tool], capture_output=True, text=True, check=False).stdout
        chains += [line for line in dump.splitlines() if re.search(r"\b(KUBE|CNI)-", line)]
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=False).stdout
    cgroups = [str(p) for p in Path("/sys/fs/cgroup").glob("*/kubepods*")]
    localnet = Path("/proc/sys/net/ipv4/conf/all/route_localnet").read_text().strip()
    tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True, check=False)
    nft = [
        t for t in tables.stdout.splitlines() if "kube-network-policies" in t or "kube-proxy" in t
    ]
    return {
        "processes": procs,
        "mounts": mounts,
        "iptables": chains,
        "links": ["daskburst0"] if re.search(r"^\d+: daskburst0[:@]", links, re.M) else [],
        "cgroups": cgroups,
        "route_localnet": [] if localnet == "0" else [f"route_localnet={localnet}"],
        "nftables": nft,
    }


def _leftovers() -> dict[str, list[str]]:
    inventory = subprocess.run(
        [str(ROOT / ".venv/bin/python"), "-m", "localk8s", "leftovers"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT / "scripts/cluster")},
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(inventory.stdout))


def _a_killed_clusters_husk_is_named_and_removed() -> None:
    """A kubelet killed before `cluster-down` ends (a machine stopped mid-CI) leaves empty
    directories and its dead socket; with no host record (as after a clean down, or in
    another checkout) `leftovers` must still name them and `cluster-down` remove them, or
    the next cluster records them as the host's own and keeps them forever."""
    kubelet = Path("/var/lib/kubelet")
    if kubelet.exists():  # the host's own kubelet directory (never in CI): not ours to touch
        return
    try:
        (kubelet / "device-plugins").mkdir(parents=True)
        with socket.socket(socket.AF_UNIX) as dead:
            dead.bind(str(kubelet / "device-plugins" / "kubelet.sock"))
        assert str(kubelet) in _leftovers()["paths"]
        down = _make("cluster-down", timeout=600)
        assert down.returncode == 0, down.stdout[-3000:] + down.stderr[-3000:]
        assert "nothing left behind" in down.stderr
        assert not kubelet.exists()
    finally:
        shutil.rmtree(kubelet, ignore_errors=True)


@pytest.mark.timeout(1800)
def test_down_leaves_nothing_and_up_restores(cluster: Cluster) -> None:
    require(os.geteuid() == 0, "cluster-down/up need root")
    state = ROOT / "build" / "cluster"
    try:
        down = _make("cluster-down", timeout=600)
        assert down.returncode == 0, down.stdout[-3000:] + down.stderr[-3000:]
        assert "nothing left behind" in down.stderr
        left = _leftovers()
        assert not any(left.values()), left
        assert _independent_leftovers(state) == {
            "processes": [], "mounts": [], "iptables": [], "links": [], "cgroups": [],
            "route_localnet": [], "nftables": [],
        }  # fmt: skip
        assert (state / "logs" / "kubelet.log").stat().st_size > 0, "component logs are kept"
        assert not (state / "etcd").exists()
        _a_killed_clusters_husk_is_named_and_removed()
    finally:
        localnet = Path("/proc/sys/net/ipv4/conf/all/route_localnet")
        before = localnet.read_text()
        up = _make("cluster-up")
    assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
    assert localnet.read_text() == before, "kube-proxy must not open route_localnet host-wide"
    assert f"export KUBECONFIG={state / 'kubeconfig'}" in up.stdout
    nodes = cluster.json("get", "nodes")["items"]
    assert all(
        {c["type"]: c["status"] for c in n["status"]["conditions"]}["Ready"] == "True"
        for n in nodes
    )


@pytest.mark.timeout(600)
def test_up_is_idempotent(cluster: Cluster) -> None:
    require(os.geteuid() == 0, "cluster-up needs root")
    before = json.loads((ROOT / "build/cluster/pids/kube-apiserver.json").read_text())["pid"]
    again = _make("cluster-up", timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "kube-apiserver running" in again.stderr
    assert (
        json.loads((ROOT / "build/cluster/pids/kube-apiserver.json").read_text())["pid"] == before
    )
