"""While user code waits on a cluster: say so, and fail instead of waiting for ever.

A script's ``dask.compute`` blocks in distributed until its results come. When every worker
is gone and none comes back (typically: each worker dies at once on a task that imports a
module only the client has), it would block for ever. The watchdog counts the cluster's
workers every second while some client of this process waits for results; after 10 s without
any it says so every 10 s, and after ``daskburst.worker-timeout`` seconds it interrupts the
script and the run fails in one line that names the modules the workers probably lack.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from daskburst.backends import note

#: Seconds between two looks at the cluster, and between two "waiting" lines.
_TICK = 1.0
_NOTE_EVERY = 10.0
#: Seconds without any worker, after having had some, before blaming modules they lack.
_LOST_GRACE = 15.0


def _waiting_for_results(client: Any) -> bool:
    """Whether any client of this process holds futures (a compute is waiting)."""
    from distributed.client import default_client

    clients = {id(client): client}
    with contextlib.suppress(ValueError):
        other = default_client()
        clients[id(other)] = other
    return any(getattr(c, "futures", None) for c in clients.values())


class Watchdog:
    """Interrupts the main thread with a reason once the cluster has had no worker too long."""

    def __init__(
        self, client: Any, timeout: float, what: str, unshipped: Callable[[], list[str]]
    ) -> None:
        self.client = client
        #: The modules the workers cannot import (see :func:`unshipped_modules`).
        self.unshipped = unshipped
        self.timeout = timeout
        self.what = what
        self.reason: str | None = None
        self._initial = 0
        self._stop = threading.Event()
        self._ignored = False
        self._main = threading.main_thread().ident
        self._thread = threading.Thread(target=self._run, name="daskburst-watchdog", daemon=True)

    def _workers(self) -> int:
        return int(self.client.scheduler_info(n_workers=0).get("n_workers", 0))

    def _run(self) -> None:
        since: float | None = None
        noted = 0.0
        had_workers = self._initial > 0
        while not self._stop.wait(_TICK):
            try:
                n = self._workers()
                had_workers = had_workers or n > 0
                if n > 0 or not _waiting_for_results(self.client):
                    since = None
                    continue
            except Exception:  # noqa: BLE001 - counting is best effort
                continue
            now = time.monotonic()
            since = since or now
            waited = now - since
            if waited >= _NOTE_EVERY and now - noted >= _NOTE_EVERY:
                noted = now
                note(f"waiting for workers: 0 connected after {waited:.0f} s, results pending")
            # Every worker went away while tasks wait, and the script uses code the workers
            # cannot import: they died unpickling it and will again. A restarting worker is
            # back within seconds, so a short grace is enough to tell.
            lost = had_workers and waited >= min(self.timeout, _LOST_GRACE)
            if lost and self.unshipped():
                self._fire(f"{self.what}: every worker died once it got a task")
                return
            if waited >= self.timeout:
                self._fire(
                    f"{self.what}: no worker for {self.timeout:g} s while the script waited for "
                    "results (daskburst.worker-timeout)"
                )
                return

    def _fire(self, reason: str) -> None:
        self.reason = reason
        if self._main is not None and not self._stop.is_set():
            signal.pthread_kill(self._main, signal.SIGINT)

    def _only_ours(self, signum: int, frame: Any) -> None:
        """SIGINT while it is ignored (a background run): only the watchdog's own interrupts."""
        if self.reason is not None:
            raise KeyboardInterrupt

    def __enter__(self) -> Watchdog:
        # Started in the background (`daskburst run ... &` in a script), the process ignores
        # SIGINT, and with it the watchdog's interrupt: the script would wait for ever.
        # Ctrl-C stays ignored; the watchdog's interrupt is taken.
        self._ignored = signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        if self._ignored:
            signal.signal(signal.SIGINT, self._only_ours)
        # Counted now: a worker that dies on the first task may be gone before the first tick.
        try:
            self._initial = self._workers()
        except Exception:  # noqa: BLE001 - counting is best effort
            self._initial = 0
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        if self._ignored:
            signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextlib.contextmanager
def watching(
    session: Any, timeout: float, unshipped: Callable[[], list[str]]
) -> Iterator[Watchdog | None]:
    """A :class:`Watchdog` for a cluster session (None for dask's local schedulers)."""
    if session.client is None or threading.current_thread() is not threading.main_thread():
        yield None
        return
    with Watchdog(session.client, timeout, session.backend, unshipped) as dog:
        yield dog


def _importable_from(path: Path, name: str, root: Path) -> bool:
    """Whether top-level module ``name`` at ``path`` is found with ``root`` on sys.path."""
    return path in (root / f"{name}.py", root / name / "__init__.py") or path.parent == root / name


def unshipped_modules(shipped: Path | None, environment: list[str]) -> list[str]:
    """Modules the client imported from files the workers cannot import.

    That is, from neither the environment's own paths (``environment``: ``sys.path`` before
    the script ran, where installed packages are) nor the top of the shipped directory
    (a module in a subdirectory that the script put on its own ``sys.path`` does not count:
    the workers do not run that line). The likely cause of workers that die as soon as they
    get a task.
    """
    installed = tuple(
        str(Path(p).resolve()) + os.sep
        for p in environment
        if p and Path(p).is_dir() and not Path(p, "daskburst").is_file()  # not the bin dir
    )
    root = shipped.resolve() if shipped is not None else None
    found = []
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if not file or "." in name or name.startswith("__"):
            continue
        path = Path(file).resolve()
        if str(path).startswith(installed):
            continue
        if root is not None and _importable_from(path, name, root):
            continue
        found.append(f"{name} ({file})")
    return sorted(found)
