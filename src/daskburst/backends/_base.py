"""Backend registry, options and the session the runner computes through."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import dask

from daskburst import config
from daskburst.backends._measure import CountTasks, Measured, cluster_measures, local_memory
from daskburst.backends._progress import ClientProgress, LineProgress, PeakConcurrency, mode_of
from daskburst.errors import BackendError, UserError

BACKENDS = ("auto", "sync", "threads", "processes", "local", "address", "slurm", "kubernetes")
#: Seconds between two looks at a distributed computation (workers, progress, Ctrl-C).
_TICK = 1.0
#: Seconds between two "waiting for workers" lines.
_NOTE_EVERY = 10.0


@dataclass(frozen=True)
class BackendOptions:
    """What the user asked of the backend; ``None`` means "use dask config".

    ``progress`` is ``bar``, ``lines`` or ``off`` (True and False mean ``bar`` and ``off``).
    """

    workers: int | None = None
    threads_per_worker: int | None = None
    adapt: tuple[int, int] | None = None
    address: str | None = None
    progress: bool | str = False
    extra: dict[str, Any] = field(default_factory=dict)


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
            with LineProgress(config.get_seconds("progress-interval")):
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
        show_after = config.get_seconds("progress-interval") if mode == "lines" else 1.0
        progress: ClientProgress | None = None
        start = time.monotonic()
        without_workers_since: float | None = None
        noted = 0.0
        try:
            self._observe()
            while True:
                # Not distributed.wait(futures, timeout): each timed-out call leaves a waiting
                # coroutine that keeps the futures, so their results stay wanted and adaptive
                # scaling never retires the workers holding them.
                if _settle(futures, _TICK):
                    break
                if any(f.status in ("error", "cancelled") for f in futures):
                    break  # gather raises it now, without waiting for the other tasks
                now = time.monotonic()
                if progress is None and mode != "off" and now - start >= show_after:
                    interval = config.get_seconds("progress-interval")
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


def _settle(futures: Sequence[Any], seconds: float) -> bool:
    """Return True as soon as every future is done, else False after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        if all(f.done() for f in futures):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)


def parse_adapt(value: str | Sequence[int] | None, name: str = "--adapt") -> tuple[int, int] | None:
    """Parse ``"MIN:MAX"`` into a tuple, validating it.

    Args:
        value: ``"MIN:MAX"``, a pair, or None.
        name: The flag or setting, for the error message.

    Returns:
        ``(minimum, maximum)`` or None.

    Raises:
        UserError: When the text is not two integers with 0 <= MIN <= MAX, MAX >= 1.
    """
    if value is None or value == "":
        return None
    try:
        if isinstance(value, str):
            lo, hi = (int(p) for p in value.split(":"))
        else:
            lo, hi = (int(v) for v in value)
    except (TypeError, ValueError):
        raise UserError(f"{name} {value!r}: expected MIN:MAX with two integers, e.g. 0:4") from None
    if lo < 0 or hi < 1 or lo > hi:
        raise UserError(f"{name} {lo}:{hi}: expected 0 <= MIN <= MAX and MAX >= 1")
    return lo, hi


def resolve_adapt(given: str | Sequence[int] | None) -> tuple[int, int] | None:
    """Return ``--adapt`` if given, else ``daskburst.adapt``, parsed and validated."""
    value = config.get("adapt", override_with=given)
    return parse_adapt(value, config.label("adapt", "--adapt", given))


def resolve_backend_name(name: str | None, address: str | None = None) -> str:
    """Resolve ``auto`` and validate the backend name.

    Args:
        name: A name from :data:`BACKENDS`, or None for ``daskburst.backend``.
        address: A scheduler address given explicitly (``--address``): it implies the
            ``address`` backend, and no other backend may be named with it.

    Returns:
        A concrete backend name (never ``auto``).

    Raises:
        UserError: For an unknown name, or an address with another backend.
    """
    if address and name not in (None, "auto", "address"):
        raise UserError(
            f"--address {address!r}: only used by --backend address; got --backend {name} "
            "(drop --address, or use --backend address)"
        )
    if address:
        return "address"
    chosen = config.get_choice("backend", BACKENDS, override_with=name, flag="--backend")
    if chosen == "auto":
        has_address = config.get("address") or os.environ.get("DASK_SCHEDULER_ADDRESS")
        return "address" if has_address else "local"
    return chosen


Opener = Callable[[BackendOptions], contextlib.AbstractContextManager[Session]]


def _opener(name: str) -> Opener:
    if name in ("sync", "threads", "processes"):
        from daskburst.backends._local import open_scheduler

        return lambda opts: open_scheduler(name, opts)
    if name == "local":
        from daskburst.backends._local import open_local_cluster

        return open_local_cluster
    if name == "address":
        from daskburst.backends._local import open_address

        return open_address
    if name == "slurm":
        from daskburst.backends._slurm import open_slurm

        return open_slurm  # type: ignore[no-any-return,unused-ignore]
    if name == "kubernetes":
        from daskburst.backends._kubernetes import open_kubernetes  # type: ignore[import-not-found,unused-ignore]

        return open_kubernetes  # type: ignore[no-any-return,unused-ignore]
    raise UserError(f"backend {name!r}: expected one of {', '.join(BACKENDS)}")


def check_options(name: str | None, options: BackendOptions | None = None) -> str:
    """Validate the backend and its options (flags and config) before anything starts.

    Args:
        name: Backend name, or None/``auto``.
        options: The options to check.

    Returns:
        The concrete backend name.

    Raises:
        UserError: For an unknown backend or a bad option, flag or setting.
    """
    opts = options or BackendOptions()
    concrete = resolve_backend_name(name, opts.address)
    workers = config.get_optional_int("workers", opts.workers, flag="--workers")
    config.get_optional_int(
        "threads-per-worker", opts.threads_per_worker, flag="--threads-per-worker"
    )
    config.get_seconds("worker-timeout")
    config.get_seconds("connect-timeout")
    _check_sizes(concrete, opts, workers)
    return concrete


#: The ``BackendOptions.extra`` keys each backend reads (slurm: the SLURM job options, which
#: its own builder checks). Any other backend reads none.
_EXTRA_KEYS: dict[str, tuple[str, ...] | None] = {
    "slurm": None,
    "kubernetes": ("image", "namespace", "name"),
}

#: Backends that scale (``--adapt``) and whose workers have threads of their own.
_SCALING = ("local", "slurm", "kubernetes")
#: Backends that start every worker on this machine, at once.
_HERE = ("processes", "local")


def _check_sizes(backend: str, opts: BackendOptions, workers: int | None) -> None:
    """Refuse sizes no backend can start, and flags this backend would silently ignore."""
    cap = config.get_int("limits.workers")
    label = config.label("workers", "--workers", opts.workers)
    if workers is not None and workers > cap:
        raise UserError(f"{label} {workers}: expected at most {cap} (daskburst.limits.workers)")
    if workers is not None and backend in _HERE:
        here = 4 * (os.cpu_count() or 1)
        if workers > here:
            raise UserError(
                f"{label} {workers}: expected at most {here} on this machine (4 per core): the "
                f"{backend} backend starts every worker here at once"
            )
    if opts.adapt is not None:
        shown = f"{opts.adapt[0]}:{opts.adapt[1]}"
        if backend not in _SCALING:
            raise UserError(
                f"--adapt {shown}: the {backend} backend does not scale; expected --backend "
                "local, slurm or kubernetes, or --workers N"
            )
        if opts.adapt[1] > cap:
            raise UserError(
                f"--adapt {shown}: expected a maximum of at most {cap} (daskburst.limits.workers)"
            )
        if opts.workers is not None:
            raise UserError(
                f"--workers {opts.workers} with --adapt {shown}: expected one of them (an "
                "adaptive cluster starts with MIN workers)"
            )
    known = _EXTRA_KEYS.get(backend, ())
    unused = [k for k in opts.extra if opts.extra[k] is not None and known is not None
              and k not in known]  # fmt: skip
    if unused:
        # The command line names the SLURM flags first (cli.slurm.slurm_extra).
        k8s = _EXTRA_KEYS["kubernetes"] or ()
        wanted = "kubernetes" if all(k in k8s for k in unused) else "slurm"
        names = ", ".join(f"--{k.replace('_', '-')}" for k in unused)
        raise UserError(
            f"{names} (backend_extra {', '.join(map(repr, unused))}): the {backend} backend does "
            f"not use {'it' if len(unused) == 1 else 'them'}; expected --backend {wanted}"
        )
    if opts.threads_per_worker is not None and backend not in _SCALING:
        raise UserError(
            f"--threads-per-worker {opts.threads_per_worker}: the {backend} backend has no "
            "worker processes with threads; expected --workers N (its pool size)"
        )


@contextlib.contextmanager
def open_backend(name: str | None, options: BackendOptions | None = None) -> Iterator[Session]:
    """Start (or connect to) a backend and always tear it down afterwards.

    Args:
        name: Backend name, or None/``auto`` to choose from config and environment.
        options: Worker counts, adaptivity, address.

    Yields:
        A :class:`Session` to compute through.

    Raises:
        UserError: For an unknown backend or bad options.
        BackendError: When the backend cannot start or get workers.
    """
    opts = options or BackendOptions()
    concrete = check_options(name, opts)
    with _opener(concrete)(opts) as session:
        yield session


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
