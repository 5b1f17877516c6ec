"""scripts/k8s/e2e.sh (`make kind-test`) with stub kind/docker/kubectl/make on PATH.

The flow itself (`make k8s-test`) runs for real on the single-node cluster in tests/cluster.

No cluster is involved: the stubs record their calls, so the script's control flow is checked
everywhere: skip without kind, temporary KUBECONFIG, the pinned node image, and the EXIT trap
saving logs to ARTIFACTS *before* deleting the cluster, also when a step fails.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.k8s import manifests as m

pytestmark = pytest.mark.k8s

STUB = """#!/usr/bin/env bash
echo "{name} $*" >> "$CALLS"
{body}
"""


def _stub(bindir: Path, name: str, body: str = "exit 0") -> None:
    path = bindir / name
    path.write_text(STUB.format(name=name, body=body))
    path.chmod(0o755)


def _run(
    tmp_path: Path, *, check_rc: int = 0, with_kind: bool = True, **extra: str
) -> tuple[int, str, list[str]]:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    calls = tmp_path / "calls.log"
    calls.touch()
    _stub(bindir, "docker")
    if with_kind:
        _stub(bindir, "kind")
    _stub(
        bindir,
        "kubectl",
        'if [[ "$*" == *"get pods -n daskburst -o name"* ]]; then echo pod/x-runner; fi',
    )
    _stub(bindir, "make", f'if [[ "$*" == *k8s-test* ]]; then exit {check_rc}; fi')
    _stub(bindir, "daskburst")
    env = {
        "PATH": f"{bindir}:/usr/bin:/bin",
        "CALLS": str(calls),
        "KIND": "kind",
        "KUBECTL": "kubectl",
        "MAKE": "make",
        "BIN": str(bindir),
        "ARTIFACTS": str(tmp_path / "artifacts"),
        "KIND_CLUSTER": "t-e2e",
        "KIND_NODE_IMAGE": "kindest/node:v1.32.2@sha256:" + "0" * 64,
        "IMG": "localhost/daskburst:test",
        "HOME": str(tmp_path),
        "TMPDIR": str(tmp_path),
        # The Docker path (the podman path needs root, podman and a node image built here:
        # it runs for real in `make kind-test`).
        "KIND_PROVIDER": "docker",
        **extra,
    }
    proc = subprocess.run(
        ["bash", str(m.ROOT / "scripts/k8s/e2e.sh")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=tmp_path,
    )
    return proc.returncode, proc.stdout + proc.stderr, calls.read_text().splitlines()


def test_skips_with_exit_0_when_kind_is_missing(tmp_path: Path) -> None:
    rc, out, calls = _run(tmp_path, with_kind=False)
    assert rc == 0
    assert "kind-test: SKIPPED: kind is not installed" in out
    assert not [c for c in calls if not c.startswith("docker")]


def test_under_ci_a_machine_that_cannot_run_kind_fails(tmp_path: Path) -> None:
    rc, out, calls = _run(tmp_path, with_kind=False, CI="true")
    assert rc == 1
    assert "kind-test: FAILED: kind cannot run here: kind is not installed" in out
    assert "SKIPPED" not in out


def test_an_unknown_provider_is_a_usage_error(tmp_path: Path) -> None:
    rc, out, _ = _run(tmp_path, KIND_PROVIDER="vagrant")
    assert rc == 2
    assert "KIND_PROVIDER=vagrant: expected auto, docker or podman" in out


def test_success_runs_every_step_and_tears_down(tmp_path: Path) -> None:
    rc, out, calls = _run(tmp_path)
    assert rc == 0, out
    assert "kind-test: PASSED" in out
    create = next(c for c in calls if c.startswith("kind create cluster"))
    assert "--image kindest/node:v1.32.2@sha256:" in create
    assert "--config k8s/kind-config.yaml" in create
    flow = next(c for c in calls if c.startswith("make") and "k8s-test" in c)
    kubeconfig = next(w for w in flow.split() if w.startswith("KUBECONFIG="))
    assert str(tmp_path) in kubeconfig and ".kube" not in kubeconfig
    assert "K8S_TEST_OPERATOR=upstream" in flow
    steps = [" ".join(w for w in c.split() if not w.startswith("-"))[:14] for c in calls]
    assert steps.index("make venv") < steps.index("make image IMG") < steps.index("make kind-load")
    install = next(i for i, c in enumerate(calls) if c.startswith("daskburst k8s install"))
    assert steps.index("make kind-load") < install < calls.index(flow)
    assert steps[-1].startswith("kind delete")


def test_failure_saves_logs_before_deleting_the_cluster(tmp_path: Path) -> None:
    rc, out, calls = _run(tmp_path, check_rc=3)
    assert rc == 3
    assert "kind-test: FAILED with exit code 3" in out
    logs_at = next(
        i for i, c in enumerate(calls) if c.startswith("kubectl logs -n daskburst x-runner")
    )
    export_at = next(i for i, c in enumerate(calls) if c.startswith("kind export logs"))
    delete_at = max(i for i, c in enumerate(calls) if c.startswith("kind delete cluster"))
    assert logs_at < delete_at and export_at < delete_at
    (run_dir,) = (tmp_path / "artifacts").iterdir()
    assert (run_dir / "events.txt").exists()
    assert (run_dir / "pods" / "daskburst" / "x-runner.log").exists()
    # The temporary kubeconfig directory is gone.
    assert not list(tmp_path.glob("daskburst-kind.*"))


def test_make_kind_test_without_kind_says_skipped_and_exits_0(tmp_path: Path) -> None:
    # The real script and make target, on a PATH without kind.
    bindir = tmp_path / "bin"
    bindir.mkdir()
    env = {"PATH": f"{bindir}:/usr/bin:/bin", "HOME": str(tmp_path)}
    proc = subprocess.run(
        ["make", "--no-print-directory", "kind-test", f"ARTIFACTS={tmp_path}", "KIND=no-such-kind",
         "KIND_PROVIDER=docker"],
        cwd=m.ROOT, text=True, capture_output=True, timeout=600, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "kind-test: SKIPPED:" in proc.stdout
