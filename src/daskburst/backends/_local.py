"""Backends on this machine: dask's local schedulers, LocalCluster, an address."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator

from daskburst import config
from daskburst.backends._base import BackendOptions, Session, wait_for_workers
from daskburst.errors import BackendError, UserError


@contextlib.contextmanager
def open_scheduler(name: str, opts: BackendOptions) -> Iterator[Session]:
    """Use one of dask's single-machine schedulers (no cluster to start).

    For ``processes`` the session keeps one process pool for all its computes:
    dask would otherwise spawn (and import numpy in) fresh processes on every
    ``compute`` call.

    Args:
        name: ``sync``, ``threads`` or ``processes``.
        opts: ``workers`` sets ``num_workers`` (default: one per core).

    Yields:
        A session computing with ``scheduler=name``.
    """
    workers = config.get_optional_int("workers", opts.workers, flag="--workers")
    if name == "sync":
        workers = 1
    workers = workers or (os.cpu_count() or 1)
    pool = None
    if name == "processes":
        from concurrent.futures import ProcessPoolExecutor

        import dask.multiprocessing

        # dask's own choice of context (multiprocessing.context, "spawn" by default)
        context = dask.multiprocessing.get_context()
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=context)
    try:
        yield Session(
            backend=name,
            workers=workers,
            scheduler="synchronous" if name == "sync" else name,
            progress=opts.progress,
            pool=pool,
        )
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


@contextlib.contextmanager
def open_local_cluster(opts: BackendOptions) -> Iterator[Session]:
    """Start a ``distributed.LocalCluster`` (worker processes) and close it on exit.

    The cluster runs with ``daskburst.cluster-settings`` (see :func:`config.cluster_settings`).

    Args:
        opts: ``workers``, ``threads_per_worker`` and ``adapt``.

    Yields:
        A session with a client connected to the cluster.
    """
    import dask.config
    from distributed import Client, LocalCluster

    workers = config.get_optional_int("workers", opts.workers, flag="--workers")
    threads = config.get_optional_int(
        "threads-per-worker", opts.threads_per_worker, flag="--threads-per-worker"
    )
    timeout = config.get_seconds("worker-timeout")
    adapt = opts.adapt
    n_workers = 0 if adapt else workers
    if workers is None and threads is None and not adapt:
        # One single-threaded worker process per core: no GIL contention for
        # pure-Python tasks, and numpy kernels are single-threaded anyway.
        n_workers = os.cpu_count() or 1
        threads = 1
    # Set while the cluster lives, so workers that adapt() starts later get them too.
    with dask.config.set(config.cluster_settings()):
        cluster = LocalCluster(
            n_workers=n_workers,
            threads_per_worker=threads,
            processes=True,
            dashboard_address=":0",
            silence_logs=logging.ERROR,
        )
        try:
            if adapt:
                cluster.adapt(minimum=adapt[0], maximum=adapt[1])
            with Client(cluster) as client:
                if not adapt:
                    wait_for_workers(client, int(n_workers or 1), timeout, "local")
                yield Session(
                    backend="local",
                    workers=int(adapt[1] if adapt else len(cluster.workers)),
                    client=client,
                    cluster=cluster,
                    dashboard_link=cluster.dashboard_link,
                    progress=opts.progress,
                )
        finally:
            cluster.close()


@contextlib.contextmanager
def open_address(opts: BackendOptions) -> Iterator[Session]:
    """Connect to a running scheduler (``--address`` or ``DASK_SCHEDULER_ADDRESS``).

    Args:
        opts: ``address``; ``workers`` waits for that many workers first (default: none,
            so an autoscaler sees the queued tasks and adds workers).

    Yields:
        A session with a client connected to that scheduler.

    Raises:
        UserError: When no address is known.
        BackendError: When the scheduler cannot be reached.
    """
    from distributed import Client

    address = config.get("address", override_with=opts.address) or os.environ.get(
        "DASK_SCHEDULER_ADDRESS"
    )
    if not address:
        raise UserError(
            "backend 'address': no scheduler address; expected --address or DASK_SCHEDULER_ADDRESS"
        )
    timeout = config.get_seconds("worker-timeout")
    try:
        client = Client(address, timeout=f"{timeout}s")
    except (OSError, TimeoutError) as exc:
        raise BackendError(f"cannot reach scheduler at {address!r}: {exc}") from None
    with client:
        # Wait only when asked: a scheduler under an autoscaler (the Dask operator's
        # DaskAutoscaler, minimum 0) adds workers only once tasks are queued.
        wait_for_workers(client, int(opts.workers or 0), timeout, f"scheduler {address}")
        info = client.scheduler_info(n_workers=-1)
        yield Session(
            backend="address",
            workers=len(info.get("workers", {})),
            client=client,
            dashboard_link=client.dashboard_link,
            progress=opts.progress,
        )
