"""daskburst bench: its measurements, its report files and its command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from daskburst import bench

TINY = bench.Sizes(
    repeats=1,
    limit_draws=2_000_000,
    kernel_n=1_000_000,
    calc_replicates_per_core=1,
    calc_n=1_000_000,
    overhead_tasks=20,
    map_items=1_000,
    array_side=500,
    airline_rows=2_000,
    airline_files=1,
    wiki_lines=2_000,
    wiki_files=1,
)


def test_against_limit_records_the_hardware_ceiling_around_each_run() -> None:
    rounds = bench.against_limit(TINY, 1_000_000, lambda: None, rounds=3, probe=True)
    assert rounds.ratio > 1  # doing nothing beats drawing a million normals
    assert rounds.probe is not None and 0.2 < rounds.probe < 2.0  # a real machine's scaling
    assert rounds.vs_probe is not None and rounds.vs_probe > 1
    assert bench.against_limit(TINY, 1_000_000, lambda: None, rounds=1).probe is None


def test_efficiency_on_threads_is_a_fraction_with_its_ceiling() -> None:
    from daskburst.backends import open_backend

    with open_backend("threads") as session:
        value, ceiling, vs_probe = bench.efficiency(session, TINY)
    assert 0.05 < value < 1.5 and 0.2 < ceiling < 2.0
    assert vs_probe is not None and 0.05 < vs_probe < 3.0


def _report(**results: object) -> dict[str, object]:
    machine = {"cpu": "test cpu", "cores": 2, "memory_bytes": 2**32, "date": "2026-11-28"}
    return {"machine": machine, "mode": "quick", "results": results}


def test_summary_marks_targets_and_lists_the_ceiling() -> None:
    text = bench.summary_markdown(
        _report(
            rng_limit_normals_per_s=1e8,
            efficiency={"local": 0.8, "threads": 0.9},
            rng_parallel_scaling={"local": 0.83, "threads": 0.97},
            bag_efficiency=1.2,
            bag_parallel_efficiency=0.8,
            k8s_scale_down_s=21.0,
        )
    )
    assert "| efficiency.local | 0.8 | >= 0.85 | **no** |" in text
    assert "| efficiency.threads | 0.9 | >= 0.85 | yes |" in text
    assert "| rng_parallel_scaling.local | 0.83 |  |  |" in text
    assert "| bag_efficiency | 1.2 |  |  |" in text  # kept for comparison, no target
    assert "| bag_parallel_efficiency | 0.8 | >= 0.85 | **no** |" in text
    assert "| k8s_scale_down_s | 21 | <= 30 | yes |" in text


def test_charts_are_written_whole(tmp_path: Path) -> None:
    report = _report(
        efficiency={"local": 0.8, "threads": 0.9},
        rng_parallel_scaling={"local": 0.83, "threads": 0.97},
        dataframe_seconds={"tutorial_csv_bz2_separate_computes": 10.0, "parquet_one_graph": 0.1},
        calc_mean_kernel_speedup=1.7,
    )
    paths = bench.charts(report, tmp_path)
    assert {p.name for p in paths} >= {"efficiency.png"}
    for path in paths:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob(".*"))  # no temporary files left


def _bench_cli(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "daskburst", "bench", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def test_cli_writes_every_file_for_one_section(tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = _bench_cli("--quick", "--only", "kernel", "--out", str(out), timeout=300)
    assert proc.returncode == 0, proc.stderr
    report = json.loads((out / "bench.json").read_text())
    assert report["results"]["calc_mean_kernel_speedup"] > 1.0
    assert "calc_mean_kernel_speedup" in (out / "summary.md").read_text()


def test_cli_rejects_an_unknown_section(tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = _bench_cli("--only", "kernel,nonsense", "--out", str(out), timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "'nonsense'" in proc.stderr
    assert not out.exists()


def test_layer_contents_groups_bytes_by_package() -> None:
    import gzip
    import io
    import tarfile

    from daskburst.bench._clusters import layer_contents

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, size in [
            ("usr/local/lib/python3.11/site-packages/numpy/core.so", 700),
            ("usr/local/lib/python3.11/site-packages/numpy.libs/libopenblas.so", 300),
            ("usr/local/lib/python3.11/site-packages/numpy-2.3.1.dist-info/RECORD", 10),
            ("usr/local/lib/python3.11/site-packages/_cffi_backend.py", 5),
            ("usr/lib/x86_64-linux-gnu/libc.so.6", 90),
        ]:
            info = tarfile.TarInfo(name)
            info.size = size
            tar.addfile(info, io.BytesIO(b"\0" * size))
    total, sizes = layer_contents(gzip.compress(buf.getvalue()))
    assert total == 1105
    assert sizes == {"numpy": 1010, "cffi_backend": 5, "usr/lib": 90}
    assert layer_contents(b'{"config": "not a layer"}' * 100) == (0, {})


def test_backends_side_by_side_with_their_burst_figures(tmp_path: Path) -> None:
    report = _report(
        efficiency={"local": 0.84, "kubernetes": 0.8},
        efficiency_vs_probe={"kubernetes": 0.9},
        k8s_apply_to_success_s=8.0,
        k8s_scale_down_s=2.4,
    )
    text = bench.summary_markdown(report)
    assert "| kubernetes | 0.8 | 0.9 |  | 8 |  | 2.4 |" in text
    assert "| local | 0.84 |  |  |  |  |  |" in text
    assert "burst.png" in {p.name for p in bench.charts(report, tmp_path)}


def test_bench_json_says_which_targets_a_run_met() -> None:
    res = {"k8s_apply_to_success_s": 5.9, "k8s_scale_up_s": 7.0, "efficiency": {"local": 0.9},
           "array_peak_rss_bytes": 10, "array_memory_bound_bytes": 9, "k8s_pod_start_s": 1.5}  # fmt: skip
    checks = bench.target_checks(res)
    assert checks["k8s_apply_to_success_s"] == {
        "value": 5.9,
        "target": 6.0,
        "op": "<=",
        "met": True,
    }
    assert checks["k8s_scale_up_s"]["met"] is False
    assert checks["efficiency.local"] == {"value": 0.9, "target": 0.85, "op": ">=", "met": True}
    assert checks["array_peak_rss_bytes"]["met"] is False
    assert "k8s_pod_start_s" not in checks  # no target
    text = bench.summary_markdown(_report(**res))
    assert "| k8s_scale_up_s | 7 | <= 5 | **no** |" in text
    assert "| array_peak_rss_bytes | 10 | <= array_memory_bound_bytes | **no** |" in text


def test_the_cluster_profile_counts_time_in_tasks_and_a_round_trip() -> None:
    """A task that sleeps 0.2 s shows as at least that long in its worker; distributed's
    round trip is counted apart from it."""
    import time

    import dask

    from daskburst.backends import BackendOptions, open_backend
    from daskburst.bench._sections import _cluster_profile

    nap = dask.delayed(time.sleep, pure=False)
    with open_backend("local", BackendOptions(workers=1)) as session:
        busiest, trip = _cluster_profile(session, lambda: session.compute([nap(0.2)]), 2)
    assert 0.2 <= busiest < 2.0
    assert 0 < trip < busiest
