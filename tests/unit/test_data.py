"""Generators are deterministic, realistic and round-trip through the workloads."""

from __future__ import annotations

import bz2
import gzip
import io
import re
from pathlib import Path

import dask
import dask.bag as db
import dask.dataframe as dd
import pandas as pd
import pytest

from daskburst.cli import main
from daskburst.data import airline, wikistats
from daskburst.data.airline import COLUMNS, TUTORIAL_DTYPES
from daskburst.execute import execute

# A few lines as they appear in the real ASA Data Expo files (1987 and 2008 styles:
# NA everywhere, empty CancellationCode, a latin1 byte in a tail number).
REAL_LINES = """Year,Month,DayofMonth,DayOfWeek,DepTime,CRSDepTime,ArrTime,CRSArrTime,UniqueCarrier,FlightNum,TailNum,ActualElapsedTime,CRSElapsedTime,AirTime,ArrDelay,DepDelay,Origin,Dest,Distance,TaxiIn,TaxiOut,Cancelled,CancellationCode,Diverted,CarrierDelay,WeatherDelay,NASDelay,SecurityDelay,LateAircraftDelay
1987,10,14,3,741,730,912,849,UA,1451,NA,91,79,NA,23,11,SFO,SAN,447,NA,NA,0,NA,0,NA,NA,NA,NA,NA
1987,10,15,4,729,730,903,849,UA,1451,NA,94,79,NA,14,-1,SFO,SAN,447,NA,NA,0,NA,0,NA,NA,NA,NA,NA
1987,10,17,6,NA,730,NA,849,UA,1451,NA,NA,79,NA,NA,NA,SFO,SAN,447,NA,NA,1,NA,0,NA,NA,NA,NA,NA
2001,1,2,2,1420,1400,1600,1545,UA,100,N\xb0123,160,165,140,15,20,SFO,BOS,2704,5,15,0,NA,0,NA,NA,NA,NA,NA
2008,1,3,4,2003,1955,2211,2225,WN,335,N712SW,128,150,116,-14,8,IAD,TPA,810,4,8,0,,0,NA,NA,NA,NA,NA
2008,1,3,4,1829,1755,1959,1925,UA,3920,N464WN,90,90,77,34,34,SFO,BOS,515,3,10,0,,0,2,0,0,0,32
2008,1,3,4,NA,1755,NA,1925,UA,3921,N464WN,NA,90,NA,NA,NA,SFO,BOS,515,NA,NA,1,B,0,NA,NA,NA,NA,NA
"""


def _oracle(files, carrier="UA", origin="SFO"):
    """The tutorial's way, with plain pandas: an independent answer."""
    frames = [
        pd.read_csv(
            f, encoding="latin1", dtype=TUTORIAL_DTYPES, na_values=["NA", ""], keep_default_na=False
        )
        for f in files
    ]
    air = pd.concat(frames)
    sub = air[(air.UniqueCarrier == carrier) & (air.Origin == origin)]
    by = sub.groupby("Dest").DepDelay.mean().dropna()
    return air.DepDelay.max(), air.DepDelay.min(), by.to_dict(), len(air)


def test_airline_is_deterministic_and_in_schema():
    a = airline.csv_bytes(2, 3000, seed=5)
    assert a == airline.csv_bytes(2, 3000, seed=5)
    assert a != airline.csv_bytes(2, 3000, seed=6)
    assert a.split(b"\n", 1)[0].decode() == ",".join(COLUMNS)
    df = pd.read_csv(io.BytesIO(a), encoding="latin1", dtype=TUTORIAL_DTYPES)
    assert list(df.columns) == list(COLUMNS) and len(df) == 3000
    cancelled = df[df.Cancelled == 1]
    assert len(cancelled) > 0 and cancelled.DepDelay.isna().all()
    assert set(df.UniqueCarrier) <= {c for c, _ in airline.CARRIERS}
    assert df.DepDelay.max() > 200  # heavy tail
    assert (df.DepDelay.dropna() % 1 == 0).all()  # whole minutes, as in the real data
    assert b"NA" in a


def test_airline_has_latin1_tail_numbers():
    text = airline.csv_bytes(14, 40000, seed=1)  # 2001, like the real data
    with pytest.raises(UnicodeDecodeError):
        text.decode("utf-8")


def test_wikistats_is_deterministic_and_realistic():
    data = wikistats.file_bytes(1, 5000, seed=3)
    assert data == wikistats.file_bytes(1, 5000, seed=3)
    lines = gzip.decompress(data).decode().splitlines()
    assert len(lines) == 5000
    fields = [ln.split(" ") for ln in lines]
    assert any(len(f) < 6 for f in fields)  # malformed short lines
    good = [f for f in fields if len(f) == 6]
    assert len({f[2] for f in good}) > 5
    assert any("Obama" in f[3] for f in good)
    assert all(re.fullmatch(r"\d{8}", f[0]) and f[4].isdigit() for f in good)


def test_generated_airline_read_with_tutorial_arguments(tmp_path, small_samples):
    assert (
        main(
            [
                "data",
                "airline",
                "--out",
                str(tmp_path),
                "--rows",
                "9000",
                "--files",
                "3",
                "--seed",
                "4",
                "--backend",
                "threads",
            ]
        )
        == 0
    )
    files = sorted(tmp_path.glob("*.csv.bz2"))
    assert len(files) == 3 and not list(tmp_path.glob(".*tmp"))
    air = dd.read_csv(
        str(tmp_path / "*.csv.bz2"),
        compression="bz2",
        encoding="latin1",
        dtype=TUTORIAL_DTYPES,
        blocksize=None,
    )
    sub = air[(air.UniqueCarrier == "UA") & (air.Origin == "SFO")]
    mx, mn, by = dask.compute(
        air.DepDelay.max(),
        air.DepDelay.min(),
        sub.groupby("Dest").DepDelay.mean(),
        scheduler="threads",
    )
    ours = execute("dataframe", backend="threads", seed=4, input=str(tmp_path / "*.csv.bz2"))
    res = ours["result"]
    assert (res["dep_delay_max"], res["dep_delay_min"]) == (mx, mn)
    assert res["mean_dep_delay_by_dest"] == pytest.approx(by.dropna().to_dict(), rel=1e-12)
    assert res["rows"] == 9000


def test_dataframe_on_real_format_lines(tmp_path):
    plain = tmp_path / "1987.csv"
    plain.write_bytes(REAL_LINES.encode("latin1"))
    packed = tmp_path / "2008.csv.bz2"
    packed.write_bytes(bz2.compress(REAL_LINES.encode("latin1")))
    for path in (plain, packed):
        res = execute("dataframe", backend="sync", input=str(path))["result"]
        mx, mn, by, rows = _oracle([path])
        assert (res["dep_delay_max"], res["dep_delay_min"], res["rows"]) == (mx, mn, rows)
        assert res["mean_dep_delay_by_dest"] == {"BOS": pytest.approx(27.0), "SAN": 5.0}
        assert by == {"BOS": 27.0, "SAN": 5.0}


@pytest.mark.parametrize(
    "delays",
    [[], [float("nan")] * 3, [3.0, float("nan"), -2.0, 7.5], [4, -1, 0]],
    ids=["empty", "all-nan", "some-nan", "integers"],
)
def test_a_partitions_extremes_are_pandas_own(delays):
    """The partial's numpy max and min give what pandas' skipna reductions give."""
    import math

    from daskburst.workloads.dataframe import partial

    n = len(delays)
    frame = pd.DataFrame({"UniqueCarrier": ["UA"] * n, "Origin": ["SFO"] * n,
                          "Dest": ["BOS"] * n, "DepDelay": delays})  # fmt: skip
    top, bottom, rows, sub_rows, by_dest = partial(frame, "UA", "SFO")
    for got, want in ((top, frame.DepDelay.max()), (bottom, frame.DepDelay.min())):
        assert (math.isnan(got) and math.isnan(want)) or got == want
    assert (rows, sub_rows) == (n, n) and int(by_dest["count"].sum()) == frame.DepDelay.count()


def test_parquet_round_trip(tmp_path):
    src = tmp_path / "csv"
    src.mkdir()
    for i in range(2):
        (src / f"part{i}.csv").write_bytes(airline.csv_bytes(i, 4000, seed=8))
    out = tmp_path / "pq"
    assert (
        main(
            [
                "data",
                "to-parquet",
                "--input",
                str(src / "*.csv"),
                "--out",
                str(out),
                "--backend",
                "threads",
            ]
        )
        == 0
    )
    from_csv = execute("dataframe", backend="sync", input=str(src / "*.csv"))["result"]
    from_pq = execute("dataframe", backend="sync", input=str(out / "*.parquet"))["result"]
    assert from_csv == from_pq
    import pyarrow as pa
    import pyarrow.parquet as papq

    schema = papq.read_schema(next(out.glob("*.parquet")))
    # the codes are stored and read as dictionaries (pandas categories), not a string per row
    assert pa.types.is_dictionary(schema.field("UniqueCarrier").type)
    assert pa.types.is_dictionary(schema.field("Dest").type)
    assert pa.types.is_floating(schema.field("DepDelay").type)
    mx, mn, by, rows = _oracle(sorted(src.glob("*.csv")))
    assert from_pq["dep_delay_max"] == mx and from_pq["rows"] == rows
    assert from_pq["mean_dep_delay_by_dest"] == pytest.approx(by, rel=1e-12)


def test_parquet_from_files_with_few_and_many_codes(tmp_path):
    """A file with over 127 tail numbers stores wider codes than one with a few: the data
    set still gets one schema (it failed at 1M rows a file before)."""
    src = tmp_path / "csv"
    src.mkdir()
    for i, distinct in enumerate((300, 3)):
        frame = pd.read_csv(io.BytesIO(airline.csv_bytes(i, 600, seed=8)), dtype=str)
        frame["TailNum"] = [f"N{k % distinct}" for k in range(len(frame))]
        frame.to_csv(src / f"part{i}.csv", index=False, na_rep="NA")
    out = tmp_path / "pq"
    args = ["data", "to-parquet", "--input", str(src / "*.csv"), "--out", str(out)]
    assert main([*args, "--backend", "sync"]) == 0
    from_csv = execute("dataframe", backend="sync", input=str(src / "*.csv"))["result"]
    from_pq = execute("dataframe", backend="sync", input=str(out))["result"]
    assert from_csv == from_pq


def test_bag_round_trip_matches_tutorial_find(tmp_path):
    assert (
        main(
            [
                "data",
                "wikistats",
                "--out",
                str(tmp_path),
                "--lines",
                "6000",
                "--files",
                "3",
                "--seed",
                "2",
                "--backend",
                "threads",
            ]
        )
        == 0
    )

    def find(line, regex="Obama", language="en"):  # the tutorial's filter, verbatim logic
        vals = line.split(" ")
        if len(vals) < 6:
            return False
        tmp = re.search(regex, vals[3])
        return not (tmp is None or (language is not None and vals[2] != language))

    wiki = db.read_text(str(tmp_path / "part-0000*gz"))
    count, obama = dask.compute(wiki.count(), wiki.filter(find), scheduler="sync")
    res = execute("bag", backend="sync", input=str(tmp_path / "part-0000*gz"))["result"]
    assert res["lines"] == count == 6000
    assert res["matches"] == len(obama) > 0
    assert res["first_matches"] == [ln.rstrip("\n") for ln in obama[:5]]


def test_data_is_written_atomically_on_failure(tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(airline, "file_bytes", boom)
    assert (
        main(
            [
                "data",
                "airline",
                "--out",
                str(tmp_path),
                "--rows",
                "10",
                "--files",
                "2",
                "--backend",
                "sync",
            ]
        )
        == 1
    )
    assert list(Path(tmp_path).iterdir()) == []


def _arrow_codes():
    import pyarrow as pa

    def codes(indices, values):
        return pa.DictionaryArray.from_arrays(pa.array(indices, pa.int32()), pa.array(values))

    # Chunks with their own dictionaries: one holds the code twice, one a missing value
    # in its dictionary and a missing index, one lacks the code.
    chunks = [
        codes([0, 1, 2, 1, 0], ["UA", "AA", "UA"]),
        codes([1, None, 0, 2], ["DL", "UA", None]),
        codes([0, 0], ["WN"]),
    ]
    return pd.Series(pd.arrays.ArrowExtensionArray(pa.chunked_array(chunks)))


@pytest.mark.parametrize(
    "make",
    [
        lambda: pd.Series(["UA", None, "AA", "UA", float("nan")], dtype=object),
        lambda: pd.Series(["UA", None, "AA", "UA"], dtype="category"),
        lambda: pd.Series(["UA", None, "AA", "UA"], dtype="string[pyarrow]"),
        _arrow_codes,
    ],
    ids=["object", "category", "arrow-string", "arrow-dictionary"],
)
def test_rows_equal_finds_every_row_and_no_missing_one(make):
    """The subset's mask matches a plain comparison for every dtype a reader gives,
    including Arrow dictionaries that repeat a value or hold a missing one."""
    from daskburst.workloads.dataframe import rows_equal

    column = make()
    # (pandas cannot turn Arrow dictionaries with a missing value into objects)
    values = pa_values(column) if isinstance(column.dtype, pd.ArrowDtype) else list(column)
    plain = [isinstance(v, str) and v == "UA" for v in values]
    got = rows_equal(column, "UA")
    assert got.dtype == bool and got.tolist() == plain and any(plain)
    assert not rows_equal(column, "ZZ").any()


def pa_values(column):
    """An Arrow-backed column's values as Python objects."""
    return column.array.__arrow_array__().to_pylist()


def test_the_partial_of_arrow_dictionaries_is_the_partial_of_strings():
    """Codes read from Parquet as Arrow dictionaries (chunks with their own dictionaries)
    give the partial the same answer as the same codes as strings."""
    from daskburst.workloads.dataframe import partial

    codes = _arrow_codes()
    delays = [1.5, 2.0, float("nan"), 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0]
    arrow = pd.DataFrame({"UniqueCarrier": codes, "Origin": codes, "Dest": codes})
    arrow["DepDelay"] = pd.Series(delays, dtype="double[pyarrow]")
    strings = pd.DataFrame({c: pa_values(arrow[c]) for c in arrow.columns}, dtype=object)
    strings["DepDelay"] = delays
    got, want = partial(arrow, "UA", "UA"), partial(strings, "UA", "UA")
    assert got[:4] == want[:4] and got[3] > 1
    assert got[4].to_dict() == want[4].to_dict()
