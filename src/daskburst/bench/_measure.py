"""Measuring tools: problem sizes, best-of timing, the machine and its RNG limit.

Every figure is a ratio of two timings taken in the same run on the same
machine, so a noisy or slow machine still gives meaningful numbers. Each timing
is the best of a few repeats (the least disturbed one). The sizes are the job
catalogue's (:mod:`daskburst.catalogue`).
"""

from __future__ import annotations

import contextlib
import os
import platform
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from daskburst.catalogue import BENCH_FULL, BENCH_QUICK, BenchSizes
from daskburst.execute import versions
from daskburst.rng import stream

#: Problem sizes of one benchmark run.
Sizes = BenchSizes
#: ``daskburst bench --quick`` and ``daskburst bench``: the job catalogue's bench sizes.
QUICK = BENCH_QUICK
FULL = BENCH_FULL


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


class Rounds(NamedTuple):
    """Medians over the rounds of :func:`against_limit`."""

    #: ``draws`` per second of the run over the one-core limit times the cores.
    ratio: float
    #: All cores drawing at once over the limit (None unless asked for).
    probe: float | None = None
    #: The run's rate over the all-cores rate of the same round (None unless asked for).
    vs_probe: float | None = None


def against_limit(
    sizes: Sizes, draws: int, run: Callable[[], Any], rounds: int, probe: bool = False
) -> Rounds:
    """``draws`` per second of ``run`` over the limit, measured in alternation.

    Each round measures the limit right before the run, and each figure is the
    median of the rounds' ratios: on a shared machine whose speed drifts, both
    sides of every ratio see the same conditions.

    Args:
        sizes: Problem sizes (``limit_draws`` sets the probes' length).
        draws: Normals ``run`` draws.
        run: One run of the work.
        rounds: Number of rounds.
        probe: Also measure all cores drawing at once (:func:`rng_all_cores_once`)
            right before and right after each run: the share of the limit the bare
            hardware reached around it, and the run against the mean of the two.

    Returns:
        The medians.
    """
    n = sizes.limit_draws // 2
    ratios, probes, vs_probe = [], [], []
    for _ in range(rounds):
        limit = rng_limit_once(n)
        before = rng_all_cores_once(n) if probe else 0.0
        rate = draws / best_of(1, run)
        ratios.append(rate / limit)
        if probe:
            hardware = (before + rng_all_cores_once(n)) / 2
            probes.append(hardware / limit)
            vs_probe.append(rate / hardware)

    def median(values: list[float]) -> float | None:
        return float(np.median(values)) if values else None

    return Rounds(float(np.median(ratios)), median(probes), median(vs_probe))
