"""Helpers shared by the test suites."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest


def in_ci() -> bool:
    """Return True when running under CI (``CI=true``)."""
    return os.environ.get("CI", "").lower() == "true"


def require(ok: bool, why: str) -> None:
    """Skip the test when a prerequisite is missing; in CI, fail instead.

    Args:
        ok: Whether the prerequisite is present.
        why: What is missing and how to get it (e.g. "run `make slurm-up`").
    """
    if ok:
        return
    if in_ci():
        pytest.fail(f"CI=true but prerequisite missing: {why}", pytrace=False)
    pytest.skip(why)


def kubectl() -> str:
    """Return the kubectl to use.

    ``DASKBURST_KUBECTL``, else the one `make cluster-build` built from the pinned Kubernetes
    module, else the first on PATH.
    """
    if os.environ.get("DASKBURST_KUBECTL"):
        return os.environ["DASKBURST_KUBECTL"]
    root = Path(__file__).resolve().parents[1]
    versions = root / "scripts" / "cluster" / "versions.env"
    match = re.search(r"^KUBERNETES_VERSION=(\S+)", versions.read_text(), re.M)
    built = root / "build" / "bin" / f"kubernetes-{match.group(1) if match else ''}" / "kubectl"
    if built.exists():
        return str(built)
    return shutil.which("kubectl") or "kubectl"
