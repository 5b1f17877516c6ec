"""``make user-image``: the project image plus images/user/ (code and one package), with podman.

One build per session under a unique tag; the script runs inside it on sync and local and
gives the digest it gives on the host with the package borrowed from the image. The image and
every container go when the module ends.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.harness.containers import container_tool, default_image, ensure_image, hardening
from tests.helpers import require

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = "/opt/daskburst/code/means_table.py"
LABEL = "daskburst.test.user-image"
DASKBURST = str(Path(sys.executable).with_name("daskburst"))

pytestmark = pytest.mark.containers


def make_user_image(tool: str, tag: str, *variables: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "user-image", f"USER_IMAGE={tag}", f"IMG={default_image()}",
         f"CONTAINER_TOOL={tool}", *variables],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip


def run_in(tool: str, image: str, *argv: str) -> subprocess.CompletedProcess[str]:
    """Run argv in a hardened, labelled, removed-on-exit container."""
    return subprocess.run(
        [tool, "run", "--rm", "--label", LABEL, *hardening(tool), image, *argv],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def digest(stdout: str) -> str:
    return [line for line in stdout.splitlines() if line.startswith("digest: ")][-1]


@pytest.fixture(scope="module")
def engine() -> str:
    tool = container_tool()
    require(tool is not None, "no working podman or docker: run `make podman-setup`")
    assert tool is not None
    problem = ensure_image(tool)
    require(problem is None, f"image {default_image()}: {problem}")
    return tool


@pytest.fixture(scope="module")
def user_image(engine: str) -> Iterator[str]:
    tag = f"localhost/daskburst-user-test:{secrets.token_hex(4)}"
    try:
        build = make_user_image(engine, tag)
        assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
        yield tag
    finally:
        subprocess.run([engine, "rmi", "-f", tag], capture_output=True, check=False)
        left = subprocess.run(
            [engine, "ps", "-a", "-q", "--filter", f"label={LABEL}"],
            capture_output=True, text=True, check=True,
        ).stdout.split()  # fmt: skip
        assert left == [], f"containers left behind: {left}"
        assert subprocess.run([engine, "image", "exists", tag], check=False).returncode == 1


def test_base_packages_unchanged_and_one_added(engine: str, user_image: str) -> None:
    freeze = ["python", "-m", "pip", "list", "--format=freeze", "--disable-pip-version-check"]
    base = set(run_in(engine, default_image(), *freeze).stdout.split())
    derived = set(run_in(engine, user_image, *freeze).stdout.split())
    assert any(p.startswith("numpy==") for p in base)
    assert base <= derived  # dask, distributed, numpy... at the base's versions
    assert derived - base == {"tabulate==0.10.0"}
    ids = run_in(engine, user_image, "id", "-u").stdout.strip()
    assert ids == "1000"


def test_script_runs_inside_on_sync_and_local_as_on_the_host(
    engine: str, user_image: str, tmp_path: Path
) -> None:
    sync = run_in(engine, user_image, "daskburst", "run", SCRIPT, "--backend", "sync")
    assert sync.returncode == 0, sync.stderr
    local = run_in(engine, user_image, "daskburst", "run", SCRIPT, "--backend", "local",
                   "--workers", "2", "--ship", "off")  # fmt: skip
    assert local.returncode == 0, local.stderr
    assert "on local (2 workers)" in local.stderr
    # The host lacks tabulate: borrow the image's copy for one run.
    where = run_in(engine, user_image, "python", "-c",
                   "import os, tabulate; print(os.path.dirname(tabulate.__file__))")  # fmt: skip
    box = f"daskburst-user-test-{secrets.token_hex(4)}"
    subprocess.run([engine, "create", "--name", box, "--label", LABEL, user_image],
                   capture_output=True, check=True)  # fmt: skip
    (tmp_path / "pkgs").mkdir()
    try:
        subprocess.run([engine, "cp", f"{box}:{where.stdout.strip()}",
                        str(tmp_path / "pkgs" / "tabulate")], capture_output=True, check=True)  # fmt: skip
    finally:
        subprocess.run([engine, "rm", "-f", box], capture_output=True, check=False)
    host = subprocess.run(
        [DASKBURST, "run", str(ROOT / "images" / "user" / "code" / "means_table.py"),
         "--backend", "sync"],
        capture_output=True, text=True, timeout=120, check=False,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tmp_path / "pkgs")},
    )  # fmt: skip
    assert host.returncode == 0, host.stderr
    assert digest(sync.stdout) == digest(local.stdout) == digest(host.stdout)


def test_a_failed_build_leaves_no_image(engine: str, user_image: str, tmp_path: Path) -> None:
    """numpy at another version than the base's: pip refuses, nothing is tagged."""
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("numpy==1.26.4\n")
    tag = f"localhost/daskburst-user-test:bad-{secrets.token_hex(4)}"
    build = make_user_image(engine, tag, f"USER_REQUIREMENTS={reqs}")
    assert build.returncode != 0
    assert "ResolutionImpossible" in build.stdout + build.stderr
    assert subprocess.run([engine, "image", "exists", tag], check=False).returncode == 1
