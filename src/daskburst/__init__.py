"""daskburst: run the same parallel Dask workloads on a laptop, under SLURM, or on Kubernetes.

What is parallelized (``daskburst.workloads``) is separate from where it runs
(``daskburst.backends``)::

    import daskburst
    result = daskburst.run("array", backend="local", rows=4000, cols=4000)
    result["digest"]  # identical on every backend and worker count
"""

from __future__ import annotations

import contextlib
import importlib
from typing import Any

from daskburst._version import __version__

# Importing these loads daskburst's defaults into dask.config. A malformed config
# file (dask's or daskburst.yaml) makes that fail with a ValueError; it then
# surfaces where daskburst is used (the command line reports it in one line)
# instead of breaking `import daskburst` itself.
with contextlib.suppress(ValueError):
    from daskburst import config as _config  # noqa: F401
    from daskburst.batched import map_batched
    from daskburst.calc_mean import calc_mean, calc_mean_vargs, calc_mean_vargs2

_LAZY = {
    "calc_mean": "daskburst.calc_mean",
    "calc_mean_vargs": "daskburst.calc_mean",
    "calc_mean_vargs2": "daskburst.calc_mean",
    "map_batched": "daskburst.batched",
}


def __getattr__(name: str) -> Any:
    # Only reached when the imports above failed: repeat them to raise their error.
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'daskburst' has no attribute {name!r}")


def run(workload: str, backend: str | None = None, **kwargs: Any) -> dict[str, Any]:
    """Run a workload and return its result dict (with ``digest``).

    See :func:`daskburst.execute.run`.
    """
    from daskburst.execute import run as _run

    return _run(workload, backend=backend, **kwargs)


__all__ = [
    "__version__",
    "calc_mean",
    "calc_mean_vargs",
    "calc_mean_vargs2",
    "map_batched",
    "run",
]
