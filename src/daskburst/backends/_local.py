"""Backends on this machine: dask's local schedulers, LocalCluster, an address."""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import os
import signal
import threading
from collections.abc import Iterator
from typing import Any

from daskburst import config
from daskburst.backends._reach import wait_reachable
from daskburst.backends._session import BackendOptions, Session, wait_for_workers
from daskburst.errors import BackendError, UserError

#: Imported by every worker process of a LocalCluster daskburst starts (see _preload.py).
_PRELOAD = "daskburst.backends._preload"


def ignore_sigint() -> None:
    """Make this worker process ignore Ctrl-C: the parent stops it, without a traceback.

    Ctrl-C in a terminal reaches every process of the foreground group; the parent
    process handles it and shuts its workers down.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextlib.contextmanager
def children_ignore_ctrl_c() -> Iterator[None]:
    """Ignore SIGINT while worker processes are started in this (short) block.

    An ignored signal stays ignored across ``exec``, so the processes started here
    never see the Ctrl-C that a terminal sends to the whole process group, not even
    while they are still importing, before any code of theirs could ignore it. The
    parent handles Ctrl-C and stops them. Starting a process takes milliseconds, so
    keep only the starts in the block: a Ctrl-C during it is lost.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _started() -> int:
    return os.getpid()


def _terminate(pool: Any) -> None:
    """Stop a ``ProcessPoolExecutor`` now: kill its processes instead of waiting for tasks."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for process in processes:
        with contextlib.suppress(Exception):
            process.terminate()
    pool.shutdown(wait=True, cancel_futures=True)
    for process in processes:
        process.join(5)
        if process.is_alive():
            process.kill()
            process.join(5)


@contextlib.contextmanager
def open_scheduler(name: str, opts: BackendOptions) -> Iterator[Session]:
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
        pool = ProcessPoolExecutor(
            max_workers=workers, mp_context=context, initializer=ignore_sigint
        )
        with children_ignore_ctrl_c():
            # Start every worker process now, inside the block (Python >= 3.12 would
            # start them one by one as tasks come, outside it).
            warm = [pool.submit(_started) for _ in range(workers)]
        try:
            concurrent.futures.wait(warm)
        except BaseException:
            _terminate(pool)
            raise
    try:
        yield Session(
            backend=name,
            workers=workers,
            scheduler="synchronous" if name == "sync" else name,
            progress=opts.progress,
            pool=pool,
        )
    except BaseException:
        if pool is not None:
            _terminate(pool)
            pool = None
        raise
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
    preload = [*(dask.config.get("distributed.worker.preload", None) or []), _PRELOAD]
    # Set while the cluster lives, so workers that adapt() starts later get them too.
    with dask.config.set(config.cluster_settings()):
        # Workers start from the cluster's own threads, during seconds: too long to
        # ignore Ctrl-C in this process. The preload makes each worker ignore it
        # once started; the parent shuts the cluster down.
        cluster = LocalCluster(
            n_workers=n_workers,
            threads_per_worker=threads,
            processes=True,
            dashboard_address=":0",
            silence_logs=logging.ERROR,
            preload=preload,
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
                    worker_timeout=timeout,
                )
        finally:
            cluster.close()


def scheduler_address(given: str | None) -> tuple[str, str]:
    """Return the scheduler address and where it came from, validated.

    Args:
        given: ``--address`` (None: ``daskburst.address``, then ``DASK_SCHEDULER_ADDRESS``).

    Returns:
        ``(address, source)``, e.g. ``("tcp://10.0.0.5:8786", "DASK_SCHEDULER_ADDRESS")``.

    Raises:
        UserError: When no address is known or it is not a scheduler address.
    """
    from distributed.comm import get_address_host_port
    from distributed.comm.addressing import parse_address
    from distributed.comm.registry import get_backend

    address = config.get_optional_text("address", given, flag="--address")
    where = config.label("address", "--address", given)
    if address is None:
        address = os.environ.get("DASK_SCHEDULER_ADDRESS") or None
        where = "DASK_SCHEDULER_ADDRESS"
    if address is None:
        raise UserError(
            "backend 'address': no scheduler address; expected --address or DASK_SCHEDULER_ADDRESS"
        )
    expected = "expected a scheduler address such as tcp://HOST:8786"
    try:
        scheme, _ = parse_address(address)
        get_backend(scheme)
        if scheme in ("tcp", "tls", "ws", "wss"):
            get_address_host_port(address)
    except ValueError as exc:
        raise UserError(f"{where} {address!r}: {expected} ({exc})") from None
    return address, where


@contextlib.contextmanager
def open_address(opts: BackendOptions) -> Iterator[Session]:
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

    address, where = scheduler_address(opts.address)
    connect_timeout = config.get_seconds("connect-timeout")
    worker_timeout = config.get_seconds("worker-timeout")
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
