"""The kubernetes backend without a cluster: same pod specs as the chart, adapt, cleanup."""

from __future__ import annotations

from typing import Any

import pytest

from daskburst.backends import _kubernetes
from daskburst.backends._base import BackendOptions
from daskburst.errors import BackendError
from tests.k8s import manifests as m

pytestmark = pytest.mark.k8s


def _chart_cluster() -> dict[str, Any]:
    (cluster,) = m.load(m.ROOT / "charts" / "dask-burst" / "base" / "daskcluster.yaml")
    return cluster


def test_backend_cluster_uses_the_chart_pod_specs() -> None:
    made = _kubernetes.cluster_manifest(BackendOptions(adapt=(0, 4)), "daskburst-x1", "ns")
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
    made = _kubernetes.cluster_manifest(opts, "c", "ns")
    worker = made["spec"]["worker"]
    assert worker["replicas"] == 3
    args = worker["spec"]["containers"][0]["args"]
    assert args[args.index("--nthreads") + 1] == "2"
    assert {c["image"] for c in m.containers(made)} == {"reg/daskburst:9"}


class FakeCluster:
    instances: list[FakeCluster] = []

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs
        self.adapted: tuple[int, int] | None = None
        self.closed = False
        self.dashboard_link = "http://localhost:1234/status"
        FakeCluster.instances.append(self)

    def adapt(self, minimum: int, maximum: int) -> None:
        self.adapted = (minimum, maximum)

    def close(self) -> None:
        self.closed = True


class FakeClient:
    def __init__(self, cluster: FakeCluster) -> None:
        self.cluster = cluster
        self.waited: list[int] = []

    def __enter__(self) -> FakeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def wait_for_workers(self, n: int, timeout: float) -> None:
        self.waited.append(n)


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> type[FakeCluster]:
    import dask_kubernetes.operator
    import distributed

    FakeCluster.instances = []
    monkeypatch.setattr(dask_kubernetes.operator, "KubeCluster", FakeCluster)
    monkeypatch.setattr(distributed, "Client", FakeClient)
    return FakeCluster


def test_open_kubernetes_adapts_and_always_closes(fakes: type[FakeCluster]) -> None:
    opts = BackendOptions(adapt=(0, 5), extra={"namespace": "team", "name": "db-1"})
    with pytest.raises(RuntimeError, match="boom"):
        with _kubernetes.open_kubernetes(opts) as session:
            assert session.backend == "kubernetes" and session.workers == 5
            assert session.client.waited == []  # minimum 0: work itself triggers scale-up
            raise RuntimeError("boom")
    (cluster,) = fakes.instances
    assert cluster.adapted == (0, 5) and cluster.closed
    assert cluster.kwargs["namespace"] == "team"
    assert cluster.kwargs["custom_cluster_spec"]["metadata"]["name"] == "db-1"
    assert cluster.kwargs["shutdown_on_close"] is True


def test_open_kubernetes_fixed_size_waits_for_workers(fakes: type[FakeCluster]) -> None:
    with _kubernetes.open_kubernetes(BackendOptions(workers=2)) as session:
        assert session.client.waited == [2]
        name = fakes.instances[0].kwargs["custom_cluster_spec"]["metadata"]["name"]
        assert name.startswith("daskburst-") and len(name) <= 52
    assert fakes.instances[0].adapted is None and fakes.instances[0].closed


def test_open_kubernetes_reports_missing_operator(monkeypatch: pytest.MonkeyPatch) -> None:
    import dask_kubernetes.operator

    def broken(**kwargs: Any) -> None:
        raise RuntimeError("Failed to create DaskCluster resource")

    monkeypatch.setattr(dask_kubernetes.operator, "KubeCluster", broken)
    with pytest.raises(BackendError, match="is the operator installed"):
        with _kubernetes.open_kubernetes(BackendOptions()):
            pass
