"""examples/ on every backend of this machine: the same digest as on sync, through the CLI.

The SLURM and Kubernetes runs of the same examples are in tests/integration and tests/cluster.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from daskburst.cli import main
from tests.helpers import EXAMPLE_ARGS, NEEDS_A_CLUSTER, reference_backend

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
#: Small sizes, as script arguments; futures need a cluster.
ARGS = {k: v for k, v in EXAMPLE_ARGS.items() if k not in NEEDS_A_CLUSTER}
DISTRIBUTED_ONLY = {k: v for k, v in EXAMPLE_ARGS.items() if k in NEEDS_A_CLUSTER}


def run_example(capsys: pytest.CaptureFixture[str], script: str, *flags: str) -> str:
    """Run one example through the CLI in this process; return its digest."""
    args = {**ARGS, **DISTRIBUTED_ONLY}[script]
    code = main(["run", str(EXAMPLES / script), *flags, "--seed", "5", "--", *args])
    out, err = capsys.readouterr()
    assert code == 0, err
    found = re.findall(r"^digest: ([0-9a-f]{64})$", out, re.M)
    assert len(found) == 1, out
    return found[0]


@pytest.fixture(scope="module")
def reference() -> dict[str, str]:
    """Digests on the sync scheduler (futures: a local cluster of one worker), filled lazily."""
    return {}


@pytest.fixture(scope="module")
def scheduler_address() -> Iterator[str]:
    """A scheduler with two workers, for --backend address (as a user's own cluster)."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0") as cluster:
        yield cluster.scheduler_address


def _want(capsys: pytest.CaptureFixture[str], cache: dict[str, str], script: str) -> str:
    if script not in cache:
        cache[script] = run_example(capsys, script, *reference_backend(script))
    return cache[script]


@pytest.mark.parametrize("backend", ["threads", "processes", "local", "address"])
def test_examples_give_the_sync_digest(
    backend: str,
    capsys: pytest.CaptureFixture[str],
    reference: dict[str, str],
    request: pytest.FixtureRequest,
) -> None:
    flags = ["--backend", backend, "--workers", "2"]
    if backend == "address":
        flags = ["--address", request.getfixturevalue("scheduler_address")]
    scripts = list(ARGS) + (list(DISTRIBUTED_ONLY) if backend in ("local", "address") else [])
    for script in scripts:
        got = run_example(capsys, script, *flags)
        assert got == _want(capsys, reference, script), f"{script} on {backend}"


def test_the_seed_decides_the_numbers(capsys: pytest.CaptureFixture[str]) -> None:
    a = run_example(capsys, "delayed_loop.py", "--backend", "sync")
    code = main(["run", str(EXAMPLES / "delayed_loop.py"), "--backend", "sync", "--seed", "6",
                 "--", *ARGS["delayed_loop.py"]])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0 and a not in out
