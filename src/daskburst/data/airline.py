"""Synthetic airline on-time data in the ASA Data Expo 2009 schema.

29 columns in the original order, ``NA`` for missing values, latin1 text
(a few tail numbers carry non-ASCII latin1 bytes, as the real 2001 file does),
real carrier and airport codes, heavy-tailed integer delays, cancelled flights
with NA times and delays.
"""

from __future__ import annotations

import bz2
import io
from typing import TYPE_CHECKING

import numpy as np

from daskburst.rng import stream

if TYPE_CHECKING:
    import pandas as pd

COLUMNS = (
    "Year", "Month", "DayofMonth", "DayOfWeek", "DepTime", "CRSDepTime", "ArrTime",
    "CRSArrTime", "UniqueCarrier", "FlightNum", "TailNum", "ActualElapsedTime",
    "CRSElapsedTime", "AirTime", "ArrDelay", "DepDelay", "Origin", "Dest", "Distance",
    "TaxiIn", "TaxiOut", "Cancelled", "CancellationCode", "Diverted", "CarrierDelay",
    "WeatherDelay", "NASDelay", "SecurityDelay", "LateAircraftDelay",
)  # fmt: skip

# The tutorial's read_csv arguments (plus the columns our query needs).
TUTORIAL_DTYPES = {
    "Distance": "float64",
    "CRSElapsedTime": "float64",
    "TailNum": "object",
    "CancellationCode": "object",
}

CARRIERS = (
    ("WN", 18), ("AA", 11), ("DL", 11), ("UA", 10), ("US", 8), ("NW", 7), ("CO", 6),
    ("MQ", 6), ("OO", 5), ("XE", 4), ("EV", 4), ("AS", 3), ("B6", 2), ("FL", 2),
    ("9E", 2), ("YV", 2), ("F9", 1), ("HA", 1), ("OH", 1), ("HP", 2), ("TW", 1),
)  # fmt: skip

AIRPORTS = (
    "ATL", "ORD", "DFW", "LAX", "DEN", "SFO", "PHX", "IAH", "LAS", "DTW", "MSP", "EWR",
    "SEA", "BOS", "CLT", "LGA", "JFK", "MCO", "SLC", "PHL", "BWI", "SAN", "IAD", "MDW",
    "TPA", "FLL", "PDX", "STL", "OAK", "SJC", "SMF", "SNA", "HNL", "CLE", "MCI", "BNA",
    "AUS", "MSY", "RDU", "SAT", "BOI", "BFL", "ACV", "RNO", "ONT", "BUR", "ABQ", "OGG",
)  # fmt: skip

_CANCEL_CODES = np.array(["A", "B", "C", "D"], dtype=object)


def _airport_weights() -> np.ndarray:
    w = 1.0 / np.arange(1, len(AIRPORTS) + 1) ** 0.8  # Zipf-like hub traffic
    return np.asarray(w / w.sum())


def frame(index: int, rows: int, seed: int) -> pd.DataFrame:
    """Generate file ``index`` of a data set as a DataFrame (rows in file order).

    Args:
        index: File number; selects the random stream ``(seed, (1, index))``.
        rows: Rows in this file.
        seed: Master seed.

    Returns:
        A frame with the 29 columns, nullable integers where values may be NA.
    """
    import pandas as pd  # a third of a second: only where data is generated

    rng = stream(seed, (1, index))
    year = 1987 + index % 22  # one file per year, 1987-2008, like the real data set
    n = rows
    month = rng.integers(1, 13, n)
    day = rng.integers(1, 29, n)
    dow = (pd.to_datetime({"year": year, "month": month, "day": day}).dt.day_of_week + 1).to_numpy()
    codes, weights = zip(*CARRIERS, strict=True)
    p = np.asarray(weights, dtype=float)
    carrier = np.asarray(codes, dtype=object)[rng.choice(len(codes), n, p=p / p.sum())]
    aw = _airport_weights()
    origin_i = rng.choice(len(AIRPORTS), n, p=aw)
    dest_i = (origin_i + rng.choice(len(AIRPORTS) - 1, n, p=aw[1:] / aw[1:].sum()) + 1) % len(
        AIRPORTS
    )
    airports = np.asarray(AIRPORTS, dtype=object)
    # Distance: a fixed pseudo-geography per airport pair.
    distance = 100 + ((origin_i * 7919 + dest_i * 104729) % 2500) + np.minimum(origin_i, dest_i)
    crs_elapsed = (30 + distance / 8.0).round().astype(np.int64)
    crs_dep_min = rng.integers(5 * 60, 23 * 60, n)
    # Heavy-tailed delays: most flights near on time, a Pareto tail of long ones.
    base = np.rint(rng.normal(-1.0, 6.0, n))
    late = rng.random(n) < 0.22
    tail = np.rint((rng.pareto(1.6, n) + 0.05) * 25.0)
    dep_delay = np.where(late, np.minimum(tail, 1500), base).astype(np.int64)
    taxi_out = rng.integers(5, 35, n)
    taxi_in = rng.integers(2, 15, n)
    air_time = np.maximum(15, crs_elapsed - 25 + np.rint(rng.normal(0, 5, n))).astype(np.int64)
    actual_elapsed = air_time + taxi_out + taxi_in
    arr_delay = dep_delay + (actual_elapsed - crs_elapsed)
    dep_min = (crs_dep_min + dep_delay) % 1440
    arr_min = (dep_min + actual_elapsed) % 1440
    crs_arr_min = (crs_dep_min + crs_elapsed) % 1440

    def hhmm(minutes: np.ndarray) -> np.ndarray:
        return np.asarray((minutes // 60) * 100 + minutes % 60)

    cancelled = rng.random(n) < 0.02
    # The real files have a cancelled flight among their first rows; dask's
    # read_csv infers dtypes from the first rows, so this keeps the tutorial's
    # read_csv arguments working on our files exactly as on the real ones.
    cancelled[3 : 4 if n > 3 else 0] = True
    diverted = (~cancelled) & (rng.random(n) < 0.002)
    flight_num = rng.integers(1, 7000, n)
    tail_num = np.char.add("N", rng.integers(100, 999, n).astype(str)).astype(object)
    tail_num = tail_num + carrier.astype(str)
    weird = rng.random(n) < 0.0005  # non-ASCII latin1 tail numbers, as in the real 2001 file
    tail_num[weird] = np.char.add("N\xb0", rng.integers(10, 99, int(weird.sum())).astype(str))
    cause = year >= 2003
    early = year < 1995  # no tail numbers, air or taxi times recorded before 1995

    def col(values: np.ndarray, missing: np.ndarray) -> pd.Series:
        return pd.Series(pd.array(values, dtype="Int64")).mask(missing)

    no_arr = cancelled | diverted
    late15 = (arr_delay >= 15) & ~no_arr
    split = rng.dirichlet(np.ones(5), n) * np.maximum(arr_delay, 0)[:, None]
    split = np.floor(split).astype(np.int64)
    out = pd.DataFrame(
        {
            "Year": year,
            "Month": month,
            "DayofMonth": day,
            "DayOfWeek": dow,
            "DepTime": col(hhmm(dep_min), cancelled),
            "CRSDepTime": hhmm(crs_dep_min),
            "ArrTime": col(hhmm(arr_min), no_arr),
            "CRSArrTime": hhmm(crs_arr_min),
            "UniqueCarrier": carrier,
            "FlightNum": flight_num,
            "TailNum": pd.Series(tail_num, dtype=object).mask(np.full(n, early)),
            "ActualElapsedTime": col(actual_elapsed, no_arr),
            "CRSElapsedTime": col(crs_elapsed, rng.random(n) < 0.0005),
            "AirTime": col(air_time, no_arr | early),
            "ArrDelay": col(arr_delay, no_arr),
            "DepDelay": col(dep_delay, cancelled),
            "Origin": airports[origin_i],
            "Dest": airports[dest_i],
            "Distance": col(distance, rng.random(n) < 0.0002),
            "TaxiIn": col(taxi_in, no_arr | early),
            "TaxiOut": col(taxi_out, cancelled | early),
            "Cancelled": cancelled.astype(np.int64),
            "CancellationCode": pd.Series(
                np.where(cancelled, _CANCEL_CODES[rng.integers(0, 4, n)], np.array(None)),
                dtype=object,
            ),
            "Diverted": diverted.astype(np.int64),
        }
    )
    for k, name in enumerate(
        ("CarrierDelay", "WeatherDelay", "NASDelay", "SecurityDelay", "LateAircraftDelay")
    ):
        out[name] = col(split[:, k], ~late15 | (not cause))
    return out


def csv_bytes(index: int, rows: int, seed: int) -> bytes:
    """Return file ``index`` as uncompressed latin1 CSV text with ``NA`` for missing values.

    Args:
        index: File number.
        rows: Rows in this file.
        seed: Master seed.

    Returns:
        The CSV bytes, header first.
    """
    buf = io.StringIO()
    frame(index, rows, seed).to_csv(buf, index=False, na_rep="NA", lineterminator="\n")
    return buf.getvalue().encode("latin1")


def file_bytes(index: int, rows: int, seed: int, compression: str) -> bytes:
    """Return file ``index`` encoded as written to disk (``bz2`` or ``none``)."""
    data = csv_bytes(index, rows, seed)
    return bz2.compress(data, 9) if compression == "bz2" else data


def file_name(index: int, compression: str) -> str:
    """Return the file name of file ``index``."""
    return f"airline-{index:04d}.csv" + (".bz2" if compression == "bz2" else "")


def rows_per_file(rows: int, files: int) -> list[int]:
    """Split ``rows`` over ``files`` as evenly as possible (earlier files get the extra)."""
    q, r = divmod(rows, files)
    return [q + (1 if i < r else 0) for i in range(files)]
