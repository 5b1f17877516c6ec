"""calc-mean and calc-mean-sweep: replicates of (mean, sd) of normal draws."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dask

from daskburst.calc_mean import calc_mean, calc_mean_vargs2
from daskburst.errors import UserError
from daskburst.workloads._base import (
    Estimate,
    Param,
    Plan,
    Workload,
    float_list,
    positive_int,
    with_digest,
)

#: Draws per block of the streaming kernel: it decides the last bits of each result,
#: so it is a parameter (recorded, passed to every task) and not read inside a task.
STREAM_CHUNK = Param(
    "stream_chunk",
    positive_int,
    "draws per block of the streaming kernel (memory per task: 8 bytes each)",
    key="stream-chunk",
)


def _estimate(replicates: int, n: int, chunk: int, parallel: int) -> Estimate:
    return Estimate(
        tasks=replicates,
        memory=min(parallel, replicates) * 8 * min(chunk, n) + 200 * replicates,
        draws=replicates * n,
    )


def _build_calc_mean(params: dict[str, Any], seed: int) -> Plan:
    n, chunk = params["n"], params["stream_chunk"]
    # pure=True: the key is a hash of (i, n, seed, chunk). Results are deterministic per
    # stream, so caching by key (as client.map does) is correct here.
    task = dask.delayed(calc_mean, pure=True)
    tasks = [task(i, n, seed=seed, chunk=chunk) for i in range(params["replicates"])]

    def finalize(values: Sequence[Any]) -> dict[str, Any]:
        return with_digest({"replicates": [list(map(float, v)) for v in values[0]]})

    return Plan(collections=[tasks], finalize=finalize)


def _check_sweep(params: dict[str, Any]) -> dict[str, Any]:
    means, sds = params["means"], params["sds"]
    if len(means) != len(sds):
        raise UserError(
            f"--means has {len(means)} values and --sds has {len(sds)}: expected the same count"
        )
    if any(s < 0 for s in sds):
        raise UserError(f"--sds {','.join(map(str, sds))}: expected non-negative numbers")
    return params


def _build_sweep(params: dict[str, Any], seed: int) -> Plan:
    means, sds, chunk = params["means"], params["sds"], params["stream_chunk"]
    task = dask.delayed(calc_mean_vargs2, pure=True)
    # Every replicate of every pair has its own stream key (j, r): reproducible and
    # independent (the tutorial's call without a key draws fresh entropy instead).
    out = [
        [
            task((mu, sigma), params["n"], (j, r), seed=seed, chunk=chunk)
            for r in range(params["replicates"])
        ]
        for j, (mu, sigma) in enumerate(zip(means, sds, strict=True))
    ]

    def finalize(values: Sequence[Any]) -> dict[str, Any]:
        groups = [
            {"mean": mu, "sd": sigma, "replicates": [list(map(float, v)) for v in reps]}
            for (mu, sigma), reps in zip(zip(means, sds, strict=True), values[0], strict=True)
        ]
        return with_digest({"params": groups})

    return Plan(collections=[out], finalize=finalize)


CALC_MEAN = Workload(
    name="calc-mean",
    summary="P replicates of (mean, sd) of n standard-normal draws, one task each",
    params=(
        Param("replicates", positive_int, "number of replicates P (tasks)"),
        Param("n", positive_int, "draws per replicate"),
        STREAM_CHUNK,
    ),
    build=_build_calc_mean,
    estimate=lambda p, parallel: _estimate(p["replicates"], p["n"], p["stream_chunk"], parallel),
    examples=("daskburst run calc-mean --replicates 10 --n 1e7 --backend processes",),
)

CALC_MEAN_SWEEP = Workload(
    name="calc-mean-sweep",
    summary="nested sweep: m replicates for each (mu, sigma) pair, all in one compute",
    params=(
        Param("means", float_list, "comma-separated means mu"),
        Param("sds", float_list, "comma-separated standard deviations sigma"),
        Param("replicates", positive_int, "replicates m per (mu, sigma) pair"),
        Param("n", positive_int, "draws per replicate"),
        STREAM_CHUNK,
    ),
    build=_build_sweep,
    derive=_check_sweep,
    estimate=lambda p, parallel: _estimate(
        len(p["means"]) * p["replicates"], p["n"], p["stream_chunk"], parallel
    ),
    examples=("daskburst run calc-mean-sweep --means 0,0,1,1 --sds 1,2,1,2 --replicates 20",),
)
