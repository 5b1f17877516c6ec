"""localk8s.netfilter: which iptables chains are a cluster's, and removing only those."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from typing import Any

import pytest

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


class FakeIptables:
    """``iptables -S/-D/-F/-X`` over in-memory tables (IPv4 only: no ip6tables installed)."""

    def __init__(self, tables: dict[str, list[str]]) -> None:
        self.tables = tables
        self.calls: list[list[str]] = []

    def which(self, tool: str) -> str | None:
        return f"/usr/sbin/{tool}" if tool == "iptables" else None

    def run(self, cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        self.calls.append(cmd)
        assert cmd[:2] == ["iptables", "-w"] and cmd[2] == "-t", cmd
        rules = self.tables.setdefault(cmd[3], [])
        op, args = cmd[4], cmd[5:]
        if op == "-S":
            return subprocess.CompletedProcess(cmd, 0, "\n".join(rules) + "\n", "")
        if op == "-D":
            rules.remove(shlex.join(["-A", *args]))
        elif op == "-F":
            rules[:] = [r for r in rules if not r.startswith(f"-A {args[0]} ")]
        elif op == "-X":
            rules.remove(f"-N {args[0]}")
        return subprocess.CompletedProcess(cmd, 0, "", "")


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeIptables:
    nat = ["-P PREROUTING ACCEPT", "-P POSTROUTING ACCEPT", "-N KUBE-SERVICES", "-N CNI-abc",
           "-A PREROUTING -j KUBE-SERVICES",
           "-A POSTROUTING -s 10.244.0.5/32 -m comment --comment 'name: \"daskburst\"' -j CNI-abc",
           "-A CNI-abc -d 10.244.0.0/24 -j ACCEPT"]  # fmt: skip
    filt = ["-P INPUT ACCEPT", "-N KUBE-FIREWALL", "-N DOCKER", "-A INPUT -j KUBE-FIREWALL"]
    fake = FakeIptables({"nat": nat, "filter": filt})
    monkeypatch.setattr(netfilter.shutil, "which", fake.which)
    monkeypatch.setattr(netfilter.subprocess, "run", fake.run)
    return fake


def test_leftovers_lists_every_table_of_each_installed_binary(fake: FakeIptables) -> None:
    assert netfilter.iptables_leftovers() == [
        "iptables filter KUBE-FIREWALL", "iptables nat KUBE-SERVICES", "iptables nat CNI-abc",
    ]  # fmt: skip
    assert [c[3] for c in fake.calls] == list(netfilter.TABLES)


def test_sweep_keeps_the_chains_that_were_there_before_and_the_jumps_to_them(
    fake: FakeIptables,
) -> None:
    theirs = ["iptables nat KUBE-SERVICES"]
    assert netfilter.sweep_iptables(theirs=theirs) == []
    assert fake.tables["filter"] == ["-P INPUT ACCEPT", "-N DOCKER"]
    assert fake.tables["nat"] == ["-P PREROUTING ACCEPT", "-P POSTROUTING ACCEPT",
                                  "-N KUBE-SERVICES", "-A PREROUTING -j KUBE-SERVICES"]  # fmt: skip
    assert netfilter.iptables_leftovers() == ["iptables nat KUBE-SERVICES"]


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
