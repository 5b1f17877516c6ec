"""SLURM, shaped like :mod:`daskburst.k8s`: specs (pure builders) -> generated files -> control.

- ``_scripts``: the sbatch scripts of ``jobs/slurm/`` (:func:`batch_script`, one spec
  table; written by ``scripts/slurm/render_scripts.py`` and checked for drift).
- ``_jobs``: the ``--backend slurm`` worker jobs: settings from ``jobqueue.slurm.*``,
  ``SLURMCluster`` keyword arguments, worker lifetime, the job script.
- ``_control``: ``sbatch --test-only``, ``squeue``, ``scancel`` and the watchdog.
- The backend adapter is :mod:`daskburst.backends._slurm`; the CLI is
  :mod:`daskburst.cli.slurm`.
"""

from daskburst.slurm._scripts import BATCH_SCRIPTS, BatchScript, EnvParam, batch_script

__all__ = ["BATCH_SCRIPTS", "BatchScript", "EnvParam", "batch_script"]
