"""Progress on stderr while a run computes: a bar on a terminal, a line now and then in logs.

``bar`` redraws one line (dask's and distributed's progress bars, on stderr so
stdout keeps only results); ``lines`` prints ``progress: 40% (4 of 10 tasks) after
1 min`` every ``daskburst.progress-interval`` seconds, which reads well in batch
job logs; ``off`` prints nothing.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

from dask.callbacks import Callback

MODES = ("bar", "lines", "off")


def mode_of(progress: bool | str | None) -> str:
    """Normalize a progress option: True is ``bar``, False/None is ``off``."""
    if progress is True:
        return "bar"
    if progress in (False, None):
        return "off"
    return str(progress)


def elapsed_text(seconds: float) -> str:
    """Return ``42 s``, ``3 min 5 s`` or ``2 h 10 min``."""
    s = int(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {s % 3600 // 60} min"


def progress_line(done: int, total: int, seconds: float) -> str:
    """Return one progress line, e.g. ``progress: 40% (4 of 10 tasks) after 1 min 0 s``."""
    percent = int(100 * done / total) if total else 100
    return f"progress: {percent}% ({done} of {total} tasks) after {elapsed_text(seconds)}\n"


class LineProgress(Callback):
    """Print a progress line every ``interval`` seconds while dask's local scheduler runs."""

    def __init__(self, interval: float, out: Any = None) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.interval = interval
        self.out = out or sys.stderr
        self._total = 0
        self._done = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _start_state(self, dsk: Any, state: Any) -> None:
        self._total = len(state["ready"]) + len(state["waiting"])
        self._done = 0
        self._stop.clear()
        self._start = time.monotonic()
        self._thread = threading.Thread(target=self._report, daemon=True)
        self._thread.start()

    def _posttask(self, key: Any, result: Any, dsk: Any, state: Any, worker_id: Any) -> None:
        self._done += 1

    def _finish(self, dsk: Any, state: Any, errored: bool) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _report(self) -> None:
        while not self._stop.wait(self.interval):
            seconds = time.monotonic() - self._start
            self.out.write(progress_line(self._done, self._total, seconds))
            self.out.flush()


class PeakConcurrency(Callback):
    """Count the most tasks dask's local scheduler ran at the same time (workers really used)."""

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.running = 0
        self.peak = 0
        self._lock = threading.Lock()

    def _pretask(self, key: Any, dsk: Any, state: Any) -> None:
        with self._lock:
            self.running += 1
            self.peak = max(self.peak, self.running)

    def _posttask(self, key: Any, result: Any, dsk: Any, state: Any, worker_id: Any) -> None:
        with self._lock:
            self.running -= 1


class ClientProgress:
    """Show the progress of futures on a distributed cluster without blocking.

    It uses distributed's own progress plugin (the scheduler's ``feed``), started
    in the client's event loop. :meth:`stop` waits until the scheduler side has
    let go of it, so that closing a cluster right after a run never cancels a
    feed midway (which the scheduler would log as an error).

    Args:
        client: The ``distributed.Client``.
        futures: The futures being computed (held until :meth:`stop`).
        mode: ``bar`` or ``lines``.
        interval: Seconds between lines (``lines``).
        started: ``time.monotonic()`` when the run started (elapsed times count from it).
    """

    #: Seconds between two messages of the scheduler's feed.
    FEED_INTERVAL = 0.1

    def __init__(
        self, client: Any, futures: Any, mode: str, interval: float, started: float
    ) -> None:
        import asyncio

        from distributed.diagnostics.progressbar import ProgressBar

        class _Feed(ProgressBar):
            def __init__(self) -> None:
                super().__init__(  # type: ignore[no-untyped-call]
                    futures,
                    scheduler=client.scheduler.address,
                    interval=ClientProgress.FEED_INTERVAL,
                    complete=True,
                )
                self.next_line = 0.0  # a first line at once: the run already lasted
                self.drawn = False

            @property
            def elapsed(self) -> float:
                return time.monotonic() - started

            def _draw_bar(self, remaining: int, all: int, **kwargs: Any) -> None:  # noqa: A002
                done = all - remaining
                if mode == "bar":
                    frac = done / all if all else 1.0
                    bar = "#" * int(40 * frac)
                    sys.stderr.write(
                        f"\r[{bar:<40}] | {int(100 * frac)}% Completed | "
                        f"{elapsed_text(self.elapsed)}"
                    )
                    sys.stderr.flush()
                    self.drawn = True
                elif self.elapsed >= self.next_line:
                    self.next_line = self.elapsed + interval
                    sys.stderr.write(progress_line(done, all, self.elapsed))
                    sys.stderr.flush()

            def _draw_stop(self, **kwargs: Any) -> None:
                if self.drawn:
                    sys.stderr.write("\n")
                    sys.stderr.flush()

        self._client = client
        self._feed = _Feed()
        listen = self._feed.listen()  # type: ignore[no-untyped-call]
        self._done = asyncio.run_coroutine_threadsafe(listen, client.loop.asyncio_loop)

    def stop(self, wait: float = 2.0) -> None:
        """End the display: wait up to ``wait`` s for it to finish by itself, then cut it."""
        import concurrent.futures

        try:
            self._done.result(timeout=wait)
            return
        except (concurrent.futures.TimeoutError, Exception):  # noqa: BLE001 - display only
            pass
        comm = getattr(self._feed, "comm", None)
        if comm is not None:
            self._client.loop.asyncio_loop.call_soon_threadsafe(comm.abort)
        self._done.cancel()
        # The scheduler notices a closed feed at its next message.
        time.sleep(3 * self.FEED_INTERVAL)
