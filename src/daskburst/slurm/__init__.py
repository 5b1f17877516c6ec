"""SLURM, shaped like :mod:`daskburst.k8s`: specs (pure builders) -> generated files -> control.

- ``_scripts``: the sbatch scripts of ``jobs/slurm/`` (:func:`batch_script` over the entries
  of :mod:`daskburst.catalogue`; written by ``scripts/slurm/render_scripts.py`` and checked
  for drift).
- ``_jobs``: the ``--backend slurm`` worker jobs: settings from ``jobqueue.slurm.*``,
  ``SLURMCluster`` keyword arguments, worker lifetime, the job script.
- ``_control``: ``sbatch --test-only``, ``squeue``, ``scancel``, ``sinfo`` and the watchdog.
- ``_cluster``: what starts Dask on SLURM: the ``SLURMCluster`` of ``--backend slurm``
  (:func:`start_cluster`) and a whole cluster in one allocation (:func:`run_in_allocation`,
  ``SLURMRunner``).
- :mod:`daskburst.slurm.submit`: ``daskburst slurm submit`` (a script or workload as a
  batch job).
- The backend adapter is :mod:`daskburst.backends._slurm` (it imports from here, and this
  package imports no backend); the CLI is :mod:`daskburst.cli.slurm`.

Importing it does not import dask-jobqueue (slow, and it replaces the SIGINT handler).
"""

from daskburst.slurm._cluster import run_in_allocation, start_cluster
from daskburst.slurm._control import (
    Watchdog,
    cancel,
    controller_answers,
    job_header,
    preflight,
    queued_jobs,
    squeue,
)
from daskburst.slurm._jobs import (
    JOB_KEYS,
    OWN_KEYS,
    build_job,
    job_kwargs,
    job_script,
    jobqueue_setting,
    keep_ctrl_c,
    lifetime_args,
    scheduler_options,
    settings_exports,
    slurm_setting,
)
from daskburst.slurm._scripts import BATCH_SCRIPTS, BatchScript, batch_script

__all__ = [
    "BATCH_SCRIPTS",
    "JOB_KEYS",
    "OWN_KEYS",
    "BatchScript",
    "Watchdog",
    "batch_script",
    "build_job",
    "cancel",
    "controller_answers",
    "job_header",
    "job_kwargs",
    "job_script",
    "jobqueue_setting",
    "keep_ctrl_c",
    "lifetime_args",
    "preflight",
    "queued_jobs",
    "run_in_allocation",
    "scheduler_options",
    "settings_exports",
    "slurm_setting",
    "squeue",
    "start_cluster",
]
