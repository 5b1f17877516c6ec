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


def seed() -> int:
    """The run's master seed: ``daskburst run SCRIPT --seed S``, else ``daskburst.seed``.

    Read it once in your script and pass it to each task with the task's key; inside the
    task, :func:`stream` gives that task's own generator::

        seed = daskburst.seed()
        parts = [dask.delayed(simulate)(seed, i) for i in range(100)]

        def simulate(seed, i):
            rng = daskburst.stream(seed, (i,))   # the same numbers on every backend
    """
    from daskburst.usercode import seed as _seed

    return _seed()


def stream(seed: int, key: Any) -> Any:
    """The ``numpy.random.Generator`` of one task: independent of every other key's.

    ``stream(seed, (i,))`` is the i-th child of ``numpy.random.SeedSequence(seed)`` (PCG64),
    so results do not depend on which worker, process or machine runs the task, nor on how
    many there are. The built-in workloads draw from these streams too.

    Args:
        seed: The run's master seed (:func:`seed`).
        key: The task's position: an int, or a tuple of ints for nested loops.
    """
    from daskburst.rng import stream as _stream

    return _stream(seed, (key,) if isinstance(key, int) else tuple(key))


def run(workload: str, backend: str | None = None, **kwargs: Any) -> dict[str, Any]:
    """Run a workload and return its result dict (with ``digest``).

    See :func:`daskburst.execute.run`.
    """
    from daskburst.execute import run as _run

    return _run(workload, backend=backend, **kwargs)


def run_record(workload: str, backend: str | None = None, **kwargs: Any) -> dict[str, Any]:
    """Run a workload and return its whole run record, as ``daskburst run --output`` writes it.

    The result is under ``"result"``; beside it the parameters and seed used, the backend,
    the workers that ran, the seconds, when, where, what was asked for and the versions.
    See :func:`daskburst.execute.execute` for the keyword arguments.
    """
    from daskburst.execute import execute

    return execute(workload, backend=backend, **kwargs)


__all__ = [
    "__version__",
    "calc_mean",
    "calc_mean_vargs",
    "calc_mean_vargs2",
    "map_batched",
    "run",
    "run_record",
    "seed",
    "stream",
]
