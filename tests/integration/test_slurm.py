"""The slurm backend, job-script and sbatch scripts against the real local SLURM.

Tests marked ``slurm`` need ``make slurm-up`` (they skip without it, and fail
with ``CI=true``). Every test gives its worker jobs a unique job name and cancels
whatever still carries it afterwards, so nothing is left queued.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dask
import dask_jobqueue  # noqa: F401  (load jobqueue.* defaults before dask.config.set)
import pytest
from tests.helpers import require

from daskburst.backends import BackendOptions, open_backend
from daskburst.durations import parse_walltime
from daskburst.errors import UserError
from daskburst.slurm import (
    job_kwargs,
    lifetime_args,
)

REPO = Path(__file__).resolve().parents[2]
DASKBURST = str(Path(sys.executable).with_name("daskburst"))
JOBS = REPO / "jobs" / "slurm"

# Small sizes: the machine has 2 cores shared with other test suites.
SMALL_PARAMS: dict[str, dict[str, str]] = {
    "calc-mean": {"replicates": "4", "n": "200000"},
    "array": {"rows": "2000", "cols": "1000", "chunks": "500,1000"},
    "bag": {"input": "synthetic"},
    "dataframe": {"input": "synthetic"},
}


def flags(params: dict[str, str]) -> list[str]:
    """Command-line flags for workload parameters: ``{"n": "5"}`` -> ``["--n", "5"]``."""
    return [arg for k, v in params.items() for arg in (f"--{k}", v)]


SMALL: dict[str, list[str]] = {w: flags(p) for w, p in SMALL_PARAMS.items()}
SAMPLE_ENV = {
    "DASK_DASKBURST__SAMPLE__WIKISTATS__LINES": "20000",
    "DASK_DASKBURST__SAMPLE__AIRLINE__ROWS": "20000",
}
SMALL_ENV = {
    **SAMPLE_ENV,
    # the same sizes for the sbatch scripts, which read these variables
    "REPLICATES": "4",
    "N": "200000",
    "ROWS": "2000",
    "COLS": "1000",
    "CHUNKS": "500,1000",
}


# ---- helpers -----------------------------------------------------------------------------


@functools.cache
def _slurm_running() -> bool:
    """Whether sinfo shows a usable node (asked once: sinfo waits when slurmctld is down)."""
    if not shutil.which("sbatch") or not shutil.which("sinfo"):
        return False
    try:
        out = subprocess.run(
            ["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=15, check=False
        ).stdout
    except subprocess.TimeoutExpired:
        return False
    return any(s.strip().rstrip("*~#") in ("idle", "mixed", "allocated") for s in out.split())


def queued(name: str) -> list[tuple[str, str]]:
    """Return ``(job id, state)`` of the jobs called ``name`` that SLURM still knows."""
    out = subprocess.run(
        ["squeue", "-h", "-n", name, "-o", "%i %T"],
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
    ).stdout
    return [tuple(line.split()) for line in out.splitlines() if line.strip()]  # type: ignore[misc]


def wait_until(predicate: Any, timeout: float, what: str, interval: float = 0.5) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def run_cli(
    args: list[str], env: dict[str, str], cwd: Path, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [DASKBURST, *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def error_lines(stderr: str) -> list[str]:
    """Lines of stderr other than the informational ``dashboard: URL``."""
    return [line for line in stderr.splitlines() if not line.startswith("dashboard: ")]


# ---- fixtures ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_sizes() -> Iterator[None]:
    """Small synthetic inputs, here and (through the environment) in SLURM jobs.

    Module scope: the settings must not leak into other test modules.
    """
    with pytest.MonkeyPatch.context() as mp:
        for key, value in SAMPLE_ENV.items():
            mp.setenv(key, value)
        with dask.config.set(
            {"daskburst.sample.wikistats.lines": 20000, "daskburst.sample.airline.rows": 20000}
        ):
            yield


@pytest.fixture(scope="module")
def local_digest(small_sizes: None) -> Iterator[Callable[..., str]]:
    """``local_digest(workload, **params)``: the digest on ``--backend local`` (cached)."""
    from daskburst.execute import compute, prepare

    cache: dict[tuple[str, tuple[tuple[str, str], ...]], str] = {}

    def digest_of(workload: str, **params: str) -> str:
        key = (workload, tuple(sorted(params.items())))
        if key not in cache:
            # A session per digest, closed at once: a local Client kept open across
            # the class-scoped SLURM session would close out of order and leave
            # dask's default scheduler set to "dask.distributed" for later tests.
            with open_backend("local", BackendOptions(workers=1)) as session:
                cache[key] = compute(prepare(workload, **params), session)["digest"]
        return cache[key]

    yield digest_of


@pytest.fixture
def slurm() -> None:
    require(_slurm_running(), "SLURM is not running here: run `make slurm-up` (as root)")


@pytest.fixture
def job_name(slurm: None) -> Iterator[str]:
    """A unique worker job name; its jobs are cancelled after the test whatever happens."""
    name = f"dbt-{uuid.uuid4().hex[:10]}"
    yield name
    leftovers = queued(name)
    if leftovers:
        subprocess.run(["scancel", "-n", name], check=False, timeout=30)


@pytest.fixture
def env(job_name: str, tmp_path: Path) -> dict[str, str]:
    """Environment for CLI runs: single-core 1 GB worker jobs named ``job_name``."""
    cache = tmp_path / "cache"
    return {
        **os.environ,
        **SMALL_ENV,
        "PATH": f"{Path(DASKBURST).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "DASKBURST": DASKBURST,
        "DASK_JOBQUEUE__SLURM__CORES": "1",
        "DASK_JOBQUEUE__SLURM__MEMORY": "1GB",
        "DASK_JOBQUEUE__SLURM__NAME": job_name,
        "DASK_JOBQUEUE__SLURM__LOG_DIRECTORY": str(tmp_path / "logs"),
        "DASK_DASKBURST__CACHE_DIR": str(cache),
    }


@pytest.fixture
def slurm_config(job_name: str, tmp_path: Path) -> Iterator[None]:
    """The same settings as ``env``, for in-process use of the backend."""
    with dask.config.set(
        {
            "jobqueue.slurm.cores": 1,
            "jobqueue.slurm.memory": "1GB",
            "jobqueue.slurm.name": job_name,
            "jobqueue.slurm.log-directory": str(tmp_path / "logs"),
        }
    ):
        yield


# ---- no SLURM needed ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30", 1800), ("10:30", 630), ("01:00:00", 3600), ("1-00", 86400), ("2-01:02:03", 176523)],
)
def test_parse_walltime(text: str, seconds: float) -> None:
    assert parse_walltime(text) == seconds


def test_parse_walltime_rejects_garbage() -> None:
    with pytest.raises(UserError, match="walltime 'soon'"):
        parse_walltime("soon")


def test_lifetime_from_walltime() -> None:
    assert lifetime_args("01:00:00", "auto", "auto") == [
        "--lifetime",
        "3240s",
        "--lifetime-stagger",
        "180s",
    ]
    assert lifetime_args("00:02:00", "auto", "auto") == []  # too short to bother
    assert lifetime_args("01:00:00", None, "auto") == []
    assert lifetime_args("01:00:00", "55m", "4m") == [
        "--lifetime",
        "55m",
        "--lifetime-stagger",
        "4m",
    ]


def test_job_kwargs_only_passes_what_was_given() -> None:
    with dask.config.set({"jobqueue.slurm.cores": 2, "jobqueue.slurm.memory": "4GB"}):
        kwargs = job_kwargs(BackendOptions(extra={"queue": "short", "walltime": "01:00:00"}))
    assert kwargs["queue"] == "short"
    assert "cores" not in kwargs and "memory" not in kwargs  # dask-jobqueue reads its config
    assert kwargs["worker_extra_args"][:2] == ["--lifetime", "3240s"]


def test_job_kwargs_keeps_configured_lifetime() -> None:
    with dask.config.set(
        {
            "jobqueue.slurm.cores": 1,
            "jobqueue.slurm.memory": "1GB",
            "jobqueue.slurm.worker-extra-args": ["--lifetime", "5m"],
        }
    ):
        assert job_kwargs(BackendOptions())["worker_extra_args"] == ["--lifetime", "5m"]


def test_unset_cores_and_memory_get_daskburst_defaults() -> None:
    with dask.config.set({"jobqueue.slurm.cores": None, "jobqueue.slurm.memory": "1GB"}):
        kwargs = job_kwargs(BackendOptions())
    assert kwargs["cores"] == 1 and "memory" not in kwargs  # 1GB: dask-jobqueue reads it


def test_defaults_survive_a_config_context_open_when_first_applied() -> None:
    # A dask.config.set context open while daskburst first applies its jobqueue
    # defaults restores dask-jobqueue's unset values when it exits.
    code = """
import dask
from daskburst.backends import BackendOptions
from daskburst.slurm import job_kwargs, job_script
import dask_jobqueue  # after daskburst: its unset cores and memory replace ours
with dask.config.set({"jobqueue.slurm.cores": 2, "jobqueue.slurm.memory": "4GB"}):
    job_kwargs(BackendOptions())
assert dask.config.get("jobqueue.slurm.cores") is None  # what dask leaves behind
script = job_script(BackendOptions())
assert "--cpus-per-task=1" in script and "--mem=2G" in script, script
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr


def test_job_kwargs_rejects_unknown_keys() -> None:
    with pytest.raises(UserError, match="SLURM option\\(s\\) partition"):
        job_kwargs(BackendOptions(extra={"partition": "debug"}))


def test_job_script_from_config_and_flags(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DASK_JOBQUEUE__SLURM__CORES": "2",
        "DASK_JOBQUEUE__SLURM__MEMORY": "2GB",
        "DASK_JOBQUEUE__SLURM__JOB_EXTRA_DIRECTIVES": '["--qos=low"]',
    }
    proc = run_cli(
        ["slurm", "job-script", "--queue", "short", "--processes", "2", "--walltime", "01:00:00"],
        env,
        tmp_path,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    script = proc.stdout
    assert script.startswith("#!/usr/bin/env bash")
    for line in (
        "#SBATCH -p short",
        "#SBATCH --cpus-per-task=2",
        "#SBATCH --mem=2G",
        "#SBATCH -t 01:00:00",
        "#SBATCH --qos=low",
    ):
        assert line in script
    assert "--nworkers 2" in script and "--lifetime 3240s" in script


def test_job_script_defaults_to_one_core_2gb_workers(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DASK_JOBQUEUE__")}
    proc = run_cli(["slurm", "job-script"], env, tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "#SBATCH --cpus-per-task=1" in proc.stdout and "#SBATCH --mem=2G" in proc.stdout


def test_worker_jobs_export_the_cluster_settings_but_keep_the_users() -> None:
    with dask.config.set({"jobqueue.slurm.job-script-prologue": ["source /opt/env.sh"]}):
        prologue = job_kwargs(BackendOptions())["job_script_prologue"]
    exports = [line for line in prologue if line.startswith("export DASK_DISTRIBUTED__")]
    assert len(exports) == 2 and prologue[-1] == "source /opt/env.sh"
    # the worker process's variable as itself: dask would lowercase a DASK_ name's keys
    exports += [line for line in prologue if line.startswith("export MALLOC_TOP_PAD_=")]
    env = {**os.environ, "DASK_DISTRIBUTED__ADMIN__TICK__INTERVAL": "7ms"}
    env.pop("DASK_DISTRIBUTED__WORKER__PROFILE__INTERVAL", None)
    env.pop("MALLOC_TOP_PAD_", None)
    script = "\n".join(
        [
            *exports,
            "printenv DASK_DISTRIBUTED__WORKER__PROFILE__INTERVAL",
            "printenv DASK_DISTRIBUTED__ADMIN__TICK__INTERVAL",
            "printenv MALLOC_TOP_PAD_",
        ]
    )
    out = subprocess.run(
        ["bash", "-c", script], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["100ms", "7ms", "67108864"]


def test_deprecated_env_extra_is_still_honoured() -> None:
    with dask.config.set({"jobqueue.slurm.env-extra": ["module load python"]}):
        prologue = job_kwargs(BackendOptions())["job_script_prologue"]
    assert prologue[-1] == "module load python"


def test_job_script_with_zero_cores_is_a_user_error(tmp_path: Path) -> None:
    proc = run_cli(["slurm", "job-script", "--cores", "0"], dict(os.environ), tmp_path, timeout=60)
    assert proc.returncode == 2
    assert len(error_lines(proc.stderr)) == 1 and "--cores 0" in proc.stderr


# ---- against the real SLURM --------------------------------------------------------------


@pytest.fixture(scope="class")
def slurm_session(small_sizes: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One slurm backend session (2 single-core workers) for the tests of one class.

    Class scope, not module scope: its two workers fill the 2-CPU test node, so it
    must be gone before other tests submit worker jobs.
    """
    require(_slurm_running(), "SLURM is not running here: run `make slurm-up` (as root)")
    name = f"dbt-{uuid.uuid4().hex[:10]}"
    logs = tmp_path_factory.mktemp("slurm-logs")
    settings = {
        "jobqueue.slurm.cores": 1,
        "jobqueue.slurm.memory": "1GB",
        "jobqueue.slurm.name": name,
        "jobqueue.slurm.log-directory": str(logs),
    }
    try:
        with dask.config.set(settings), open_backend("slurm", BackendOptions(workers=2)) as s:
            yield s
        wait_until(lambda: not queued(name), 60, "the worker jobs to leave the queue")
    finally:
        if queued(name):
            subprocess.run(["scancel", "-n", name], check=False, timeout=30)


@pytest.mark.slurm
class TestWorkloadsOnOneSlurmCluster:
    """Each workload on ``--backend slurm`` gives the digest of ``--backend local``."""

    def test_scheduler_and_workers_run_with_the_cluster_settings(self, slurm_session: Any) -> None:
        def profile_interval() -> str:
            return str(dask.config.get("distributed.worker.profile.interval"))

        def tick(dask_scheduler: Any) -> float:
            return float(dask_scheduler._tick_interval)

        intervals = slurm_session.client.run(profile_interval)
        assert sorted(intervals.values()) == ["100ms", "100ms"]
        pads = slurm_session.client.run(lambda: os.environ.get("MALLOC_TOP_PAD_"))
        assert list(pads.values()) == ["67108864", "67108864"]
        assert slurm_session.client.run_on_scheduler(tick) == 0.1

    @pytest.mark.parametrize("workload", list(SMALL))
    def test_digest_matches_local(
        self, workload: str, slurm_session: Any, local_digest: Callable[..., str]
    ) -> None:
        from daskburst.execute import compute, prepare

        result = compute(prepare(workload, **SMALL_PARAMS[workload]), slurm_session)
        assert slurm_session.backend == "slurm"
        assert result["digest"] == local_digest(workload, **SMALL_PARAMS[workload])


@pytest.mark.slurm
def test_adapt_from_zero_submits_jobs_and_returns_to_zero(
    env: dict[str, str], tmp_path: Path, job_name: str, local_digest: Callable[..., str]
) -> None:
    assert not queued(job_name)
    out = tmp_path / "adapt.json"
    params = {"replicates": "12", "n": "4000000"}
    args = ["run", "calc-mean", *flags(params), "--backend", "slurm"]
    proc = subprocess.Popen(
        [DASKBURST, *args, "--adapt", "0:2", "--no-progress", "--output", str(out)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen: set[str] = set()
    try:
        deadline = time.monotonic() + 240
        while proc.poll() is None and time.monotonic() < deadline:
            seen.update(job_id for job_id, _ in queued(job_name))
            time.sleep(0.3)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, stderr
    assert seen, "no worker job appeared in squeue while the work was queued"
    wait_until(lambda: not queued(job_name), 60, "the queue to be empty after the run")
    record = json.loads(out.read_text())
    # the workers that really ran at once (the second job may connect after the work)
    assert 1 <= record["workers"] <= 2
    assert record["result"]["digest"] == local_digest("calc-mean", **params)


@pytest.mark.slurm
def test_adaptive_cluster_scales_back_to_zero_while_open(slurm_config: None, job_name: str) -> None:
    xs = [dask.delayed(time.sleep)(1.0) for _ in range(6)]
    with open_backend("slurm", BackendOptions(adapt=(0, 2))) as session:
        assert not queued(job_name)  # adapt 0:N starts with no job at all
        session.compute(xs)
        assert session.cluster is not None
        # Nothing is computing any more: adaptive scaling retires every worker job.
        wait_until(lambda: not queued(job_name), 60, "adaptive scale-down to zero jobs")
    assert not queued(job_name)


@pytest.mark.slurm
def test_close_cancels_jobs_also_when_the_run_fails(slurm_config: None, job_name: str) -> None:
    def boom(x: int) -> int:
        raise ValueError(f"task {x} failed on purpose")

    with pytest.raises(ValueError, match="on purpose"):
        with open_backend("slurm", BackendOptions(workers=2)) as session:
            assert queued(job_name)
            session.compute([dask.delayed(boom)(1)])
    wait_until(lambda: not queued(job_name), 30, "the worker jobs to be cancelled")


@pytest.mark.slurm
def test_cli_failure_leaves_nothing_queued(
    env: dict[str, str], tmp_path: Path, job_name: str
) -> None:
    proc = run_cli(
        ["run", "bag", "--input", str(tmp_path / "missing-*.gz"), "--backend", "slurm"]
        + ["--adapt", "0:2", "--no-progress"],
        env,
        tmp_path,
    )
    assert proc.returncode != 0
    wait_until(lambda: not queued(job_name), 30, "the worker jobs to be cancelled")


@pytest.mark.slurm
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_to_the_run_cancels_its_worker_jobs(
    sig: signal.Signals, env: dict[str, str], tmp_path: Path, job_name: str
) -> None:
    args = ["run", "calc-mean", "--replicates", "40", "--n", "8000000", "--backend", "slurm"]
    proc = subprocess.Popen(
        [DASKBURST, *args, "--workers", "2", "--no-progress"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(lambda: len(queued(job_name)) == 2, 120, "two worker jobs")
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == (143 if sig == signal.SIGTERM else 130), stderr
    said = "terminated (SIGTERM)" if sig == signal.SIGTERM else "interrupted"
    assert f"daskburst: {said}; stopped everything it started" in stderr
    assert "Traceback" not in stderr
    wait_until(lambda: not queued(job_name), 30, "the worker jobs to be cancelled")


@pytest.mark.slurm
def test_scancel_of_one_worker_mid_run_still_completes(
    slurm_config: None, job_name: str, local_digest: Callable[..., str]
) -> None:
    from daskburst.execute import compute, prepare

    params = {"replicates": "16", "n": "4000000"}
    expected = local_digest("calc-mean", **params)
    prepared = prepare("calc-mean", **params)
    with open_backend("slurm", BackendOptions(workers=2)) as session:
        result: dict[str, Any] = {}

        def work() -> None:
            try:
                result["value"] = compute(prepared, session)
            except BaseException as exc:  # noqa: BLE001 - reported by the assert below
                result["error"] = exc

        worker = threading.Thread(target=work)
        worker.start()
        # Wait until both workers are computing, then kill one of their jobs.
        client = session.client

        def both_busy() -> bool:
            processing = client.processing()
            return len(processing) == 2 and all(processing.values())

        wait_until(both_busy, 120, "both workers to be computing", interval=0.1)
        victim = next(iter(session.cluster.workers.values())).job_id
        subprocess.run(["scancel", str(victim)], check=True, timeout=30)
        worker.join(timeout=240)
        assert not worker.is_alive()
        assert "error" not in result, result.get("error")
        assert result["value"]["digest"] == expected
    wait_until(lambda: not queued(job_name), 30, "the worker jobs to be cancelled")


@pytest.mark.slurm
@pytest.mark.parametrize("mode", ["runner", "adapt"])
@pytest.mark.parametrize("workload", list(SMALL))
def test_sbatch_script_writes_the_result(
    workload: str,
    mode: str,
    env: dict[str, str],
    tmp_path: Path,
    job_name: str,
    local_digest: Callable[..., str],
) -> None:
    out = tmp_path / "result.json"
    script = JOBS / f"{workload}.sbatch"
    proc = subprocess.run(
        ["sbatch", "--parsable", "--job-name", job_name, str(script), str(out), mode],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    job_id = proc.stdout.strip().split(";")[0]
    # The driver's worker jobs have the same name; wait for all of them to finish.
    wait_until(lambda: not queued(job_name), 300, f"job {job_id} ({workload}, {mode}) to finish")
    log = tmp_path / f"daskburst-{workload}-{job_id}.out"
    assert out.exists(), log.read_text() if log.exists() else "no job log"
    record = json.loads(out.read_text())
    assert record["workload"] == workload
    assert record["backend"] == ("address" if mode == "runner" else "slurm")
    assert record["result"]["digest"] == local_digest(workload, **SMALL_PARAMS[workload])
    assert not list(tmp_path.glob(".daskburst-scheduler-*.json"))


@pytest.mark.slurm
@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ({"DASK_JOBQUEUE__SLURM__QUEUE": "no-such-partition"}, "Invalid partition name"),
        ({"DASK_JOBQUEUE__SLURM__MEMORY": "5000GB"}, "Requested node configuration"),
    ],
    ids=["partition", "memory"],
)
def test_bad_configuration_fails_with_one_line(
    setting: dict[str, str], expected: str, env: dict[str, str], tmp_path: Path, job_name: str
) -> None:
    proc = run_cli(
        ["run", "calc-mean", *SMALL["calc-mean"], "--backend", "slurm", "--adapt", "0:2"],
        {**env, **setting},
        tmp_path,
        timeout=60,
    )
    assert proc.returncode == 2
    assert len(error_lines(proc.stderr)) == 1, proc.stderr
    assert expected in proc.stderr
    assert not queued(job_name)


@pytest.fixture
def down_partition(slurm: None) -> Iterator[str]:
    """A partition that exists but is DOWN: jobs in it pend forever (PartitionDown)."""
    name = f"dbtdown{uuid.uuid4().hex[:6]}"
    node = subprocess.run(
        ["sinfo", "-h", "-o", "%N"], capture_output=True, text=True, check=True, timeout=10
    ).stdout.split()[0]
    subprocess.run(
        ["scontrol", "create", f"PartitionName={name}", f"Nodes={node}", "State=DOWN"],
        check=True,
        timeout=30,
    )
    try:
        yield name
    finally:
        subprocess.run(["scontrol", "delete", f"PartitionName={name}"], check=False, timeout=30)


@pytest.mark.slurm
@pytest.mark.parametrize(
    "scaling", [["--workers", "1"], ["--adapt", "0:2"]], ids=["scale", "adapt"]
)
def test_worker_job_that_can_never_start_fails_with_one_line(
    scaling: list[str],
    down_partition: str,
    env: dict[str, str],
    tmp_path: Path,
    job_name: str,
) -> None:
    proc = run_cli(
        ["run", "calc-mean", *SMALL["calc-mean"], "--backend", "slurm", *scaling],
        {**env, "DASK_JOBQUEUE__SLURM__QUEUE": down_partition},
        tmp_path,
        timeout=60,
    )
    assert proc.returncode == 1
    assert len(error_lines(proc.stderr)) == 1, proc.stderr
    assert "PartitionDown" in proc.stderr
    wait_until(lambda: not queued(job_name), 30, "the pending job to be cancelled")
