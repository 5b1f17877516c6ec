"""The tutorial's calc_mean, with a safe random stream per replicate.

The tutorial seeds each replicate with ``np.random.seed(i)``, which gives overlapping
streams and depends on numpy's legacy generator. Here replicate ``i`` draws from
``daskburst.stream(seed, i)``: independent streams, and the same numbers on every backend,
worker and machine.
"""

from __future__ import annotations

import numpy as np

import daskburst


def calc_mean(i: int, n: int, seed: int) -> tuple[float, float]:
    """Mean and standard deviation of ``n`` normal draws of replicate ``i``."""
    data = daskburst.stream(seed, i).normal(size=n)
    return float(np.mean(data)), float(np.std(data))


def calc_mean_vargs(inputs: tuple[int, int, int]) -> tuple[float, float]:
    """``calc_mean`` taking one argument, for ``client.map``."""
    i, n, seed = inputs
    return calc_mean(i, n, seed)
