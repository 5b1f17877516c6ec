"""``make user-image`` without a container engine, and the one-line hint for a missing module.

The podman builds are in tests/integration/test_user_image.py.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import daskburst

ROOT = Path(__file__).resolve().parents[2]
DASKBURST = str(Path(sys.executable).with_name("daskburst"))


def make_user_image(*variables: str) -> subprocess.CompletedProcess[str]:
    """Run the target with a container tool that must never be reached."""
    return subprocess.run(
        ["make", "user-image", "CONTAINER_TOOL=false", *variables],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_dockerfile_base_default_is_this_version() -> None:
    text = (ROOT / "images" / "user" / "Dockerfile").read_text()
    default = re.search(r"^ARG BASE=(\S+)$", text, re.M)
    assert default and default.group(1) == f"localhost/daskburst:{daskburst.__version__}"


def test_example_requirements_are_pinned() -> None:
    lines = [
        line.strip()
        for line in (ROOT / "images" / "user" / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert lines and all(re.fullmatch(r"[A-Za-z0-9._-]+==[0-9][0-9A-Za-z.]*", ln) for ln in lines)


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ((), "user-image: set USER_IMAGE=NAME:TAG"),
        (("USER_IMAGE=me/analysis",), "user-image: USER_IMAGE=me/analysis: expected NAME:TAG"),
        (("USER_IMAGE=host:5000/me/analysis:latest",), "expected an exact tag, not latest"),
        (
            ("USER_IMAGE=me/analysis:1", "USER_CODE=no/such/dir"),
            "user-image: USER_CODE=no/such/dir: no such directory",
        ),
        (
            ("USER_IMAGE=me/analysis:1", "USER_REQUIREMENTS=no-such.txt"),
            "user-image: USER_REQUIREMENTS=no-such.txt: no such file",
        ),
    ],
)
def test_bad_variables_fail_in_one_line(variables: tuple[str, ...], message: str) -> None:
    r = make_user_image(*variables)
    assert r.returncode != 0
    ours = [line for line in r.stderr.splitlines() if not line.startswith("make")]
    assert len(ours) == 1 and message in ours[0], r.stderr


def test_a_module_missing_where_the_task_runs_names_it_and_the_fix(tmp_path: Path) -> None:
    (tmp_path / "analysis.py").write_text(
        textwrap.dedent(
            """
            import dask

            def load(x):
                import daskburst_no_such_module  # on no worker
                return x

            print(dask.compute(dask.delayed(load)(1)))
            """
        )
    )
    r = subprocess.run(
        [DASKBURST, "run", "analysis.py", "--backend", "local", "--workers", "1"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert r.returncode == 1, r.stderr
    assert "Traceback (most recent call last):" in r.stderr
    assert 'analysis.py", line 8, in <module>' in r.stderr  # the script's compute line
    assert ", in load\n" in r.stderr  # the task's frame, run on the worker
    assert "ModuleNotFoundError: No module named 'daskburst_no_such_module'" in r.stderr
    hints = [
        line for line in r.stderr.splitlines() if "is not importable where the code ran" in line
    ]
    assert len(hints) == 1, r.stderr
    assert "'daskburst_no_such_module'" in hints[0]
    assert "make user-image" in hints[0] and "--image" in hints[0]
