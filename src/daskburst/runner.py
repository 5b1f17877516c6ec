"""Glue between "what" (workloads) and "where" (backends): run, time, record."""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from daskburst import config
from daskburst._version import __version__
from daskburst.backends import BackendOptions, Session, open_backend
from daskburst.backends._base import check_options, resolve_adapt
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


def prepare(name: str, seed: int | None = None, **given: Any) -> Prepared:
    """Resolve parameters and build the graph, before any cluster starts.

    Bad input therefore fails in a second, not after a cluster came up.

    Args:
        name: Workload name.
        seed: Master seed; defaults to ``daskburst.seed``.
        **given: Workload parameters (None = use the configured default).

    Returns:
        The prepared workload.

    Raises:
        UserError: For an unknown workload or invalid parameters.
    """
    workload = get_workload(name)
    params = workload.resolve({k: v for k, v in given.items() if v is not None})
    seed_int = config.get_int("seed", seed, flag="--seed", minimum=0)
    return Prepared(workload, params, seed_int, workload.build(params, seed_int))


def compute(prepared: Prepared, session: Session) -> dict[str, Any]:
    """Compute a prepared workload through ``session`` (ONE compute call).

    Args:
        prepared: From :func:`prepare`.
        session: An open backend.

    Returns:
        The workload's result, with ``digest``.
    """
    values = session.compute(prepared.plan.collections)
    return prepared.plan.finalize(values)


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


def check_output(path: str | os.PathLike[str] | None) -> None:
    """Check that the run record can be written to ``path``, before anything is computed.

    Args:
        path: ``--output``; None, ``-`` and ``/dev/stdout`` need no check.

    Raises:
        UserError: When the directory is missing or not writable, or the path is a directory.
    """
    if path is None or str(path) in ("-", "/dev/stdout"):
        return
    dest = Path(path)
    parent = dest.parent
    if dest.is_dir():
        raise UserError(f"--output {str(path)!r}: is a directory; expected a file name")
    if not parent.is_dir():
        raise UserError(f"--output {str(path)!r}: directory {str(parent)!r} does not exist")
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".probe", dir=parent)
    except OSError as exc:
        raise UserError(
            f"--output {str(path)!r}: cannot write in {str(parent)!r} ({exc.strerror}); "
            "expected a writable directory"
        ) from None
    os.close(fd)
    os.unlink(probe)
    if dest.exists() and not os.access(dest, os.W_OK):
        raise UserError(f"--output {str(path)!r}: file is not writable")


def write_json_atomic(path: str | os.PathLike[str], payload: Any) -> None:
    """Write ``payload`` as pretty JSON via a temporary file and rename.

    ``-`` or ``/dev/stdout`` writes to standard output instead.
    """
    text = json.dumps(payload, indent=2, sort_keys=True, allow_nan=False) + "\n"
    if str(path) in ("-", "/dev/stdout"):
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    from daskburst.data._io import write_bytes_atomic

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
    **params: Any,
) -> dict[str, Any]:
    """Run one workload on one backend and return the full run record.

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
        **params: Workload parameters.

    Returns:
        ``{"workload", "params", "seed", "backend", "workers", "seconds", "result",
        "versions"}``; ``workers`` is the most workers that really ran at once.
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
    prepared = prepare(name, seed=seed, **params)
    if visualize_to:
        visualize(prepared, visualize_to)
    with open_backend(backend, options) as session:
        if on_start is not None:
            on_start(session)
        start = time.perf_counter()
        result = compute(prepared, session)
        seconds = time.perf_counter() - start
        n_workers = session.peak_workers or session.workers
        backend_name = session.backend
    return {
        "workload": prepared.workload.name,
        "params": prepared.params,
        "seed": prepared.seed,
        "backend": backend_name,
        "workers": n_workers,
        "seconds": round(seconds, 3),
        "result": result,
        "versions": versions(),
    }


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
