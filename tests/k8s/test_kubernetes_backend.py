"""The kubernetes backend's pure parts: the same pod specs as the chart, sizes, threads.

What it does against an API server (create, attach, adapt, delete, Ctrl-C, errors) is tested on
a real cluster in tests/cluster/test_kubernetes_backend.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from daskburst import k8s
from daskburst.backends import BackendOptions
from tests.k8s import manifests as m

pytestmark = pytest.mark.k8s


def _chart_cluster() -> dict[str, Any]:
    (cluster,) = m.load(m.ROOT / "charts" / "dask-burst" / "base" / "daskcluster.yaml")
    return cluster


def test_backend_cluster_uses_the_chart_pod_specs() -> None:
    made = k8s.cluster_manifest(BackendOptions(adapt=(0, 4)), "daskburst-x1", "ns")
    chart = _chart_cluster()
    for role in ("scheduler", "worker"):
        assert made["spec"][role]["spec"] == chart["spec"][role]["spec"], role
    assert made["spec"]["worker"]["replicas"] == 0
    assert made["spec"]["scheduler"]["service"]["selector"]["dask.org/cluster-name"] == (
        "daskburst-x1"
    )
    m.validate(made)


def test_backend_options_set_size_threads_and_image() -> None:
    opts = BackendOptions(workers=3, threads_per_worker=2, extra={"image": "reg/daskburst:9"})
    made = k8s.cluster_manifest(opts, "c", "ns")
    worker = made["spec"]["worker"]
    assert worker["replicas"] == 3
    args = worker["spec"]["containers"][0]["args"]
    assert args[args.index("--nthreads") + 1] == "2"
    assert {c["image"] for c in m.containers(made)} == {"reg/daskburst:9"}


def test_worker_cpu_limit_follows_threads() -> None:
    made = k8s.cluster_manifest(BackendOptions(threads_per_worker=3), "c", "ns")
    worker = made["spec"]["worker"]["spec"]["containers"][0]
    assert worker["resources"]["limits"]["cpu"] == "3"
    sched = made["spec"]["scheduler"]["spec"]["containers"][0]
    assert sched["resources"]["limits"]["cpu"] == "1"


def test_resources_come_from_the_defaults_file() -> None:
    import dask

    with dask.config.set(
        {"daskburst.kubernetes.resources.worker.limits.memory": "3Gi",
         "daskburst.kubernetes.resources.worker.limits.cpu": "500m"}
    ):  # fmt: skip
        made = k8s.cluster_manifest(BackendOptions(threads_per_worker=2), "c", "ns")
    limits = made["spec"]["worker"]["spec"]["containers"][0]["resources"]["limits"]
    assert limits == {"cpu": "500m", "memory": "3Gi"}
