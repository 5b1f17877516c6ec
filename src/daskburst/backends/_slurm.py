"""SLURM backend: Dask workers as SLURM jobs, through ``dask_jobqueue.SLURMCluster``.

A thin adapter over :mod:`daskburst.slurm`, as ``backends/_kubernetes.py`` is over
:mod:`daskburst.k8s`: the worker jobs' settings, keyword arguments and job script are
built in ``slurm/_jobs.py`` (every setting from dask-jobqueue's ``jobqueue.slurm.*``
keys; only values given explicitly become keyword arguments, so
``DASK_JOBQUEUE__SLURM__*`` variables and ``~/.config/dask/jobqueue.yaml`` work
unchanged; worker ``--lifetime`` derived from the walltime); the pre-flight
``sbatch --test-only`` and the watchdog that fails a run whose worker jobs can never
start live in ``slurm/_control.py``. Here: open the cluster (:func:`open_slurm`) and
run a whole cluster inside one allocation (:func:`run_in_allocation`, ``SLURMRunner``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import dask.config

from daskburst import config
from daskburst.backends._session import BackendOptions, Session
from daskburst.errors import UserError, signals_unwind
from daskburst.slurm import (
    Watchdog,
    build_job,
    cancel,
    job_kwargs,
    jobqueue_setting,
    keep_ctrl_c,
    preflight,
    slurm_setting,
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
def open_slurm(opts: BackendOptions) -> Iterator[Session]:
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
    from dask_jobqueue import slurm

    config.apply_jobqueue_defaults()
    cluster_cls: Any = slurm.SLURMCluster  # py.typed without annotations
    keep_ctrl_c()

    kwargs = job_kwargs(opts)
    if slurm_setting("preflight"):
        preflight(str(build_job(kwargs).job_script()))
    scheduler_options = {"dashboard_address": ":0", **(jobqueue_setting("scheduler-options") or {})}
    timeout = float(config.get("worker-timeout"))
    # The scheduler runs here: it gets the cluster settings from dask config.
    # scancel of a driver job, or its walltime, sends SIGTERM: unwind, so that the worker
    # jobs it submitted are cancelled.
    with signals_unwind(), dask.config.set(config.cluster_settings()):
        cluster: Any = cluster_cls(scheduler_options=scheduler_options, **kwargs)
        with _closing(cluster, opts, timeout) as session:
            yield session


@contextlib.contextmanager
def _closing(cluster: Any, opts: BackendOptions, timeout: float) -> Iterator[Session]:
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
            workers = int(config.get("workers", override_with=opts.workers) or 1)
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


def run_in_allocation(command: Sequence[str], scheduler_file: str) -> int:
    """Run one daskburst command on a Dask cluster made of this SLURM job's tasks.

    Every task of the job (``srun``) calls this. ``dask_jobqueue.SLURMRunner``
    makes rank 0 the scheduler, rank 1 the client and the other ranks workers;
    the client runs ``daskburst COMMAND`` with ``DASK_SCHEDULER_ADDRESS`` set, so
    ``--backend address`` (or ``auto``) uses the cluster. When the command ends,
    the runner shuts the scheduler and workers down.

    Args:
        command: Arguments for ``daskburst`` (e.g. ``["run", "calc-mean", ...]``).
        scheduler_file: Path for the scheduler file on a filesystem all nodes
            share; ``{job_id}`` is replaced by the SLURM job id.

    Returns:
        The command's exit code on the client rank, 0 on the other ranks.

    Raises:
        UserError: Outside a SLURM job step, or with fewer than 3 tasks.
    """
    from dask_jobqueue import slurm

    runner_cls: Any = slurm.SLURMRunner  # py.typed without annotations

    if "SLURM_PROCID" not in os.environ:
        raise UserError("slurm runner: not inside a SLURM job step; expected `srun daskburst ...`")
    code = 0
    try:
        with (
            dask.config.set(config.cluster_settings()),
            runner_cls(
                scheduler_file=scheduler_file,
                scheduler_options={"dashboard_address": ":0"},
                worker_options={"nthreads": int(os.environ.get("SLURM_CPUS_PER_TASK", "1"))},
            ) as runner,
        ):
            env = dict(os.environ, DASK_SCHEDULER_ADDRESS=str(runner.scheduler_address))
            beside = Path(sys.executable).with_name("daskburst")
            exe = str(beside) if beside.exists() else shutil.which("daskburst") or "daskburst"
            try:
                code = subprocess.run([exe, *command], env=env, check=False).returncode
            finally:
                with contextlib.suppress(OSError):
                    os.unlink(runner.scheduler_file)
    except slurm.WorldTooSmallException as exc:
        raise UserError(f"slurm runner: {exc} (expected sbatch --ntasks >= 3)") from None
    return code
