"""daskburst: run the same parallel Dask workloads on a laptop, under SLURM, or on Kubernetes.

What is parallelized (``daskburst.workloads``) is separate from where it runs
(``daskburst.backends``)::

    import daskburst
    result = daskburst.run("array", backend="local", rows=4000, cols=4000)
    result["digest"]  # identical on every backend and worker count
"""

from __future__ import annotations

from typing import Any

from daskburst import config as _config  # noqa: F401  (loads the defaults into dask.config)
from daskburst._version import __version__
from daskburst.batched import map_batched
from daskburst.calc_mean import calc_mean, calc_mean_vargs, calc_mean_vargs2


def run(workload: str, backend: str | None = None, **kwargs: Any) -> dict[str, Any]:
    """Run a workload and return its result dict (with ``digest``).

    See :func:`daskburst.runner.run`.
    """
    from daskburst.runner import run as _run

    return _run(workload, backend=backend, **kwargs)


__all__ = [
    "__version__",
    "calc_mean",
    "calc_mean_vargs",
    "calc_mean_vargs2",
    "map_batched",
    "run",
]
