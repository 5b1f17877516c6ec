"""``daskburst run SCRIPT``: __main__, argv, exit status, tracebacks, bad input, the record.

Run as a user would, in a subprocess, where the exit status and the terminal output matter.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from tests.helpers import IN_THE_BACKGROUND

DASKBURST = str(Path(sys.executable).with_name("daskburst"))


def daskburst(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the CLI; fail the test instead of hanging."""
    return subprocess.run(
        [DASKBURST, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def test_runs_as_main_with_its_arguments_and_its_directory(tmp_path: Path) -> None:
    write(tmp_path / "helper.py", "def twice(x):\n    return 2 * x\n")
    write(
        tmp_path / "my_analysis.py",
        """
        import sys
        import dask
        from helper import twice

        if __name__ == "__main__":
            print("argv", sys.argv[1:])
            print("sum", sum(dask.compute(*[dask.delayed(twice)(i) for i in range(5)])))
        """,
    )
    r = daskburst("run", "my_analysis.py", "--backend", "threads", "--", "--n", "5", "a b",
                  cwd=tmp_path)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "argv ['--n', '5', 'a b']" in r.stdout
    assert "sum 20" in r.stdout


def test_exit_status_is_the_scripts(tmp_path: Path) -> None:
    write(tmp_path / "three.py", "import sys\nsys.exit(3)\n")
    r = daskburst("run", "three.py", "--backend", "sync", cwd=tmp_path)
    assert r.returncode == 3, r.stderr


def test_an_exception_shows_the_scripts_own_traceback_and_exits_1(tmp_path: Path) -> None:
    write(
        tmp_path / "broken.py",
        """
        import dask

        def boom(x):
            raise ValueError(f"bad value {x}")

        dask.compute(dask.delayed(boom)(7))
        """,
    )
    r = daskburst("run", "broken.py", "--backend", "local", "--workers", "1", cwd=tmp_path)
    assert r.returncode == 1
    assert "Traceback (most recent call last):" in r.stderr
    assert 'broken.py", line 7' in r.stderr  # the script's line that computed
    assert "ValueError: bad value 7" in r.stderr
    assert "runpy" not in r.stderr and "daskburst/usercode" not in r.stderr


def test_client_and_get_client_use_the_backends_cluster(tmp_path: Path) -> None:
    write(
        tmp_path / "clients.py",
        """
        import dask
        from dask.distributed import Client, get_client

        mine = Client()  # no arguments: the backend's cluster, not a new one
        print("same", mine.scheduler.address == get_client().scheduler.address)
        print("workers", len(mine.scheduler_info()["workers"]))
        print("scheduler", dask.config.get("scheduler"))
        mine.close()
        """,
    )
    r = daskburst("run", "clients.py", "--backend", "local", "--workers", "2", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "same True" in r.stdout
    assert "workers 2" in r.stdout
    assert "scheduler dask.distributed" in r.stdout


def test_a_script_that_picks_its_own_scheduler_is_named(tmp_path: Path) -> None:
    write(
        tmp_path / "own.py",
        """
        import dask
        dask.config.set(scheduler="sync")
        print(dask.compute(dask.delayed(sum)([1, 2])))
        """,
    )
    out = tmp_path / "record.json"
    r = daskburst("run", "own.py", "--backend", "threads", "--output", str(out), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    warnings = [line for line in r.stderr.splitlines() if "picks its own scheduler" in line]
    assert len(warnings) == 1 and "own.py:3: dask.config.set(scheduler=...)" in warnings[0]
    assert "threads backend" in warnings[0]
    record = json.loads(out.read_text())
    assert record["scheduler_overrides"] == [
        {"file": "own.py", "line": 3, "what": "dask.config.set(scheduler=...)"}
    ]


def test_the_record_says_what_travelled(tmp_path: Path) -> None:
    work = tmp_path / "proj"
    script = write(work / "main.py", "import lib.util\nprint(lib.util.X)\n")
    write(work / "lib" / "__init__.py", "")
    write(work / "lib" / "util.py", "X = 41 + 1\n")
    write(work / "data" / "big.csv", "a,b\n" * 1000)
    write(work / "rows.parquet", "not shipped")
    write(work / ".git" / "HEAD", "ref: refs/heads/main\n")
    write(work / "__pycache__" / "x.pyc", "")
    write(work / "env" / "pyvenv.cfg", "home = /usr/bin\n")
    out = tmp_path / "record.json"
    r = daskburst("run", str(script), "--backend", "local", "--workers", "1",
                  "--output", str(out), cwd=tmp_path)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "42" in r.stdout
    record = json.loads(out.read_text())
    assert record["exit_code"] == 0 and record["backend"] == "local"
    wd = record["workdir"]
    assert wd["how"] == "upload" and wd["files"] == 3  # main.py, lib/__init__.py, lib/util.py
    assert wd["bytes"] == sum(len(p.read_bytes()) for p in
                              (script, work / "lib/__init__.py", work / "lib/util.py"))  # fmt: skip
    assert len(wd["sha256"]) == 64
    import hashlib

    assert record["sha256"] == hashlib.sha256(script.read_bytes()).hexdigest()
    assert "(3 files) travels with the script (upload)" in r.stderr


def test_installed_function(tmp_path: Path) -> None:
    write(
        tmp_path / "pkg" / "mymod.py",
        """
        import sys
        import dask

        def main():
            print("argv", sys.argv[1:], dask.compute(dask.delayed(len)("abc"))[0])
            return 4
        """,
    )
    r = daskburst("run", "mymod:main", "--backend", "threads", "--", "x", cwd=tmp_path,
                  env={"PYTHONPATH": str(tmp_path / "pkg")})  # fmt: skip
    assert r.returncode == 4, r.stderr
    assert "argv ['x'] 3" in r.stdout


BAD = {
    "missing": (["nope.py"], "run 'nope.py': no such file"),
    "directory": (["sub"], "is a directory"),
    "syntax": (["bad.py"], "bad.py:2: "),
    "shadowed workload": (["bag"], "both the built-in workload 'bag' and the file"),
    "module missing": (["no_such_mod:f"], "module 'no_such_mod' does not import"),
    "not callable": (["json:__doc__"], "not callable"),
    "flag before --": (["ok.py", "--n", "5"], "arguments for the script go after --"),
    "bad ship": (["ok.py", "--ship", "rsync"], "--ship 'rsync': expected one of"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, case: str) -> None:
    (tmp_path / "sub").mkdir()
    write(tmp_path / "bad.py", "x = 1\ndef (:\n")
    write(tmp_path / "bag", "print('a file named like a workload')\n")
    write(tmp_path / "ok.py", "print('ran')\n")
    args, message = BAD[case]
    r = daskburst("run", *args, "--output", "out.json", cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and message in r.stderr, r.stderr
    assert r.stdout == "" and not (tmp_path / "out.json").exists()


def test_a_working_directory_over_the_limit_is_refused(tmp_path: Path) -> None:
    write(tmp_path / "ok.py", "print('ran')\n")
    (tmp_path / "blob.py").write_bytes(os.urandom(8192))  # incompressible
    r = daskburst("run", "ok.py", "--backend", "local", cwd=tmp_path,
                  env={"DASK_DASKBURST__USER_CODE__MAX_BYTES": "4KiB"})  # fmt: skip
    assert r.returncode == 2
    assert "over the 4.00 kiB limit (daskburst.user-code.max-bytes)" in r.stderr
    assert "make user-image" in r.stderr and r.stderr.count("\n") == 1
    # nothing to ship to sync: no limit applies
    r = daskburst("run", "ok.py", "--backend", "sync", cwd=tmp_path,
                  env={"DASK_DASKBURST__USER_CODE__MAX_BYTES": "4KiB"})  # fmt: skip
    assert r.returncode == 0 and "ran" in r.stdout


def test_ctrl_c_stops_the_cluster_and_leaves_nothing(tmp_path: Path) -> None:
    write(
        tmp_path / "slow.py",
        """
        import time
        import dask
        print("started", flush=True)
        dask.compute([dask.delayed(time.sleep)(60) for _ in range(2)])
        """,
    )
    proc = subprocess.Popen(
        [DASKBURST, "run", "slow.py", "--backend", "local", "--workers", "2"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "started"
        children = psutil.Process(proc.pid).children(recursive=True)
        assert children, "the local cluster's worker processes"
        time.sleep(1)  # let the tasks reach the workers
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, err
    assert "interrupted; stopped everything it started" in err
    assert "Traceback" not in err
    gone, alive = psutil.wait_procs(children, timeout=30)
    assert not alive, f"left running: {alive}"


def in_the_background(*args: str, cwd: Path, timeout: float) -> tuple[int, str]:
    """Run the CLI as a script's ``daskburst ... &`` does: SIGINT ignored, as POSIX wants.

    Returns its exit code and stderr. Its own process group goes on a timeout, so that a
    hang fails the test without leaving the command running.
    """
    proc = subprocess.Popen([*IN_THE_BACKGROUND, DASKBURST, *args], cwd=cwd,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)  # fmt: skip
    try:
        _, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    return proc.returncode, err


@pytest.mark.parametrize("started", ["from-a-terminal", "in-the-background"])
def test_a_module_only_the_client_has_fails_loudly_instead_of_hanging(
    tmp_path: Path, started: str
) -> None:
    """Each worker dies on the task it cannot unpickle; dask.compute would wait for ever.

    Also when the run was started in the background, with SIGINT ignored: the watchdog
    interrupts the script with SIGINT all the same.
    """
    write(tmp_path / "extra" / "clientonly.py", "def double(x):\n    return 2 * x\n")
    write(
        tmp_path / "analysis.py",
        """
        import os, sys
        import dask
        sys.path.insert(0, os.path.join(os.path.dirname(__file__), "extra"))
        from clientonly import double  # importable here, not on the workers
        print(dask.compute(dask.delayed(double)(21)))
        """,
    )
    began = time.monotonic()
    args = ("run", "analysis.py", "--backend", "local", "--workers", "1")
    if started == "in-the-background":
        code, err = in_the_background(*args, cwd=tmp_path, timeout=120)
    else:
        r = daskburst(*args, cwd=tmp_path, timeout=120)
        code, err = r.returncode, r.stderr
    assert code == 1, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("daskburst: failed: local: every worker died once it got a task"), last
    assert "clientonly (" in last and "make user-image" in last
    assert time.monotonic() - began < 60  # not daskburst.worker-timeout (120 s)
