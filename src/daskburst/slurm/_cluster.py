"""Start Dask on SLURM: a ``SLURMCluster`` (workers as jobs), or a cluster in one allocation.

dask-jobqueue's ``SLURMCluster`` and ``SLURMRunner`` are made here and nowhere else; the
backend adapter (:mod:`daskburst.backends._slurm`) opens a client on the cluster.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import dask.config

from daskburst import config
from daskburst.errors import UserError


def start_cluster(kwargs: dict[str, Any], scheduler_options: dict[str, Any]) -> Any:
    """Start a ``SLURMCluster``: its scheduler here, no worker job yet.

    Args:
        kwargs: From :func:`~daskburst.slurm.job_kwargs`.
        scheduler_options: From :func:`~daskburst.slurm.scheduler_options`.

    Returns:
        The ``dask_jobqueue.SLURMCluster``.
    """
    from dask_jobqueue import slurm

    cluster_cls: Any = slurm.SLURMCluster  # py.typed without annotations
    return cluster_cls(scheduler_options=scheduler_options, **kwargs)


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
