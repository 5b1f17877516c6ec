"""The full Kubernetes flow on kind (`make kind-test`).

Needs Docker and kind, which the project's CI machines cannot run, so `make test` leaves it
out (marker ``e2e``, deselected by default); run it with `make kind-test` or `pytest -m e2e`.
Everything it does is in scripts/k8s/e2e.sh and `make k8s-test`, which CI runs on the
single-node cluster. What e2e.sh does without kind is tested in tests/k8s/test_e2e_script.py.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _kind_unavailable() -> str | None:
    proc = subprocess.run(
        [str(ROOT / "scripts" / "k8s" / "require-kind.sh")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return proc.stderr.strip() or "kind cannot run here" if proc.returncode else None


@pytest.mark.timeout(3600)
def test_make_kind_test(tmp_path: Path) -> None:
    why = _kind_unavailable()
    assert why is None, f"Docker and kind are needed for the Kubernetes e2e flow: {why}"
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
