"""Tutorial 4.3: row means of a random matrix that is never in memory whole (dask.array).

``daskburst run examples/row_means.py --backend threads -- --rows 4000 --cols 4000``
"""

import argparse

import dask.array as da
from _report import report

import daskburst

# tutorial: dask.config.set(scheduler='threads', num_workers = 4)   <- deleted: --backend decides

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--rows", type=int, default=4000)
parser.add_argument("--cols", type=int, default=2000)
parser.add_argument("--chunk-rows", type=int, default=500, help="rows per chunk (all columns)")
args = parser.parse_args()

# dask's generator seeds every chunk from this one seed when the graph is built,
# so the numbers do not depend on where the chunks are drawn.
rng = da.random.default_rng(daskburst.seed())
x = rng.normal(10, 1, size=(args.rows, args.cols), chunks=(args.chunk_rows, args.cols))
row_means = x.mean(axis=1)
means = row_means.compute()
report("row_means", {"rows": len(means), "first": means[:3].tolist(),
                     "mean": float(means.mean())})  # fmt: skip
