"""Named sizes and presets of the workloads: the demo, ``jobs/`` and the bench, in one place.

Defaults live in ``daskburst.yaml``; a preset fixes the sizes of one use (they stay when a
default changes; what it leaves out comes from dask config), or names the defaults a
generated file spells out. Per workload (:data:`CATALOGUE`):

- ``demo``: the parameters ``daskburst demo`` runs it with (workloads without it are left out);
- ``job``: ``jobs/<workload>.yaml``, a DaskJob on its own adaptive cluster
  (``scripts/k8s/render_manifests.py``);
- ``batch``: ``jobs/slurm/<workload>.sbatch`` (:data:`daskburst.slurm.BATCH_SCRIPTS`,
  ``scripts/slurm/render_scripts.py``).

Then the long-lived ``dask-burst`` cluster's scale (:data:`BURST_WORKERS`) and the bench's
sizes: two sets (:data:`BENCH_QUICK`, :data:`BENCH_FULL`) and those of both modes. Changing
an entry of ``job`` or ``batch`` changes generated files: run ``make k8s-manifests
slurm-scripts`` (the drift checks fail until then).
This module imports nothing of the project, so every place may read it cheaply;
tests/unit/test_catalogue.py checks that it names only workloads and parameters that exist.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

#: A parameter's value as the command line takes it (``str()`` of it is the flag's argument).
Value = int | str


def _params(**values: Value) -> Mapping[str, Value]:
    """Workload parameters by name (``_`` in names as in the workload), read-only."""
    return MappingProxyType(values)


@dataclass(frozen=True)
class KubernetesJob:
    """A DaskJob of ``jobs/``: the runner's workload parameters and its cluster's scale.

    Attributes:
        params: Passed as flags, in this order.
        workers: The autoscaler's minimum (also the cluster's workers at start) and maximum.
        time_limit: Seconds the runner may run (``activeDeadlineSeconds``): a hung job gives
            its resources back. ``daskburst k8s submit --time-limit`` replaces it.
        spelled: Parameters whose packaged defaults (``daskburst.yaml``) the job file
            spells out after ``params``, so that a reader sees what it looks for.
    """

    params: Mapping[str, Value]
    workers: tuple[int, int]
    time_limit: int
    spelled: tuple[str, ...] = ()


@dataclass(frozen=True)
class BatchParam:
    """A workload parameter an sbatch script takes from an environment variable.

    The variable is the parameter's name in capitals (``REPLICATES``), the flag its
    ``--name``.

    Attributes:
        name: The workload parameter.
        note: Shown in the script's header; empty: the variable alone.
        default: Passed when the variable is unset; None: the flag is left out (dask config
            decides).
    """

    name: str
    note: str = ""
    default: str | None = None

    @property
    def var(self) -> str:
        """The environment variable: ``chunks`` -> ``CHUNKS``."""
        return env_var(self.name)

    @property
    def flag(self) -> str:
        """The ``daskburst run`` flag: ``stream_chunk`` -> ``--stream-chunk``."""
        return flag(self.name)


@dataclass(frozen=True)
class SlurmScript:
    """An sbatch script of ``jobs/slurm/``: its one-line summary and its parameters."""

    summary: str
    params: tuple[BatchParam, ...]


@dataclass(frozen=True)
class Preset:
    """Every named size and preset of one workload (None: it has none of that kind)."""

    workload: str
    demo: Mapping[str, Value] | None = None
    job: KubernetesJob | None = None
    batch: SlurmScript | None = None


#: A job's runner may run an hour.
_HOUR = 3600

#: Job sizes keep a small cluster busy long enough for its autoscaler (5 s period, 15 s
#: cooldown) to ask for more workers; ``--input synthetic`` generates the data inside the
#: tasks (``--sample LINES_OR_ROWS,FILES``), so no shared filesystem is needed.
CATALOGUE: tuple[Preset, ...] = (
    Preset(
        "calc-mean",
        demo=_params(replicates=8, n=20_000_000),
        job=KubernetesJob(_params(replicates=64, n=25_000_000), (1, 3), _HOUR),
        batch=SlurmScript(
            "the tutorial's calc_mean: P replicates of the mean and sd of N normal draws.",
            (BatchParam("replicates"), BatchParam("n")),
        ),
    ),
    Preset("calc-mean-sweep", demo=_params(replicates=5, n=5_000_000)),
    Preset(
        "array",
        demo=_params(rows=20_000, cols=20_000),
        job=KubernetesJob(_params(rows=30_000, cols=30_000, chunks="3000,3000"), (1, 3), _HOUR),
        batch=SlurmScript(
            "row means of a random R x C dask array.",
            (BatchParam("rows"), BatchParam("cols"), BatchParam("chunks", "auto, or R,C")),
        ),
    ),
    Preset(
        "bag",
        demo=_params(),
        job=KubernetesJob(
            _params(input="synthetic", sample="2000000,12"),
            (1, 3),
            _HOUR,
            spelled=("regex", "language"),
        ),
        batch=SlurmScript(
            "count Wikipedia page-count lines matching a title regex (dask.bag).",
            (
                BatchParam(
                    "input",
                    "synthetic: generated inside the tasks; or a glob on a shared filesystem",
                    default="synthetic",
                ),
                BatchParam("regex"),
                BatchParam("language"),
            ),
        ),
    ),
    Preset(
        "dataframe",
        demo=_params(),
        job=KubernetesJob(
            _params(input="synthetic", sample="2000000,12"),
            (1, 3),
            _HOUR,
            spelled=("carrier", "origin"),
        ),
        batch=SlurmScript(
            "airline departure delays of one carrier and origin (dask.dataframe).",
            (
                BatchParam(
                    "input", "synthetic, or a glob on a shared filesystem", default="synthetic"
                ),
                BatchParam("carrier"),
                BatchParam("origin"),
            ),
        ),
    ),
)

#: The long-lived adaptive ``dask-burst`` cluster (charts/dask-burst): its autoscaler's
#: minimum and maximum (overlays patch them).
BURST_WORKERS = (0, 3)


@dataclass(frozen=True)
class BenchSizes:
    """Problem sizes of one benchmark run (``daskburst bench``; ``--quick`` or full).

    Attributes:
        repeats: Timings of which the best counts (and rounds of the limit's median).
        limit_draws: Normals one measurement of the machine's RNG limit draws.
        kernel_n: Draws of the calc_mean kernel against the tutorial's.
        calc_replicates_per_core: calc-mean replicates per core (backends' efficiency).
        calc_n: calc-mean draws per replicate.
        overhead_tasks: Trivial tasks timed for the per-task overhead.
        map_items: Items of the batched map against one task per item.
        array_side: array rows and columns.
        airline_rows: dataframe: generated airline rows ...
        airline_files: ... in this many files.
        wiki_lines: bag: generated page-count lines ...
        wiki_files: ... in this many files.
    """

    repeats: int
    limit_draws: int
    kernel_n: int
    calc_replicates_per_core: int
    calc_n: int
    overhead_tasks: int
    map_items: int
    array_side: int
    airline_rows: int
    airline_files: int
    wiki_lines: int
    wiki_files: int


#: Sizes the bench uses in both modes (calc-mean's replicates are then one per core):
#: warm-ups before a timing, by workload ...
BENCH_WARM_UP: Mapping[str, Mapping[str, Value]] = MappingProxyType(
    {"calc-mean": _params(n=1000), "array": _params(rows=2000, cols=2000)}
)
#: ... calc-mean on SLURM worker jobs (``--adapt 0:2``) timed to its first result ...
BENCH_SLURM_FIRST = _params(replicates=4, n=1_000_000)
#: ... and the tiny calc-mean DaskJob (``jobs/calc-mean.yaml``'s workload parameters
#: replaced) timed from its creation until it succeeds.
BENCH_K8S_TINY = _params(replicates=2, n="1e5")

#: ``daskburst bench --quick``: under 10 minutes on 2 cores.
BENCH_QUICK = BenchSizes(
    repeats=3,
    limit_draws=50_000_000,
    kernel_n=50_000_000,
    calc_replicates_per_core=4,
    calc_n=50_000_000,  # the tutorial's replicates are n=1e7..1e8
    overhead_tasks=2_000,
    map_items=100_000,
    array_side=20_000,
    airline_rows=500_000,
    airline_files=4,
    # Files of the full run's size (1M lines, 46 MB): with 250k-line files a LocalCluster
    # compute's fixed cost (about 40 ms) was a third of the bag's time, and its figures
    # measured that instead of the scan (bag_parallel_efficiency 0.76 vs 0.86 at 1M).
    wiki_lines=8_000_000,
    wiki_files=8,
)
#: ``daskburst bench``.
BENCH_FULL = BenchSizes(
    repeats=5,
    limit_draws=200_000_000,
    kernel_n=100_000_000,
    calc_replicates_per_core=10,
    calc_n=100_000_000,
    overhead_tasks=20_000,
    map_items=100_000,
    array_side=40_000,
    airline_rows=10_000_000,
    airline_files=10,
    wiki_lines=20_000_000,
    wiki_files=20,
)


def env_var(name: str) -> str:
    """The environment variable of a batch parameter: ``chunks`` -> ``CHUNKS``."""
    return name.upper().replace("-", "_")


def flag(name: str) -> str:
    """The command-line flag of a workload parameter: ``stream_chunk`` -> ``--stream-chunk``."""
    return "--" + name.replace("_", "-")
