"""Example of a derived image (images/user/): tasks use a package the project image lacks.

Built with ``make user-image USER_IMAGE=NAME:TAG``, it runs inside that image as
``daskburst run /opt/daskburst/code/means_table.py --backend local --ship off -- --p 8``.
The same seed gives the same table and digest on every backend and worker count.
"""

import argparse
import hashlib

import dask
from draws import replicate
from tabulate import tabulate  # type: ignore[import-untyped]

import daskburst

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--p", type=int, default=8, help="replicates")
parser.add_argument("--n", type=int, default=10_000, help="draws per replicate")
args = parser.parse_args()
seed = daskburst.seed()


def row(i: int) -> str:
    """One formatted table row, made on a worker: the workers need tabulate too."""
    mean, std = replicate(i, args.n, seed)
    return str(tabulate([[i, mean, std]], tablefmt="plain", floatfmt=".12f"))


rows = dask.compute(*[dask.delayed(row)(i) for i in range(args.p)])
table = "\n".join(rows)
print(table)
print(f"digest: {hashlib.sha256(table.encode()).hexdigest()}")
