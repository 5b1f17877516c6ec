"""Find the lines of a user's code that pick their own scheduler (pure, from the syntax tree).

Such a line would silently keep the work off the backend the user chose with ``--backend``:
``dask.config.set(scheduler=...)``, ``compute(scheduler=...)``, a cluster made in the
script (``LocalCluster()``, ``SLURMCluster()``, ...), or a ``Client`` given an address or a
cluster. ``Client()`` with no arguments and ``get_client()`` are fine: they connect to the
backend's cluster.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

#: Cluster classes a script may construct itself.
_CLUSTERS = frozenset(
    {"LocalCluster", "SSHCluster", "SLURMCluster", "PBSCluster", "SGECluster", "LSFCluster",
     "HTCondorCluster", "OARCluster", "MoabCluster", "KubeCluster", "SpecCluster"}
)  # fmt: skip
#: Calls whose ``scheduler=`` keyword picks the scheduler of that one call.
_SCHEDULED = frozenset({"compute", "persist", "get", "visualize"})


@dataclass(frozen=True)
class Override:
    """One line that chooses its own scheduler."""

    file: str
    line: int
    what: str

    def warning(self, backend: str) -> str:
        """The one warning line shown for it."""
        return (
            f"{self.file}:{self.line}: {self.what} picks its own scheduler, so that work does "
            f"not run on the {backend} backend; delete the line (docs/your-code.md)"
        )

    def as_dict(self) -> dict[str, object]:
        """For the run record."""
        return {"file": self.file, "line": self.line, "what": self.what}


def _name(func: ast.expr) -> str:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        inner = _name(func.value)
        return f"{inner}.{func.attr}" if inner else func.attr
    return ""


def _has_scheduler_key(call: ast.Call) -> bool:
    if any(k.arg == "scheduler" for k in call.keywords):
        return True
    for arg in call.args:
        if isinstance(arg, ast.Dict) and any(
            isinstance(k, ast.Constant) and k.value in ("scheduler", "get") for k in arg.keys
        ):
            return True
    return False


def _override(call: ast.Call) -> str | None:
    name = _name(call.func)
    last = name.rsplit(".", 1)[-1]
    if name.endswith("config.set") and _has_scheduler_key(call):
        return "dask.config.set(scheduler=...)"
    if last in _SCHEDULED and any(k.arg == "scheduler" for k in call.keywords):
        return f"{last}(scheduler=...)"
    if last in _CLUSTERS:
        return f"{last}(...)"
    if last == "Client" and (call.args or any(k.arg == "address" for k in call.keywords)):
        return "Client(<address or cluster>)"
    return None


#: What a script needs a cluster backend for (local, address, slurm, kubernetes).
_NEEDS_A_CLUSTER = frozenset({"Client", "get_client"})


def needs_a_cluster(source: str | bytes, filename: str) -> list[Override]:
    """``Client()`` and ``get_client()``: futures need a cluster, sync/threads/processes have none.

    On those backends ``Client()`` would start a LocalCluster of its own (failing at once in
    a script without a ``__main__`` guard).
    """
    try:
        tree = ast.parse(source, filename)
    except (SyntaxError, ValueError):
        return []
    found = [
        Override(filename, node.lineno, f"{_name(node.func).rsplit('.', 1)[-1]}()")
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and _name(node.func).rsplit(".", 1)[-1] in _NEEDS_A_CLUSTER
        and _override(node) is None
    ]
    return sorted(found, key=lambda o: o.line)


def scan_source(source: str | bytes, filename: str) -> list[Override]:
    """Return the scheduler overrides in one file's source (none if it does not parse)."""
    try:
        tree = ast.parse(source, filename)
    except (SyntaxError, ValueError):
        return []
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            what = _override(node)
            if what:
                found.append(Override(filename, node.lineno, what))
    return sorted(found, key=lambda o: o.line)


def scan_file(path: Path, shown_as: str | None = None) -> list[Override]:
    """Return the scheduler overrides in a Python file."""
    return scan_source(path.read_bytes(), shown_as or str(path))
