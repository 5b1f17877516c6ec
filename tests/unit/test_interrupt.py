"""Ctrl-C ends a run promptly, leaves no process behind and no partial output.

Ctrl-C in a terminal sends SIGINT to the whole foreground process group, so these
tests start daskburst in its own group and signal all of it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys

import psutil
import pytest

from tests.helpers import IN_THE_BACKGROUND

CMD = [sys.executable, "-m", "daskburst"]
pytestmark = pytest.mark.slow


def interrupt_when_busy(args, env=None, sig=signal.SIGINT, cwd=None):
    """Start daskburst, wait for its first progress line, Ctrl-C it; return (code, stderr).

    SIGTERM goes to daskburst's process alone, as `timeout`, `scancel` and Kubernetes send it.
    """
    full_env = {**os.environ, "DASK_DASKBURST__PROGRESS_INTERVAL": "0.3", **(env or {})}
    proc = subprocess.Popen(
        [*CMD, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=full_env,
        start_new_session=True,
        cwd=cwd,
    )
    children: list[psutil.Process] = []
    try:
        lines = []
        while True:
            line = proc.stderr.readline()
            assert line, f"ended before any progress: {''.join(lines)}"
            lines.append(line)
            if line.startswith("progress: "):
                break
        children = psutil.Process(proc.pid).children(recursive=True)
        if sig == signal.SIGINT:
            os.killpg(proc.pid, sig)
        else:
            os.kill(proc.pid, sig)
        code = proc.wait(timeout=60)
        err = "".join(lines) + proc.stderr.read()
        gone, alive = psutil.wait_procs(children, timeout=15)
        assert not alive, f"left behind: {alive}"
        return code, err
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        for child in children:
            if child.is_running():
                child.kill()


def assert_clean(code, err, sig=signal.SIGINT):
    assert code == (130 if sig == signal.SIGINT else 143), err
    assert "Traceback" not in err and "AllExit" not in err and "KeyboardInterrupt" not in err, err
    assert "leaked semaphore" not in err, err
    others = [
        ln
        for ln in err.splitlines()
        if not ln.startswith(("progress: ", "dashboard: ", "daskburst: /"))  # fmt: skip
    ]
    said = "interrupted" if sig == signal.SIGINT else "terminated (SIGTERM)"
    assert others == [f"daskburst: {said}; stopped everything it started"], err


@pytest.mark.parametrize("backend", ["local", "processes", "threads"])
def test_sigterm_during_a_run_unwinds_like_ctrl_c(backend):
    code, err = interrupt_when_busy(
        ["run", "calc-mean", "--replicates", "4", "--n", "1e11", "--backend", backend,
         "--workers", "2"], sig=signal.SIGTERM,
    )  # fmt: skip
    assert_clean(code, err, signal.SIGTERM)


def test_sigterm_during_a_users_script(tmp_path):
    (tmp_path / "slow.py").write_text(
        "import sys, time, dask\n"
        "print('progress: started', file=sys.stderr, flush=True)\n"
        "dask.compute([dask.delayed(time.sleep)(60) for _ in range(2)])\n"
    )
    code, err = interrupt_when_busy(
        ["run", "slow.py", "--backend", "local", "--workers", "2"], sig=signal.SIGTERM,
        cwd=tmp_path,
    )  # fmt: skip
    assert_clean(code, err, signal.SIGTERM)


@pytest.mark.parametrize("backend", ["local", "processes", "threads"])
def test_ctrl_c_during_a_run(backend):
    code, err = interrupt_when_busy(
        ["run", "calc-mean", "--replicates", "4", "--n", "1e11", "--backend", backend,
         "--workers", "2"]
    )  # fmt: skip
    assert_clean(code, err)


def test_ctrl_c_during_data_generation_leaves_no_output(tmp_path):
    out = tmp_path / "air"
    code, err = interrupt_when_busy(
        ["data", "airline", "--out", str(out), "--rows", "2e6", "--files", "4",
         "--workers", "2"]
    )  # fmt: skip
    assert_clean(code, err)
    assert list(tmp_path.iterdir()) == []  # neither the directory nor a temporary one


@pytest.mark.parametrize(
    ("status", "shown"),
    [("running", True), ("closing", False), ("closing_gracefully", False), ("closed", False)],
)
def test_a_failed_heartbeat_is_shown_only_while_the_worker_runs(status, shown):
    """Closing a worker drops its connections; a heartbeat in flight then fails harmlessly."""
    import logging
    import types

    from distributed.core import Status

    from daskburst.local._preload import _QuietWorker

    quiet = _QuietWorker(types.SimpleNamespace(status=Status[status]))
    record = logging.LogRecord(
        "distributed.worker", logging.ERROR, __file__, 1,
        "Failed to communicate with scheduler during heartbeat.", None, None,
    )  # fmt: skip
    assert quiet.filter(record) is shown
    other = logging.LogRecord("distributed.worker", logging.ERROR, __file__, 1, "x", None, None)
    assert quiet.filter(other) is True


@pytest.mark.parametrize("after", [0.05, 0.2, 0.4])
def test_ctrl_c_while_daskburst_loads_is_one_line(after):
    """Before the command line handles Ctrl-C: the installed script's launcher does."""
    import time
    from pathlib import Path

    script = Path(sys.executable).with_name("daskburst")
    proc = subprocess.Popen([str(script), "run", "calc-mean", "--backend", "sync"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)  # fmt: skip
    try:
        time.sleep(after)
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, err
    assert "Traceback" not in err, err
    assert err.strip().splitlines()[-1].startswith("daskburst: interrupted"), err


def test_the_upstream_sync_cancel_race_is_not_logged_but_other_errors_are():
    """distributed's sync() cancel callback may read its future before it exists (Ctrl-C)."""
    import logging

    from daskburst.cli._main import _drop_interrupted_sync_cancel

    def record_of(code: str, filename: str) -> logging.LogRecord:
        namespace: dict[str, object] = {}
        exec(compile(code, filename, "exec"), namespace)  # noqa: S102 - a frame to log
        try:
            namespace["cancel"]()  # type: ignore[operator]
        except NameError:
            return logging.LogRecord("tornado.application", logging.ERROR, "", 0, "Exception "
                                     "in callback", None, sys.exc_info())  # fmt: skip
        raise AssertionError("no NameError")

    race = (
        "def outer():\n    future: object\n    def cancel():\n"
        "        if future is not None:\n            pass\n    return cancel\ncancel = outer()\n"
    )
    assert not _drop_interrupted_sync_cancel(record_of(race, "/x/distributed/utils.py"))
    assert _drop_interrupted_sync_cancel(record_of(race, "/x/mine.py"))
    other = "def cancel():\n    return undefined_name\n"
    assert _drop_interrupted_sync_cancel(record_of(other, "/x/distributed/utils.py"))


def test_a_spawned_child_of_the_script_ignores_ctrl_c_from_its_first_import(tmp_path):
    """A worker process runs the script again as __mp_main__: the launcher is its first import."""
    script = tmp_path / "spawner.py"
    script.write_text(
        "import signal, multiprocessing as mp\n"
        "import daskburst_launch\n"
        "def handler():\n"
        "    return signal.getsignal(signal.SIGINT) is signal.SIG_IGN\n"
        "if __name__ == '__main__':\n"
        "    with mp.get_context('spawn').Pool(1) as pool:\n"
        "        print(pool.apply(handler), handler())\n"
    )
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    # The child ignores it; the parent keeps Python's Ctrl-C (the command line handles it).
    assert out.stdout.split() == ["True", "False"], out.stdout


@pytest.mark.parametrize("before", ["SIG_IGN", "default_int_handler"])
def test_the_slurm_backend_keeps_how_ctrl_c_was_handled(before):
    """Importing dask-jobqueue sets its own SIGINT handler; a background run keeps ignoring it."""
    code = (
        "import signal\n"
        f"signal.signal(signal.SIGINT, signal.{before})\n"
        "from daskburst import config, slurm\n"
        "config.apply_jobqueue_defaults()\n"
        "slurm.keep_ctrl_c()\n"
        f"print(signal.getsignal(signal.SIGINT) is signal.{before})\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True", out.stdout


def test_a_run_started_in_the_background_ignores_ctrl_c():
    """``daskburst run ... &`` in a script ignores SIGINT, as POSIX wants, and ends as usual."""
    env = {**os.environ, "DASK_DASKBURST__PROGRESS_INTERVAL": "0.3"}
    proc = subprocess.Popen([*IN_THE_BACKGROUND, *CMD, "run", "calc-mean",
                             "--replicates", "16", "--n", "2e7", "--backend", "local", "--workers",
                             "1", "--output", "-"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)  # fmt: skip
    children: list[psutil.Process] = []
    try:
        lines = []
        while not (lines and lines[-1].startswith("progress: ")):
            lines.append(proc.stderr.readline())
            assert lines[-1], f"ended before any progress: {''.join(lines)}"
        # To daskburst, the shell's child: the shell itself would end at a SIGINT.
        (daskburst,) = psutil.Process(proc.pid).children()
        children = [daskburst, *daskburst.children(recursive=True)]
        daskburst.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 0, "".join(lines) + err
    assert json.loads(out)["result"]["digest"], out
    gone, alive = psutil.wait_procs(children, timeout=30)
    assert not alive, f"left running: {alive}"


def _cmdline(process: psutil.Process) -> str:
    with contextlib.suppress(psutil.Error):
        return " ".join(process.cmdline())
    return ""


def _listening(process: psutil.Process) -> bool:
    """True once a worker process listens on its port: it has started."""
    with contextlib.suppress(psutil.Error):
        return any(c.status == psutil.CONN_LISTEN for c in process.net_connections("tcp"))
    return False


# When Ctrl-C comes: as soon as a process shows up whose command line has this text.
MOMENTS = {
    # multiprocessing's resource tracker starts first, while the scheduler starts
    "tracker": "resource_tracker",
    # a worker process still importing Python (the window a fixed delay hit by chance)
    "worker-starting": "spawn_main",
}


@pytest.mark.parametrize("moment", [*MOMENTS, "running"])
def test_ctrl_c_while_a_local_cluster_starts_its_workers_is_one_line(moment):
    """Whenever Ctrl-C comes while the cluster starts or runs: one line, exit 130, no child.

    A terminal sends Ctrl-C to the whole process group, so worker processes get it too,
    even while Python in them still imports; only the parent may answer it.
    """
    import time
    from pathlib import Path

    script = Path(sys.executable).with_name("daskburst")
    args = ["run", "calc-mean", "--backend", "local", "--workers", "2", "--replicates", "4000"]
    proc = subprocess.Popen([str(script), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)  # fmt: skip
    children: list[psutil.Process] = []
    try:
        parent = psutil.Process(proc.pid)
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            with contextlib.suppress(psutil.NoSuchProcess):
                children = parent.children(recursive=True)
            texts = [_cmdline(child) for child in children]
            if moment == "running":
                workers = [
                    c for c, text in zip(children, texts, strict=True) if "spawn_main" in text
                ]
                if len(workers) == 2 and all(_listening(worker) for worker in workers):
                    break
            elif any(MOMENTS[moment] in text for text in texts):
                break
            time.sleep(0.005)
        else:
            pytest.fail(f"no {moment!r} process within 60 s (exit code {proc.poll()})")
        with contextlib.suppress(psutil.NoSuchProcess):
            children = parent.children(recursive=True)
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        gone, alive = psutil.wait_procs(children, timeout=15)
        assert not alive, f"left behind: {alive}"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    if proc.returncode == 0:
        pytest.fail(f"the run ended before Ctrl-C ({moment}): make it longer\n{err}")
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    # One line, and nothing else: no child's traceback, no resource tracker's warning
    # about semaphores left behind.
    assert err.strip().splitlines() == ["daskburst: interrupted; stopped everything it started"], (
        err
    )


SWALLOWED = """
import gc, signal, sys, time
from daskburst.errors import signals_unwind

sent = []

def callback(phase, info):
    # As distributed's GCDiagnosis: a gc callback. A signal handled while it runs raises
    # there, and Python prints "Exception ignored" and drops the exception.
    if phase == "start" and not sent:
        sent.append(1)
        signal.raise_signal(signal.{sig})

gc.callbacks.append(callback)
with signals_unwind():
    try:
        gc.collect()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            time.sleep(0.01)
        print("lost")
    except KeyboardInterrupt as exc:
        print("raised", type(exc).__name__)
"""


@pytest.mark.parametrize(("sig", "raised"), [("SIGINT", "KeyboardInterrupt"),
                                             ("SIGTERM", "Terminated")])  # fmt: skip
def test_an_interrupt_swallowed_by_a_gc_callback_is_raised_again(sig, raised):
    # In CI, Ctrl-C once landed in distributed's gc callback and the run went on for 60 s.
    out = subprocess.run([sys.executable, "-c", SWALLOWED.replace("{sig}", sig)],
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert out.stdout.strip() == f"raised {raised}", out.stdout + out.stderr
    assert "Exception ignored" not in out.stderr
