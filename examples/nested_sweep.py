"""Tutorial 6.1: nested parallelization, a sweep of (mu, sigma) pairs x replicates, one graph.

``daskburst run examples/nested_sweep.py --backend processes -- --replicates 4``
"""

import argparse

import dask
import numpy as np
from _report import report

import daskburst

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--replicates", type=int, default=4)
parser.add_argument("--n", type=int, default=50_000)
args = parser.parse_args()
seed = daskburst.seed()
PAIRS = [(0.0, 1.0), (1.0, 2.0), (-3.0, 0.5)]


@dask.delayed
def replicate(pair, i, mu, sigma, n, seed):
    """Mean of ``n`` normal(mu, sigma) draws of replicate ``i`` of pair ``pair``."""
    draws = daskburst.stream(seed, (pair, i)).normal(mu, sigma, n)  # a stream per (pair, i)
    return float(np.mean(draws))


@dask.delayed
def summarize(means):
    """Mean and sd of one pair's replicate means."""
    return {"mean": float(np.mean(means)), "sd": float(np.std(means))}


sweep = [
    summarize([replicate(p, i, mu, sigma, args.n, seed) for i in range(args.replicates)])
    for p, (mu, sigma) in enumerate(PAIRS)
]
(results,) = dask.compute(sweep)  # every pair and replicate in one call
report("sweep", results)
