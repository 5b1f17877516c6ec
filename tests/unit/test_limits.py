"""Runs are sized before their graph is built; what cannot fit is refused at once."""

from __future__ import annotations

import os
import subprocess
import sys

import dask
import pytest

from daskburst.errors import UserError
from daskburst.execute import prepare
from daskburst.workloads.array import chunk_shape

CMD = [sys.executable, "-m", "daskburst"]


def cli(*args, env=None):
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [*CMD, *args], capture_output=True, text=True, env=full_env, timeout=60, check=False
    )


def refused(proc, *fragments):
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "limit" in lines[0]
    for f in fragments:
        assert f in lines[0], lines[0]


def test_huge_array_is_refused_before_any_memory_is_used():
    # Before: 15 GB of RSS in 20 s building the graph, then more.
    proc = cli("run", "array", "--rows", "1e9", "--cols", "1e9", "--backend", "threads")
    refused(proc, "array", "tasks", "daskburst.limits.tasks")


def test_endless_calc_mean_is_refused():
    # Before: --n 1e30 ran for ever.
    proc = cli("run", "calc-mean", "--n", "1e30", "--backend", "threads")
    refused(proc, "calc-mean", "1e+31 random draws", "daskburst.limits.draws")


def test_a_chunk_that_cannot_fit_in_memory_is_refused():
    proc = cli(
        "run", "array", "--rows", "100", "--cols", "100", "--chunks", "100,100", "--backend",
        "sync", env={"DASK_DASKBURST__LIMITS__MEMORY": "10kB"},
    )  # fmt: skip
    refused(proc, "memory", "9.77 kiB", "daskburst.limits.memory")


def test_limits_are_configurable():
    with dask.config.set({"daskburst.limits.tasks": 5}):
        with pytest.raises(UserError, match="about 6 tasks; the limit is 5"):
            prepare("calc-mean", replicates=6, n=10)
        prepare("calc-mean", replicates=5, n=10)
    with dask.config.set({"daskburst.limits.memory": "lots"}), pytest.raises(UserError) as info:
        prepare("calc-mean", replicates=1, n=10)
    assert "daskburst.limits.memory" in str(info.value) and "8GB" in str(info.value)


def test_default_sizes_fit():
    for name in ("calc-mean", "calc-mean-sweep", "array"):
        with dask.config.set({"daskburst.limits.memory": "4GB"}):
            prepare(name)


def test_auto_chunks_never_exceed_the_chunk_bytes():
    with dask.config.set({"daskburst.array.chunk-bytes": 8000}):
        assert chunk_shape(50, 100, "auto") == (10, 100)  # whole rows when a row fits
        assert chunk_shape(50, 5000, "auto") == (1, 1000)  # else part of a row


def test_the_memory_limit_follows_ulimit_v():
    """`auto` is 80% of what the process may use: RAM, its cgroup and its rlimits."""
    import resource

    def small_address_space() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (4 * 2**30, resource.RLIM_INFINITY))

    # About 6.7 GiB at once: fits a machine with 16 GiB of RAM, not 80% of a 4 GiB address
    # space (it passed before, and the run then died of MemoryError).
    args = ["run", "array", "--rows", "15000", "--cols", "30000", "--chunks", "15000,30000",
            "--backend", "sync"]  # fmt: skip
    proc = subprocess.run([*CMD, *args], capture_output=True, text=True, timeout=60,
                          preexec_fn=small_address_space, check=False)  # fmt: skip
    refused(proc, "array", "GiB of memory at once", "the limit is 3.20 GiB")


@pytest.mark.parametrize(
    "args",
    [["bag", "--sample", "1e9,2"], ["dataframe", "--input", "synthetic", "--sample", "4e8,4"]],
)
def test_a_generated_input_too_large_for_memory_is_refused(args):
    # Before: the bag made a 23 GB file in one task and died of MemoryError (exit 1).
    refused(cli("run", *args, "--backend", "sync"), args[0], "daskburst.limits.memory")


def test_a_run_that_would_take_days_is_refused():
    # 1e14 draws on 2 cores: about 6 days; under limits.draws, over limits.seconds.
    proc = cli("run", "calc-mean", "--n", "1e9", "--replicates", "1e5", "--backend", "threads",
               "--workers", "2")  # fmt: skip
    refused(proc, "calc-mean", "would run about 138 h", "on 2 core(s)", "daskburst.limits.seconds")


def test_the_time_limit_is_configurable_and_counts_cores():
    with dask.config.set({"daskburst.limits.seconds": 1}):
        with pytest.raises(UserError, match="would run about 2 s on 1 core"):
            prepare("calc-mean", replicates=2, n=10**8, parallel=1)
        prepare("calc-mean", replicates=2, n=10**8, parallel=4)  # 0.5 s on 4 cores


def test_a_step_that_lasts_is_announced_unless_progress_is_off(monkeypatch, capsys):
    import time

    from daskburst import execute

    monkeypatch.setattr(execute, "ANNOUNCE_AFTER", 0.05)
    with execute.announced("building the task graph", "lines"):
        time.sleep(0.5)
    assert capsys.readouterr().err == "building the task graph: 0 s\n"
    with execute.announced("building the task graph", "off"):
        time.sleep(0.2)
    assert capsys.readouterr().err == ""


def test_prepare_announces_the_graph_build(monkeypatch):
    import contextlib

    from daskburst import execute

    seen = []
    monkeypatch.setattr(
        execute,
        "announced",
        lambda what, mode: seen.append((what, mode)) or contextlib.nullcontext(),
    )
    execute.prepare("calc-mean", replicates=2, n=10, progress="lines")
    assert seen == [("building the task graph", "lines")]


@pytest.mark.parametrize(("name", "sample"), [("bag", "1000,4"), ("dataframe", "1000,3")])
def test_a_generated_inputs_task_estimate_is_the_graphs_task_count(name, sample):
    """The limits are checked against the tasks dask really runs, not a rough bound."""
    from daskburst.backends._measure import CountTasks, Measured
    from daskburst.workloads import get_workload

    workload = get_workload(name)
    params = workload.resolve({"input": "sample", "sample": sample})
    plan = workload.build(params, 1)  # the first build writes the sample files, a compute
    ran = Measured()
    with CountTasks(ran):  # what the run record counts
        dask.compute(*plan.collections, scheduler="sync")
    assert ran.tasks == workload.estimate(params, 2).tasks
