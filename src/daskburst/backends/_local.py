"""Backends on this machine: dask's local schedulers, LocalCluster, an address.

A thin adapter over :mod:`daskburst.local`, which builds the arguments (``local/_specs.py``)
and starts the process pool or the ``LocalCluster`` (``local/_start.py``); here the options
become calls of it, and a Dask client is opened where there is a scheduler.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from daskburst import local
from daskburst.backends._reach import wait_reachable
from daskburst.backends._session import ResolvedOptions, Session, wait_for_workers
from daskburst.errors import BackendError


@contextlib.contextmanager
def open_scheduler(name: str, opts: ResolvedOptions) -> Iterator[Session]:
    """Use one of dask's single-machine schedulers (no cluster to start).

    For ``processes`` the session keeps one process pool for all its computes:
    dask would otherwise spawn (and import numpy in) fresh processes on every
    ``compute`` call. On an error or Ctrl-C the pool's processes are killed at
    once rather than left to finish their tasks.

    Args:
        name: ``sync``, ``threads`` or ``processes``.
        opts: ``workers`` sets ``num_workers`` (default: one per core).

    Yields:
        A session computing with ``scheduler=name``.
    """
    workers = local.scheduler_workers(name, opts)
    with contextlib.ExitStack() as stack:
        pool = stack.enter_context(local.process_pool(workers)) if name == "processes" else None
        yield Session(
            backend=name,
            workers=workers,
            scheduler=local.scheduler_of(name),
            progress=opts.progress,
            pool=pool,
        )


@contextlib.contextmanager
def open_local_cluster(opts: ResolvedOptions) -> Iterator[Session]:
    """Start a ``distributed.LocalCluster`` (worker processes) and close it on exit.

    The cluster runs with ``daskburst.cluster-settings`` (see :func:`config.cluster_settings`).

    Args:
        opts: ``workers``, ``threads_per_worker`` and ``adapt``.

    Yields:
        A session with a client connected to the cluster.
    """
    from distributed import Client

    kwargs = local.cluster_kwargs(opts)
    timeout = opts.worker_timeout
    adapt = opts.adapt
    with local.local_cluster(kwargs) as cluster:
        if adapt:
            cluster.adapt(minimum=adapt[0], maximum=adapt[1])
        with Client(cluster) as client:
            if not adapt:
                wait_for_workers(client, int(kwargs["n_workers"] or 1), timeout, "local")
            yield Session(
                backend="local",
                workers=int(adapt[1] if adapt else len(cluster.workers)),
                client=client,
                cluster=cluster,
                dashboard_link=cluster.dashboard_link,
                progress=opts.progress,
                worker_timeout=timeout,
            )


@contextlib.contextmanager
def open_address(opts: ResolvedOptions) -> Iterator[Session]:
    """Connect to a running scheduler (``--address`` or ``DASK_SCHEDULER_ADDRESS``).

    Args:
        opts: ``address``; ``workers`` waits for that many workers first (default: none,
            so an autoscaler sees the queued tasks and adds workers).

    Yields:
        A session with a client connected to that scheduler.

    Raises:
        UserError: When no address is known or it is malformed.
        BackendError: When the scheduler cannot be reached within
            ``daskburst.connect-timeout`` seconds.
    """
    from distributed import Client

    address, where = local.scheduler_address(opts.address)
    connect_timeout, worker_timeout = opts.connect_timeout, opts.worker_timeout
    wait_reachable(address, where, connect_timeout)
    try:
        client = Client(address, timeout=f"{connect_timeout}s")
    except (OSError, TimeoutError, MemoryError) as exc:
        raise BackendError(
            f"scheduler at {address!r} ({where}) accepts connections but does not answer "
            f"as a Dask scheduler: {exc}"
        ) from None
    with client:
        # Wait only when asked: a scheduler under an autoscaler (the Dask operator's
        # DaskAutoscaler, minimum 0) adds workers only once tasks are queued.
        wait_for_workers(client, int(opts.workers or 0), worker_timeout, f"scheduler {address}")
        info = client.scheduler_info(n_workers=0)
        yield Session(
            backend="address",
            workers=int(info.get("n_workers", 0)),
            client=client,
            dashboard_link=client.dashboard_link,
            progress=opts.progress,
            worker_timeout=worker_timeout,
        )
