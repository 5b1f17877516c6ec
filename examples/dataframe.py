"""Tutorial 4.1 and 6.3: airline delays by carrier, origin and destination in one graph.

With ``--input 'DIR/*.csv'`` (or Parquet) it reads the on-time data (``daskburst data
airline`` writes a sample); without, each partition makes synthetic flights from its own
random stream. ``daskburst run examples/dataframe.py --backend threads``
"""

import argparse

import dask
import dask.dataframe as ddf
import numpy as np
import pandas as pd
from _report import report

import daskburst

# tutorial: dask.config.set(scheduler='threads', num_workers = 4)   <- deleted: --backend decides

CARRIERS = np.array(["UA", "AA", "DL", "WN"])
AIRPORTS = np.array(["SFO", "LAX", "ORD", "JFK", "BOS", "SEA", "DEN"])


def flights(part, seed, rows):
    """One partition of synthetic flights."""
    rng = daskburst.stream(seed, part)
    return pd.DataFrame({
        "UniqueCarrier": CARRIERS[rng.integers(0, len(CARRIERS), rows)],
        "Origin": AIRPORTS[rng.integers(0, len(AIRPORTS), rows)],
        "Dest": AIRPORTS[rng.integers(0, len(AIRPORTS), rows)],
        "DepDelay": np.round(rng.gamma(1.5, 12.0, rows) - 8.0),
    })  # fmt: skip


parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--input", help="glob of CSV or Parquet files (default: synthetic)")
parser.add_argument("--carrier", default="UA")
parser.add_argument("--origin", default="SFO")
parser.add_argument("--partitions", type=int, default=8)
parser.add_argument("--rows", type=int, default=50_000, help="per synthetic partition")
args = parser.parse_args()

if args.input and args.input.endswith(".parquet"):
    air = ddf.read_parquet(args.input)
elif args.input:
    air = ddf.read_csv(args.input, dtype={"TailNum": "object", "CancellationCode": "object"},
                       encoding="latin1", assume_missing=True)  # fmt: skip
else:
    seed = daskburst.seed()
    air = ddf.from_map(flights, range(args.partitions), seed=seed, rows=args.rows)

sub = air[(air.UniqueCarrier == args.carrier) & (air.Origin == args.origin)]
by_dest = sub.groupby("Dest").DepDelay.mean()
# one call to compute: the data are read once for all three results (tutorial 6.3)
worst, best, means = dask.compute(air.DepDelay.max(), air.DepDelay.min(), by_dest)
report(
    "delays",
    {
        "max": float(worst),
        "min": float(best),
        "by_dest": {k: round(float(v), 10) for k, v in means.sort_index().items()},
    },
)
