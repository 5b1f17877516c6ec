"""daskburst.k8s's kr8s calls against an in-memory API server (tests/k8s/fake_apiserver.py).

The real-cluster test is `make kind-test`; these run everywhere and exercise the same HTTP
requests: install (create, then patch: idempotent), waiting for CRDs and the operator,
submit under unique names, following a job through Kr8sJobView, status, delete, uninstall
and the `daskburst k8s` CLI.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kr8s
import pytest

from daskburst import k8s
from daskburst.cli import main
from daskburst.errors import BackendError
from tests.k8s import manifests as m
from tests.k8s.fake_apiserver import FakeApiServer, fake_apiserver

pytestmark = pytest.mark.k8s
NS = "daskburst"


class ScriptedClock:
    """Fake time; each sleep may run the next step of a scenario (a controller's action)."""

    def __init__(self, steps: list[Callable[[], None]] | None = None) -> None:
        self.now = 0.0
        self.steps = list(steps or [])

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        if self.steps:
            self.steps.pop(0)()


def _play_controllers(obj: dict[str, Any]) -> None:
    """What the API server and kube-controller-manager would do right after a create."""
    if obj["kind"] == "CustomResourceDefinition":
        obj["status"] = {"conditions": [{"type": "Established", "status": "True"}]}
    if obj["kind"] == "Deployment":
        n = obj["spec"].get("replicas", 1)
        obj["status"] = {"availableReplicas": n, "updatedReplicas": n, "observedGeneration": 1}


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeApiServer, Any]]:
    with fake_apiserver(tmp_path) as (state, kubeconfig):
        monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
        yield state, kr8s.api(kubeconfig=str(kubeconfig))


@pytest.fixture(scope="module")
def platform() -> list[dict[str, Any]]:
    return k8s.platform_manifests(m.ROOT)


def test_install_is_idempotent_and_waits_for_crds_and_operator(
    server: tuple[FakeApiServer, Any], platform: list[dict[str, Any]]
) -> None:
    state, api = server
    state.on_create.append(_play_controllers)
    messages: list[str] = []
    k8s.install(platform, timeout=30, api=api, clock=ScriptedClock(), echo=messages.append)
    assert len(state.store) == len(platform)
    assert sum("created" in msg for msg in messages) == len(platform)
    assert messages[-1].startswith("installed")
    kinds = [kind for kind in (o["kind"] for o in platform)]
    assert kinds.index("Namespace") < kinds.index("Deployment")
    # Again: everything is patched in place, nothing duplicated.
    messages.clear()
    k8s.install(platform, timeout=30, api=api, clock=ScriptedClock(), echo=messages.append)
    assert len(state.store) == len(platform)
    assert sum("configured" in msg for msg in messages) == len(platform)
    op = state.get("Deployment", "dask-kubernetes-operator", "dask-operator")
    assert op is not None
    assert op["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":2026.3.0")


def test_install_times_out_when_the_operator_never_gets_ready(
    server: tuple[FakeApiServer, Any], platform: list[dict[str, Any]]
) -> None:
    state, api = server
    state.on_create.append(
        lambda o: _play_controllers(o) if o["kind"] == "CustomResourceDefinition" else None
    )
    clock = ScriptedClock()
    with pytest.raises(BackendError, match="dask-kubernetes-operator to be available"):
        k8s.install(platform, timeout=20, api=api, clock=clock, echo=lambda _: None)
    assert clock.now == pytest.approx(20)


def test_submit_uses_unique_names_and_renames_the_autoscaler(
    server: tuple[FakeApiServer, Any],
) -> None:
    state, api = server
    a = k8s.submit(m.ROOT / "jobs" / "calc-mean.yaml", NS, api=api)
    b = k8s.submit(m.ROOT / "jobs" / "calc-mean.yaml", NS, api=api)
    assert a != b and a.startswith("calc-mean-") and b.startswith("calc-mean-")
    assert sorted(o["metadata"]["name"] for o in state.objects("DaskJob")) == sorted([a, b])
    scalers = {o["metadata"]["name"]: o["spec"]["cluster"] for o in state.objects("DaskAutoscaler")}
    assert scalers == {a: a, b: b}
    fixed = k8s.submit(m.ROOT / "jobs" / "bag.yaml", NS, name="bag-mine", image="r/d:2", api=api)
    job = state.get("DaskJob", fixed, NS)
    assert job is not None
    assert {c["image"] for c in m.containers(job)} == {"r/d:2"}


def _pod(name: str, cluster: str, component: str, phase: str = "Running") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": NS,
            "labels": {"dask.org/cluster-name": cluster, "dask.org/component": component},
        },
        "status": {"phase": phase},
    }


def test_wait_job_follows_a_job_through_the_api(
    server: tuple[FakeApiServer, Any], tmp_path: Path
) -> None:
    state, api = server
    name = k8s.submit(m.ROOT / "jobs" / "array.yaml", NS, api=api)
    record = {"workload": "array", "result": {"digest": "abc123"}}

    def set_phase(phase: str) -> Callable[[], None]:
        def step() -> None:
            job = state.get("DaskJob", name, NS)
            assert job is not None
            job["status"] = {"jobStatus": phase}

        return step

    def start_cluster() -> None:
        set_phase("Running")()
        state.put(_pod(f"{name}-scheduler-x", name, "scheduler"))
        state.logs[(NS, f"{name}-scheduler-x")] = "scheduler started\n"
        state.put(_pod(f"{name}-runner", name, "job-runner"))
        state.logs[(NS, f"{name}-runner")] = "dashboard: http://x\n"
        for i in range(3):
            state.put(_pod(f"{name}-default-worker-{i}", name, "worker"))

    def finish() -> None:
        for i in range(3):
            state.store.pop(("v1", "pods", NS, f"{name}-default-worker-{i}"))
        state.store.pop(("v1", "pods", NS, f"{name}-scheduler-x"))
        state.logs[(NS, f"{name}-runner")] += json.dumps(record, indent=2) + "\n"
        set_phase("Successful")()

    clock = ScriptedClock([set_phase("ClusterCreated"), start_cluster, finish])
    outcome = k8s.wait_job(
        k8s.Kr8sJobView(NS, api), name, timeout=600, clock=clock, artifacts=tmp_path / "a"
    )
    assert outcome.ok and outcome.result == record and outcome.peak_workers == 3
    assert outcome.events == ["JobCreated", "ClusterCreated", "Running", "Successful"] or (
        outcome.events == ["Pending", "ClusterCreated", "Running", "Successful"]
    )
    assert (tmp_path / "a" / "scheduler.log").read_text() == "scheduler started\n"
    assert json.loads((tmp_path / "a" / "result.json").read_text()) == record


def test_wait_job_timeout_deletes_the_job(server: tuple[FakeApiServer, Any]) -> None:
    state, api = server
    name = k8s.submit(m.ROOT / "jobs" / "bag.yaml", NS, api=api)
    with pytest.raises(BackendError, match="deleted the job"):
        k8s.wait_job(k8s.Kr8sJobView(NS, api), name, timeout=30, clock=ScriptedClock())
    assert state.get("DaskJob", name, NS) is None


def test_status_delete_and_uninstall(
    server: tuple[FakeApiServer, Any], platform: list[dict[str, Any]]
) -> None:
    state, api = server
    state.on_create.append(_play_controllers)
    k8s.install(platform, timeout=30, api=api, clock=ScriptedClock(), echo=lambda _: None)
    name = k8s.submit(m.ROOT / "jobs" / "dataframe.yaml", NS, api=api)
    rows = k8s.status(NS, api=api)
    assert [(r["kind"], r["name"], r["phase"], r["workers"]) for r in rows] == [
        ("DaskJob", name, "Pending", 1)
    ]
    assert k8s.delete([name, "nope"], NS, api=api) == [name]
    assert not state.objects("DaskJob") and not state.objects("DaskAutoscaler")
    k8s.submit(m.ROOT / "jobs" / "bag.yaml", NS, api=api)
    k8s.uninstall(platform, NS, api=api, echo=lambda _: None)
    assert state.store == {}


def test_cli_submit_status_delete(
    server: tuple[FakeApiServer, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    state, _ = server
    assert main(["k8s", "submit", str(m.ROOT / "jobs" / "bag.yaml")]) == 0
    name = capsys.readouterr().out.strip()
    assert name.startswith("bag-") and state.get("DaskJob", name, NS) is not None
    assert main(["k8s", "status", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == [name]
    assert main(["k8s", "delete", name]) == 0
    assert state.get("DaskJob", name, NS) is None
    assert main(["k8s", "delete", "missing-job"]) == 2
    assert "no DaskJob named missing-job" in capsys.readouterr().err
    assert main(["k8s", "submit", "no/such.yaml"]) == 2
