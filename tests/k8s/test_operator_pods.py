"""Run, in containers, exactly the pods the Dask operator would create for each jobs/*.yaml.

The operator's own ``build_*`` functions render the scheduler Deployment, the worker
Deployments and the runner Pod from each DaskJob (tests/k8s/operator_render.py); the
container harness (tests/harness/containers.py) runs their containers with the same image,
args and env on a podman network where the scheduler answers to its Service DNS name
``<job>-scheduler.daskburst.svc.cluster.local``. Each job must succeed with the same digest as
the local backend for the same parameters.
"""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from daskburst.k8s import parse_result
from tests.harness.containers import (
    DASHBOARD_PORT,
    ContainerCluster,
    ContainerSpec,
    container_tool,
    default_image,
    image_exists,
)
from tests.helpers import require
from tests.k8s import manifests as m
from tests.k8s.operator_render import render_job

pytestmark = [pytest.mark.containers, pytest.mark.k8s, pytest.mark.slow]

NAMESPACE = "daskburst"
WORKERS = 2
#: calc-mean's job is sized to keep a kind cluster busy long enough to autoscale (45 s of
#: CPU); on a 2-core CI machine only its size is reduced. Everything else runs as rendered.
SMALLER = {"calc-mean": {"--n": "2000000"}}


def _shrink(container: dict[str, Any], job: str) -> None:
    args = container["args"]
    for flag, value in SMALLER.get(job, {}).items():
        args[args.index(flag) + 1] = value


def _jobs() -> list[dict[str, Any]]:
    return [d for p in m.job_files() for d in m.load(p) if d["kind"] == "DaskJob"]


def _params(args: list[str]) -> dict[str, Any]:
    """Keyword parameters of ``daskburst run WORKLOAD --flag value ...`` (runner flags dropped)."""
    params: dict[str, Any] = {}
    rest = args[3:]
    i = 0
    while i < len(rest):
        flag = rest[i]
        if flag == "--no-progress":
            i += 1
            continue
        if flag not in ("--backend", "--output"):
            params[flag.lstrip("-").replace("-", "_")] = rest[i + 1]
        i += 2
    return params


def _local_digest(workload: str, params: dict[str, Any]) -> str:
    proc = subprocess.run(
        [
            str(m.ROOT / ".venv" / "bin" / "daskburst"),
            "run",
            workload,
            *[x for k, v in params.items() for x in (f"--{k.replace('_', '-')}", str(v))],
            "--backend",
            "threads",
            "--no-progress",
            "--output",
            "/dev/stdout",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    record = parse_result(proc.stdout)
    assert record is not None, proc.stdout[-2000:]
    return str(record["result"]["digest"])


@pytest.fixture(scope="module")
def image() -> str:
    tool = container_tool()
    require(tool is not None, "podman (or docker) is not working: run `make podman-setup`")
    assert tool is not None
    img = default_image()
    require(image_exists(img, tool), f"image {img} is missing: run `make image`")
    return img


@pytest.mark.parametrize("job", _jobs(), ids=lambda j: j["metadata"]["name"])
def test_operator_pods_of_each_job_run_to_the_right_result(image: str, job: dict[str, Any]) -> None:
    name = job["metadata"]["name"]
    made = render_job(job, NAMESPACE, workers=WORKERS)
    runner = made["runner"]["spec"]["containers"][0]
    _shrink(runner, name)
    assert made["runner"]["spec"]["restartPolicy"] == "Never"
    with ContainerCluster(
        image,
        workers=WORKERS,
        cluster=name,
        namespace=NAMESPACE,
        start_scheduler=False,
        timeout=180,
    ) as cluster:
        assert cluster.scheduler_host == f"{name}-scheduler.{NAMESPACE}.svc.cluster.local"
        sched = made["scheduler"]["spec"]["template"]["spec"]["containers"][0]
        cluster.use_scheduler(
            cluster.start_k8s(
                sched,
                name=made["scheduler"]["metadata"]["name"],
                aliases=[cluster.scheduler_host],
                publish=[DASHBOARD_PORT],
            )
        )
        cluster.wait_for_http("/health")
        # The operator's autoscaler needs the scheduler's HTTP API (enabled by the spec's env).
        status, body = cluster.http_get("/api/v1/adaptive_target")
        assert status == 200 and "workers" in body
        for dep in made["workers"]:
            container = dep["spec"]["template"]["spec"]["containers"][0]
            cluster.workers.append(cluster.start_k8s(container, name=dep["metadata"]["name"]))
        cluster.wait_for_workers(WORKERS)

        spec = ContainerSpec.from_k8s(runner, name=cluster.unique(f"{name}-runner"), image=image)
        assert spec.env["DASK_SCHEDULER_ADDRESS"] == cluster.scheduler_address
        cluster.containers.append(spec.name)
        proc = subprocess.run(
            [cluster.tool, *cluster.podman_args(spec, detach=False)],
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        logs = proc.stdout + proc.stderr
        assert proc.returncode == 0, logs[-3000:]
        record = parse_result(proc.stdout)
        assert record is not None, logs[-3000:]
        assert record["backend"] == "address"
    workload = runner["args"][2]
    assert record["result"]["digest"] == _local_digest(workload, _params(runner["args"]))


def test_params_parsing_matches_the_runner_flags() -> None:
    args = ["daskburst", "run", "array", "--rows", "5", "--chunks", "1,1", "--backend", "auto"]
    assert _params([*args, "--no-progress", "--output", "/dev/stdout"]) == {
        "rows": "5",
        "chunks": "1,1",
    }
