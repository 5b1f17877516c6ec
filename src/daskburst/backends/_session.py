"""What a backend is given and what it yields: :class:`BackendOptions` and :class:`Session`.

Every backend (``_local``, ``_slurm``, ``_kubernetes``) builds on this module and nothing here
knows any backend, so none of them imports another through it.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import dask

from daskburst import config
from daskburst.backends._measure import CountTasks, Measured, cluster_measures, local_memory
from daskburst.backends._progress import ClientProgress, LineProgress, PeakConcurrency, mode_of
from daskburst.errors import BackendError

#: Seconds between two looks at a distributed computation (workers, progress, Ctrl-C).
_TICK = 1.0
#: Seconds between two "waiting for workers" lines.
_NOTE_EVERY = 10.0


@dataclass(frozen=True)
class BackendOptions:
    """What the user asked of the backend; ``None`` means "use dask config".

    :func:`resolve_options` fills in the settings, once; after it a ``None`` worker count
    or thread count means "not set", which each backend reads as ``daskburst.yaml`` says.
    ``progress`` is ``bar``, ``lines`` or ``off`` (True and False mean ``bar`` and ``off``).
    """

    workers: int | None = None
    threads_per_worker: int | None = None
    adapt: tuple[int, int] | None = None
    address: str | None = None
    progress: bool | str = False
    extra: dict[str, Any] = field(default_factory=dict)
    #: Seconds to wait for workers (``daskburst.worker-timeout``).
    worker_timeout: float | None = None
    #: Seconds to keep retrying a scheduler address (``daskburst.connect-timeout``).
    connect_timeout: float | None = None


@dataclass(frozen=True)
class ResolvedOptions(BackendOptions):
    """:class:`BackendOptions` after :func:`resolve_options`: every setting has its value.

    The backends take these; the timeouts are plain seconds.
    """

    worker_timeout: float = 0.0
    connect_timeout: float = 0.0


def resolve_options(opts: BackendOptions) -> ResolvedOptions:
    """Return ``opts`` with every setting it stands for resolved: the flag, else the setting.

    The one place ``workers``, ``threads-per-worker``, ``worker-timeout`` and
    ``connect-timeout`` are read; resolved options are returned as they are.

    Raises:
        UserError: Naming the flag, or the setting and its source, of a bad value.
    """
    if isinstance(opts, ResolvedOptions):
        return opts
    given = {f.name: getattr(opts, f.name) for f in fields(BackendOptions)}
    return ResolvedOptions(
        **{
            **given,
            "workers": config.get_optional_int("workers", opts.workers, flag="--workers"),
            "threads_per_worker": config.get_optional_int(
                "threads-per-worker", opts.threads_per_worker, flag="--threads-per-worker"
            ),
            "worker_timeout": config.get_seconds("worker-timeout", opts.worker_timeout),
            "connect_timeout": config.get_seconds("connect-timeout", opts.connect_timeout),
        }
    )


def progress_interval() -> float:
    """Seconds between two progress lines (``daskburst.progress-interval``)."""
    return config.get_seconds("progress-interval")


def note(message: str) -> None:
    """Write one status line on stderr (stdout is for results)."""
    sys.stderr.write(message.rstrip("\n") + "\n")
    sys.stderr.flush()


@dataclass
class Session:
    """A running backend: either a local dask scheduler name or a distributed client.

    ``workers`` is the size the backend was asked for; :attr:`peak_workers` is how
    many really ran, observed while computing: the most tasks running at once on
    dask's local schedulers, the most workers connected on a cluster (through
    ``count_workers``, which a backend may replace, e.g. to count SLURM jobs).
    """

    backend: str
    workers: int
    scheduler: str | None = None
    client: Any = None
    cluster: Any = None
    dashboard_link: str | None = None
    progress: bool | str = False
    pool: Any = None
    #: Fail a computation when no worker was connected for this many seconds (None: never).
    worker_timeout: float | None = None
    #: Returns the number of workers now (clusters); default asks the scheduler.
    count_workers: Callable[[], int] | None = None
    #: Called every 10 s without workers: a reason none can ever come fails the run at once.
    why_no_workers: Callable[[], str | None] | None = None
    peak_workers: int = 0
    #: Called with the finished run record, to keep it where the backend's jobs keep results
    #: (a DaskJob's runner stores it in a ConfigMap for `daskburst k8s results`).
    publish: Callable[[dict[str, Any]], None] | None = None
    #: Tasks run and peak memory of the computations so far (see :mod:`._measure`).
    measured: Measured = field(default_factory=Measured)

    def compute(self, collections: Sequence[Any]) -> tuple[Any, ...]:
        """Compute all ``collections`` in ONE call on this backend.

        Args:
            collections: Dask collections (delayed, arrays, bags, dataframes, scalars).

        Returns:
            Their computed values, in order.

        Raises:
            BackendError: When a cluster has no worker for ``worker_timeout`` seconds.
        """
        if self.client is not None:
            with cluster_measures(self.client, self.measured):
                return self._compute_on_client(collections)
        peak = PeakConcurrency()
        with contextlib.ExitStack() as stack:
            stack.enter_context(peak)
            stack.enter_context(CountTasks(self.measured))
            stack.enter_context(local_memory(self.measured))
            stack.enter_context(self.local_progress())
            try:
                return tuple(dask.compute(*collections, **self.local_settings()))
            finally:
                self.peak_workers = max(self.peak_workers, peak.peak)

    def local_settings(self) -> dict[str, Any]:
        """Dask's keywords for this session's local scheduler (the dask config keys too).

        For ``processes`` the session's one pool, with tasks handed out one by one: dask
        batches 6 per submission by default, which leaves cores idle when there are few
        long tasks (8 replicates on 2 cores ran as 6 + 2).
        """
        settings: dict[str, Any] = {"scheduler": self.scheduler}
        if self.pool is not None:
            settings["pool"] = self.pool
            settings["chunksize"] = 1
        elif self.scheduler in ("threads", "processes") and self.workers:
            settings["num_workers"] = self.workers
        return settings

    @contextlib.contextmanager
    def local_progress(self) -> Iterator[None]:
        """Progress of dask's local schedulers on stderr, as :attr:`progress` says."""
        mode = mode_of(self.progress)
        if mode == "bar":
            from dask.diagnostics import ProgressBar

            with ProgressBar(minimum=1.0, out=sys.stderr):
                yield
        elif mode == "lines":
            with LineProgress(progress_interval()):
                yield
        else:
            yield

    def _workers_now(self) -> int:
        if self.count_workers is not None:
            return int(self.count_workers())
        return int(self.client.scheduler_info(n_workers=0).get("n_workers", 0))

    def _observe(self) -> int:
        try:
            n = self._workers_now()
        except Exception:  # noqa: BLE001 - counting is best effort; the computation decides
            return -1
        self.peak_workers = max(self.peak_workers, n)
        return n

    def _compute_on_client(self, collections: Sequence[Any]) -> tuple[Any, ...]:
        futures = self.client.compute(list(collections))
        mode = mode_of(self.progress)
        # Like dask's own bar, show progress only for runs that last: a bar after 1 s,
        # lines after the first interval.
        show_after = progress_interval() if mode == "lines" else 1.0
        progress: ClientProgress | None = None
        start = time.monotonic()
        without_workers_since: float | None = None
        noted = 0.0
        try:
            self._observe()
            settled = _Settled(futures)
            while True:
                # Not distributed.wait(futures, timeout): each timed-out call leaves a waiting
                # coroutine that keeps the futures, so their results stay wanted and adaptive
                # scaling never retires the workers holding them.
                if settled.wait(_TICK):
                    break
                if any(f.status in ("error", "cancelled") for f in futures):
                    break  # gather raises it now, without waiting for the other tasks
                now = time.monotonic()
                if progress is None and mode != "off" and now - start >= show_after:
                    interval = progress_interval()
                    progress = ClientProgress(self.client, futures, mode, interval, start)
                if self._observe() != 0:
                    without_workers_since = None
                    continue
                without_workers_since = without_workers_since or now
                waited = now - without_workers_since
                if self.worker_timeout is not None and waited >= self.worker_timeout:
                    raise BackendError(
                        f"{self.backend}: no worker connected within {self.worker_timeout:g} s "
                        "(daskburst.worker-timeout); check that the cluster can start workers"
                    )
                if now - start >= _NOTE_EVERY and now - noted >= _NOTE_EVERY:
                    noted = now
                    never = self.why_no_workers() if self.why_no_workers is not None else None
                    if never:
                        raise BackendError(f"{self.backend}: no worker connected: {never}")
                    note(f"waiting for workers: 0 of 1 after {waited:.0f} s")
            self._observe()
            if progress is not None:
                progress.stop()
                progress = None
            return tuple(self.client.gather(futures))
        except BaseException:
            # Ctrl-C or a failure: stop the rest of the work before the cluster goes.
            if progress is not None:
                progress.stop(wait=0)
            with contextlib.suppress(Exception):
                self.client.cancel(futures)
            raise


class _Settled:
    """Set the moment every future is done, or one has failed or was cancelled.

    Futures' done callbacks set it, so a finished compute returns at once: polling every
    20 ms added 10 ms to each compute on average (about 4 % of the bag on 8 files).
    """

    def __init__(self, futures: Sequence[Any]) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._left = len(futures)
        if not futures:
            self._event.set()
        for future in futures:
            future.add_done_callback(self._one_done)

    def _one_done(self, future: Any) -> None:
        with self._lock:
            self._left -= 1
            if self._left <= 0 or future.status in ("error", "cancelled"):
                self._event.set()

    def wait(self, seconds: float) -> bool:
        """Return True as soon as it is set, else False after ``seconds``."""
        return self._event.wait(seconds)


def wait_for_workers(
    client: Any,
    n: int,
    timeout: float,
    what: str,
    diagnose: Callable[[], str | None] | None = None,
) -> None:
    """Block until ``n`` workers are connected, saying so on stderr, or fail clearly.

    Every 10 s without them a line ``waiting for workers: 0 of 2 after 10 s`` goes to
    stderr; after ``timeout`` seconds the wait ends with an error.

    Args:
        client: A ``distributed.Client``.
        n: Workers to wait for (0 returns at once).
        timeout: Seconds.
        what: Backend description for the error message.
        diagnose: Called every 10 s while waiting: a reason no worker can ever come ends
            the wait at once with it (None: keep waiting).

    Raises:
        BackendError: When the workers do not arrive in time.
    """
    if n <= 0:
        return
    start = time.monotonic()

    def have() -> int:
        return int(client.scheduler_info(n_workers=0).get("n_workers", 0))

    while True:
        waited = time.monotonic() - start
        left = timeout - waited
        if left <= 0:
            raise BackendError(
                f"{what}: only {have()} of {n} workers connected within {timeout:g} s "
                "(raise daskburst.worker-timeout or check the cluster)"
            )
        try:
            client.wait_for_workers(n, timeout=min(_NOTE_EVERY, left))
            return
        except TimeoutError:
            waited = time.monotonic() - start
            never = diagnose() if diagnose is not None else None
            if never:
                raise BackendError(f"{what}: {have()} of {n} workers connected: {never}") from None
            if waited < timeout:
                note(f"waiting for workers: {have()} of {n} after {waited:.0f} s")
