"""calc-mean and calc-mean-sweep: replicates of (mean, sd) of normal draws."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

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


#: A task draws at least this many numbers: replicates of a small n share a task, since
#: a task costs the scheduler far more than a few draws (16,000 one-draw tasks took 24 s).
MIN_DRAWS_PER_TASK = 1_000_000
#: ...while a run keeps at least this many tasks (if it has as many replicates), so that
#: every worker of a cluster has some.
MIN_TASKS = 64


def batches(count: int, n: int) -> list[range]:
    """Split ``count`` replicates of ``n`` draws into the tasks that compute them, in order.

    Each replicate draws from its own stream (its key), so the results do not depend on
    how replicates are grouped: the digest is the same for any batching.
    """
    size = max(1, min(-(-MIN_DRAWS_PER_TASK // n), -(-count // MIN_TASKS)))
    return [range(i, min(i + size, count)) for i in range(0, count, size)]


def _estimate(replicates: int, n: int, chunk: int, parallel: int) -> Estimate:
    tasks = len(batches(replicates, n))  # the bag's two layers fuse into one task each
    return Estimate(
        tasks=tasks,
        memory=min(parallel, tasks) * 8 * min(chunk, n) + 200 * replicates,
        draws=replicates * n,
    )


def _calc_mean_batch(replicates: range, n: int, seed: int, chunk: int) -> list[list[float]]:
    return [list(calc_mean(i, n, seed=seed, chunk=chunk)) for i in replicates]


def _one_layer(parts: list[Any], func: Any, **kwargs: Any) -> Any:
    """A bag of one task per part: one graph layer, so building and culling stay linear.

    (A list of Delayed objects is one layer per task: 16,000 of them took 24 s to cull.)
    """
    import dask.bag as db

    return db.from_sequence(parts, npartitions=len(parts)).map(func, **kwargs)


def _build_calc_mean(params: dict[str, Any], seed: int) -> Plan:
    n, chunk = params["n"], params["stream_chunk"]
    parts = batches(params["replicates"], n)
    bag = _one_layer(parts, _calc_mean_batch, n=n, seed=seed, chunk=chunk)

    def finalize(values: Sequence[Any]) -> dict[str, Any]:
        reps = [v for part in values[0] for v in part]
        return with_digest({"replicates": [list(map(float, v)) for v in reps]})

    return Plan(collections=[bag], finalize=finalize)


def _check_sweep(params: dict[str, Any]) -> dict[str, Any]:
    means, sds = params["means"], params["sds"]
    if len(means) != len(sds):
        raise UserError(
            f"--means has {len(means)} values and --sds has {len(sds)}: expected the same count"
        )
    if any(s < 0 for s in sds):
        raise UserError(f"--sds {','.join(map(str, sds))}: expected non-negative numbers")
    return params


def _sweep_batch(
    flat: range, pairs: list[tuple[float, float]], m: int, n: int, seed: int, chunk: int
) -> list[list[float]]:
    # Replicate r of pair j is flat index j * m + r; its stream key is (j, r).
    return [
        list(calc_mean_vargs2(pairs[k // m], n, (k // m, k % m), seed=seed, chunk=chunk))
        for k in flat
    ]


def _build_sweep(params: dict[str, Any], seed: int) -> Plan:
    means, sds, chunk = params["means"], params["sds"], params["stream_chunk"]
    pairs = list(zip(means, sds, strict=True))
    m, n = params["replicates"], params["n"]
    # Every replicate of every pair has its own stream key (j, r): reproducible and
    # independent (the tutorial's call without a key draws fresh entropy instead).
    parts = batches(len(pairs) * m, n)
    bag = _one_layer(parts, _sweep_batch, pairs=pairs, m=m, n=n, seed=seed, chunk=chunk)

    def finalize(values: Sequence[Any]) -> dict[str, Any]:
        flat = [v for part in values[0] for v in part]
        groups = [
            {"mean": mu, "sd": sigma,
             "replicates": [list(map(float, v)) for v in flat[j * m : (j + 1) * m]]}
            for j, (mu, sigma) in enumerate(pairs)
        ]  # fmt: skip
        return with_digest({"params": groups})

    return Plan(collections=[bag], finalize=finalize)


CALC_MEAN = Workload(
    name="calc-mean",
    summary="P replicates of (mean, sd) of n standard-normal draws, one task each "
    "(replicates of a small n share one)",
    params=(
        Param("replicates", positive_int, "number of replicates P"),
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
