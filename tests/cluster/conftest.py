"""Shared by the cluster tests: the cluster to test against.

The cluster tests (marker ``cluster``) run against ``build/cluster/kubeconfig`` (``make
cluster-up``) or the kubeconfig in ``DASKBURST_TEST_KUBECONFIG`` (e.g. a kind cluster). Never
``KUBECONFIG``: running the tests must not touch whatever cluster a shell happens to point at.
Without a reachable cluster they skip; with ``CI=true`` they fail.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import kubectl, require

ROOT = Path(__file__).resolve().parents[2]
NAMESPACE = "daskburst"
#: calc-mean parameters for `k8s submit -p`: about 12 s of work for 2 workers (measured
#: 2026-12-04: 24 replicates took 5 s), long enough to hurt it mid-way (each test that
#: does asserts the job is still running after the fault).
LONG_CALC_MEAN = ("-p", "replicates=60", "-p", "n=4e7")
#: Minutes of work: a job that only a time limit or a deletion ends.
ENDLESS_CALC_MEAN = ("-p", "replicates=5000", "-p", "n=4e7")


def test_kubeconfig() -> Path:
    """The kubeconfig the cluster tests use."""
    return Path(os.environ.get("DASKBURST_TEST_KUBECONFIG") or ROOT / "build/cluster/kubeconfig")


test_kubeconfig.__test__ = False  # type: ignore[attr-defined]


def test_kubectl() -> str:
    """The kubectl the cluster tests use (see :func:`tests.helpers.kubectl`)."""
    return os.environ.get("DASKBURST_TEST_KUBECTL") or kubectl()


test_kubectl.__test__ = False  # type: ignore[attr-defined]


@dataclass
class Cluster:
    """A reachable cluster: kubectl and the daskburst CLI pointed at it."""

    kubeconfig: Path
    kubectl_bin: str

    @property
    def env(self) -> dict[str, str]:
        """The environment for commands that talk to this cluster."""
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig)}

    def kubectl(
        self, *args: str, check: bool = True, stdin: str | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl against the cluster."""
        proc = subprocess.run(
            [self.kubectl_bin, f"--kubeconfig={self.kubeconfig}", *args],
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {proc.stderr}")
        return proc

    def json(self, *args: str) -> Any:
        """``kubectl ... -o json``, parsed."""
        return json.loads(self.kubectl(*args, "-o", "json").stdout)

    def daskburst(
        self, *args: str, timeout: float = 900, check: bool = False
    ) -> subprocess.CompletedProcess[str]:
        """Run the daskburst CLI of this checkout against the cluster."""
        proc = subprocess.run(
            [str(ROOT / ".venv/bin/daskburst"), *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
            env=self.env,
            cwd=ROOT,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"daskburst {' '.join(args)} failed: {proc.stderr[-3000:]}")
        return proc

    def local_record(self, job_file: str, *overrides: str) -> dict[str, Any]:
        """The run record of ``job_file``'s workload on ``--backend local``, with the same
        ``-p NAME=VALUE`` overrides `k8s submit` was given (so the two cannot drift apart)."""
        from daskburst.k8s import load_file
        from daskburst.k8s._submission import (
            parse_invocation,
            parse_params,
            runner_container,
            with_params,
        )

        (job,) = load_file(ROOT / job_file)
        pairs = list(zip(overrides[::2], overrides[1::2], strict=True))
        assert all(flag == "-p" for flag, _ in pairs), overrides
        params = parse_params(value for _, value in pairs)
        inv = with_params(parse_invocation(runner_container(job)["args"]), params)
        proc = self.daskburst("run", *inv.what_argv(), "--backend", "local", "--no-progress",
                              "--output", "-", check=True)  # fmt: skip
        return dict(json.loads(proc.stdout))

    def pods(self, namespace: str = NAMESPACE, selector: str | None = None) -> list[dict[str, Any]]:
        """Pods of a namespace (optionally by label selector)."""
        args: Sequence[str] = ("get", "pods", "-n", namespace)
        if selector:
            args = (*args, "-l", selector)
        return list(self.json(*args)["items"])


def _reachable(kubeconfig: Path, kubectl: str) -> str | None:
    if not kubeconfig.exists():
        return f"no kubeconfig at {kubeconfig}: run `sudo make cluster-up` (or set DASKBURST_TEST_KUBECONFIG)"
    try:
        proc = subprocess.run(
            [kubectl, f"--kubeconfig={kubeconfig}", "get", "--raw", "/readyz"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot run {kubectl}: {exc}"
    if proc.returncode != 0:
        return f"cluster at {kubeconfig} not reachable: {proc.stderr.strip()[-300:]} (`sudo make cluster-up`)"
    return None


def _inventory(cluster: Cluster) -> set[str]:
    """Namespaces, and the Dask resources and pods of the daskburst namespace."""
    out = cluster.kubectl("get", "namespaces", "-o", "name", check=False).stdout.split()
    out += cluster.kubectl("get", "daskjobs,daskclusters,daskautoscalers", "-n", NAMESPACE,
                           "-o", "name", check=False).stdout.split()  # fmt: skip
    # The gc CronJob's own pods come and go every 5 minutes (Kubernetes removes them).
    out += cluster.kubectl("get", "pods", "-n", NAMESPACE, "-l", "app.kubernetes.io/component!=gc",
                           "-o", "name", check=False).stdout.split()  # fmt: skip
    return set(out)


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    """The cluster under test; skips (fails in CI) when none is reachable.

    At the end of the session nothing the tests made may remain: no namespace, and no Dask
    resource or pod in the daskburst namespace, that was not there at the start.
    """
    kubeconfig, kubectl = test_kubeconfig(), test_kubectl()
    why = _reachable(kubeconfig, kubectl)
    require(why is None, why or "")
    found = Cluster(kubeconfig, kubectl)
    before = _inventory(found)
    yield found
    if _reachable(kubeconfig, kubectl) is None:
        left = wait_until_quiet(lambda: _inventory(found) - before, 180)
        assert not left, f"tests left these behind: {sorted(left)}"


def wait_until_quiet(check: Any, timeout: float) -> Any:
    """Poll ``check`` until it returns something empty, or return its last value."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if not value or time.monotonic() > deadline:
            return value
        time.sleep(2)


def wait_until(check: Any, timeout: float, what: str, interval: float = 1.0) -> Any:
    """Poll ``check`` until it returns something truthy; fail the test after ``timeout``."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def job_phase(cluster: Cluster, name: str) -> str:
    """A DaskJob's jobStatus ('' while unset, 'gone' once deleted)."""
    proc = cluster.kubectl("get", "daskjob", name, "-n", NAMESPACE, "-o", "json", check=False)
    if proc.returncode != 0:
        return "gone"
    return str((json.loads(proc.stdout).get("status") or {}).get("jobStatus") or "")


def namespace_story(cluster: Cluster, namespace: str) -> str:
    """What a failure message needs: the namespace's pods, quota, events and runner logs."""
    parts = []
    for args in (
        ("get", "daskjobs,pods,resourcequotas", "-n", namespace, "-o", "wide"),
        ("get", "events", "-n", namespace, "--sort-by=.lastTimestamp"),
        ("logs", "-n", namespace, "-l", "dask.org/component=job-runner", "--tail=30",
         "--prefix", "--all-containers"),
    ):  # fmt: skip
        proc = cluster.kubectl(*args, check=False)
        parts.append(f"$ kubectl {' '.join(args)}\n{proc.stdout}{proc.stderr}")
    return "\n".join(parts)[-6000:]


def cluster_pods(cluster: Cluster, name: str, component: str | None = None) -> list[dict[str, Any]]:
    """Pods of a Dask cluster (optionally one component: scheduler, worker, job-runner)."""
    selector = f"dask.org/cluster-name={name}"
    if component:
        selector += f",dask.org/component={component}"
    return cluster.pods(selector=selector)


def submit(cluster: Cluster, job_file: str, *flags: str) -> str:
    """``daskburst k8s submit`` without waiting; returns the job's name."""
    proc = cluster.daskburst("k8s", "submit", job_file, *flags, check=True)
    return proc.stdout.strip().splitlines()[-1]


@pytest.fixture
def cleanup_jobs(cluster: Cluster) -> Iterator[list[str]]:
    """Names appended here are deleted after the test; then nothing of them may remain."""
    names: list[str] = []
    yield names
    for name in names:
        cluster.kubectl("delete", "daskjob", name, "-n", NAMESPACE, "--ignore-not-found",
                        "--wait=true", check=False)  # fmt: skip
    for name in names:
        wait_until(lambda n=name: not cluster_pods(cluster, n), 120, f"the pods of {name} to go")

        def dask_objects_gone(n: str = name) -> bool:
            left = cluster.kubectl("get", "daskclusters,daskautoscalers", "-n", NAMESPACE,
                                   "-o", "name", check=False).stdout  # fmt: skip
            return f"/{n}\n" not in left + "\n"

        # The garbage collector removes owned objects after their owner, asynchronously;
        # an object with no owner (a leak) never goes and fails here.
        wait_until(dask_objects_gone, 60, f"the DaskCluster/DaskAutoscaler of {name} to go")


@pytest.fixture
def gc_held(cluster: Cluster) -> Iterator[None]:
    """The real gc CronJob (every 5 minutes) suspended, and no run of it active, while a test
    owns what it would delete: it once deleted the test's expired job before the dry run."""
    patch = ["patch", "cronjob", "daskburst-gc", "-n", NAMESPACE, "--type=merge", "-p"]
    cluster.kubectl(*patch, '{"spec":{"suspend":true}}')
    try:
        wait_until(
            lambda: (
                not cluster.json("get", "cronjob", "daskburst-gc", "-n", NAMESPACE)
                .get("status", {})
                .get("active")
            ),
            300,
            "the gc CronJob's running job to end",
        )
        yield
    finally:
        cluster.kubectl(*patch, '{"spec":{"suspend":false}}', check=False)
