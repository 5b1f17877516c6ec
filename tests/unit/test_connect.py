"""Connecting and waiting end within their timeouts, saying what they wait for."""

from __future__ import annotations

import os
import subprocess
import sys

import dask
import pytest
from distributed import LocalCluster

from daskburst.backends import BackendOptions, _session, open_backend
from daskburst.errors import BackendError
from daskburst.execute import compute, prepare

CMD = [sys.executable, "-m", "daskburst"]


def cli(*args, env=None):
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [*CMD, *args], capture_output=True, text=True, env=full_env, timeout=60, check=False
    )


def one_line(proc, code, *fragments):
    assert proc.returncode == code, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    for f in fragments:
        assert f in lines[0], lines[0]


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("tcp://127.0.0.1:1", "connection refused"),
        ("tcp://no-such-host.invalid:8786", "cannot resolve host 'no-such-host.invalid'"),
    ],
)
def test_unreachable_scheduler_fails_at_the_connect_timeout(address, reason):
    proc = cli(
        "run", "calc-mean", "--n", "10", "--backend", "address", "--address", address,
        env={"DASK_DASKBURST__CONNECT_TIMEOUT": "1"},
    )  # fmt: skip
    one_line(proc, 1, address, reason, "within 1 s", "--address")


def test_bad_environment_address_is_bad_input():
    for value in ("foo", "http://x:1", "tcp://host-without-port"):
        proc = cli("run", "calc-mean", "--n", "10", env={"DASK_SCHEDULER_ADDRESS": value})
        one_line(proc, 2, "DASK_SCHEDULER_ADDRESS", repr(value), "tcp://HOST:8786")


def test_unreachable_environment_address_names_its_source():
    proc = cli(
        "run", "calc-mean", "--n", "10",
        env={"DASK_SCHEDULER_ADDRESS": "tcp://127.0.0.1:1", "DASK_DASKBURST__CONNECT_TIMEOUT": "1"},
    )  # fmt: skip
    one_line(proc, 1, "DASK_SCHEDULER_ADDRESS", "connection refused")


@pytest.fixture
def no_workers():
    with LocalCluster(n_workers=0, dashboard_address=":0") as cluster:
        yield cluster.scheduler_address


@pytest.fixture
def fast_notes(monkeypatch):
    monkeypatch.setattr(_session, "_NOTE_EVERY", 0.3)
    monkeypatch.setattr(_session, "_TICK", 0.1)


def test_waiting_for_workers_says_so_and_ends_at_the_timeout(no_workers, fast_notes, capsys):
    opts = BackendOptions(address=no_workers, workers=2)
    with (
        dask.config.set({"daskburst.worker-timeout": 1}),
        pytest.raises(BackendError, match="only 0 of 2 workers connected within 1 s"),
        open_backend("address", opts),
    ):
        pass
    err = capsys.readouterr().err
    assert "waiting for workers: 0 of 2 after" in err


def test_a_run_without_any_worker_ends_at_the_timeout(no_workers, fast_notes, capsys):
    prep = prepare("calc-mean", replicates=1, n=10)
    with (
        dask.config.set({"daskburst.worker-timeout": 1}),
        open_backend("address", BackendOptions(address=no_workers)) as session,
        pytest.raises(BackendError, match="no worker connected within 1 s"),
    ):
        compute(prep, session)
    assert "waiting for workers: 0 of 1 after" in capsys.readouterr().err


def test_a_failing_task_is_reported_without_waiting_for_the_others():
    import time

    def slow():
        time.sleep(600)

    def bad():
        raise ValueError("boom")

    with open_backend("local", BackendOptions(workers=2)) as session:
        # Before: the run waited for every task; the slow one would hit pytest's timeout.
        with pytest.raises(ValueError, match="boom"):
            session.compute([dask.delayed(slow)(), dask.delayed(bad)()])
