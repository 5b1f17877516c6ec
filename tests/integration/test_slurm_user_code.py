"""A user's script on the real local SLURM: `run SCRIPT --backend slurm` and `slurm submit
SCRIPT` in both modes give the digest of `--backend sync`; Ctrl-C cancels the job.

Marker ``slurm``: needs ``make slurm-up`` (fails under CI=true without it). Each test names
its jobs uniquely and cancels whatever still carries the name afterwards.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.helpers import EXAMPLE_ARGS, reference_backend, require

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
DASKBURST = str(Path(sys.executable).with_name("daskburst"))
SCRIPT = str(ROOT / "examples" / "delayed_loop.py")
ARGS = ["--", "--p", "4", "--n", "20000"]
DIGEST = re.compile(r"^digest: ([0-9a-f]{64})$", re.M)


def _slurm_up() -> bool:
    try:
        out = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True,
                             timeout=15, check=False).stdout  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return False
    return any(s.strip().rstrip("*~#") in ("idle", "mixed", "allocated") for s in out.split())


def queued(name: str) -> list[str]:
    out = subprocess.run(["squeue", "-h", "-n", name, "-o", "%i"], capture_output=True,
                         text=True, timeout=15, check=True).stdout  # fmt: skip
    return out.split()


@pytest.fixture
def name() -> Iterator[str]:
    require(_slurm_up(), "SLURM is not running here: run `make slurm-up` (as root)")
    job = f"dbu-{uuid.uuid4().hex[:8]}"
    yield job
    if queued(job):
        subprocess.run(["scancel", "-n", job], check=False, timeout=30)


@pytest.fixture
def env(name: str, tmp_path: Path) -> dict[str, str]:
    """Single-core 1 GB worker jobs named like the test's batch job (adapt mode)."""
    return {
        **os.environ,
        "DASK_JOBQUEUE__SLURM__CORES": "1",
        "DASK_JOBQUEUE__SLURM__MEMORY": "1GB",
        "DASK_JOBQUEUE__SLURM__NAME": name,
        "DASK_JOBQUEUE__SLURM__LOG_DIRECTORY": str(tmp_path / "logs"),
    }


def daskburst(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([DASKBURST, *args], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=300, check=False)  # fmt: skip


def digest(text: str) -> str:
    found = DIGEST.findall(text)
    assert len(found) == 1, text[-3000:]
    return str(found[0])


@pytest.fixture(scope="module")
def want() -> str:
    proc = subprocess.run([DASKBURST, "run", SCRIPT, "--backend", "sync", "--seed", "5", *ARGS],
                          capture_output=True, text=True, timeout=120, check=True)  # fmt: skip
    return digest(proc.stdout)


@pytest.mark.parametrize("example", list(EXAMPLE_ARGS))
def test_run_with_worker_jobs_on_the_shared_filesystem(
    example: str, env: dict[str, str], tmp_path: Path, name: str
) -> None:
    script, args = str(ROOT / "examples" / example), ["--", *EXAMPLE_ARGS[example]]
    here = reference_backend(example)
    ref = daskburst("run", script, *here, "--seed", "5", *args, env=env, cwd=tmp_path)
    assert ref.returncode == 0, ref.stderr[-3000:]
    proc = daskburst("run", script, "--backend", "slurm", "--workers", "1", "--seed", "5",
                     "--no-progress", *args, env=env, cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert digest(proc.stdout) == digest(ref.stdout)
    assert "is imported in place by the workers (shared filesystem)" in proc.stderr


@pytest.mark.parametrize("mode", ["runner", "adapt"])
def test_submit_wait_gives_the_sync_digest(
    mode: str, want: str, env: dict[str, str], tmp_path: Path, name: str
) -> None:
    proc = daskburst("slurm", "submit", SCRIPT, "--mode", mode, "--wait", "--seed", "5",
                     "--job-name", name, *ARGS, env=env, cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert digest(proc.stdout) == want
    job_id = re.search(r"submitted batch job (\d+)", proc.stderr)
    assert job_id, proc.stderr
    assert (tmp_path / f"{name}-{job_id.group(1)}.out").is_file()
    [kept] = (tmp_path / ".daskburst").glob(f"{name}-*.sbatch")
    assert f"#SBATCH --job-name={name}" in kept.read_text()


def test_arguments_reach_the_script_as_given(
    env: dict[str, str], tmp_path: Path, name: str
) -> None:
    (tmp_path / "argv.py").write_text("import sys\nprint('argv', sys.argv[1:])\n")
    odd = ["a b", "it's", '"q"', "$HOME", "--flag=1", "*"]
    proc = daskburst("slurm", "submit", "argv.py", "--wait", "--job-name", name, "--", *odd,
                     env=env, cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert f"argv {odd!r}" in proc.stdout


def test_ctrl_c_while_waiting_cancels_the_job(
    env: dict[str, str], tmp_path: Path, name: str
) -> None:
    (tmp_path / "slow.py").write_text("import time\ntime.sleep(120)\n")
    proc = subprocess.Popen(
        [DASKBURST, "slurm", "submit", "slow.py", "--wait", "--job-name", name],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert "submitted batch job" in line, line
        deadline = time.monotonic() + 60
        while not queued(name) and time.monotonic() < deadline:
            time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert "interrupted; stopped everything it started" in err
    deadline = time.monotonic() + 30
    while queued(name):
        assert time.monotonic() < deadline, "the batch job was not cancelled"
        time.sleep(0.5)
