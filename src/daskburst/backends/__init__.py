"""Where work runs: one context manager per backend, none knows any workload.

``open_backend(name, options)`` yields a :class:`Session`; the runner computes
the workload's collections through it and the backend is always torn down on
exit, also on error or Ctrl-C.
"""

from __future__ import annotations

from collections.abc import Sequence

from daskburst.backends._base import (
    BACKENDS,
    check_options,
    configured_backend,
    parse_adapt,
    resolve_adapt,
    resolve_backend_name,
)
from daskburst.backends._progress import elapsed_text, mode_of
from daskburst.backends._registry import open_backend
from daskburst.backends._session import (
    BackendOptions,
    ResolvedOptions,
    Session,
    note,
    resolve_options,
)

__all__ = [
    "BACKENDS",
    "BackendOptions",
    "ResolvedOptions",
    "Session",
    "check_options",
    "configured_backend",
    "elapsed_text",
    "mode_of",
    "note",
    "open_backend",
    "parse_adapt",
    "resolve_adapt",
    "resolve_backend_name",
    "resolve_options",
    "run_in_allocation",
]


def run_in_allocation(command: Sequence[str], scheduler_file: str) -> int:
    """Run ``command`` as the client of a Dask cluster spread over this SLURM allocation.

    See :func:`daskburst.slurm.run_in_allocation` (imported on use: SLURM's package is
    needed only there).
    """
    from daskburst.slurm import run_in_allocation as run

    return run(command, scheduler_file)
