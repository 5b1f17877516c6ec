"""The sections that need a cluster or a container tool: slurm, k8s, image."""

from __future__ import annotations

import gzip
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from daskburst.backends import BackendOptions, open_backend
from daskburst.bench._measure import Sizes, _log, cores
from daskburst.bench._sections import efficiency, task_overhead_us
from daskburst.catalogue import BENCH_K8S_TINY, BENCH_SLURM_FIRST
from daskburst.execute import compute, prepare

# ---- SLURM -------------------------------------------------------------------------------------


def slurm_available() -> bool:
    """Whether a SLURM controller answers here."""
    from daskburst.slurm import controller_answers

    return controller_answers()


def slurm_bench(sizes: Sizes) -> dict[str, Any]:
    """Time to first result with ``--adapt 0:2``, scale-down time, and efficiency."""
    from daskburst.slurm import queued_jobs as queued

    sized: dict[str, Any] = dict(BENCH_SLURM_FIRST)
    prep = prepare("calc-mean", seed=1, **sized)
    start = time.perf_counter()
    with open_backend("slurm", BackendOptions(adapt=(0, 2))) as session:
        compute(prep, session)
        first = time.perf_counter() - start
        done = time.perf_counter()
        deadline = done + 120
        while queued() and time.perf_counter() < deadline:
            time.sleep(0.5)
        scale_down = time.perf_counter() - done
    out: dict[str, Any] = {"slurm_first_result_s": first, "slurm_scale_down_s": scale_down}
    with open_backend("slurm", BackendOptions(workers=cores())) as session:
        out["efficiency_slurm"] = efficiency(session, sizes)
        out["task_overhead_us_slurm"] = task_overhead_us(session, sizes)
    return out


# ---- Kubernetes ------------------------------------------------------------------------------

#: The operator's autoscaler settings the scale figures depend on (dask-kubernetes 2026.3.0).
K8S_AUTOSCALER = {"poll_s": 5, "cooldown_s": 15, "scale_down_step": "25% (at least 1)"}


def k8s_available() -> str | None:
    """Return why no Kubernetes cluster with the Dask operator is reachable, or None."""
    from daskburst.k8s import operator_missing

    return operator_missing()


def _wait_true(check: Callable[[], bool], timeout: float, what: str) -> float:
    """Seconds until ``check()`` holds (polled every 0.2 s: these are the figures measured)."""
    from daskburst.k8s import wait_for

    start = time.perf_counter()
    wait_for(lambda: True if check() else None, timeout, what, interval=0.2)
    return time.perf_counter() - start


def k8s_bench(sizes: Sizes, namespace: str) -> dict[str, Any]:
    """Burst figures on the cluster KUBECONFIG points at (the operator must be installed).

    ``k8s_apply_to_success_s``: create a tiny DaskJob -> Successful (median of 3).
    ``k8s_pod_start_s``: a pod of the project image from create to its container running.
    ``k8s_scale_up_s`` / ``k8s_scale_down_s``: a ``--adapt 1:2`` cluster under load from 1 to 2
    running workers (``k8s_scale_up_pod_created_s``: until the operator created the second
    worker's pod), and from its last task until only 1 worker pod is left (the others'
    pods deleted, not only the replicas lowered); medians of 3 rounds.
    ``k8s_task_overhead_us`` and ``k8s_efficiency`` (calc-mean vs the limit) on two
    one-thread worker pods.
    """
    import statistics

    from daskburst import k8s
    from daskburst.k8s import specs

    out: dict[str, Any] = {"k8s_autoscaler": dict(K8S_AUTOSCALER)}
    view = k8s.Kr8sJobView(namespace)
    applied = []
    for i in range(3):
        tiny = {param: str(value) for param, value in BENCH_K8S_TINY.items()}
        manifests = k8s.build_submission(_jobs_dir() / "calc-mean.yaml", namespace, params=tiny)
        name = manifests[0]["metadata"]["name"]
        start = time.perf_counter()
        k8s.create_all(manifests)
        try:

            def ended(n: str = name) -> bool:
                return view.phase(n) in ("Successful", "Failed")

            _wait_true(ended, 300, name)
            applied.append(time.perf_counter() - start)
            if view.phase(name) != "Successful":
                raise RuntimeError(f"bench: tiny job {name} failed")
        finally:
            k8s.delete([name], namespace)
        _log(f"k8s: tiny DaskJob {i + 1}/3 Successful after {applied[-1]:.1f} s")
    out["k8s_apply_to_success_s"] = statistics.median(applied)
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"bench-pod-start-{os.getpid()}", "namespace": namespace,
                     "labels": specs.labels("bench", "probe")},
        "spec": specs.runner_pod_spec(["python", "-c", "import time; time.sleep(600)"]),
    }  # fmt: skip
    with k8s.created_pod(pod) as probe:
        started = k8s.container_running
        out["k8s_pod_start_s"] = _wait_true(lambda: started(probe), 300, "the probe pod")
    with open_backend("kubernetes", BackendOptions(adapt=(1, 2))) as session:

        def running() -> int:
            return len(session.client.scheduler_info(n_workers=-1)["workers"])

        name = session.cluster.name

        def worker_pods() -> int:
            # Pods, not the worker group's replicas: the autoscaler lowers the replicas while
            # the last tasks still run (little work left), but a node is freed only when the
            # pod is gone (graceful shutdown included).
            return len(k8s.cluster_pods(name, namespace, "worker"))

        # Three rounds, medians: the operator's autoscaler polls every 5 s, so one round
        # waits anywhere from 0 to 5 s for its decision.
        ups: list[float] = []
        created: list[float] = []
        downs: list[float] = []
        for i in range(3):
            # A burst from a quiet cluster: the operator changes nothing for 15 s after it
            # scaled (the autoscaler's cooldown, fixed in dask-kubernetes: #819).
            _wait_true(lambda: _cooldown_left(name, namespace) <= 0, 60, "the cooldown")
            start = time.perf_counter()

            def grown(t0: float = start, seen: int = i) -> bool:
                # Where the time goes: the operator's decision until the second worker pod
                # exists, then that pod's start and its worker's connection.
                if len(created) == seen and worker_pods() >= 2:
                    created.append(time.perf_counter() - t0)
                return running() >= 2

            load = session.client.map(_sleep_then, range(60), pure=False)
            ups.append(_wait_true(grown, 300, "a second worker"))
            session.client.gather(load)
            downs.append(_wait_true(lambda: worker_pods() <= 1, 600, "the scale-down"))
            _log(f"k8s: scale-up {i + 1}/3 {ups[-1]:.1f} s, down {downs[-1]:.1f} s")
        out["k8s_scale_up_s"] = statistics.median(ups)
        if len(created) == len(ups):
            out["k8s_scale_up_pod_created_s"] = statistics.median(created)
        out["k8s_scale_down_s"] = statistics.median(downs)
    with open_backend("kubernetes", BackendOptions(workers=cores())) as session:
        out["k8s_efficiency"] = efficiency(session, sizes)
        out["k8s_task_overhead_us"] = task_overhead_us(session, sizes)
    k8s.close_api(namespace)
    return out


def _cooldown_left(name: str, namespace: str) -> float:
    """Seconds until the operator's autoscaler of cluster ``name`` may scale again."""
    from dask_kubernetes.operator.controller.controller import (
        DASK_AUTOSCALER_COOLDOWN_UNTIL_ANNOTATION as COOLDOWN_UNTIL,
    )

    from daskburst import k8s

    obj = k8s.stored("kubernetes.dask.org/v1", "DaskAutoscaler", name, namespace) or {}
    until = ((obj.get("metadata") or {}).get("annotations") or {}).get(COOLDOWN_UNTIL)
    return float(until) - time.time() if until else 0.0


def _sleep_then(i: int) -> int:
    time.sleep(1.0)
    return i


def _default_image() -> str:
    from daskburst.k8s.specs import DEFAULT_IMAGE

    return DEFAULT_IMAGE


def _jobs_dir() -> Path:
    """The jobs/ of this checkout (the bench runs from it, like `make bench`)."""
    here = Path.cwd() / "jobs"
    if not (here / "calc-mean.yaml").is_file():
        raise RuntimeError("bench: the k8s section needs jobs/ (run it from the checkout)")
    return here


def image_bench(image: str, tool: str | None = None) -> dict[str, Any]:
    """The project image's compressed size (what a new node pulls), largest layers and packages.

    ``image_largest_layers``: compressed and unpacked bytes of each layer.
    ``image_largest_packages``: unpacked bytes by Python distribution (files under
    ``site-packages``) or, for other files, by their first two directories (``usr/lib``).
    """
    import shutil
    import subprocess
    import tarfile

    tool = tool or ("podman" if shutil.which("podman") else "docker")
    packages: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="daskburst-image-") as tmp:
        archive = Path(tmp) / "image.tar"
        proc = subprocess.run([tool, "save", "--format", "oci-archive", "-o", str(archive), image]
                              if tool == "podman" else [tool, "save", "-o", str(archive), image],
                              capture_output=True, text=True, check=False)  # fmt: skip
        if proc.returncode != 0:
            raise RuntimeError(f"bench: cannot save {image}: {proc.stderr.strip()[-300:]}")
        layers = []
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                if not member.isfile() or member.size < 1024:
                    continue
                data = tar.extractfile(member)
                assert data is not None
                raw = data.read()
                packed = len(raw) if raw[:2] == b"\x1f\x8b" else len(gzip.compress(raw, 6))
                unpacked, sizes = layer_contents(raw)
                for key, size in sizes.items():
                    packages[key] = packages.get(key, 0) + size
                layers.append((packed, unpacked or member.size, member.name))
    layers.sort(reverse=True)
    return {
        "image_compressed_bytes": sum(p for p, _, _ in layers),
        "image_largest_layers": [
            {"compressed_bytes": p, "bytes": b, "blob": n.rsplit("/", 1)[-1][:19]}
            for p, b, n in layers[:5]
        ],
        "image_largest_packages": [
            {"name": k, "bytes": v} for k, v in sorted(packages.items(), key=lambda kv: -kv[1])[:12]
        ],
    }


def layer_contents(raw: bytes) -> tuple[int, dict[str, int]]:
    """Unpacked size of one image layer and its bytes by package (``(0, {})``: not a layer).

    Files under ``site-packages``/``dist-packages`` count towards their distribution
    (``numpy.libs`` and ``numpy-2.3.dist-info`` as ``numpy``); others towards their first two
    path components.
    """
    import io
    import re
    import tarfile

    sizes: dict[str, int] = {}
    total = 0
    try:
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r:*") as layer:
            for member in layer:
                if not member.isfile():
                    continue
                total += member.size
                found = re.search(r"(?:site|dist)-packages/([^/]+)", member.name)
                if found:
                    name = re.sub(r"(\.libs|-[^-]+\.dist-info|\.py|\.pth)$", "", found.group(1))
                    key = name.lower().lstrip("_")
                else:
                    key = "/".join(member.name.removeprefix("./").split("/")[:2])
                sizes[key] = sizes.get(key, 0) + member.size
    except tarfile.TarError:
        return 0, {}
    return total, sizes
