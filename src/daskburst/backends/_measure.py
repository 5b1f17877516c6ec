"""What a computation really cost, for the run record: its tasks and its peak memory.

On dask's local schedulers the graph the scheduler runs is counted as it starts, and the
memory of this process and its children (the ``processes`` pool) is sampled. On a
cluster the scheduler counts: the computation runs in a distributed span, whose task
groups know every task it ran, and distributed's ``MemorySampler`` samples the workers'
process memory. Both are best effort: a scheduler that cannot tell (an older one behind
``--address``) gives ``None``, never a guess.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from dask.callbacks import Callback

#: Seconds between two memory samples (distributed's MemorySampler default).
INTERVAL = 0.5


@dataclass
class Measured:
    """Tasks run and peak memory in bytes (None: not known), and what the memory is of."""

    tasks: int | None = None
    peak_memory: int | None = None
    memory_of: str = ""

    def record(self) -> dict[str, Any]:
        """The run record's ``tasks`` and ``peak_memory`` entries."""
        return {
            "tasks": self.tasks,
            "peak_memory": {"bytes": self.peak_memory, "of": self.memory_of},
        }


class CountTasks(Callback):
    """Count the tasks of the graph dask's local scheduler runs (after optimization)."""

    def __init__(self, measured: Measured) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.measured = measured

    def _start(self, dsk: Any) -> None:
        self.measured.tasks = (self.measured.tasks or 0) + len(dsk)


def _process_tree_rss() -> int:
    import psutil

    me = psutil.Process()
    total = me.memory_info().rss
    for child in me.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            total += child.memory_info().rss
    return int(total)


@contextlib.contextmanager
def local_memory(measured: Measured) -> Iterator[None]:
    """Sample the memory of this process and its children while the block runs."""
    peak = [_process_tree_rss()]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(INTERVAL):
            peak.append(max(peak.pop(), _process_tree_rss()))

    thread = threading.Thread(target=sample, name="daskburst-memory", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        measured.peak_memory = max(peak.pop(), _process_tree_rss())
        measured.memory_of = (
            f"this process and its children, resident, sampled every {INTERVAL:g} s"
        )


@contextlib.contextmanager
def cluster_measures(client: Any, measured: Measured) -> Iterator[None]:
    """Run the block in a distributed span and sample the workers' memory; fill ``measured``."""
    from distributed import span

    with span("daskburst") as span_id:
        key = _start_sampler(client)
        ok = False
        try:
            yield
            ok = True
        finally:
            samples = _stop_sampler(client, key, timeout=None if ok else 2)
    if samples:
        measured.peak_memory = int(max(value for _, value in samples))
        measured.memory_of = (
            f"the workers' processes together, resident, sampled every {INTERVAL:g} s"
        )
    measured.tasks = span_tasks(client, span_id)


def _start_sampler(client: Any) -> str | None:
    try:
        return str(
            client.sync(
                client.scheduler.memory_sampler_start,
                client=client.id,
                measure="process",
                interval=INTERVAL,
            )
        )
    except Exception:  # noqa: BLE001 - a scheduler without the sampler: memory unknown
        return None


def _stop_sampler(client: Any, key: str | None, timeout: float | None) -> list[Any]:
    if key is None:
        return []
    try:
        samples = client.sync(
            client.scheduler.memory_sampler_stop, key=key, callback_timeout=timeout
        )
    except Exception:  # noqa: BLE001 - best effort: the run's own outcome decides
        return []
    return list(samples or [])


def span_tasks(client: Any, span_id: str) -> int | None:
    """Return how many tasks the scheduler ran in span ``span_id`` (None: it cannot tell).

    A span's task groups count their tasks in every state, ``forgotten`` included, so
    the count stays right after the tasks were released.
    """

    # Nested, hence pickled by value: the scheduler needs no daskburst to run it.
    def count(dask_scheduler: Any, span_id: str) -> int | None:
        spans = dask_scheduler.extensions.get("spans")
        found = spans.spans.get(span_id) if spans is not None else None
        return None if found is None else int(sum(found.states.values()))

    try:
        value = client.run_on_scheduler(count, span_id=span_id)
    except Exception:  # noqa: BLE001 - an older or foreign scheduler: unknown, not a guess
        return None
    return None if value is None else int(value)
