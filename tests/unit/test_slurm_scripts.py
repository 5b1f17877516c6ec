"""jobs/slurm/*.sbatch: generated from daskburst.slurm, and what they run (no SLURM needed)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from daskburst.slurm import BATCH_SCRIPTS

ROOT = Path(__file__).resolve().parents[2]
JOBS = ROOT / "jobs" / "slurm"


def test_the_scripts_match_their_generator() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts/slurm/render_scripts.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.stem for p in JOBS.glob("*.sbatch")) == sorted(
        s.workload for s in BATCH_SCRIPTS
    )


def _run(tmp_path: Path, workload: str, mode: str, env: dict[str, str]) -> tuple[list[str], str]:
    """Run a script with stub ``daskburst``/``srun``; return the daskburst arguments and env."""
    calls = tmp_path / "calls"
    stub = tmp_path / "bin" / "daskburst"
    stub.parent.mkdir()
    stub.write_text(f'#!/usr/bin/env bash\nprintf "%s\\n" "$@" > {calls}\nenv > {calls}.env\n')
    stub.chmod(0o755)
    srun = tmp_path / "bin" / "srun"
    srun.write_text('#!/usr/bin/env bash\nwhile [[ $1 == --* ]]; do shift; done\nexec "$@"\n')
    srun.chmod(0o755)
    proc = subprocess.run(
        ["bash", str(JOBS / f"{workload}.sbatch"), str(tmp_path / "out.json"), mode],
        env={"PATH": f"{stub.parent}:/usr/bin:/bin", "DASKBURST": str(stub), **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return calls.read_text().splitlines(), (tmp_path / "calls.env").read_text()


@pytest.mark.parametrize("workload", [s.workload for s in BATCH_SCRIPTS])
def test_adapt_mode_passes_only_what_was_set(tmp_path: Path, workload: str) -> None:
    args, env = _run(tmp_path, workload, "adapt", {})
    out = str(tmp_path / "out.json")
    fixed = ["--input", "synthetic"] if workload in ("bag", "dataframe") else []
    assert args == [
        "run", workload, *fixed, "--output", out, "--no-progress",
        "--backend", "slurm", "--adapt", "0:2",
    ]  # fmt: skip
    # The worker jobs' size comes from dask config (daskburst.yaml), never from the script.
    assert "DASK_JOBQUEUE__" not in env


def test_a_set_variable_becomes_its_flag(tmp_path: Path) -> None:
    args, _ = _run(tmp_path, "calc-mean", "adapt", {"REPLICATES": "4", "N": "2e5"})
    assert args[:2] == ["run", "calc-mean"]
    assert args[args.index("--replicates") + 1] == "4"
    assert args[args.index("--n") + 1] == "2e5"


def test_runner_mode_runs_the_slurm_runner_with_ntasks_minus_two_workers(tmp_path: Path) -> None:
    args, _ = _run(
        tmp_path, "array", "runner", {"SLURM_NTASKS": "5", "ROWS": "100", "SLURM_SUBMIT_DIR": "/s"}
    )
    assert args[:4] == [
        "slurm",
        "runner",
        "--scheduler-file",
        "/s/.daskburst-scheduler-{job_id}.json",
    ]
    rest = args[args.index("--") + 1 :]
    assert rest == [
        "run", "array", "--output", str(tmp_path / "out.json"), "--no-progress",
        "--rows", "100", "--backend", "address", "--workers", "3",
    ]  # fmt: skip
