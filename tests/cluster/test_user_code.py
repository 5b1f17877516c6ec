"""A user's script on the real cluster: `k8s submit SCRIPT`, `kubectl apply -f` of
`k8s manifest SCRIPT`, and `run SCRIPT --backend kubernetes` from outside; each gives the digest
of `--backend sync`, and each job's working-directory ConfigMap goes with it.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from pathlib import Path

import pytest

from tests.cluster.conftest import NAMESPACE, Cluster, job_phase, wait_until
from tests.helpers import EXAMPLE_ARGS, reference_backend

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

SEED = "5"
DIGEST = re.compile(r"^digest: ([0-9a-f]{64})$", re.MULTILINE)


def _digest(text: str) -> str:
    found = DIGEST.findall(text)
    assert len(found) == 1, text[-3000:]
    return str(found[0])


def _sync_digest(cluster: Cluster, script: str) -> str:
    proc = cluster.daskburst("run", script, "--backend", "sync", "--seed", SEED, "--no-progress",
                             check=True)  # fmt: skip
    return _digest(proc.stdout)


def _workdir_configmaps(cluster: Cluster, job: str) -> list[str]:
    return cluster.kubectl("get", "configmaps", "-n", NAMESPACE, "-l",
                           f"daskburst.io/workdir-of={job}", "-o", "name").stdout.split()  # fmt: skip


def test_submit_wait_runs_the_script_and_its_configmap_goes_with_the_job(
    cluster: Cluster, cleanup_jobs: list[str], tmp_path: Path
) -> None:
    want = _sync_digest(cluster, "examples/delayed_loop.py")
    started = time.monotonic()
    proc = cluster.daskburst("k8s", "submit", "examples/delayed_loop.py", "--seed", SEED, "--wait",
                             "--artifacts", str(tmp_path), "--", "--save", "replicates.json",
                             timeout=600)  # fmt: skip
    name = proc.stderr.split("daskjob/")[1].split()[0]
    cleanup_jobs.append(name)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert _digest(proc.stderr) == want
    # what the script wrote under $DASKBURST_OUTPUT came back
    saved = json.loads((tmp_path / name / "outputs" / "replicates.json").read_text())
    assert len(saved) == 10 and all(len(r) == 2 for r in saved)
    print(f"k8s submit examples/delayed_loop.py --wait: {time.monotonic() - started:.1f} s")
    assert _workdir_configmaps(cluster, name) == [f"configmap/{name}-workdir"]
    cluster.daskburst("k8s", "delete", name, check=True)
    wait_until(lambda: not _workdir_configmaps(cluster, name), 60, "the ConfigMap to go")


def test_kubectl_apply_of_the_manifest_gives_the_same_digest(
    cluster: Cluster, cleanup_jobs: list[str], tmp_path: pytest.TempPathFactory
) -> None:
    want = _sync_digest(cluster, "examples/delayed_loop.py")
    name = f"uc-apply-{uuid.uuid4().hex[:6]}"
    proc = cluster.daskburst("k8s", "manifest", "examples/delayed_loop.py", "--seed", SEED,
                             "--name", name, check=True)  # fmt: skip
    path = tmp_path / "job.yaml"  # type: ignore[operator]
    path.write_text(proc.stdout)
    cleanup_jobs.append(name)
    cluster.kubectl("apply", "-f", str(path))
    wait_until(lambda: job_phase(cluster, name) in ("Successful", "Failed"), 300, "the job to end")
    log = cluster.kubectl("logs", "-n", NAMESPACE, "-l",
                          f"dask.org/cluster-name={name},dask.org/component=job-runner",
                          "--tail=-1").stdout  # fmt: skip
    assert job_phase(cluster, name) == "Successful", log[-3000:]
    assert _digest(log) == want
    cluster.kubectl("delete", "-f", str(path), "--wait=true")
    # The kept result outlives a job deleted with kubectl (only `k8s delete` removes it).
    cluster.kubectl("delete", "configmap", f"{name}-result", "-n", NAMESPACE, "--ignore-not-found")
    wait_until(lambda: not _workdir_configmaps(cluster, name), 60, "the ConfigMap to go")


@pytest.mark.parametrize("example", list(EXAMPLE_ARGS))
def test_run_script_from_outside_ships_it_to_a_new_cluster(cluster: Cluster, example: str) -> None:
    """Each example on a DaskCluster made for the run: the digest of this machine's run."""
    script, args = f"examples/{example}", ["--", *EXAMPLE_ARGS[example]]
    here = reference_backend(example)
    want = _digest(cluster.daskburst("run", script, *here, "--seed", SEED, "--no-progress", *args,
                                     check=True).stdout)  # fmt: skip
    proc = cluster.daskburst("run", script, "--backend", "kubernetes", "--seed", SEED,
                             "--no-progress", *args, timeout=600)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert _digest(proc.stdout) == want
