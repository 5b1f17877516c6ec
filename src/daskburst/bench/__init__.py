"""Benchmarks: every workload against the machine's limit and the tutorial's way.

- :mod:`~daskburst.bench._measure`: best-of timing, the machine's RNG limit, and the problem
  sizes (:data:`QUICK`, :data:`FULL`: the job catalogue's, :mod:`daskburst.catalogue`)
- :mod:`~daskburst.bench._sections`: the sections measured on this machine
- :mod:`~daskburst.bench._clusters`: the slurm, k8s and image sections
- :mod:`~daskburst.bench._report`: targets and the markdown summary
- :mod:`~daskburst.bench._charts`: the PNG charts
- :mod:`~daskburst.bench._run`: :data:`SECTIONS` (the one list of them) and :func:`run_bench`
"""

from daskburst.bench._charts import charts
from daskburst.bench._clusters import image_bench, k8s_bench, slurm_bench
from daskburst.bench._measure import FULL, QUICK, Sizes, against_limit, best_of, machine
from daskburst.bench._report import MAX_TARGETS, TARGETS, summary_markdown, target_checks
from daskburst.bench._run import SECTIONS, run_bench
from daskburst.bench._sections import (
    array_bench,
    bag_bench,
    batched_map_speedup,
    dataframe_bench,
    efficiency,
    kernel_speedup,
    task_overhead_us,
)

__all__ = [
    "FULL",
    "MAX_TARGETS",
    "QUICK",
    "SECTIONS",
    "TARGETS",
    "Sizes",
    "against_limit",
    "array_bench",
    "bag_bench",
    "batched_map_speedup",
    "best_of",
    "charts",
    "dataframe_bench",
    "efficiency",
    "image_bench",
    "k8s_bench",
    "kernel_speedup",
    "machine",
    "run_bench",
    "slurm_bench",
    "summary_markdown",
    "target_checks",
    "task_overhead_us",
]
