"""Shared by the tests of localk8s (scripts/cluster), the single-node cluster's tooling.

They need no cluster: the pure builders run anywhere, and the few that touch the host's
network (iptables, a bridge) skip without root (fail with ``CI=true``) and undo what they do.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from localk8s import settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def s(tmp_path: Path) -> settings.Settings:
    """Settings of a cluster whose state lives under ``tmp_path`` (nothing is written)."""
    return settings.load(
        {"CLUSTER_DIR": str(tmp_path / "state"), "CLUSTER_NODE_IP": "192.0.2.7",
         "CLUSTER_NODE_NAME": "node1", "CLUSTER_BIN_ROOT": str(tmp_path / "bin")}
    )  # fmt: skip
