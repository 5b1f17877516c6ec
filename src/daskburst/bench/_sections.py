"""The sections measured on this machine: kernel, backends, batched, array, dataframe, bag."""

from __future__ import annotations

import contextlib
import gzip
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import dask
import numpy as np

from daskburst.backends import Session, open_backend
from daskburst.bench._measure import Rounds, Sizes, _log, against_limit, best_of, cores
from daskburst.catalogue import BENCH_WARM_UP
from daskburst.execute import compute, prepare
from daskburst.rng import normal_moments, stream


def _tutorial_calc_mean(seed: int, i: int, n: int) -> list[float]:
    rng = stream(seed, (i,))
    data = rng.normal(size=n)
    return [float(np.mean(data)), float(np.std(data))]


def kernel_speedup(sizes: Sizes) -> float:
    """The product's streaming calc_mean kernel vs the tutorial's (allocate n, mean, std).

    The two run alternately, and the figure is the median of the pairwise ratios,
    so a burst of noise from other tenants of the machine hits one pair, not the figure.
    """
    n = sizes.kernel_n
    ratios = []
    for _ in range(2 * sizes.repeats - 1):
        ours = best_of(1, lambda: normal_moments(stream(0, (0,)), n))
        tutorial = best_of(1, lambda: _tutorial_calc_mean(0, 0, n))
        ratios.append(tutorial / ours)
    return float(np.median(ratios))


# ---- backends ------------------------------------------------------------------------------------


def _inc(x: int) -> int:
    return x + 1


def efficiency(session: Session, sizes: Sizes) -> Rounds:
    """calc-mean draws per second on ``session`` divided by the machine's limit.

    Returns:
        The efficiency (``ratio``), the median share of the limit that all cores
        drawing at once reached around each run (``probe``: the hardware's own
        ceiling then), and the runs against those probes (``vs_probe``).
    """
    replicates = sizes.calc_replicates_per_core * cores()
    prep = prepare("calc-mean", seed=1, replicates=replicates, n=sizes.calc_n)
    warm_up: dict[str, Any] = {"replicates": cores(), **BENCH_WARM_UP["calc-mean"]}
    compute(prepare("calc-mean", seed=2, **warm_up), session)
    return against_limit(
        sizes, replicates * sizes.calc_n, lambda: compute(prep, session), sizes.repeats, probe=True
    )


def task_overhead_us(session: Session, sizes: Sizes) -> float:
    """Microseconds of wall time per trivial task, over many tasks."""
    import dask

    n = sizes.overhead_tasks
    task = dask.delayed(_inc, pure=False)
    seconds = best_of(sizes.repeats, lambda: session.compute([[task(i) for i in range(n)]]))
    return seconds / n * 1e6


def batched_map_speedup(session: Session, sizes: Sizes) -> float:
    """``map_batched`` vs one task per item (``client.map``), 100 000 tiny items."""
    from daskburst.batched import map_batched

    client = session.client
    items = list(range(sizes.map_items))

    def per_item() -> None:
        futures = client.map(_inc, items, pure=False)
        client.gather(futures)
        del futures

    def batched() -> None:
        map_batched(_inc, items, client=client)

    slow = best_of(1, per_item)
    fast = best_of(sizes.repeats, batched)
    return slow / fast


# ---- array ---------------------------------------------------------------------------------


@contextlib.contextmanager
def peak_rss() -> Iterator[dict[str, int]]:
    """Sample the resident memory of this process and its children; yield the peak."""
    import psutil

    me = psutil.Process()
    out = {"peak": 0, "baseline": 0}
    stop = threading.Event()

    def total() -> int:
        rss = 0
        for p in [me, *me.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                rss += p.memory_info().rss
        return rss

    out["baseline"] = total()

    def sample() -> None:
        while not stop.is_set():
            out["peak"] = max(out["peak"], total())
            stop.wait(0.02)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield out
    finally:
        stop.set()
        thread.join()
        out["peak"] = max(out["peak"], total())


def array_bench(sizes: Sizes) -> dict[str, Any]:
    """Row means of the array workload vs the limit, and its peak memory (threads backend)."""
    from daskburst.workloads.array import chunk_bytes, chunk_shape

    side = sizes.array_side
    prep = prepare("array", seed=1, rows=side, cols=side)
    warm_up: dict[str, Any] = dict(BENCH_WARM_UP["array"])
    with open_backend("threads") as session:
        compute(prepare("array", seed=2, **warm_up), session)
        with peak_rss() as mem:
            start = time.perf_counter()
            rounds = against_limit(
                sizes, side * side, lambda: compute(prep, session), 3, probe=True
            )
            seconds = (time.perf_counter() - start) / 3
        workers = session.workers
    # The same graph on one core (sync), on half the rows: what dask's graph
    # itself costs (the row-mean reductions, scheduling) apart from how the cores scale.
    small = prepare("array", seed=1, rows=side // 2, cols=side)
    with open_backend("sync") as session:
        one_core = (
            cores()
            * against_limit(sizes, side // 2 * side, lambda: compute(small, session), 3).ratio
        )
    r, c = chunk_shape(side, side, "auto")
    in_flight = workers * r * c * 8
    return {
        "array_fraction_of_limit": rounds.ratio,
        # All cores drawing at once, no Dask, around each run: what the hardware gave.
        "array_rng_parallel_scaling": rounds.probe,
        "array_vs_probe": rounds.vs_probe,
        "array_one_core_fraction": one_core,
        "array_seconds_per_run_incl_limit_probe": seconds,
        "array_peak_rss_bytes": mem["peak"],
        "array_baseline_rss_bytes": mem["baseline"],
        "array_chunk_bytes": r * c * 8,
        "array_memory_bound_bytes": mem["baseline"] + 2 * in_flight,
        "array_chunk_bytes_setting": chunk_bytes(),
    }


# ---- dataframe ----------------------------------------------------------------------------------


def dataframe_bench(sizes: Sizes, work: Path) -> dict[str, Any]:
    """The tutorial's way vs one graph vs Parquet vs DuckDB, same answers."""
    import dask
    import dask.dataframe as dd

    from daskburst.data import airline
    from daskburst.data.airline import TUTORIAL_DTYPES
    from daskburst.data.sources import airline_frame, to_parquet_graph, write_airline
    from daskburst.workloads.dataframe import COLUMNS

    csv_dir = work / "airline"
    csv_dir.mkdir()
    _log(f"generating {sizes.airline_rows} airline rows")
    write_airline(
        csv_dir,
        airline.rows_per_file(sizes.airline_rows, sizes.airline_files),
        seed=1,
        compression="bz2",
        scheduler="processes",
    )
    pq_dir = work / "airline.parquet"
    dask.compute(to_parquet_graph(str(csv_dir / "*.csv.bz2"), pq_dir), scheduler="processes")
    glob_csv = str(csv_dir / "*.csv.bz2")

    def tutorial() -> Any:
        # Section 4.1 / 6.3 of the tutorial: all columns, a compute per aggregate.
        with dask.config.set(scheduler="processes"):
            air = dd.read_csv(
                glob_csv, compression="bz2", encoding="latin1", dtype=TUTORIAL_DTYPES,
                blocksize=None,
            )  # fmt: skip
            mx = air.DepDelay.max().compute()
            mn = air.DepDelay.min().compute()
            sub = air[(air.UniqueCarrier == "UA") & (air.Origin == "SFO")]
            by = sub.groupby("Dest").DepDelay.mean().compute()
        return mx, mn, by

    def separate(session: Session) -> Any:
        # Our reader (only the columns used), but the answers one compute at a time.
        air, _ = airline_frame(glob_csv, 1, COLUMNS)
        delay = air.DepDelay
        sub = air[(air.UniqueCarrier == "UA") & (air.Origin == "SFO")]
        answers = [delay.max(), delay.min(), sub.groupby("Dest").DepDelay.mean(), delay.size]
        return [session.compute([c])[0] for c in [*answers, sub.DepDelay.size]]

    with open_backend("processes") as session:
        t_tutorial = best_of(1, tutorial)
        prep_csv = prepare("dataframe", seed=1, input=glob_csv)
        t_separate = best_of(1, lambda: separate(session))
        t_one = best_of(1, lambda: compute(prep_csv, session))
    prep_pq = prepare("dataframe", seed=1, input=str(pq_dir / "*.parquet"))
    with open_backend("threads") as session:
        t_best = best_of(sizes.repeats, lambda: compute(prep_pq, session))
        best = compute(prep_pq, session)
        one = compute(prep_csv, session)
    if best["digest"] != one["digest"]:
        raise RuntimeError("Parquet and CSV paths disagree; benchmark invalid")
    mx, mn, by = tutorial()
    if (mx, mn) != (best["dep_delay_max"], best["dep_delay_min"]):
        raise RuntimeError("the tutorial's answer differs from ours; benchmark invalid")
    seconds = {
        "tutorial_csv_bz2_separate_computes": t_tutorial,
        "csv_bz2_separate_computes": t_separate,
        "csv_bz2_one_graph": t_one,
        "parquet_one_graph": t_best,
    }
    out: dict[str, Any] = {
        "dataframe_seconds": seconds,
        "dataframe_best_vs_tutorial_speedup": t_tutorial / t_best,
        "dataframe_one_graph_speedup": t_separate / t_one,
    }
    try:
        import duckdb
    except ImportError:
        _log("duckdb not installed (pip install 'daskburst[bench]'): skipping dataframe_vs_duckdb")
        return out
    query = f"""
        SELECT max(DepDelay), min(DepDelay) FROM read_parquet('{pq_dir}/*.parquet');
    """
    by_dest = f"""
        SELECT Dest, avg(DepDelay) FROM read_parquet('{pq_dir}/*.parquet')
        WHERE UniqueCarrier = 'UA' AND Origin = 'SFO' GROUP BY Dest
    """

    def duck() -> None:
        con = duckdb.connect()
        con.execute(f"SET threads TO {cores()}")
        con.execute(query).fetchall()
        con.execute(by_dest).fetchall()
        con.close()

    t_duck = best_of(sizes.repeats, duck)
    seconds["duckdb_parquet"] = t_duck
    out["dataframe_vs_duckdb"] = t_best / t_duck
    return out


# ---- bag -----------------------------------------------------------------------------------


def _tutorial_find(line: str, regex: str = "Obama", language: str | None = "en") -> bool:
    vals = line.split(" ")
    if len(vals) < 6:
        return False
    tmp = re.search(regex, vals[3])
    return not (tmp is None or (language is not None and vals[2] != language))


def _inflate(paths: Sequence[str], open_gzip: Callable[[str], Any] = gzip.open) -> None:
    """Only decompress ``paths`` (a limit the bag is measured against).

    ``open_gzip``: ``gzip.open`` (plain zlib), or :func:`~daskburst.data.wikistats.open_gzip`
    (the inflater the bag reads with).
    """
    for path in paths:
        with open_gzip(path) as f:
            while f.read(1 << 22):
                pass


def bag_bench(sizes: Sizes, work: Path) -> dict[str, Any]:
    """The bag workload's lines per second vs one core's plain Python loop, times cores."""
    from daskburst.data import airline
    from daskburst.data.sources import write_wikistats
    from daskburst.data.wikistats import inflater, open_gzip
    from daskburst.workloads import bag

    wiki = work / "wikistats"
    wiki.mkdir()
    _log(f"generating {sizes.wiki_lines} page-count lines")
    files = sorted(
        write_wikistats(
            wiki, airline.rows_per_file(sizes.wiki_lines, sizes.wiki_files), 1, "processes"
        )
    )

    def loop() -> int:
        count = 0
        for path in files:
            with gzip.open(path, "rt") as f:
                for line in f:
                    count += _tutorial_find(line)
        return count

    t_loop = best_of(sizes.repeats, loop)
    # The machine's decompression limits: one core only inflating, times the cores, with
    # plain zlib (the first rounds' limit) and with the inflater the bag reads with.
    t_gunzip = best_of(sizes.repeats, lambda: _inflate(files))
    t_inflater = best_of(sizes.repeats, lambda: _inflate(files, open_gzip))

    def gunzip_all_cores() -> None:
        # The probe: every core inflating its share of the files at once (zlib releases
        # the GIL while inflating), which is what the bag's tasks do together.
        shares = [files[i :: cores()] for i in range(cores())]
        threads = [threading.Thread(target=_inflate, args=(share,)) for share in shares]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    t_gunzip_all = best_of(sizes.repeats, gunzip_all_cores)
    prep = prepare("bag", seed=1, input=str(wiki / "*.gz"))
    # The same scanner on one core (sync, no read-ahead thread), then on every core (a
    # LocalCluster, with the read-ahead setting users get).
    with dask.config.set({"daskburst.gzip-read-ahead": False}):
        prep_one_core = prepare("bag", seed=1, input=str(wiki / "*.gz"))
        one_file = prepare("bag", seed=1, input=files[0])
    t_one = best_of(sizes.repeats, lambda: compute(prep_one_core, _sync_session()))
    # The same on one core with the numpy scan, the fallback where _scan.c was not built.
    scanner = "compiled" if bag.compiled is not None else "numpy"
    saved, bag.compiled = bag.compiled, None
    try:
        t_one_numpy = best_of(sizes.repeats, lambda: compute(prep_one_core, _sync_session()))
    finally:
        bag.compiled = saved
    with open_backend("local") as session:
        compute(prep, session)  # warm up the workers
        t_bag = best_of(sizes.repeats, lambda: compute(prep, session))
        busiest, round_trip = _cluster_profile(
            session, lambda: compute(prep, session), sizes.repeats
        )
    # One file alone, inflated in the task's thread, then one chunk ahead in a thread of
    # its own (what ``auto`` does when a run has fewer files than cores).
    t_file = best_of(sizes.repeats, lambda: compute(one_file, _sync_session()))
    with dask.config.set({"daskburst.gzip-read-ahead": True}):
        one_file_ahead = prepare("bag", seed=1, input=files[0])
    t_file_ahead = best_of(sizes.repeats, lambda: compute(one_file_ahead, _sync_session()))
    n = cores()
    return {
        "bag_seconds": {
            "plain_loop_one_core": t_loop,
            "scanner_one_core": t_one,
            "numpy_scanner_one_core": t_one_numpy,
            "gunzip_one_core": t_gunzip,
            "inflater_one_core": t_inflater,
            "gunzip_all_cores": t_gunzip_all,
            "bag_local": t_bag,
            "one_file": t_file,
            "one_file_read_ahead": t_file_ahead,
            "local_busiest_worker_in_tasks": busiest,
            "distributed_round_trip": round_trip,
        },
        # Kept for comparison with the first round: the optimized scanner vs the plain loop.
        "bag_efficiency": (sizes.wiki_lines / t_bag) / (sizes.wiki_lines / t_loop * n),
        # Like for like: the same scanner on all cores vs on one core, times the cores.
        "bag_parallel_efficiency": t_one / (t_bag * n),
        # How close to only decompressing the data the whole scan runs: against plain
        # zlib (above 1: faster than gzip alone could read the files), and against the
        # inflater the bag reads with (``bag_inflater``).
        "bag_fraction_of_gzip_limit": t_gunzip / (t_bag * n),
        "bag_fraction_of_inflater_limit": t_inflater / (t_bag * n),
        # The profile of the LocalCluster's compute: the same figures counting only the
        # time the busiest worker spent in the bag's tasks. The rest of ``bag_local`` is
        # distributed's own latency: the graph to the scheduler, tasks to the workers,
        # results back (``distributed_round_trip``: one trivial task; dask/distributed#836).
        "bag_fraction_of_inflater_limit_in_tasks": t_inflater / (busiest * n),
        "bag_parallel_efficiency_in_tasks": t_one / (busiest * n),
        "bag_inflater": inflater(),
        # The scan the bag ran: ``compiled`` (_scan.c) or ``numpy`` (not built), and the
        # compiled one's speed-up on one core over numpy's (inflating included).
        "bag_scanner": scanner,
        "compiled_vs_numpy_scanner_speedup": t_one_numpy / t_one,
        "inflater_vs_zlib_speedup": t_gunzip / t_inflater,
        # The same against every core inflating at once (how far the machine scales this
        # kind of work: two hyperthreads of one core share its caches and units).
        "bag_fraction_of_gzip_probe": t_gunzip_all / t_bag,
        # One file on two cores: inflated one chunk ahead of the scan vs in one thread.
        "bag_one_file_read_ahead_speedup": t_file / t_file_ahead,
        "gzip_all_cores_scaling": t_gunzip / (t_gunzip_all * n),
    }


def _cluster_profile(session: Session, run: Callable[[], Any], repeats: int) -> tuple[float, float]:
    """``repeats`` more ``run`` on the session's cluster, profiled by its task stream.

    Returns:
        The seconds the busiest worker spent in tasks (the least of the runs, as the
        timed runs keep their best), and the median round trip of one trivial task
        (submit to result) on the same cluster, of five.
    """
    import statistics

    from distributed import get_task_stream

    client = session.client
    assert client is not None, "a cluster backend"
    busiest = []
    for _ in range(repeats):
        with get_task_stream(client) as stream:
            run()
        busy: dict[str, float] = {}
        for record in stream.data:
            for step in record["startstops"]:
                if step["action"] == "compute":
                    worker = record["worker"]
                    busy[worker] = busy.get(worker, 0.0) + step["stop"] - step["start"]
        busiest.append(max(busy.values()))
    trips = []
    for i in range(5):
        start = time.perf_counter()
        client.submit(int, i, pure=False).result()
        trips.append(time.perf_counter() - start)
    return min(busiest), statistics.median(trips)


def _sync_session() -> Session:
    return Session(backend="sync", workers=1, scheduler="sync")
