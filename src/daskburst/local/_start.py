"""Start things on this machine: a warm process pool, a ``LocalCluster``; stop them again.

Ctrl-C in a terminal reaches every process of the foreground group; the parent process
handles it and stops its workers, which ignore it.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator
from multiprocessing import resource_tracker
from typing import Any

import dask.config

from daskburst import config


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


def terminate(pool: Any) -> None:
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
def process_pool(workers: int) -> Iterator[Any]:
    """Start a pool of ``workers`` processes now, for dask's ``processes`` scheduler.

    One pool for all of a session's computes: dask would otherwise spawn (and import numpy
    in) fresh processes on every ``compute`` call. On an error or Ctrl-C its processes are
    killed at once rather than left to finish their tasks.

    Args:
        workers: Processes.

    Yields:
        A ``concurrent.futures.ProcessPoolExecutor`` whose processes ignore Ctrl-C.
    """
    import dask.multiprocessing

    # dask's own choice of context (multiprocessing.context, "spawn" by default)
    context = dask.multiprocessing.get_context()
    pool = concurrent.futures.ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=ignore_sigint
    )
    with children_ignore_ctrl_c():
        # Start every worker process now, inside the block (Python >= 3.12 would
        # start them one by one as tasks come, outside it).
        warm = [pool.submit(_started) for _ in range(workers)]
    try:
        concurrent.futures.wait(warm)
    except BaseException:
        terminate(pool)
        raise
    try:
        yield pool
    except BaseException:
        terminate(pool)
        raise
    pool.shutdown(wait=True, cancel_futures=True)


# Seconds a cluster start may go on after Ctrl-C, so that what it started can be closed.
START_GRACE = 10.0


def _started_without_ctrl_c(start: Callable[[], Any], grace: float) -> Any:
    """Return ``start()``, called in a thread that blocks SIGINT, so its threads do too.

    A ``LocalCluster`` starts its workers from its event-loop thread, which it creates,
    and the processes started there inherit the thread's signal mask: with SIGINT
    blocked, a Ctrl-C that the terminal sends to the whole process group never reaches
    a worker, not even while it still imports Python. This (main) thread keeps Ctrl-C:
    it raises ``KeyboardInterrupt`` here at once; the start is then given ``grace``
    seconds to finish, and whatever it built is closed before the interrupt goes on.
    """
    started: concurrent.futures.Future[Any] = concurrent.futures.Future()

    def run() -> None:
        # multiprocessing starts its resource tracker with SIGINT blocked, then unblocks
        # it in the calling thread: start it first, so it cannot undo the mask.
        resource_tracker.ensure_running()
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            started.set_result(start())
        except BaseException as exc:  # noqa: BLE001 - handed to the calling thread
            started.set_exception(exc)

    threading.Thread(target=run, name="daskburst-start", daemon=True).start()
    try:
        # A Future, not Thread.join(): on Python 3.11 a join that Ctrl-C interrupts marks
        # the thread as finished while it still runs.
        concurrent.futures.wait([started])
    except BaseException:
        concurrent.futures.wait([started], timeout=grace)
        if started.done() and started.exception() is None:
            with contextlib.suppress(Exception):
                started.result().close()
        raise
    return started.result()


@contextlib.contextmanager
def local_cluster(kwargs: dict[str, Any]) -> Iterator[Any]:
    """Start a ``distributed.LocalCluster`` and close it on exit.

    It runs with ``daskburst.cluster-settings`` (see :func:`config.cluster_settings`), set
    while the cluster lives, so workers that adapt() starts later get them too. Its
    worker processes never see Ctrl-C (see :func:`_started_without_ctrl_c`); this
    process handles it and closes the cluster.

    Args:
        kwargs: From :func:`~daskburst.local.cluster_kwargs`.

    Yields:
        The cluster.
    """
    from distributed import LocalCluster

    with dask.config.set(config.cluster_settings()):
        cluster = _started_without_ctrl_c(lambda: LocalCluster(**kwargs), grace=START_GRACE)
        try:
            yield cluster
        finally:
            cluster.close()
