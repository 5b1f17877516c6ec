"""localk8s.netfilter: which iptables chains are a cluster's, and removing only those."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

from localk8s import netfilter
from tests.helpers import require


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
