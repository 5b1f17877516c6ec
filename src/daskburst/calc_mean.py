"""The tutorial's ``calc_mean`` helpers, with safe parallel random numbers.

Same signatures as the tutorial's ``calc_mean.py`` so its code runs unchanged
(``dask.delayed(calc_mean)(i, n)``, ``client.map(calc_mean_vargs, inputs)``,
``calc_mean_vargs2(param, n)``), but each task draws from its own
``SeedSequence`` stream instead of a seed of ``i``, and never holds ``n``
values in memory at once.
"""

from __future__ import annotations

from collections.abc import Sequence

from daskburst import config
from daskburst.rng import normal_moments, stream


def calc_mean(i: int, n: int, seed: int | None = None) -> list[float]:
    """Mean and sd of ``n`` standard-normal draws from task ``i``'s stream.

    Args:
        i: Replicate index; selects the stream ``SeedSequence(seed, spawn_key=(i,))``.
        n: Number of draws.
        seed: Master seed; defaults to ``daskburst.seed``.

    Returns:
        ``[mean, sd]`` (sd with ddof=0, like ``np.std``).
    """
    rng = stream(int(config.get("seed", override_with=seed)), (i,))
    mean, sd = normal_moments(rng, int(n))
    return [mean, sd]


def calc_mean_vargs(inputs: Sequence[int], seed: int | None = None) -> list[float]:
    """``calc_mean`` taking one ``(i, n)`` tuple, for ``client.map``.

    Args:
        inputs: ``(i, n)``.
        seed: Master seed; defaults to ``daskburst.seed``.

    Returns:
        ``[mean, sd]``.
    """
    i, n = inputs
    return calc_mean(i, n, seed=seed)


def calc_mean_vargs2(
    inputs: Sequence[float],
    nobs: int,
    key: Sequence[int] = (0,),
    seed: int | None = None,
) -> list[float]:
    """Mean and sd of ``nobs`` draws from Normal(mu, sigma).

    Args:
        inputs: ``(mu, sigma)``.
        nobs: Number of draws.
        key: The task's stream key; give each replicate its own, e.g. ``(pair, r)``.
        seed: Master seed; defaults to ``daskburst.seed``.

    Returns:
        ``[mean, sd]`` of ``mu + sigma * z``, the same numbers
        ``rng.normal(mu, sigma, nobs)`` gives from the same stream.
    """
    mu, sigma = float(inputs[0]), float(inputs[1])
    rng = stream(int(config.get("seed", override_with=seed)), key)
    mean, sd = normal_moments(rng, int(nobs))
    return [mu + sigma * mean, abs(sigma) * sd]
