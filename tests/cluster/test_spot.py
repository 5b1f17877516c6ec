"""The cloud overlay's burst on a cluster with a spot node (`make kind-test`'s three nodes).

The cloud overlay of dask-burst (tests/cluster/overlays/spot: the same, but for size and the
image) on a control plane, a regular worker and a worker labelled and tainted as GKE marks a
spot node:

- workers land on the spot node, the scheduler never does, and a run through the scheduler
  (on the regular node, reached across the pod network) gives the local digest;
- the PodDisruptionBudget holds back a drain of the scheduler's node;
- a DaskJob of jobs/ (whose workers, like every worker, tolerate spot nodes) has workers on
  the spot node and its scheduler on the regular one; the spot node is taken away in the
  middle of the job (drained with a short grace, then its container stopped): workers come
  back on the other node and the job ends Successful with the local digest. The time from
  the loss to the first new worker is written to artifacts/spot-loss.json.

Needs such a cluster: on the single-node cluster `make test` leaves these out (marker
``multinode``). The spot-loss test stops a node for good: it runs last.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.cluster.conftest import NAMESPACE, ROOT, Cluster, cluster_pods, wait_until

pytestmark = [pytest.mark.cluster, pytest.mark.multinode, pytest.mark.slow]

SPOT = "cloud.google.com/gke-spot"
CONTROL_PLANE = "node-role.kubernetes.io/control-plane"
OVERLAY = ROOT / "tests" / "cluster" / "overlays" / "spot"
BURST = "dask-burst"
#: A few seconds of work.
SHORT_RUN = ("--replicates", "40", "--n", "1e7")
#: About 30 s of work for two workers: long enough to lose a node in the middle.
LONG_RUN = ("--replicates", "160", "--n", "4e7")


@dataclass(frozen=True)
class Nodes:
    """The two worker nodes: a regular one and a spot one."""

    regular: str
    spot: str


@pytest.fixture(scope="module")
def nodes(cluster: Cluster) -> Nodes:
    items = cluster.json("get", "nodes")["items"]
    labels = {n["metadata"]["name"]: n["metadata"].get("labels", {}) for n in items}
    spot = sorted(name for name, lab in labels.items() if lab.get(SPOT) == "true")
    regular = sorted(
        name for name, lab in labels.items() if SPOT not in lab and CONTROL_PLANE not in lab
    )
    assert spot and regular, (
        f"needs a regular worker node and a spot one ({SPOT}=true), as `make kind-test`'s "
        f"cluster has; nodes: {labels}"
    )
    return Nodes(regular=regular[0], spot=spot[0])


def _node_of(pod: dict[str, Any]) -> str:
    return str(pod["spec"].get("nodeName") or "")


def _running(pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [p for p in pods if p["status"].get("phase") == "Running"]


def _workers(cluster: Cluster) -> list[dict[str, Any]]:
    return _running(cluster_pods(cluster, BURST, "worker"))


def _scheduler(cluster: Cluster) -> dict[str, Any] | None:
    pods = _running(cluster_pods(cluster, BURST, "scheduler"))
    return pods[0] if pods else None


def _local_digest(cluster: Cluster, *args: str) -> str:
    proc = cluster.daskburst("run", "calc-mean", *args, "--backend", "local", "--no-progress",
                             "--output", "-", check=True)  # fmt: skip
    return str(json.loads(proc.stdout)["result"]["digest"])


def _run_on_burst(cluster: Cluster, *args: str) -> subprocess.Popen[str]:
    """`daskburst run calc-mean` on dask-burst (attached, from this host), in the background."""
    return subprocess.Popen(
        [str(ROOT / ".venv/bin/daskburst"), "run", "calc-mean", *args, "--backend",
         "kubernetes", "--no-progress", "--output", "-"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        start_new_session=True,
        env={**cluster.env, "DASK_DASKBURST__KUBERNETES__CLUSTER_NAME": BURST},
    )  # fmt: skip


def _digest(proc: subprocess.Popen[str], timeout: float) -> str:
    """The digest of a run (or `k8s submit --wait`) started in the background, once it ended."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"the run did not end within {timeout:g} s: {err[-3000:]}") from None
    assert proc.returncode == 0, err[-3000:]
    return str(json.loads(out)["result"]["digest"])


@pytest.fixture(scope="module")
def burst(cluster: Cluster, nodes: Nodes) -> Iterator[None]:
    """dask-burst from the cloud overlay (sized down), its scheduler Running; deleted after."""
    cluster.kubectl("apply", "-k", str(OVERLAY))
    try:
        wait_until(lambda: _scheduler(cluster), 300, "dask-burst's scheduler to run")
        yield
    finally:
        cluster.kubectl("delete", "-k", str(OVERLAY), "--ignore-not-found", "--wait=true",
                        check=False, timeout=300)  # fmt: skip
        wait_until(lambda: not cluster_pods(cluster, BURST), 180, "dask-burst's pods to go")


def test_workers_go_to_the_spot_node_and_the_scheduler_never_does(
    cluster: Cluster, nodes: Nodes, burst: None
) -> None:
    scheduler = _scheduler(cluster)
    assert scheduler is not None
    assert _node_of(scheduler) == nodes.regular, "the scheduler must never run on a spot node"
    proc = _run_on_burst(cluster, *SHORT_RUN)
    seen: set[str] = set()
    # While the run computes, the autoscaler adds workers: all of them on the spot node.
    while proc.poll() is None:
        seen |= {_node_of(p) for p in _workers(cluster)}
        time.sleep(0.5)
    digest = _digest(proc, 60)
    assert seen == {nodes.spot}, f"workers ran on {sorted(seen)}, expected only {nodes.spot}"
    # The scheduler on the regular node, the workers on the spot node: across the pod network.
    assert digest == _local_digest(cluster, *SHORT_RUN)


def test_the_pdb_holds_back_a_drain_of_the_schedulers_node(
    cluster: Cluster, nodes: Nodes, burst: None
) -> None:
    before = _scheduler(cluster)
    assert before is not None
    try:
        proc = cluster.kubectl(
            "drain", nodes.regular, "--ignore-daemonsets", "--delete-emptydir-data",
            "--pod-selector", f"dask.org/cluster-name={BURST},dask.org/component=scheduler",
            "--timeout=20s", check=False, timeout=120,
        )  # fmt: skip
    finally:
        cluster.kubectl("uncordon", nodes.regular)
    assert proc.returncode != 0, f"the drain evicted the scheduler: {proc.stdout}"
    assert "disruption budget" in proc.stderr + proc.stdout, proc.stderr
    after = _scheduler(cluster)
    assert after is not None and after["metadata"]["uid"] == before["metadata"]["uid"]


def _job_pods(cluster: Cluster, job: str, component: str) -> list[dict[str, Any]]:
    """Running pods of the submitted DaskJob(s) whose name starts with ``job``."""
    pods = cluster.pods(selector=f"dask.org/component={component}")
    return _running([p for p in pods
                     if p["metadata"]["labels"].get("dask.org/cluster-name", "").startswith(job)])  # fmt: skip


def test_losing_the_spot_node_mid_job_ends_successful_with_the_local_digest(
    cluster: Cluster, nodes: Nodes
) -> None:
    """A DaskJob of jobs/ (submitted as it is, but longer) loses the spot node mid-job.

    Runs last: the spot node stays stopped (the cluster is thrown away after).
    """
    job = "calc-mean-"
    submit = subprocess.Popen(
        [str(ROOT / ".venv/bin/daskburst"), "k8s", "submit", "jobs/calc-mean.yaml",
         "-p", f"replicates={LONG_RUN[1]}", "-p", f"n={LONG_RUN[3]}", "--wait", "--timeout", "900"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        start_new_session=True, env=cluster.env,
    )  # fmt: skip
    try:
        wait_until(lambda: [p for p in _job_pods(cluster, job, "worker")
                            if _node_of(p) == nodes.spot] or submit.poll() is not None,
                   300, "a worker of the job on the spot node")  # fmt: skip
        assert submit.poll() is None, "the job ended before the node was lost: make it longer"
        (scheduler,) = _job_pods(cluster, job, "scheduler")
        # The scheduler never on the spot node: workers there reach it across the pod network.
        assert _node_of(scheduler) == nodes.regular
        # The job's workers before the loss: a replacement may come up on the regular node
        # within a second or two of the drain, before the node below has stopped.
        already = {p["metadata"]["uid"] for p in _job_pods(cluster, job, "worker")}
        # What a spot reclaim does: the node is drained with a short grace, then it is gone.
        lost = time.monotonic()
        cluster.kubectl("drain", nodes.spot, "--ignore-daemonsets", "--delete-emptydir-data",
                        "--force", "--grace-period=5", "--timeout=60s", check=False,
                        timeout=120)  # fmt: skip
        subprocess.run(["podman", "stop", "--time", "5", nodes.spot], check=True,
                       capture_output=True, timeout=120)  # fmt: skip
        first = wait_until(
            lambda: [p for p in _job_pods(cluster, job, "worker")
                     if _node_of(p) == nodes.regular and p["metadata"]["uid"] not in already]
            or submit.poll() is not None,
            300, f"a new worker of the job on {nodes.regular}",
        )  # fmt: skip
        recovered = time.monotonic() - lost
        digest = _digest(submit, 900)
    finally:
        if submit.poll() is None:
            submit.kill()
            submit.communicate()
        jobs = cluster.json("-n", NAMESPACE, "get", "daskjobs.kubernetes.dask.org")["items"]
        for name in [j["metadata"]["name"] for j in jobs if j["metadata"]["name"].startswith(job)]:
            cluster.daskburst("k8s", "delete", name)
    assert isinstance(first, list), "the job ended before a new worker came on the regular node"
    assert digest == _local_digest(cluster, *LONG_RUN)
    out_file = ROOT / "artifacts" / "spot-loss.json"
    out_file.parent.mkdir(exist_ok=True)
    out_file.write_text(json.dumps({
        "job": first[0]["metadata"]["labels"]["dask.org/cluster-name"],
        "loss_to_first_new_worker_s": round(recovered, 1),
        "first_new_worker": first[0]["metadata"]["name"],
        "node_lost": nodes.spot,
    }, indent=2) + "\n")  # fmt: skip
