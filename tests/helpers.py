"""Helpers shared by the test suites."""

from __future__ import annotations

import ast
import os
import re
import shutil
from pathlib import Path

import pytest

#: Prefix that starts a command as a script's ``command &`` does: with SIGINT ignored (POSIX,
#: for a non-interactive shell's background jobs); the shell waits and exits with its status.
IN_THE_BACKGROUND = ["sh", "-c", '"$@" & wait "$!"', "sh"]


def in_ci() -> bool:
    """Return True when running under CI (``CI=true``)."""
    return os.environ.get("CI", "").lower() == "true"


def require(ok: bool, why: str) -> None:
    """Skip the test when a prerequisite is missing; in CI, fail instead.

    Args:
        ok: Whether the prerequisite is present.
        why: What is missing and how to get it (e.g. "run `make slurm-up`").
    """
    if ok:
        return
    if in_ci():
        pytest.fail(f"CI=true but prerequisite missing: {why}", pytrace=False)
    pytest.skip(why)


def kubectl() -> str:
    """Return the kubectl to use.

    ``DASKBURST_KUBECTL``, else the one `make cluster-build` built from the pinned Kubernetes
    module, else the first on PATH.
    """
    if os.environ.get("DASKBURST_KUBECTL"):
        return os.environ["DASKBURST_KUBECTL"]
    root = Path(__file__).resolve().parents[1]
    versions = root / "scripts" / "cluster" / "versions.env"
    match = re.search(r"^KUBERNETES_VERSION=(\S+)", versions.read_text(), re.M)
    built = root / "build" / "bin" / f"kubernetes-{match.group(1) if match else ''}" / "kubectl"
    if built.exists():
        return str(built)
    return shutil.which("kubectl") or "kubectl"


#: Every script of examples/ with small sizes, as its arguments after ``--``.
EXAMPLE_ARGS: dict[str, list[str]] = {
    "delayed_loop.py": ["--p", "4", "--n", "20000"],
    "futures_map.py": ["--p", "4", "--n", "20000"],
    "nested_sweep.py": ["--replicates", "3", "--n", "5000"],
    "row_means.py": ["--rows", "600", "--cols", "300", "--chunk-rows", "150"],
    "bag.py": ["--partitions", "4", "--lines", "2000"],
    "dataframe.py": ["--partitions", "4", "--rows", "5000"],
}
#: Examples that need a cluster backend (futures).
NEEDS_A_CLUSTER = frozenset({"futures_map.py"})


def reference_backend(example: str) -> list[str]:
    """Where an example's reference digest is computed: sync, or a local cluster for futures."""
    if example in NEEDS_A_CLUSTER:
        return ["--backend", "local", "--workers", "1"]
    return ["--backend", "sync"]


def runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node but those under ``if TYPE_CHECKING:`` (imports for annotations only)."""
    out, todo = [], [tree]
    while todo:
        node = todo.pop()
        out.append(node)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            todo.extend(node.orelse)
            continue
        todo.extend(ast.iter_child_nodes(node))
    return out
