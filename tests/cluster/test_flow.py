"""The whole Kubernetes flow (`make k8s-test`: scripts/k8s/e2e_check.py) on the cluster under test.

jobs/ applied unchanged with local digests and autoscaling, submit with artifacts and other
parameters, status and delete, --backend kubernetes from the host (also interrupted),
dask-burst 0 -> N -> 0, uninstall leaving nothing, the namespaced operator. The figures it
measures (job, scale-up and scale-down seconds) are written to artifacts/k8s-test-summary.json.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cluster.conftest import ROOT, Cluster

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


@pytest.mark.timeout(3600)
def test_e2e_flow(cluster: Cluster, tmp_path: Path) -> None:
    bundled = os.environ.get("DASKBURST_TEST_OPERATOR", "bundled") == "bundled"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts/k8s/e2e_check.py"), "--artifacts", str(tmp_path),
         "--kubectl", cluster.kubectl_bin, *(["--bundled-operator"] if bundled else [])],
        cwd=ROOT, env=cluster.env, capture_output=True, text=True, timeout=3500, check=False,
    )  # fmt: skip
    summary = json.loads((tmp_path / "summary.json").read_text())
    keep = ROOT / "artifacts" / "k8s-test-summary.json"
    keep.parent.mkdir(exist_ok=True)
    keep.write_text(json.dumps(summary, indent=2) + "\n")
    assert proc.returncode == 0, summary.get("failed") or proc.stderr[-4000:]
    for name, job in summary["jobs"].items():
        assert job["digest"] == job["local_digest"], name
        assert job["peak_wanted_workers"] > job["minimum"], name
    burst = summary["burst"]
    assert burst["minimum"] == 0 and burst["peak"] > 0 and burst["scale_down_s"] is not None
