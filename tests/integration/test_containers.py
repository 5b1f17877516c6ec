"""The project image in a real multi-container Dask cluster (podman or docker).

Scheduler, workers and job runner are started from the pods the dask-kubernetes operator
renders (see tests/harness/containers.py): the scheduler under its Service DNS name, workers
with ``--name $(DASK_WORKER_NAME)`` and ``DASK_SCHEDULER_ADDRESS``, the runner with only the
environment the operator injects. All non-root, read-only root, no capabilities.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dask.config
import distributed
import pytest
import yaml
from tests.harness.containers import (
    RUNS,
    ContainerCluster,
    container_tool,
    default_image,
    ensure_image,
    hardening,
    leftovers,
)
from tests.helpers import require

import daskburst

ROOT = Path(__file__).resolve().parents[2]
BAKED_CONFIG = ROOT / "images" / "dask.yaml"

# Small sizes: the machine has 2 cores shared with other suites.
WORKLOADS: dict[str, dict[str, Any]] = {
    "calc-mean": {"replicates": 8, "n": 100_000},
    "array": {"rows": 2_000, "cols": 1_000, "chunks": "500,1000"},
    "bag": {"input": "synthetic"},
    "dataframe": {"input": "synthetic"},
}
# Long enough (about 6 s of draws in 40 tasks) to kill a worker while tasks still run.
FAULT_PARAMS: dict[str, Any] = {"replicates": 40, "n": 4_000_000}


def cli_args(workload: str, params: dict[str, Any]) -> list[str]:
    argv = ["daskburst", "run", workload]
    for key, value in params.items():
        argv += [f"--{key.replace('_', '-')}", str(value)]
    return [*argv, "--no-progress", "--output", "/out/result.json"]


@pytest.fixture(scope="session")
def engine() -> str:
    tool = container_tool()
    require(tool is not None, "no working podman or docker: run `make podman-setup`")
    assert tool is not None
    return tool


@pytest.fixture(scope="session")
def image(engine: str) -> str:
    """The project image, (re)built with `make image` when missing or older than the checkout."""
    img = default_image()
    problem = ensure_image(engine, img)
    require(problem is None, f"image {img}: {problem}")
    return img


@pytest.fixture(scope="module")
def cluster(image: str, engine: str) -> Iterator[ContainerCluster]:
    with ContainerCluster(image, workers=2, tool=engine) as made:
        yield made
    assert leftovers(engine, made.run_id) == {"containers": [], "networks": [], "volumes": []}


# -- the baked configuration (no containers needed) -------------------------------------------


def test_baked_config_keeps_default_routes_and_adds_api() -> None:
    routes = yaml.safe_load(BAKED_CONFIG.read_text())["distributed"]["scheduler"]["http"]["routes"]
    defaults = dask.config.get("distributed.scheduler.http.routes")
    # Lists replace the defaults, so every default must be repeated.
    assert set(defaults) <= set(routes)
    assert "distributed.http.scheduler.api" in routes


# -- the image ---------------------------------------------------------------------------------


@pytest.mark.containers
def test_image_runs_hardened(engine: str, image: str) -> None:
    script = (
        "import os, json, dask, distributed, daskburst.calc_mean, importlib.metadata as md;"
        "print(os.getuid(), os.getgid());"
        "print(daskburst.__version__, dask.__version__, distributed.__version__);"
        "print(dask.config.get('distributed.scheduler.http.routes')[-1]);"
        "print(dask.config.get('distributed.worker.profile.interval'),"
        "      dask.config.get('distributed.admin.tick.interval'));"
        "print(open('/proc/1/cmdline').read().split(chr(0))[0]);"
        "print(json.dumps(sorted(d.metadata['Name'].lower() for d in md.distributions())));"
        "import shutil; from daskburst.workloads import bag;"
        "print(bag.compiled.__name__, shutil.which('gcc'), shutil.which('cc'))"
    )
    proc = subprocess.run(
        [engine, "run", "--rm", *hardening(engine), image, "python", "-c", script],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    ids, versions, last_route, settings, pid1, dists, scanner = proc.stdout.splitlines()
    assert ids == "1000 1000"
    assert versions.split() == [daskburst.__version__, dask.__version__, distributed.__version__]
    assert last_route == "distributed.http.scheduler.api"
    assert settings == "100ms 100ms"  # daskburst.cluster-settings, baked in
    assert pid1.endswith("tini")
    installed = set(json.loads(dists))
    assert "daskburst" in installed
    assert not installed & {"pytest", "ruff", "mypy", "pytest-timeout"}
    # The wheel was built with the bag's compiled scanner, and no compiler is left behind.
    assert scanner.split() == ["daskburst.workloads._scan", "None", "None"]


@pytest.mark.containers
def test_image_labels_and_versions_match_pins(engine: str, image: str) -> None:
    fmt = "{{json .Labels}}"
    labels = json.loads(
        subprocess.run(
            [engine, "image", "inspect", image, "--format", fmt],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    assert labels["org.opencontainers.image.version"] == daskburst.__version__
    assert labels["org.opencontainers.image.source"].startswith("https://")
    assert labels["org.opencontainers.image.revision"]
    freeze = subprocess.run(
        [engine, "run", "--rm", *hardening(engine), image, "python", "-m", "pip", "freeze"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    pins = dict(
        line.strip().split("==", 1)
        for line in (ROOT / "requirements" / "constraints.txt").read_text().splitlines()
        if "==" in line
    )
    canon = {k.lower().replace("_", "-"): v for k, v in pins.items()}
    for line in freeze.splitlines():
        if "==" in line and not line.startswith("daskburst"):
            name, version = line.split("==", 1)
            assert canon.get(name.lower().replace("_", "-")) == version, line


@pytest.mark.containers
def test_image_has_no_build_time_ca(engine: str, image: str) -> None:
    """The proxy CA is mounted at build time only: the image's bundle is Debian's own."""
    extra = sorted(Path("/usr/local/share/ca-certificates").glob("**/*.crt"))
    bundle = subprocess.run(
        [
            engine,
            "run",
            "--rm",
            *hardening(engine),
            image,
            "cat",
            "/etc/ssl/certs/ca-certificates.crt",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert "BEGIN CERTIFICATE" in bundle
    for cert in extra:
        body = "".join(cert.read_text().split("-----")[2].split())
        assert body[:200] not in "".join(bundle.split()), f"{cert} is baked into the image"


@pytest.mark.containers
def test_operator_default_commands_exist(engine: str, image: str) -> None:
    """KubeCluster's defaults call dask-scheduler / dask-worker: the image provides both."""
    for cmd in ("dask-scheduler", "dask-worker"):
        proc = subprocess.run(
            [engine, "run", "--rm", *hardening(engine), image, cmd, "--help"],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        assert "Usage: dask" in proc.stdout


# -- the cluster -------------------------------------------------------------------------------


@pytest.mark.containers
def test_scheduler_http_endpoints(cluster: ContainerCluster) -> None:
    assert cluster.http_get("/health") == (200, "ok")
    status, body = cluster.http_get("/api/v1/adaptive_target")
    assert status == 200
    assert "workers" in json.loads(body)
    status, body = cluster.http_get("/api/v1/get_workers")
    assert status == 200
    names = {w["name"] for w in json.loads(body)["workers"]}
    # Workers registered under $(DASK_WORKER_NAME), the operator's Deployment name.
    assert len(names) == 2
    assert all(n.startswith(f"{cluster.cluster}-default-worker-") for n in names)


@pytest.mark.containers
@pytest.mark.slow
@pytest.mark.parametrize("workload", list(WORKLOADS))
def test_workload_matches_sync(cluster: ContainerCluster, workload: str, tmp_path: Path) -> None:
    params = WORKLOADS[workload]
    expected = daskburst.run(workload, backend="sync", progress=False, **params)["digest"]
    job = cluster.run_job(cli_args(workload, params), output_dir=tmp_path, timeout=300)
    assert job.returncode == 0, job.logs
    assert job.output is not None, job.logs
    # backend auto picked "address" from DASK_SCHEDULER_ADDRESS alone.
    assert job.output["backend"] == "address"
    assert job.output["result"]["digest"] == expected, job.logs


@pytest.mark.containers
@pytest.mark.slow
def test_worker_killed_mid_run(image: str, engine: str, tmp_path: Path) -> None:
    expected = daskburst.run("calc-mean", backend="sync", progress=False, **FAULT_PARAMS)["digest"]
    with ContainerCluster(image, workers=2, tool=engine) as cluster:
        job = cluster.start_job(cli_args("calc-mean", FAULT_PARAMS), output_dir=tmp_path)
        # Kill once the first results are in and every thread has a task: the scheduler
        # queues at most ceil(1.1 * nthreads) tasks on a worker, so each worker has some.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            counts = cluster.counts()
            if counts["memory"] >= 1 and counts["processing"] >= max(counts["cores"], 2):
                break
            assert job.proc.poll() is None, "the run ended before a worker could be killed"
            time.sleep(0.1)
        else:
            pytest.fail(f"tasks never started: {cluster.counts()}")
        victim = cluster.workers[0]
        cluster.kill(victim)
        result = job.wait(timeout=300)
        assert result.returncode == 0, result.logs
        assert result.output is not None, result.logs
        assert result.output["result"]["digest"] == expected, result.logs
        assert cluster.counts()["workers"] == 1
        dask_name = victim.removesuffix(f"-{cluster.run_id}")
        assert "Remove worker addr: " in cluster.logs(cluster.scheduler)
        assert f"name: {dask_name}" in cluster.logs(cluster.scheduler)
        run_id = cluster.run_id
    assert leftovers(engine, run_id) == {"containers": [], "networks": [], "volumes": []}


@pytest.mark.containers
def test_cleanup_on_failure(image: str, engine: str) -> None:
    run_id = None
    with pytest.raises(RuntimeError, match="boom"):
        with ContainerCluster(image, workers=0, tool=engine) as cluster:
            run_id = cluster.run_id
            assert leftovers(engine, run_id)["containers"]
            raise RuntimeError("boom")
    assert run_id is not None
    assert leftovers(engine, run_id) == {"containers": [], "networks": [], "volumes": []}


@pytest.mark.containers
def test_nothing_left_behind(engine: str, cluster: ContainerCluster) -> None:
    """Every cluster this session started, except the module's live one, is gone."""
    finished = [run for run in RUNS if run != cluster.run_id]
    assert finished, "the tests above started no other cluster"
    for run in finished:
        assert leftovers(engine, run) == {"containers": [], "networks": [], "volumes": []}
