"""Tutorial 3.2 and 3.4: a parallel map with the futures interface (needs a cluster).

Futures need the distributed scheduler: run it with --backend local, address, slurm or
kubernetes, e.g. ``daskburst run examples/futures_map.py --backend local -- --p 8``.
"""

import argparse

from _report import report
from calc_mean import calc_mean_vargs
from dask.distributed import Client

import daskburst

# tutorial: cluster = LocalCluster(n_workers = 4)   <- deleted: --backend decides
# tutorial: c = Client(cluster)                    -> Client(): the backend's cluster
c = Client()

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--p", type=int, default=10, help="replicates")
parser.add_argument("--n", type=int, default=100_000, help="draws per replicate")
args = parser.parse_args()
seed = daskburst.seed()

inputs = [(i, args.n, seed) for i in range(args.p)]
future = c.map(calc_mean_vargs, inputs)  # runs now, on the workers
results = c.gather(future)
report("replicates", results)
