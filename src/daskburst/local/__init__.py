"""Run daskburst on this machine, shaped like :mod:`daskburst.k8s` and :mod:`daskburst.slurm`.

- ``_specs``: pure builders: dask's scheduler name and pool size, the ``LocalCluster``
  keyword arguments, a scheduler address validated (nothing starts);
- ``_start``: what starts things: a warm process pool, a ``LocalCluster``, and keeping
  Ctrl-C from the worker processes;
- ``_preload``: the preload of every LocalCluster worker (named by :data:`PRELOAD`).

The backend adapter is :mod:`daskburst.backends._local` (it imports from here, and this
package imports no backend).
"""

from daskburst.local._specs import (
    PRELOAD,
    cluster_kwargs,
    configured_address,
    scheduler_address,
    scheduler_of,
    scheduler_workers,
)
from daskburst.local._start import (
    children_ignore_ctrl_c,
    ignore_sigint,
    local_cluster,
    process_pool,
    terminate,
)

__all__ = [
    "PRELOAD",
    "children_ignore_ctrl_c",
    "cluster_kwargs",
    "configured_address",
    "ignore_sigint",
    "local_cluster",
    "process_pool",
    "scheduler_address",
    "scheduler_of",
    "scheduler_workers",
    "terminate",
]
