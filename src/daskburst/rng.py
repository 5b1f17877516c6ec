"""Independent, reproducible random streams and a streaming moments kernel.

Every task draws from its own stream ``SeedSequence(seed, spawn_key=key)``.
That is exactly the child ``SeedSequence(seed).spawn(...)[i]`` would give for
``key=(i,)``, computed in O(1) instead of O(i), so streams never overlap and a
task's numbers do not depend on which worker, process or machine runs it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from daskburst import config


def stream(seed: int, key: Sequence[int]) -> np.random.Generator:
    """Return the PCG64 generator of one task.

    Args:
        seed: The master seed of the run.
        key: The task's position, e.g. ``(i,)`` for replicate i.

    Returns:
        A generator equal to ``Generator(PCG64(SeedSequence(seed).spawn(...)[i]))``
        for ``key=(i,)``.
    """
    seq = np.random.SeedSequence(int(seed), spawn_key=tuple(int(k) for k in key))
    return np.random.Generator(np.random.PCG64(seq))


def stream_chunk(given: int | None = None) -> int:
    """Return the draws per block: ``given`` if not None, else ``daskburst.stream-chunk``."""
    return config.get_int("stream-chunk", given, flag="chunk")


def normal_moments(
    rng: np.random.Generator, n: int, chunk: int | None = None
) -> tuple[float, float]:
    """Mean and population sd of ``n`` standard-normal draws, in bounded memory.

    Draws ``chunk`` values at a time into one reused buffer and merges the
    per-chunk (count, mean, M2) with Chan et al.'s parallel update, so the
    mean differs from ``np.mean`` of the same ``n`` draws by less than 1e-15 and
    the sd from ``np.std`` by less than 1e-14 relative, while memory stays at
    ``8 * chunk`` bytes whatever ``n`` is. The chunk size decides those last bits.
    A chunk that fits in the CPU cache makes the two reductions nearly free
    next to drawing the numbers.

    Args:
        rng: The task's generator; it is advanced by exactly ``n`` normals.
        n: Number of draws (>= 1).
        chunk: Draws per block; defaults to ``daskburst.stream-chunk``.

    Returns:
        ``(mean, sd)`` with ``sd`` the population standard deviation (ddof=0),
        as ``np.std`` computes it.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    size = stream_chunk(chunk)
    size = max(1, min(size, n))
    buf = np.empty(size, dtype=np.float64)
    count = 0
    mean = 0.0
    m2 = 0.0
    remaining = n
    while remaining:
        k = min(size, remaining)
        view = buf[:k]
        rng.standard_normal(out=view)
        # Two read-only passes over a cache-sized block: the sum and the sum of
        # squares. The draws are standard normal (mean ~0, var ~1), so
        # ss - k * mean^2 loses no precision. einsum, not np.dot: BLAS splits
        # the sum by its thread count (dask workers run BLAS single-threaded),
        # which would change the last bit between processes.
        block_sum = float(view.sum())
        block_ss = float(np.einsum("i,i->", view, view))
        block_mean = block_sum / k
        block_m2 = max(0.0, block_ss - block_sum * block_mean)
        total = count + k
        delta = block_mean - mean
        mean += delta * k / total
        m2 += block_m2 + delta * delta * count * k / total
        count = total
        remaining -= k
    return mean, math.sqrt(m2 / count)
