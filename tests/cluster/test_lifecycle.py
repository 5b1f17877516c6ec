"""`make cluster-down` leaves nothing behind; `make cluster-up` then brings the cluster back.

Runs after every other test (marker ``lifecycle``) and leaves the cluster up, as it found it.
"Nothing behind" is checked twice: by ``localk8s leftovers`` (the same inventory `cluster-down`
uses) and independently here from /proc, iptables-save, ip link and /sys/fs/cgroup, so a
blind spot in one is caught by the other.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from tests.cluster.conftest import ROOT, Cluster
from tests.cluster.hostsnap import independent_leftovers, new_since_ci_start
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


_COMPONENTS = ("etcd", "kube-apiserver", "kube-controller", "kube-scheduler", "kubelet",
               "kube-proxy", "coredns", "containerd")  # fmt: skip


def _component_processes() -> list[str]:
    """Processes named like a component, by their kernel name (as pgrep finds them), even
    while exiting with an empty command line; zombies are over (only their parent can reap)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        comm, rest = text[text.index("(") + 1 : text.rindex(")")], text[text.rindex(")") + 2 :]
        if comm.startswith(_COMPONENTS) and not rest.startswith("Z"):
            found.append(f"{stat.parent.name} {comm}")
    return found


def _leftovers() -> dict[str, list[str]]:
    inventory = subprocess.run(
        [str(ROOT / ".venv/bin/python"), "-m", "localk8s", "leftovers"],
        cwd=ROOT,
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
        _down("down of a killed cluster's husk")
        assert not kubelet.exists()
    finally:
        shutil.rmtree(kubelet, ignore_errors=True)


#: What another program (podman, Docker, another kubelet) has on the host before the cluster
#: starts; `cluster-down` must leave all of it as it was. Names a cluster could have made.
_FOREIGN_CHAINS = (("filter", "KUBE-DBT-FOREIGN"), ("nat", "CNI-DBT-FOREIGN"))
_FOREIGN_JUMP = ("filter", "FORWARD", "-s", "192.0.2.77/32", "-j", "KUBE-DBT-FOREIGN")
_FOREIGN_NETNS = "cni-dbt-foreign"
_FOREIGN_MOUNT = Path("/run/containerd/dbt-foreign")
_FOREIGN_CONTAINER = "dbt-foreign"
_FOREIGN_IPSET = "dbt-foreign"


def _plant_foreign_state() -> None:
    from tests.harness.containers import default_image

    for table, chain in _FOREIGN_CHAINS:
        subprocess.run(["iptables", "-w", "-t", table, "-N", chain], check=True)
    table, *rule = _FOREIGN_JUMP
    subprocess.run(["iptables", "-w", "-t", table, "-A", *rule], check=True)
    subprocess.run(["ip", "netns", "add", _FOREIGN_NETNS], check=True)
    subprocess.run(["ipset", "create", _FOREIGN_IPSET, "hash:ip"], check=True)
    _FOREIGN_MOUNT.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "dbt", str(_FOREIGN_MOUNT)], check=True
    )
    (_FOREIGN_MOUNT / "data").write_text("not the cluster's\n")
    # A container on podman's bridge: its own netns, NETAVARK chains and ip_forward.
    subprocess.run(["podman", "run", "-d", "--name", _FOREIGN_CONTAINER, "--network", "bridge",
                    "--entrypoint", "sleep", default_image(), "1800"],
                   check=True, capture_output=True, text=True)  # fmt: skip


def _foreign_state_problems() -> list[str]:
    problems = []
    for table, chain in _FOREIGN_CHAINS:
        if subprocess.run(["iptables", "-w", "-t", table, "-S", chain], capture_output=True,
                          check=False).returncode:  # fmt: skip
            problems.append(f"iptables chain {table} {chain} was deleted")
    table, *rule = _FOREIGN_JUMP
    if subprocess.run(["iptables", "-w", "-t", table, "-C", *rule], capture_output=True,
                      check=False).returncode:  # fmt: skip
        problems.append("the rule jumping to KUBE-DBT-FOREIGN was deleted")
    if subprocess.run(["ipset", "list", "-n", _FOREIGN_IPSET], capture_output=True,
                      check=False).returncode:  # fmt: skip
        problems.append(f"ipset {_FOREIGN_IPSET} was destroyed")
    if not (Path("/run/netns") / _FOREIGN_NETNS).exists():
        problems.append(f"netns {_FOREIGN_NETNS} was deleted")
    elif subprocess.run(["ip", "netns", "exec", _FOREIGN_NETNS, "true"], capture_output=True,
                        check=False).returncode:  # fmt: skip
        problems.append(f"netns {_FOREIGN_NETNS} was unmounted")
    if not (_FOREIGN_MOUNT / "data").exists():
        problems.append(f"the mount on {_FOREIGN_MOUNT} was unmounted")
    state = subprocess.run(["podman", "inspect", "-f", "{{.State.Running}}", _FOREIGN_CONTAINER],
                           capture_output=True, text=True, check=False).stdout.strip()  # fmt: skip
    if state != "true":
        problems.append(f"podman container {_FOREIGN_CONTAINER} is not running ({state!r})")
    elif subprocess.run(["podman", "exec", _FOREIGN_CONTAINER, "python", "-c",
                         "import socket; socket.create_connection(('10.88.0.1', 9), 0.5)"],
                        capture_output=True, text=True, check=False).stderr.count(
                            "ConnectionRefused") != 1:  # fmt: skip
        problems.append("the podman container lost its network (its bridge gateway)")
    return problems


def _remove_foreign_state() -> None:
    subprocess.run(["podman", "rm", "-f", "-t", "0", _FOREIGN_CONTAINER], capture_output=True,
                   check=False)  # fmt: skip
    table, *rule = _FOREIGN_JUMP
    subprocess.run(["iptables", "-w", "-t", table, "-D", *rule], capture_output=True, check=False)
    for table, chain in _FOREIGN_CHAINS:
        subprocess.run(["iptables", "-w", "-t", table, "-X", chain], capture_output=True,
                       check=False)  # fmt: skip
    subprocess.run(["ip", "netns", "delete", _FOREIGN_NETNS], capture_output=True, check=False)
    subprocess.run(["ipset", "destroy", _FOREIGN_IPSET], capture_output=True, check=False)
    subprocess.run(["umount", str(_FOREIGN_MOUNT)], capture_output=True, check=False)
    with contextlib.suppress(OSError):
        _FOREIGN_MOUNT.rmdir()


def _kill_the_cluster() -> None:
    """As a machine that stops mid-run: SIGKILL every component, shim and pod process."""
    pids = {int(line.split()[0]) for line in independent_leftovers(ROOT / "build/cluster")[
        "processes"]}  # fmt: skip
    for procs in Path("/sys/fs/cgroup").glob("**/kubepods*/**/cgroup.procs"):
        with contextlib.suppress(OSError):
            pids |= {int(p) for p in procs.read_text().split()}
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, 9)


def _down(phase: str) -> None:
    down = _make("cluster-down", timeout=600)
    assert down.returncode == 0, f"{phase}:\n" + down.stdout[-3000:] + down.stderr[-3000:]
    assert "nothing left behind" in down.stderr, f"{phase}:\n" + down.stderr[-3000:]


def _up(phase: str) -> subprocess.CompletedProcess[str]:
    up = _make("cluster-up")
    assert up.returncode == 0, f"{phase}:\n" + up.stdout[-3000:] + up.stderr[-3000:]
    return up


@pytest.mark.timeout(1800)
def test_down_leaves_nothing_and_only_what_the_cluster_made_and_up_restores(
    cluster: Cluster,
) -> None:
    """Three downs and three ups, in one test because each costs about half a minute:

    1. down after the whole suite: no process, mount, chain, link, cgroup or file is left,
       found both by `leftovers` and independently; a killed cluster's husk is removed too;
    2. another program's chains, netns, ipset, mount and podman container (names a cluster
       could have made), made before cluster-up, are intact after a down of a cluster that
       was stopped, and then of one that was killed (SIGKILL to every process, as a machine
       that stops mid-run), and ip_forward is as it was;
    3. up brings the cluster back each time, without opening route_localnet host-wide.
    """
    require(os.geteuid() == 0, "cluster-down/up need root")
    state = ROOT / "build" / "cluster"
    localnet = Path("/proc/sys/net/ipv4/conf/all/route_localnet")
    try:
        _down("down after the suite")
        # Right after it returns: it waits until each process it stopped has exited.
        assert _component_processes() == []
        left = _leftovers()
        assert not any(left.values()), left
        assert new_since_ci_start(independent_leftovers(state)) == {
            "processes": [], "mounts": [], "iptables": [], "links": [], "cgroups": [],
            "route_localnet": [], "nftables": [], "ipsets": [],
        }  # fmt: skip
        assert (state / "logs" / "kubelet.log").stat().st_size > 0, "component logs are kept"
        assert not (state / "etcd").exists()
        _a_killed_clusters_husk_is_named_and_removed()

        _plant_foreign_state()
        forward = Path("/proc/sys/net/ipv4/ip_forward").read_text()
        route_localnet = localnet.read_text()
        assert _foreign_state_problems() == []
        for how in ("stopped", "killed"):
            up = _up(f"up before the {how} cluster's down")
            assert localnet.read_text() == route_localnet, "kube-proxy opened route_localnet"
            assert f"export KUBECONFIG={state / 'kubeconfig'}" in up.stdout
            if how == "killed":
                _kill_the_cluster()
            _down(f"down of a {how} cluster")
            assert _foreign_state_problems() == [], how
            assert not any(_leftovers().values()), (how, _leftovers())
            assert Path("/proc/sys/net/ipv4/ip_forward").read_text() == forward, how
    finally:
        _remove_foreign_state()
        up = _make("cluster-up")
    assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
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
