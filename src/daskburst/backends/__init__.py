"""Where work runs: one context manager per backend, none knows any workload.

``open_backend(name, options)`` yields a :class:`Session`; the runner computes
the workload's collections through it and the backend is always torn down on
exit, also on error or Ctrl-C.
"""

from __future__ import annotations

from daskburst.backends._base import BACKENDS, parse_adapt, resolve_backend_name
from daskburst.backends._registry import open_backend
from daskburst.backends._session import BackendOptions, Session

__all__ = [
    "BACKENDS",
    "BackendOptions",
    "Session",
    "open_backend",
    "parse_adapt",
    "resolve_backend_name",
]
