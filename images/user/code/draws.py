"""The numbers behind means_table.py: one replicate's mean and standard deviation.

In the image this module is in /opt/daskburst/code, on PYTHONPATH, so workers import it
without anything travelling with the script.
"""

from __future__ import annotations

import numpy as np

import daskburst


def replicate(i: int, n: int, seed: int) -> tuple[float, float]:
    """Mean and standard deviation of ``n`` normal draws from replicate ``i``'s stream."""
    data = daskburst.stream(seed, i).normal(size=n)
    return float(np.mean(data)), float(np.std(data))
