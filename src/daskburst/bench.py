"""Benchmarks: every workload against the machine's limit and the tutorial's way.

Every figure is a ratio of two timings taken in the same run on the same
machine, so a noisy or slow machine still gives meaningful numbers. Each timing
is the best of a few repeats (the least disturbed one).
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import platform
import re
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from daskburst import config
from daskburst.backends import BackendOptions, Session, open_backend
from daskburst.rng import normal_moments, stream
from daskburst.runner import compute, prepare, versions

TARGETS: dict[str, float] = {
    "calc_mean_kernel_speedup": 1.5,
    "efficiency.threads": 0.85,
    "efficiency.local": 0.85,
    "batched_map_speedup": 10.0,
    "array_fraction_of_limit": 0.75,
    "dataframe_best_vs_tutorial_speedup": 5.0,
    "dataframe_one_graph_speedup": 1.5,
    "bag_parallel_efficiency": 0.85,
    "bag_fraction_of_gzip_limit": 0.7,
    "k8s_efficiency": 0.85,
}
#: Figures that must stay at or below their target.
MAX_TARGETS: dict[str, float] = {
    "k8s_apply_to_success_s": 10.0,
    "k8s_scale_down_s": 30.0,
    "image_compressed_bytes": 250e6,
}


@dataclass(frozen=True)
class Sizes:
    """Problem sizes of one benchmark run."""

    repeats: int
    limit_draws: int
    kernel_n: int
    calc_replicates_per_core: int
    calc_n: int
    overhead_tasks: int
    map_items: int
    array_side: int
    airline_rows: int
    airline_files: int
    wiki_lines: int
    wiki_files: int


QUICK = Sizes(
    repeats=3,
    limit_draws=50_000_000,
    kernel_n=50_000_000,
    calc_replicates_per_core=4,
    calc_n=50_000_000,  # the tutorial's replicates are n=1e7..1e8
    overhead_tasks=2_000,
    map_items=100_000,
    array_side=20_000,
    airline_rows=500_000,
    airline_files=4,
    wiki_lines=2_000_000,
    wiki_files=8,
)
FULL = Sizes(
    repeats=5,
    limit_draws=200_000_000,
    kernel_n=100_000_000,
    calc_replicates_per_core=10,
    calc_n=100_000_000,
    overhead_tasks=20_000,
    map_items=100_000,
    array_side=40_000,
    airline_rows=10_000_000,
    airline_files=10,
    wiki_lines=20_000_000,
    wiki_files=20,
)


def _log(msg: str) -> None:
    sys.stderr.write(f"[bench {time.strftime('%H:%M:%S')}] {msg}\n")
    sys.stderr.flush()


def best_of(repeats: int, fn: Callable[[], Any]) -> float:
    """Return the shortest wall time of ``repeats`` calls of ``fn``."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def cores() -> int:
    """Return the CPUs this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def machine() -> dict[str, Any]:
    """Describe the machine the figures come from."""
    import psutil

    model = platform.processor()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": model,
        "cores": cores(),
        "memory_bytes": psutil.virtual_memory().total,
        "platform": platform.platform(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "versions": versions(),
    }


# ---- the machine's limit and the kernel -------------------------------------------------------


_BLOCK = 262_144  # normals per draw into the reused buffer


def _draw_blocks(blocks: int) -> None:
    """Draw ``blocks`` blocks of standard normals into one reused buffer."""
    buf = np.empty(_BLOCK)
    rng = stream(0, (0,))
    for _ in range(blocks):
        rng.standard_normal(out=buf)


def rng_limit_once(draws: int) -> float:
    """One measurement of the limit: normals per second one core draws, times the cores."""
    blocks = max(1, draws // _BLOCK)
    start = time.perf_counter()
    _draw_blocks(blocks)
    return blocks * _BLOCK / (time.perf_counter() - start) * cores()


def rng_all_cores_once(draws: int) -> float:
    """Normals per second with every core drawing at once, one thread per core.

    numpy releases the GIL while drawing. This is not the limit but a diagnostic
    of how far the machine scales: one busy core may run faster than each of
    several cores busy together (turbo clocks, other tenants of a VM host).
    """
    import threading

    n = cores()
    blocks = max(1, draws // _BLOCK // n)
    threads = [threading.Thread(target=_draw_blocks, args=(blocks,)) for _ in range(n)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return n * blocks * _BLOCK / (time.perf_counter() - start)


def rng_limit(sizes: Sizes) -> float:
    """The machine's limit: median of several one-core measurements, times the cores."""
    return float(
        np.median([rng_limit_once(sizes.limit_draws) for _ in range(2 * sizes.repeats - 1)])
    )


def against_limit(
    sizes: Sizes,
    draws: int,
    run: Callable[[], Any],
    rounds: int,
    scaling: list[float] | None = None,
) -> float:
    """``draws`` per second of ``run`` over the limit, measured in alternation.

    Each round measures the limit right before the run, and the figure is the
    median of the rounds' ratios: on a shared machine whose speed drifts, both
    sides of every ratio see the same conditions.

    Args:
        sizes: Problem sizes (``limit_draws`` sets the probe's length).
        draws: Normals ``run`` draws.
        run: One run of the work.
        rounds: Number of (limit, run) rounds.
        scaling: When given, each round also appends all cores drawing at once
            (:func:`rng_all_cores_once`) over that round's limit: the share of
            the limit the bare hardware reached right after the run.

    Returns:
        The median ratio.
    """
    ratios = []
    for _ in range(rounds):
        limit = rng_limit_once(sizes.limit_draws // 2)
        seconds = best_of(1, run)
        ratios.append(draws / seconds / limit)
        if scaling is not None:
            scaling.append(rng_all_cores_once(sizes.limit_draws // 2) / limit)
    return float(np.median(ratios))


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


def efficiency(session: Session, sizes: Sizes) -> tuple[float, float]:
    """calc-mean draws per second on ``session`` divided by the machine's limit.

    Returns:
        The efficiency, and the median share of the limit that all cores drawing
        at once reached in the same rounds (the hardware's own ceiling then).
    """
    replicates = sizes.calc_replicates_per_core * cores()
    prep = prepare("calc-mean", seed=1, replicates=replicates, n=sizes.calc_n)
    compute(prepare("calc-mean", seed=2, replicates=cores(), n=1000), session)  # warm up
    scaling: list[float] = []
    value = against_limit(
        sizes, replicates * sizes.calc_n, lambda: compute(prep, session), sizes.repeats, scaling
    )
    return value, float(np.median(scaling))


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
    from daskburst import config
    from daskburst.workloads.array import chunk_shape

    side = sizes.array_side
    prep = prepare("array", seed=1, rows=side, cols=side)
    with open_backend("threads") as session:
        compute(prepare("array", seed=2, rows=2000, cols=2000), session)  # warm up
        with peak_rss() as mem:
            start = time.perf_counter()
            fraction = against_limit(sizes, side * side, lambda: compute(prep, session), 3)
            seconds = (time.perf_counter() - start) / 3
        workers = session.workers
    r, c = chunk_shape(side, side, "auto")
    in_flight = workers * r * c * 8
    return {
        "array_fraction_of_limit": fraction,
        "array_seconds_per_run_incl_limit_probe": seconds,
        "array_peak_rss_bytes": mem["peak"],
        "array_baseline_rss_bytes": mem["baseline"],
        "array_chunk_bytes": r * c * 8,
        "array_memory_bound_bytes": mem["baseline"] + 2 * in_flight,
        "array_chunk_bytes_setting": int(config.get("array.chunk-bytes")),
    }


# ---- dataframe ----------------------------------------------------------------------------------


def dataframe_bench(sizes: Sizes, work: Path) -> dict[str, Any]:
    """The tutorial's way vs one graph vs Parquet vs DuckDB, same answers."""
    import dask
    import dask.dataframe as dd

    from daskburst.data import airline
    from daskburst.data.airline import TUTORIAL_DTYPES
    from daskburst.data.sources import to_parquet_graph, write_airline

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

    def separate(prep: Any, session: Session) -> Any:
        return [session.compute([c])[0] for c in prep.plan.collections]

    with open_backend("processes") as session:
        t_tutorial = best_of(1, tutorial)
        prep_csv = prepare("dataframe", seed=1, input=glob_csv)
        t_separate = best_of(1, lambda: separate(prep_csv, session))
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


def bag_bench(sizes: Sizes, work: Path) -> dict[str, Any]:
    """The bag workload's lines per second vs one core's plain Python loop, times cores."""
    from daskburst.data import airline
    from daskburst.data.sources import write_wikistats

    wiki = work / "wikistats"
    wiki.mkdir()
    _log(f"generating {sizes.wiki_lines} page-count lines")
    files = write_wikistats(
        wiki, airline.rows_per_file(sizes.wiki_lines, sizes.wiki_files), 1, "processes"
    )

    def loop() -> int:
        count = 0
        for path in sorted(files):
            with gzip.open(path, "rt") as f:
                for line in f:
                    count += _tutorial_find(line)
        return count

    t_loop = best_of(sizes.repeats, loop)
    raw_bytes = 0

    def gunzip() -> None:
        nonlocal raw_bytes
        raw_bytes = 0
        for path in sorted(files):
            with gzip.open(path, "rb") as f:
                while chunk := f.read(1 << 20):
                    raw_bytes += len(chunk)

    # The machine's decompression limit: one core only inflating, times the cores.
    t_gunzip = best_of(sizes.repeats, gunzip)
    prep = prepare("bag", seed=1, input=str(wiki / "*.gz"))
    # The same scanner on one core (sync), then on every core (a LocalCluster).
    t_one = best_of(sizes.repeats, lambda: compute(prep, _sync_session()))
    with open_backend("local") as session:
        compute(prep, session)  # warm up the workers
        t_bag = best_of(sizes.repeats, lambda: compute(prep, session))
    n = cores()
    return {
        "bag_seconds": {
            "plain_loop_one_core": t_loop,
            "scanner_one_core": t_one,
            "gunzip_one_core": t_gunzip,
            "bag_local": t_bag,
        },
        # Kept for comparison with the first round: the optimized scanner vs the plain loop.
        "bag_efficiency": (sizes.wiki_lines / t_bag) / (sizes.wiki_lines / t_loop * n),
        # Like for like: the same scanner on all cores vs on one core, times the cores.
        "bag_parallel_efficiency": t_one / (t_bag * n),
        # How close to only decompressing the data the whole scan runs.
        "bag_fraction_of_gzip_limit": (raw_bytes / t_bag) / (raw_bytes / t_gunzip * n),
    }


def _sync_session() -> Session:
    return Session(backend="sync", workers=1, scheduler="sync")


# ---- SLURM -------------------------------------------------------------------------------------


def slurm_available() -> bool:
    """Whether a SLURM controller answers here."""
    import subprocess

    if shutil.which("sinfo") is None:
        return False
    proc = subprocess.run(["sinfo", "-h"], capture_output=True, text=True, check=False, timeout=10)
    return proc.returncode == 0 and bool(proc.stdout.strip())


def slurm_bench(sizes: Sizes) -> dict[str, Any]:
    """Time to first result with ``--adapt 0:2``, scale-down time, and efficiency."""
    import subprocess

    def queued() -> int:
        proc = subprocess.run(
            ["squeue", "-h", "-u", os.environ.get("USER", "root"), "-o", "%i"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        return len(proc.stdout.split())

    prep = prepare("calc-mean", seed=1, replicates=4, n=1_000_000)
    start = time.perf_counter()
    with open_backend("slurm", BackendOptions(adapt=(0, 2))) as session:
        compute(prep, session)
        first = time.perf_counter() - start
        done = time.perf_counter()
        deadline = done + 120
        while queued() and time.perf_counter() < deadline:
            time.sleep(0.5)
        scale_down = time.perf_counter() - done
    out: dict[str, Any] = {"slurm_first_result_s": first, "slurm_scale_down_s": scale_down}
    with open_backend("slurm", BackendOptions(workers=cores())) as session:
        out["efficiency_slurm"], out["rng_parallel_scaling_slurm"] = efficiency(session, sizes)
        out["task_overhead_us_slurm"] = task_overhead_us(session, sizes)
    return out


# ---- Kubernetes ------------------------------------------------------------------------------

#: The operator's autoscaler settings the scale figures depend on (dask-kubernetes 2026.3.0).
K8S_AUTOSCALER = {"poll_s": 5, "cooldown_s": 15, "scale_down_step": "25% (at least 1)"}


def k8s_available() -> str | None:
    """Return why no Kubernetes cluster with the Dask operator is reachable, or None."""
    try:
        import kr8s

        api = kr8s.api()
        list(kr8s.get("customresourcedefinitions", "daskjobs.kubernetes.dask.org", api=api))
    except Exception as exc:  # noqa: BLE001 - no cluster, no CRD, no credentials
        return f"{type(exc).__name__}: {str(exc)[:120]}"
    return None


def _wait_true(check: Callable[[], bool], timeout: float, what: str) -> float:
    start = time.perf_counter()
    while not check():
        if time.perf_counter() - start > timeout:
            raise TimeoutError(f"bench: timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.2)
    return time.perf_counter() - start


def k8s_bench(sizes: Sizes, namespace: str) -> dict[str, Any]:
    """Burst figures on the cluster KUBECONFIG points at (the operator must be installed).

    ``k8s_apply_to_success_s``: create a tiny DaskJob -> Successful (median of 3).
    ``k8s_pod_start_s``: a pod of the project image from create to its container running.
    ``k8s_scale_up_s`` / ``k8s_scale_down_s``: a ``--adapt 1:2`` cluster under load from 1 to 2
    running workers, and from its last task back to 1. ``k8s_task_overhead_us`` and
    ``k8s_efficiency`` (calc-mean vs the limit) on two one-thread worker pods.
    """
    import statistics

    import kr8s

    from daskburst import k8s
    from daskburst.k8s import specs

    out: dict[str, Any] = {"k8s_autoscaler": dict(K8S_AUTOSCALER)}
    view = k8s.Kr8sJobView(namespace)
    applied = []
    for i in range(3):
        manifests = k8s.build_submission(
            _jobs_dir() / "calc-mean.yaml", namespace, params={"replicates": "2", "n": "1e5"}
        )
        name = manifests[0]["metadata"]["name"]
        start = time.perf_counter()
        k8s.create_all(manifests)
        try:

            def ended(n: str = name) -> bool:
                return view.phase(n) in ("Successful", "Failed")

            _wait_true(ended, 300, name)
            applied.append(time.perf_counter() - start)
            if view.phase(name) != "Successful":
                raise RuntimeError(f"bench: tiny job {name} failed")
        finally:
            k8s.delete([name], namespace)
        _log(f"k8s: tiny DaskJob {i + 1}/3 Successful after {applied[-1]:.1f} s")
    out["k8s_apply_to_success_s"] = statistics.median(applied)
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"bench-pod-start-{os.getpid()}", "namespace": namespace,
                     "labels": specs.labels("bench", "probe")},
        "spec": specs.runner_pod_spec(["python", "-c", "import time; time.sleep(600)"]),
    }  # fmt: skip
    obj = k8s.to_object(pod)
    start = time.perf_counter()
    obj.create()
    try:

        def started() -> bool:
            obj.refresh()
            statuses = (obj.raw.get("status") or {}).get("containerStatuses") or []
            return any((c.get("state") or {}).get("running") for c in statuses)

        out["k8s_pod_start_s"] = _wait_true(started, 300, "the probe pod")
    finally:
        obj.delete()
    with open_backend("kubernetes", BackendOptions(adapt=(1, 2))) as session:

        def running() -> int:
            return len(session.client.scheduler_info(n_workers=-1)["workers"])

        load = session.client.map(_sleep_then, range(60), pure=False)
        out["k8s_scale_up_s"] = _wait_true(lambda: running() >= 2, 300, "a second worker")
        session.client.gather(load)
        name = session.cluster.name

        def replicas() -> int:
            meta = {"name": f"{name}-default", "namespace": namespace}
            wg = k8s.to_object(
                {
                    "apiVersion": "kubernetes.dask.org/v1",
                    "kind": "DaskWorkerGroup",
                    "metadata": meta,
                }
            )
            wg.refresh()
            return int(wg.raw["spec"]["worker"]["replicas"])

        out["k8s_scale_down_s"] = _wait_true(lambda: replicas() <= 1, 600, "the scale-down")
    with open_backend("kubernetes", BackendOptions(workers=cores())) as session:
        out["k8s_efficiency"], out["k8s_rng_parallel_scaling"] = efficiency(session, sizes)
        out["k8s_task_overhead_us"] = task_overhead_us(session, sizes)
    try:
        kr8s.get("pods", namespace=namespace)
    except Exception:  # noqa: BLE001, S110 - only to close kr8s' session cleanly
        pass
    return out


def _sleep_then(i: int) -> int:
    time.sleep(1.0)
    return i


def _default_image() -> str:
    from daskburst.k8s.specs import DEFAULT_IMAGE

    return DEFAULT_IMAGE


def _jobs_dir() -> Path:
    """The jobs/ of this checkout (the bench runs from it, like `make bench`)."""
    here = Path.cwd() / "jobs"
    if not (here / "calc-mean.yaml").is_file():
        raise RuntimeError("bench: the k8s section needs jobs/ (run it from the checkout)")
    return here


def image_bench(image: str, tool: str | None = None) -> dict[str, Any]:
    """The project image's compressed size (what a new node pulls) and its largest layers."""
    import gzip
    import shutil
    import subprocess
    import tarfile

    tool = tool or ("podman" if shutil.which("podman") else "docker")
    with tempfile.TemporaryDirectory(prefix="daskburst-image-") as tmp:
        archive = Path(tmp) / "image.tar"
        proc = subprocess.run([tool, "save", "--format", "oci-archive", "-o", str(archive), image]
                              if tool == "podman" else [tool, "save", "-o", str(archive), image],
                              capture_output=True, text=True, check=False)  # fmt: skip
        if proc.returncode != 0:
            raise RuntimeError(f"bench: cannot save {image}: {proc.stderr.strip()[-300:]}")
        layers = []
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                if not member.isfile() or member.size < 1024:
                    continue
                data = tar.extractfile(member)
                assert data is not None
                raw = data.read()
                packed = len(raw) if raw[:2] == b"\x1f\x8b" else len(gzip.compress(raw, 6))
                layers.append((packed, member.size, member.name))
    layers.sort(reverse=True)
    return {
        "image_compressed_bytes": sum(p for p, _, _ in layers),
        "image_largest_layers": [
            {"compressed_bytes": p, "bytes": b, "blob": n.rsplit("/", 1)[-1][:19]}
            for p, b, n in layers[:5]
        ],
    }


# ---- report ------------------------------------------------------------------------------------


def _lookup(results: dict[str, Any], key: str) -> Any:
    value: Any = results
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def summary_markdown(report: dict[str, Any]) -> str:
    """Render the results as a markdown table with targets."""
    res = report["results"]
    m = report["machine"]
    lines = [
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_bytes'] / 2**30:.0f} GiB; "
        f"{m['date']}; mode: {report['mode']}",
        "",
        "| figure | value | target | met |",
        "|---|---|---|---|",
    ]
    rows: list[tuple[str, Any]] = [("rng_limit_normals_per_s", res.get("rng_limit_normals_per_s"))]
    rows.append(("calc_mean_kernel_speedup", res.get("calc_mean_kernel_speedup")))
    for backend, value in sorted(res.get("efficiency", {}).items()):
        rows.append((f"efficiency.{backend}", value))
    for backend, value in sorted(res.get("rng_parallel_scaling", {}).items()):
        rows.append((f"rng_parallel_scaling.{backend}", value))
    for backend, value in sorted(res.get("task_overhead_us", {}).items()):
        rows.append((f"task_overhead_us.{backend}", value))
    for key in (
        "batched_map_speedup", "array_fraction_of_limit", "array_peak_rss_bytes",
        "array_memory_bound_bytes", "dataframe_best_vs_tutorial_speedup",
        "dataframe_one_graph_speedup", "dataframe_vs_duckdb", "bag_efficiency",
        "bag_parallel_efficiency", "bag_fraction_of_gzip_limit",
        "slurm_first_result_s", "slurm_scale_down_s", "k8s_apply_to_success_s",
        "k8s_pod_start_s", "k8s_scale_up_s", "k8s_scale_down_s", "k8s_task_overhead_us",
        "k8s_efficiency", "image_compressed_bytes",
    ):  # fmt: skip
        if key in res:
            rows.append((key, res[key]))
    for backend, value in sorted(res.get("efficiency_vs_probe", {}).items()):
        rows.append((f"efficiency_vs_probe.{backend}", value))
    for key, value in rows:
        if value is None:
            continue
        target = TARGETS.get(key)
        shown = f"{value:.3g}" if isinstance(value, float) else str(value)
        met = "" if target is None else ("yes" if value >= target else "**no**")
        target_text = "" if target is None else f">= {target:g}"
        if key in MAX_TARGETS:
            met = "yes" if value <= MAX_TARGETS[key] else "**no**"
            target_text = f"<= {MAX_TARGETS[key]:g}"
        if key == "array_peak_rss_bytes":
            met = "yes" if value <= res["array_memory_bound_bytes"] else "**no**"
            target_text = "<= array_memory_bound_bytes"
        lines.append(f"| {key} | {shown} | {target_text} | {met} |")
    return "\n".join(lines) + "\n"


def charts(report: dict[str, Any], out: Path) -> list[Path]:
    """Draw the main comparisons as PNG files (needs matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        _log("matplotlib not installed (pip install 'daskburst[bench]'): no charts")
        return []
    res = report["results"]
    paths: list[Path] = []

    def save(fig: Any, name: str) -> None:
        # Atomic like every other output: draw to a temporary name, then rename.
        dest = out / name
        tmp = out / f".{name}.tmp.png"
        fig.savefig(tmp, dpi=100)
        plt.close(fig)
        os.replace(tmp, dest)
        paths.append(dest)

    fig, ax = plt.subplots(figsize=(6, 3.5))
    eff = res.get("efficiency", {})
    ax.bar(list(eff), list(eff.values()), color="#4c72b0", label="efficiency")
    ceiling = res.get("rng_parallel_scaling", {})
    shown = [b for b in eff if b in ceiling]
    ax.scatter(
        shown, [ceiling[b] for b in shown], color="black", marker="_", s=600,
        label="all cores drawing at once", zorder=3,
    )  # fmt: skip
    ax.axhline(0.85, color="red", linestyle="--", label="target 0.85")
    ax.set_ylabel("fraction of the machine's RNG limit")
    ax.set_title("calc-mean efficiency by backend")
    ax.set_ylim(0, 1.1)
    ax.legend()
    fig.tight_layout()
    save(fig, "efficiency.png")

    secs = res.get("dataframe_seconds", {})
    if secs:
        fig, ax = plt.subplots(figsize=(7, 3.5))
        names = list(secs)
        ax.barh(names, [secs[n] for n in names], color="#55a868")
        ax.set_xlabel("seconds (lower is better)")
        ax.set_title("dataframe: same query, different paths")
        fig.tight_layout()
        save(fig, "dataframe.png")

    speed = {k: v for k, v in TARGETS.items() if not k.startswith("efficiency")}
    got = [float(_lookup(res, k) or 0.0) for k in speed]
    ratio = [g / t for g, t in zip(got, speed.values(), strict=True)]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.barh(list(speed), ratio, color=["#55a868" if r >= 1 else "#c44e52" for r in ratio])
    ax.axvline(1.0, color="black", linestyle="--")
    ax.set_xscale("log")
    ax.set_xlabel("measured / target, log scale (>= 1 meets the target)")
    ax.set_title("figures against their targets")
    fig.tight_layout()
    save(fig, "targets.png")
    return paths


def run_bench(out: Path, quick: bool = True, only: set[str] | None = None) -> dict[str, Any]:
    """Run the benchmarks and write ``bench.json``, ``summary.md`` and PNG charts to ``out``.

    Args:
        out: Output directory (created).
        quick: Small sizes (under 10 minutes on 2 cores).
        only: Sections to run (kernel, backends, batched, array, dataframe, bag, slurm).

    Returns:
        The report dict also written to ``bench.json``.
    """
    from daskburst.data._io import write_bytes_atomic

    sizes = QUICK if quick else FULL
    from daskburst.cli.bench import SECTIONS

    sections = only or set(SECTIONS)
    out.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"machine": machine(), "mode": "quick" if quick else "full"}
    res: dict[str, Any] = {}
    report["results"] = res
    _log("measuring the RNG limit")
    limit = rng_limit(sizes)
    res["rng_limit_normals_per_s"] = limit
    if "kernel" in sections:
        _log("calc_mean kernel vs the tutorial's")
        res["calc_mean_kernel_speedup"] = kernel_speedup(sizes)
    if "backends" in sections:
        res["efficiency"], res["task_overhead_us"], res["rng_parallel_scaling"] = {}, {}, {}
        for name in ("threads", "processes", "local"):
            _log(f"backend {name}: efficiency and task overhead")
            with open_backend(name) as session:
                res["efficiency"][name], res["rng_parallel_scaling"][name] = efficiency(
                    session, sizes
                )
                res["task_overhead_us"][name] = task_overhead_us(session, sizes)
    if "batched" in sections:
        _log("batched map vs one task per item (local cluster)")
        with open_backend("local") as session:
            res["batched_map_speedup"] = batched_map_speedup(session, sizes)
    if "array" in sections:
        _log(f"array {sizes.array_side}^2 row means")
        res.update(array_bench(sizes))
    with tempfile.TemporaryDirectory(prefix="daskburst-bench-") as tmp:
        if "dataframe" in sections:
            _log("dataframe paths")
            res.update(dataframe_bench(sizes, Path(tmp)))
        if "bag" in sections:
            _log("bag vs a plain loop")
            res.update(bag_bench(sizes, Path(tmp)))
    if "k8s" in sections:
        why = k8s_available()
        if why is None:
            namespace = str(config.get("kubernetes.namespace"))
            _log(f"Kubernetes: tiny job, pod start, scaling, efficiency (namespace {namespace})")
            k8s = k8s_bench(sizes, namespace)
            res.setdefault("efficiency", {})["kubernetes"] = k8s["k8s_efficiency"]
            res.setdefault("rng_parallel_scaling", {})["kubernetes"] = k8s.pop(
                "k8s_rng_parallel_scaling"
            )
            res.setdefault("task_overhead_us", {})["kubernetes"] = k8s["k8s_task_overhead_us"]
            res.update(k8s)
        else:
            _log(f"Kubernetes: no cluster with the Dask operator reachable ({why}): skipping")
            res["k8s_skipped"] = why
    if "image" in sections:
        image = str(config.get("kubernetes.image") or _default_image())
        _log(f"image {image}: compressed size and largest layers")
        try:
            res.update(image_bench(image))
        except RuntimeError as exc:
            _log(str(exc))
            res["image_skipped"] = str(exc)
    if "slurm" in sections:
        if slurm_available():
            _log("SLURM: first result, scale-down, efficiency")
            slurm = slurm_bench(sizes)
            res.setdefault("efficiency", {})["slurm"] = slurm.pop("efficiency_slurm")
            res.setdefault("rng_parallel_scaling", {})["slurm"] = slurm.pop(
                "rng_parallel_scaling_slurm"
            )
            res.setdefault("task_overhead_us", {})["slurm"] = slurm.pop("task_overhead_us_slurm")
            res.update(slurm)
        else:
            _log("SLURM not running (make slurm-up): skipping the slurm figures")
    probe = res.get("rng_parallel_scaling", {})
    res["efficiency_vs_probe"] = {
        b: v / probe[b] for b, v in res.get("efficiency", {}).items() if probe.get(b)
    }
    write_bytes_atomic(out / "bench.json", (json.dumps(report, indent=2) + "\n").encode())
    write_bytes_atomic(out / "summary.md", summary_markdown(report).encode())
    charts(report, out)
    return report
