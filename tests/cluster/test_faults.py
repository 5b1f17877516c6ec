"""Faults on the real cluster: a worker or the operator dies mid-job, a runner fails.

A deleted worker's tasks are recomputed elsewhere (each task draws from its own spawned
stream, so the digest does not change); a deleted operator comes back and picks the job up
where it was; a failing runner makes the DaskJob Failed and the operator removes its cluster.
Nothing of any of these jobs may remain once it is deleted.
"""

from __future__ import annotations

import pytest

from tests.cluster.conftest import (
    LONG_CALC_MEAN,
    NAMESPACE,
    Cluster,
    cluster_pods,
    job_phase,
    submit,
    wait_until,
)

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


def _running(cluster: Cluster, name: str, component: str) -> list[dict[str, object]]:
    return [
        p for p in cluster_pods(cluster, name, component) if p["status"].get("phase") == "Running"
    ]


def _result(cluster: Cluster, name: str) -> dict[str, object]:
    log = cluster.kubectl("logs", "-n", NAMESPACE, f"{name}-runner").stdout
    from daskburst.k8s import parse_result

    record = parse_result(log)
    assert record is not None, log[-2000:]
    return record


@pytest.mark.timeout(900)
def test_a_worker_deleted_mid_job_changes_nothing(
    cluster: Cluster, cleanup_jobs: list[str]
) -> None:
    name = submit(cluster, "jobs/calc-mean.yaml", *LONG_CALC_MEAN)
    cleanup_jobs.append(name)
    wait_until(lambda: job_phase(cluster, name) == "Running" and _running(cluster, name, "worker"),
               300, "a running worker")  # fmt: skip
    victim = _running(cluster, name, "worker")[0]["metadata"]["name"]
    cluster.kubectl("delete", "pod", "-n", NAMESPACE, victim, "--wait=false")
    assert job_phase(cluster, name) == "Running", "the job ended before the fault: lengthen it"
    wait_until(lambda: job_phase(cluster, name) in ("Successful", "Failed"), 600, f"{name} to end")
    assert job_phase(cluster, name) == "Successful"
    local = cluster.local_record("jobs/calc-mean.yaml", *LONG_CALC_MEAN)
    assert _result(cluster, name)["result"]["digest"] == local["result"]["digest"]  # type: ignore[index]


@pytest.mark.timeout(900)
def test_the_operator_deleted_mid_job_comes_back_and_finishes_it(
    cluster: Cluster, cleanup_jobs: list[str]
) -> None:
    name = submit(cluster, "jobs/calc-mean.yaml", *LONG_CALC_MEAN)
    cleanup_jobs.append(name)
    wait_until(lambda: job_phase(cluster, name) == "Running", 300, f"{name} running")
    selector = "app.kubernetes.io/name=dask-kubernetes-operator"
    (operator,) = cluster.json("get", "pods", "-A", "-l", selector)["items"]
    ns, old = operator["metadata"]["namespace"], operator["metadata"]["name"]
    cluster.kubectl("delete", "pod", "-n", ns, old, "--wait=false")
    assert job_phase(cluster, name) == "Running", "the job ended before the fault: lengthen it"
    wait_until(
        lambda: [p for p in cluster.pods(ns, selector)
                 if p["metadata"]["name"] != old and p["status"].get("phase") == "Running"],
        180, "a new operator pod",
    )  # fmt: skip
    wait_until(lambda: job_phase(cluster, name) in ("Successful", "Failed"), 600, f"{name} to end")
    assert job_phase(cluster, name) == "Successful"
    # The new operator removed the finished job's cluster.
    wait_until(lambda: not cluster_pods(cluster, name, "scheduler"), 120, "the scheduler to go")


@pytest.mark.timeout(600)
def test_a_failing_runner_fails_the_job_and_removes_its_cluster(
    cluster: Cluster, cleanup_jobs: list[str]
) -> None:
    # Valid for the client (a glob), nothing there at run time: the runner exits non-zero.
    proc = cluster.daskburst("k8s", "submit", "jobs/dataframe.yaml", "-p",
                             "input=/nonexistent/flights-*.csv", "--wait", "--timeout", "300")  # fmt: skip
    name = proc.stderr.split("daskjob/")[1].split()[0]
    cleanup_jobs.append(name)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert f"daskjob/{name} Failed" in proc.stderr
    assert job_phase(cluster, name) == "Failed"
    runner = cluster.kubectl("logs", "-n", NAMESPACE, f"{name}-runner").stdout
    assert "/nonexistent/flights-*.csv" in runner
    wait_until(lambda: not cluster_pods(cluster, name, "scheduler")
               and not cluster_pods(cluster, name, "worker"), 120, "the failed job's cluster to go")  # fmt: skip
    left = cluster.kubectl("get", "daskcluster", name, "-n", NAMESPACE, check=False)
    assert left.returncode != 0
