"""The full Kubernetes flow on kind (`make kind-test`).

A kind cluster with Docker, or, as root, with podman and a node image built here (three
nodes, one a spot node): minutes of work, so `make test` leaves it out (marker ``e2e``,
deselected by default); run it with `make kind-test` or `pytest -m e2e`. What e2e.sh does
without a cluster is tested in tests/k8s/test_e2e_script.py.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.mark.timeout(3600)
def test_make_kind_test(tmp_path: Path) -> None:
    proc = subprocess.run(
        ["make", "--no-print-directory", "kind-test", f"ARTIFACTS={tmp_path}"],
        cwd=ROOT,
        text=True,
        capture_output=True,
        timeout=3500,
        env={**os.environ, "KIND_CLUSTER": f"daskburst-pytest-{os.getpid()}"},
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "kind-test: PASSED" in proc.stdout
    assert "SKIPPED" not in proc.stdout
