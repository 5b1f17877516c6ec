"""Tutorial 3.1: a parallel loop with dask.delayed, as a for loop and as a comprehension.

Run it anywhere: ``daskburst run examples/delayed_loop.py --backend local -- --p 10``.
"""

import argparse
import json
import os
from pathlib import Path

import dask
from _report import report
from calc_mean import calc_mean

import daskburst

# tutorial: import dask.multiprocessing
# tutorial: dask.config.set(scheduler='processes', num_workers = 4)   <- deleted: --backend decides

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--p", type=int, default=10, help="replicates")
parser.add_argument("--n", type=int, default=100_000, help="draws per replicate")
parser.add_argument(
    "--save", metavar="FILE", help="also write the results to $DASKBURST_OUTPUT/FILE"
)
args = parser.parse_args()
seed = daskburst.seed()

# 3.1.1 for loop
futures = []
for i in range(args.p):
    futures.append(dask.delayed(calc_mean)(i, args.n, seed))  # add lazy task
results = dask.compute(futures)  # compute all in parallel

# 3.1.2 list comprehension: the same tasks, the same numbers
again = dask.compute([dask.delayed(calc_mean)(i, args.n, seed) for i in range(args.p)])
assert again == results, "the same replicates gave different numbers"

report("replicates", results[0])
if args.save:
    # $DASKBURST_OUTPUT: the current directory here; on Kubernetes, a directory whose files
    # `daskburst k8s submit --wait --artifacts DIR` brings back.
    out = Path(os.environ.get("DASKBURST_OUTPUT", ".")) / args.save
    out.write_text(json.dumps(results[0]) + "\n")
