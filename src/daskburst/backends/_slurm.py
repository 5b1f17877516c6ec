"""SLURM backend: Dask workers as SLURM jobs, through ``dask_jobqueue.SLURMCluster``.

A thin adapter over :mod:`daskburst.slurm`, as ``backends/_kubernetes.py`` is over
:mod:`daskburst.k8s`: the worker jobs' settings, keyword arguments and job script are
built in ``slurm/_jobs.py`` (every setting from dask-jobqueue's ``jobqueue.slurm.*``
keys; only values given explicitly become keyword arguments, so
``DASK_JOBQUEUE__SLURM__*`` variables and ``~/.config/dask/jobqueue.yaml`` work
unchanged; worker ``--lifetime`` derived from the walltime); the pre-flight
``sbatch --test-only`` and the watchdog that fails a run whose worker jobs can never
start live in ``slurm/_control.py``; the ``SLURMCluster`` is started in
``slurm/_cluster.py`` (as is a whole cluster inside one allocation,
:func:`daskburst.slurm.run_in_allocation`). Here: open a client on it (:func:`open_slurm`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import dask.config

from daskburst import config
from daskburst.backends._session import ResolvedOptions, Session
from daskburst.errors import signals_unwind
from daskburst.slurm import (
    Watchdog,
    build_job,
    cancel,
    job_kwargs,
    keep_ctrl_c,
    preflight,
    scheduler_options,
    slurm_setting,
    start_cluster,
)

logger = logging.getLogger(__name__)


def _wait_for_workers(client: Any, n: int, dog: Watchdog) -> None:
    while True:
        dog.raise_if_failed()
        try:
            client.wait_for_workers(n, timeout=dog.interval)
            return
        except TimeoutError:
            continue


@contextlib.contextmanager
def open_slurm(opts: ResolvedOptions) -> Iterator[Session]:
    """Start a ``SLURMCluster`` (scheduler here, workers as SLURM jobs); cancel all on exit.

    Args:
        opts: ``workers`` scales to that many workers (default 1);
            ``adapt=(MIN, MAX)`` adapts instead (``(0, N)`` starts with no job and
            returns to none when idle); ``extra`` overrides ``jobqueue.slurm.*``
            values (keys: :data:`JOB_KEYS`, plus ``lifetime``/``lifetime_stagger``).

    Yields:
        A session with a client connected to the cluster's scheduler.

    Raises:
        UserError: When SLURM rejects the worker job or the configuration is incomplete.
        BackendError: When SLURM is missing, a worker job can never start, or no
            worker connects within ``daskburst.worker-timeout`` seconds.
    """
    # Importing dask-jobqueue replaces the SIGINT handler: undo that first.
    config.apply_jobqueue_defaults()
    keep_ctrl_c()

    kwargs = job_kwargs(opts)
    if slurm_setting("preflight"):
        preflight(str(build_job(kwargs).job_script()))
    options = scheduler_options()
    timeout = opts.worker_timeout
    # The scheduler runs here: it gets the cluster settings from dask config.
    # scancel of a driver job, or its walltime, sends SIGTERM: unwind, so that the worker
    # jobs it submitted are cancelled.
    with signals_unwind(), dask.config.set(config.cluster_settings()):
        cluster = start_cluster(kwargs, options)
        with _closing(cluster, opts, timeout) as session:
            yield session


@contextlib.contextmanager
def _closing(cluster: Any, opts: ResolvedOptions, timeout: float) -> Iterator[Session]:
    from distributed import Client

    adapt = opts.adapt
    dog: Watchdog | None = None
    client: Any = None
    try:
        client = Client(cluster)
        dog = Watchdog(cluster, client, timeout)
        dog.start()
        if adapt:
            cluster.adapt(minimum=adapt[0], maximum=adapt[1])
            workers = adapt[1]
        else:
            workers = opts.workers or 1
            cluster.scale(workers)
            try:
                _wait_for_workers(client, workers, dog)
            except Exception:
                dog.raise_if_failed()
                raise
        try:
            yield Session(
                backend="slurm",
                workers=workers,
                client=client,
                cluster=cluster,
                dashboard_link=cluster.dashboard_link,
                progress=opts.progress,
            )
        except Exception:
            dog.raise_if_failed()
            raise
    finally:
        if dog is not None:
            dog.stop()
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()
        with contextlib.suppress(Exception):
            cluster.close()
        if dog is not None and dog.seen:
            # cluster.close() scancels its jobs; make sure, also after failures.
            with contextlib.suppress(Exception):
                cancel(sorted(dog.seen))
