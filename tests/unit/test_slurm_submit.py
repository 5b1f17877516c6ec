"""`daskburst slurm submit SCRIPT`: the batch script (pure) and bad input (nothing written)."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from daskburst.slurm.submit import Submission, batch_script

DASKBURST = str(Path(sys.executable).with_name("daskburst"))


def sub(**kw: object) -> Submission:
    base = {"script": Path("/home/u/an alysis/main.py"), "args": ("a b", "it's", "--n", "5"),
            "workdir": Path("/home/u/an alysis"), "chdir": Path("/home/u/run"), "mode": "runner",
            "job_name": "j", "ntasks": 3, "max_workers": 2, "time": "10", "daskburst": "db"}  # fmt: skip
    return Submission(**{**base, **kw})  # type: ignore[arg-type]


def command_line(text: str) -> list[str]:
    """The daskburst command of a batch script, as bash would split it."""
    body = text.split("set -euo pipefail\n", 1)[1]
    last = body.replace("\\\n", " ").strip().splitlines()[-1]
    return shlex.split(last)


def test_runner_mode_runs_the_script_on_the_allocations_cluster() -> None:
    text = batch_script(sub(seed=7, ntasks=6, partition="short", mem="4G"))
    for line in ("#SBATCH --ntasks=6", "#SBATCH --partition=short", "#SBATCH --mem=4G",
                 "#SBATCH --chdir=/home/u/run", "#SBATCH --overcommit",
                 "export PYTHONPATH='/home/u/an alysis'${PYTHONPATH:+:$PYTHONPATH}"):  # fmt: skip
        assert line in text.splitlines(), line
    words = command_line(text)
    assert words[:4] == ["srun", "--kill-on-bad-exit=1", "$daskburst", "slurm"]
    run = words[words.index("--") + 1 :]
    assert run[:2] == ["run", "/home/u/an alysis/main.py"]
    assert ["--ship", "shared"] == run[run.index("--ship") : run.index("--ship") + 2]
    assert run[run.index("--seed") + 1] == "7" and "address" in run
    assert run[len(run) - 5 :] == ["--", "a b", "it's", "--n", "5"]  # the script's, intact


def test_adapt_mode_submits_worker_jobs_from_one_task() -> None:
    text = batch_script(sub(mode="adapt", max_workers=5, overcommit=True))
    assert "#SBATCH --ntasks=1" in text and "--overcommit" not in text
    words = command_line(text)
    assert words[0] == "$daskburst" and words[words.index("--adapt") + 1] == "0:5"
    assert words[words.index("--backend") + 1] == "slurm"


BAD = {
    "missing": (["nope.py"], "no such file"),
    "syntax": (["bad.py"], "bad.py:1: "),
    "mode": (["ok.py", "--mode", "array"], "--mode 'array': expected one of runner, adapt"),
    "ntasks": (["ok.py", "--ntasks", "2"], "--ntasks 2: runner mode needs at least 3"),
    "time": (["ok.py", "--time", "soon"], "--time 'soon': expected a SLURM time"),
    "function": (["json:dumps"], "expected a script file"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path: Path, case: str) -> None:
    (tmp_path / "bad.py").write_text("def (:\n")
    (tmp_path / "ok.py").write_text("print(1)\n")
    args, says = BAD[case]
    proc = subprocess.run([DASKBURST, "slurm", "submit", *args], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and says in proc.stderr, proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.py", "ok.py"]


def test_print_shows_the_script_and_submits_nothing(tmp_path: Path) -> None:
    (tmp_path / "ok.py").write_text("print(1)\n")
    proc = subprocess.run([DASKBURST, "slurm", "submit", "ok.py", "--print", "--", "x y"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          check=True)  # fmt: skip
    assert proc.stdout.startswith("#!/usr/bin/env bash\n")
    assert command_line(proc.stdout)[-2:] == ["--", "x y"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok.py"]
