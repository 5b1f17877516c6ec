"""Glue between "what" (workloads) and "where" (backends): prepare, compute, time, record."""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import platform
import shlex
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from dask.utils import format_bytes

from daskburst import config
from daskburst._version import __version__
from daskburst.backends import (
    BackendOptions,
    Session,
    check_options,
    elapsed_text,
    mode_of,
    note,
    open_backend,
    resolve_adapt,
    resolve_options,
)
from daskburst.data import explained
from daskburst.errors import UserError
from daskburst.workloads import Plan, Workload, get_workload

_VERSIONED = ("dask", "distributed", "numpy", "pandas", "pyarrow")


def versions() -> dict[str, str]:
    """Return the versions that decide results: python, daskburst and key libraries."""
    out = {"python": platform.python_version(), "daskburst": __version__}
    for name in _VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "missing"
    return out


@dataclass
class Prepared:
    """A workload with resolved parameters and its plan, ready to compute anywhere."""

    workload: Workload
    params: dict[str, Any]
    seed: int
    plan: Plan = field(repr=False)


def now() -> str:
    """UTC time to the second, ISO 8601, for run records."""
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def provenance(
    options: BackendOptions, started: str, ended: str, command: list[str] | None = None
) -> dict[str, Any]:
    """The run record's where and when, and what was asked for (``workers`` is what ran)."""
    out: dict[str, Any] = {
        "started": started,
        "ended": ended,
        "host": socket.gethostname(),
        "requested": {
            "workers": options.workers,
            "threads_per_worker": options.threads_per_worker,
            "adapt": f"{options.adapt[0]}:{options.adapt[1]}" if options.adapt else None,
        },
    }
    if command is not None:
        out["command"] = shlex.join(command)
    return out


#: Random numbers one core draws a second (numpy's PCG64 normals: about 1e8 on this machine).
DRAWS_PER_CORE_SECOND = 1e8
#: The scheduler's own time per task (distributed: about 0.2-1 ms; local schedulers less).
SECONDS_PER_TASK = 1e-3


def estimated_seconds(tasks: int, draws: int, parallel: int) -> float:
    """A run's time from its size: its draws spread over ``parallel`` cores, its tasks one by one.

    A rough, machine-independent bound: what it refuses is far from the limit either way.
    """
    return draws / (DRAWS_PER_CORE_SECOND * max(1, parallel)) + tasks * SECONDS_PER_TASK


def _count(n: float) -> str:
    return f"{n:,.0f}" if n < 1e7 else f"{n:.2g}"


def memory_limit() -> int:
    """Return ``daskburst.limits.memory`` in bytes (``auto``: 80% of what this process may use).

    Raises:
        UserError: When the setting is neither ``auto`` nor a size such as ``8GB``.
    """
    value = config.get("limits.memory")
    if str(value).strip().lower() == "auto":
        return int(usable_memory() * 0.8)
    return config.get_bytes("limits.memory", expected="'auto' or a size such as 8GB")


def usable_memory() -> int:
    """Bytes this process may use: the smallest of RAM, its cgroup's limit and its rlimits.

    distributed's ``memory_limit`` reads RAM, the root cgroup and ``RLIMIT_RSS``; a job
    step, a container or ``systemd-run -p MemoryMax=`` puts the process in a cgroup below
    the root, and ``ulimit -v`` sets ``RLIMIT_AS``: both are read here too.
    """
    import resource

    from distributed.system import memory_limit as distributed_limit

    limits = [distributed_limit()]
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft > 0:
        limits.append(soft)
    limits += _own_cgroup_limits()
    return min(limits)


def _own_cgroup_limits() -> list[int]:
    found = []
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):  # cgroup v1
            files = [f"/sys/fs/cgroup/memory{path}/memory.limit_in_bytes"]
        elif controllers == "":  # cgroup v2
            files = [f"/sys/fs/cgroup{path}/memory.max", f"/sys/fs/cgroup{path}/memory.high"]
        else:
            continue
        for name in files:
            try:
                text = Path(name).read_text().strip()
            except OSError:
                continue
            if text.isdigit() and 0 < int(text) < 2**62:
                found.append(int(text))
    return found


def check_estimate(workload: Workload, params: dict[str, Any], parallel: int) -> None:
    """Refuse a run that cannot fit the configured limits, before its graph is built.

    Args:
        workload: The workload.
        params: Its resolved parameters.
        parallel: How many of its tasks may run at once.

    Raises:
        UserError: With the estimate and the limit it exceeds.
    """
    if workload.estimate is None:
        return
    est = workload.estimate(params, max(1, parallel))
    what = workload.name
    tasks = config.get_int("limits.tasks")
    if est.tasks > tasks:
        raise UserError(
            f"{what}: about {_count(est.tasks)} tasks; the limit is {_count(tasks)} "
            "(daskburst.limits.tasks): expected a smaller run, larger chunks, or a higher limit"
        )
    draws = config.get_int("limits.draws")
    if est.draws > draws:
        raise UserError(
            f"{what}: {_count(est.draws)} random draws; the limit is {_count(draws)} "
            "(daskburst.limits.draws): expected a smaller run or a higher limit"
        )
    limit = config.get_seconds("limits.seconds")
    seconds = estimated_seconds(est.tasks, est.draws, parallel)
    if seconds > limit:
        raise UserError(
            f"{what}: would run about {elapsed_text(seconds)} on {max(1, parallel)} core(s) "
            f"({_count(est.draws)} draws at about {DRAWS_PER_CORE_SECOND:.0e} a second a core, "
            f"{_count(est.tasks)} tasks); the limit is {elapsed_text(limit)} "
            "(daskburst.limits.seconds): expected a smaller run, more workers or a higher limit"
        )
    memory = memory_limit()
    if est.memory > memory:
        raise UserError(
            f"{what}: needs about {format_bytes(est.memory)} of memory at once; the limit is "
            f"{format_bytes(memory)} (daskburst.limits.memory): expected a smaller run, "
            "smaller chunks, or a higher limit"
        )


#: Seconds a step runs before it is announced on stderr, and between two announcements.
ANNOUNCE_AFTER = 2.0
ANNOUNCE_EVERY = 10.0


@contextlib.contextmanager
def announced(what: str, progress: bool | str) -> Iterator[None]:
    """Say on stderr that ``what`` is still going, when it lasts (not with progress off).

    A large graph takes seconds to build before any task runs and any progress bar
    could appear: without this, such a run is silent.
    """
    if mode_of(progress) == "off":
        yield
        return
    done = threading.Event()
    start = time.monotonic()

    def tell() -> None:
        wait = ANNOUNCE_AFTER
        while not done.wait(wait):
            note(f"{what}: {elapsed_text(time.monotonic() - start)}")
            wait = ANNOUNCE_EVERY

    thread = threading.Thread(target=tell, name="daskburst-announce", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def prepare(
    name: str,
    seed: int | None = None,
    *,
    parallel: int | None = None,
    progress: bool | str = False,
    **given: Any,
) -> Prepared:
    """Resolve parameters, size the run and build the graph, before any cluster starts.

    Bad input, or a run that cannot fit the limits, therefore fails in a second,
    not after a cluster came up.

    Args:
        name: Workload name.
        seed: Master seed; defaults to ``daskburst.seed``.
        parallel: Tasks that may run at once, for the memory estimate (default:
            ``daskburst.workers`` or the number of cores).
        progress: Say on stderr while a large graph is built (``off``/False: never).
        **given: Workload parameters (None = use the configured default).

    Returns:
        The prepared workload.

    Raises:
        UserError: For an unknown workload, invalid parameters or a run over a limit.
    """
    workload = get_workload(name)
    params = workload.resolve({k: v for k, v in given.items() if v is not None})
    seed_int = config.master_seed(seed)
    if parallel is None:
        parallel = resolve_options(BackendOptions()).workers or os.cpu_count() or 1
    check_estimate(workload, params, parallel)
    with announced("building the task graph", progress):
        plan = workload.build(params, seed_int)
    return Prepared(workload, params, seed_int, plan)


def compute(prepared: Prepared, session: Session) -> dict[str, Any]:
    """Compute a prepared workload through ``session`` (ONE compute call).

    Args:
        prepared: From :func:`prepare`.
        session: An open backend.

    Returns:
        The workload's result, with ``digest``.
    """
    plan = prepared.plan
    if plan.explain is None:
        values = session.compute(plan.collections)
    else:
        # A bad input file fails inside a task, naming no file: find it and say so.
        values = explained(lambda: session.compute(plan.collections), plan.explain)
    return plan.finalize(values)


def visualize(prepared: Prepared, filename: str | os.PathLike[str]) -> Path:
    """Write the task graph with graphviz, atomically.

    Args:
        prepared: From :func:`prepare`.
        filename: Output path; its suffix (``.svg``, ``.png``, ``.pdf``) picks the format.

    Returns:
        The written path.

    Raises:
        UserError: When graphviz (the Python package or the ``dot`` program) is missing.
    """
    import dask

    try:
        import graphviz  # noqa: F401
    except ImportError:
        raise UserError(
            f"--visualize {str(filename)!r}: needs graphviz; expected "
            "`pip install graphviz` and the `dot` program (apt-get install graphviz)"
        ) from None
    if shutil.which("dot") is None:
        raise UserError(
            f"--visualize {str(filename)!r}: the graphviz `dot` program is not on PATH; "
            "expected it installed (apt-get install graphviz / brew install graphviz)"
        )
    dest = Path(filename)
    suffix = dest.suffix or ".svg"
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.stem}.", suffix=suffix, dir=dest.parent or ".")
    os.close(fd)
    try:
        dask.visualize(*prepared.plan.collections, filename=tmp)
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest


def check_output(path: str | os.PathLike[str] | None, flag: str = "--output") -> None:
    """Check that the run record can be written to ``path``, before anything is computed.

    Args:
        path: The file; None, ``-`` and ``/dev/stdout`` need no check.
        flag: The flag that names it, for messages.

    Raises:
        UserError: When the directory is missing or not writable, or the path is a directory.
    """
    if path is None or str(path) in ("-", "/dev/stdout"):
        return
    from daskburst.data import special_file

    dest = Path(path)
    if special_file(dest):  # /dev/null, a pipe: written in place
        if not os.access(dest, os.W_OK):
            raise UserError(f"{flag} {str(path)!r}: is not writable")
        return
    parent = dest.parent
    if dest.is_dir():
        raise UserError(f"{flag} {str(path)!r}: is a directory; expected a file name")
    if not parent.is_dir():
        raise UserError(f"{flag} {str(path)!r}: directory {str(parent)!r} does not exist")
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".probe", dir=parent)
    except OSError as exc:
        raise UserError(
            f"{flag} {str(path)!r}: cannot write in {str(parent)!r} ({exc.strerror}); "
            "expected a writable directory"
        ) from None
    os.close(fd)
    os.unlink(probe)
    if dest.exists() and not os.access(dest, os.W_OK):
        raise UserError(f"{flag} {str(path)!r}: file is not writable")


def write_json_atomic(path: str | os.PathLike[str], payload: Any) -> None:
    """Write ``payload`` as pretty JSON via a temporary file and rename.

    ``-`` or ``/dev/stdout`` writes to standard output instead.
    """
    text = json.dumps(payload, indent=2, sort_keys=True, allow_nan=False) + "\n"
    if str(path) in ("-", "/dev/stdout"):
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    from daskburst.data import write_bytes_atomic

    check_output(path)
    write_bytes_atomic(Path(path), text.encode())


def execute(
    name: str,
    *,
    backend: str | None = None,
    seed: int | None = None,
    workers: int | None = None,
    threads_per_worker: int | None = None,
    adapt: str | tuple[int, int] | None = None,
    address: str | None = None,
    progress: bool | str = False,
    visualize_to: str | None = None,
    on_start: Any = None,
    backend_extra: dict[str, Any] | None = None,
    command: list[str] | None = None,
    **params: Any,
) -> dict[str, Any]:
    """Run one workload on one backend and return the full run record.

    Everything that can be checked is checked before the backend starts: the
    backend options, the workload parameters, and the run's size against
    ``daskburst.limits``.

    Args:
        name: Workload name.
        backend: Backend name (None: ``daskburst.backend``, default ``auto``).
        seed: Master seed.
        workers: Workers (local schedulers: threads/processes; clusters: initial scale).
        threads_per_worker: Threads per worker process (clusters).
        adapt: ``"MIN:MAX"`` for adaptive scaling.
        address: Scheduler address; implies backend ``address``.
        progress: Progress on stderr: ``bar``, ``lines`` or ``off`` (True: ``bar``).
        visualize_to: Write the task graph here before computing.
        on_start: Called with the session once the backend is up (e.g. to print the dashboard).
        backend_extra: Backend-specific options (e.g. SLURM ``queue``, ``memory``); a
            backend that does not use them ignores them.
        command: The command line that asked for the run, for the record.
        **params: Workload parameters.

    Returns:
        ``{"workload", "params", "seed", "backend", "workers", "seconds", "result",
        "versions", "started", "ended", "host", "requested", "tasks", "peak_memory",
        "input_files"}`` (and ``command`` when given); ``workers`` is the most workers
        that really ran at once, ``tasks`` the tasks the scheduler ran, ``peak_memory``
        ``{"bytes", "of"}`` (None: the scheduler cannot tell) and ``input_files`` the
        files read.
    """
    config.warn_unknown_keys()
    options = BackendOptions(
        workers=workers,
        threads_per_worker=threads_per_worker,
        adapt=resolve_adapt(adapt),
        address=address,
        progress=progress,
        extra=dict(backend_extra or {}),
    )
    check_options(backend, options)
    resolved = resolve_options(options)
    prepared = prepare(name, seed=seed, parallel=resolved.workers, progress=progress, **params)
    if visualize_to:
        visualize(prepared, visualize_to)
    with open_backend(backend, resolved) as session:
        if on_start is not None:
            on_start(session)
        started = now()
        start = time.perf_counter()
        result = compute(prepared, session)
        seconds = time.perf_counter() - start
        ended = now()
        n_workers = session.peak_workers or session.workers
        measured = session.measured
        backend_name = session.backend
        publish = session.publish
    record = {
        "workload": prepared.workload.name,
        "params": prepared.params,
        "seed": prepared.seed,
        "backend": backend_name,
        "workers": n_workers,
        "seconds": round(seconds, 3),
        "result": result,
        "versions": versions(),
        **provenance(options, started, ended, command),
        **measured.record(),
        "input_files": list(prepared.plan.inputs),
    }
    if publish is not None:
        publish(record)
    return record


def run(workload: str, backend: str | None = None, **kwargs: Any) -> dict[str, Any]:
    """Run a workload and return its result (the same dict the CLI writes under "result").

    Example: ``daskburst.run("array", backend="local", rows=4000, cols=4000)``.

    Args:
        workload: Workload name (see ``daskburst workloads``).
        backend: ``sync``, ``threads``, ``processes``, ``local``, ``address``, ``slurm``,
            ``kubernetes`` or ``auto`` (default from config).
        **kwargs: Workload parameters and the options of :func:`execute`
            (seed, workers, threads_per_worker, adapt, address, progress).

    Returns:
        The result dict, including ``digest``.
    """
    return dict(execute(workload, backend=backend, **kwargs)["result"])
