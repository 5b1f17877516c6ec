"""localk8s.cluster: what `up` refuses before it starts anything (needs root for a bridge)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from localk8s import cluster, host, settings
from tests.helpers import require
from tests.localk8s.conftest import ROOT


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
        with pytest.raises(cluster.ClusterError) as err:
            cluster.prepare(s)
        assert f"bridge {bridge} already has 1 pod interface(s) (vethdbthusk)" in str(err.value)
        assert "make cluster-down" in str(err.value)
        assert not (tmp_path / "state").exists(), "nothing is written before the refusal"
    finally:
        subprocess.run(["ip", "link", "delete", bridge], capture_output=True, check=False)
        subprocess.run(["ip", "netns", "delete", ns], capture_output=True, check=False)
    assert not Path(f"/sys/class/net/{bridge}").exists()
    assert not Path(f"/run/netns/{ns}").exists()
