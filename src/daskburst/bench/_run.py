"""Run the chosen sections and write bench.json, summary.md and the charts."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from daskburst import config
from daskburst.backends import open_backend
from daskburst.bench._charts import charts
from daskburst.bench._clusters import (
    _default_image,
    image_bench,
    k8s_available,
    k8s_bench,
    slurm_available,
    slurm_bench,
)
from daskburst.bench._measure import FULL, QUICK, Rounds, _log, machine, rng_limit
from daskburst.bench._report import summary_markdown, target_checks
from daskburst.bench._sections import (
    array_bench,
    bag_bench,
    batched_map_speedup,
    dataframe_bench,
    efficiency,
    kernel_speedup,
    task_overhead_us,
)

#: Every section, in the order they run (the one list of them; `daskburst bench --only`).
SECTIONS = ("kernel", "backends", "batched", "array", "dataframe", "bag", "slurm", "k8s", "image")


def _put_efficiency(res: dict[str, Any], backend: str, rounds: Rounds) -> None:
    """File one backend's calc-mean rounds under the three figures they give."""
    res.setdefault("efficiency", {})[backend] = rounds.ratio
    res.setdefault("rng_parallel_scaling", {})[backend] = rounds.probe
    res.setdefault("efficiency_vs_probe", {})[backend] = rounds.vs_probe


def run_bench(out: Path, quick: bool = True, only: set[str] | None = None) -> dict[str, Any]:
    """Run the benchmarks and write ``bench.json``, ``summary.md`` and PNG charts to ``out``.

    Args:
        out: Output directory (created).
        quick: Small sizes (under 10 minutes on 2 cores).
        only: Sections to run (kernel, backends, batched, array, dataframe, bag, slurm).

    Returns:
        The report dict also written to ``bench.json``.
    """
    from daskburst.data import write_bytes_atomic

    sizes = QUICK if quick else FULL
    sections = only or set(SECTIONS)
    out.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"machine": machine(), "mode": "quick" if quick else "full"}
    res: dict[str, Any] = {}
    report["results"] = res
    _log("measuring the RNG limit")
    limit = rng_limit(sizes)
    res["rng_limit_normals_per_s"] = limit
    if "kernel" in sections:
        _log("calc_mean kernel vs the tutorial's")
        res["calc_mean_kernel_speedup"] = kernel_speedup(sizes)
    if "backends" in sections:
        for name in ("threads", "processes", "local"):
            _log(f"backend {name}: efficiency and task overhead")
            with open_backend(name) as session:
                _put_efficiency(res, name, efficiency(session, sizes))
                res.setdefault("task_overhead_us", {})[name] = task_overhead_us(session, sizes)
    if "batched" in sections:
        _log("batched map vs one task per item (local cluster)")
        with open_backend("local") as session:
            res["batched_map_speedup"] = batched_map_speedup(session, sizes)
    if "array" in sections:
        _log(f"array {sizes.array_side}^2 row means")
        res.update(array_bench(sizes))
    with tempfile.TemporaryDirectory(prefix="daskburst-bench-") as tmp:
        if "dataframe" in sections:
            _log("dataframe paths")
            res.update(dataframe_bench(sizes, Path(tmp)))
        if "bag" in sections:
            _log("bag vs a plain loop")
            res.update(bag_bench(sizes, Path(tmp)))
    if "k8s" in sections:
        why = k8s_available()
        if why is None:
            namespace = str(config.get("kubernetes.namespace"))
            _log(f"Kubernetes: tiny job, pod start, scaling, efficiency (namespace {namespace})")
            k8s = k8s_bench(sizes, namespace)
            rounds = k8s.pop("k8s_efficiency")
            _put_efficiency(res, "kubernetes", rounds)
            res["k8s_efficiency"] = rounds.ratio
            res.setdefault("task_overhead_us", {})["kubernetes"] = k8s["k8s_task_overhead_us"]
            res.update(k8s)
        else:
            _log(f"Kubernetes: no cluster with the Dask operator reachable ({why}): skipping")
            res["k8s_skipped"] = why
    if "image" in sections:
        image = str(config.get("kubernetes.image") or _default_image())
        _log(f"image {image}: compressed size and largest layers")
        try:
            res.update(image_bench(image))
        except RuntimeError as exc:
            _log(str(exc))
            res["image_skipped"] = str(exc)
    if "slurm" in sections:
        if slurm_available():
            _log("SLURM: first result, scale-down, efficiency")
            slurm = slurm_bench(sizes)
            _put_efficiency(res, "slurm", slurm.pop("efficiency_slurm"))
            res.setdefault("task_overhead_us", {})["slurm"] = slurm.pop("task_overhead_us_slurm")
            res.update(slurm)
        else:
            _log("SLURM not running (make slurm-up): skipping the slurm figures")
    report["targets"] = target_checks(res)
    write_bytes_atomic(out / "bench.json", (json.dumps(report, indent=2) + "\n").encode())
    write_bytes_atomic(out / "summary.md", summary_markdown(report).encode())
    charts(report, out)
    return report
