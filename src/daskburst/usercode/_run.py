"""Run a user's script (or installed function) with a backend as the default Dask scheduler.

Inside the script, ``dask.compute``, ``.compute()``, ``.persist()``, ``Client()`` with no
arguments and ``get_client()`` all use the backend: its local scheduler through dask config,
or its cluster's client, which is the default client, and whose address is
``scheduler-address`` so that ``Client()`` connects to it instead of starting a cluster.
The script runs as ``__main__`` with ``sys.argv`` = the script and its arguments, from the
directory the user ran daskburst in, with its own directory first on ``sys.path``.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import runpy
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dask

from daskburst import config
from daskburst.backends import (
    BackendOptions,
    Session,
    check_options,
    note,
    open_backend,
    resolve_options,
)
from daskburst.errors import BackendError, UserError
from daskburst.usercode._scan import Override, needs_a_cluster, scan_file, scan_source
from daskburst.usercode._target import Target, resolve
from daskburst.usercode._watchdog import unshipped_modules, watching
from daskburst.workdir import Workdir, collect, max_bytes

#: How the working directory reaches the workers: see daskburst.user-code.ship.
SHIP_MODES = ("auto", "upload", "shared", "off")
#: Backends whose tasks run in this process or its children: sys.path is enough.
_SAME_MACHINE = ("sync", "threads", "processes")


def ship_mode(backend: str, given: str | None = None) -> str:
    """Resolve ``daskburst.user-code.ship`` for a backend.

    ``auto`` is ``off`` for sync, threads and processes (their tasks see this process's
    ``sys.path``), ``shared`` for slurm (worker jobs share the filesystem) and ``upload``
    for the other clusters.
    """
    mode = config.get_choice("user-code.ship", SHIP_MODES, override_with=given, flag="--ship")
    if mode != "auto":
        return mode
    if backend in _SAME_MACHINE:
        return "off"
    return "shared" if backend == "slurm" else "upload"


@dataclass
class UserRun:
    """A user's code, checked and ready to run on any backend."""

    target: Target
    args: list[str]
    workdir: Workdir | None
    overrides: list[Override] = field(default_factory=list)
    #: ``sys.path`` before the script ran: where installed code comes from.
    environment: list[str] = field(default_factory=lambda: sys.path[:])

    def importable(self) -> Path | None:
        """The directory that must be importable (the working directory)."""
        return self.workdir.root if self.workdir is not None else None


def prepare(
    text: str,
    args: Sequence[str],
    *,
    workdir: str | None,
    ship: str,
    workloads: Sequence[str] = (),
) -> UserRun:
    """Check everything about the user's code before any backend starts.

    Args:
        text: Script path or ``module:function``.
        args: The script's arguments (after ``--``).
        workdir: ``--workdir`` (None: the script's directory; none for a function).
        ship: The resolved ship mode (:func:`ship_mode`): ``upload`` checks the size limit.
        workloads: Built-in workload names, which a file may not shadow.

    Raises:
        UserError: For a bad target or working directory (see :func:`resolve`, :func:`collect`).
    """
    target = resolve(text, tuple(workloads))
    root: Path | None = Path(workdir) if workdir else None
    if root is None and target.path is not None:
        root = target.path.parent
    selected = None
    if root is not None:
        selected = collect(root, "--workdir" if workdir else "working directory",
                           limit=max_bytes() if ship == "upload" else None)  # fmt: skip
    overrides: list[Override] = []
    if target.path is not None:
        shown = os.path.relpath(target.path) if not os.path.isabs(text) else str(target.path)
        overrides += scan_file(target.path, shown)
    if selected is not None:
        for f in selected.files:
            path = selected.root / f.relpath
            if f.relpath.endswith(".py") and path != target.path:
                overrides += scan_source(f.data, os.path.relpath(path))
    return UserRun(target, list(args), selected, overrides)


# ---- making the backend the default --------------------------------------------------------


def _ship(session: Session, run: UserRun, mode: str) -> None:
    """Make the working directory importable on the session's workers."""
    if session.client is None or run.workdir is None or mode == "off":
        return
    root = run.workdir.root
    if mode == "shared":
        from daskburst.usercode._plugins import SharedPath

        session.client.register_plugin(SharedPath(str(root)), name="daskburst-workdir")
        return
    from distributed.diagnostics.plugin import UploadDirectory

    keep = run.workdir.relpaths()

    def skipped(filename: str) -> bool:
        return Path(filename).relative_to(root).as_posix() not in keep

    # restart_workers: a worker process puts the directory on its sys.path only when it
    # starts; workers that join later (adaptive scaling) start after the upload anyway.
    # mode="all": the scheduler too, which unpickles the task graph (a remote one, e.g. a
    # Kubernetes scheduler pod, cannot import calc_mean otherwise).
    plugin = UploadDirectory(
        str(root), restart_workers=True, update_path=True, skip_words=(), skip=(skipped,),
        mode="all",
    )  # fmt: skip
    session.client.register_plugin(plugin)


@contextlib.contextmanager
def _default_scheduler(session: Session) -> Iterator[None]:
    if session.client is not None:
        address = session.client.scheduler.address
        with session.client.as_current(), dask.config.set({"scheduler-address": address}):
            yield
        return
    with dask.config.set(session.local_settings()), session.local_progress():
        yield


@contextlib.contextmanager
def _as_main(run: UserRun) -> Iterator[None]:
    """``sys.argv`` and ``sys.path[0]`` as ``python SCRIPT ARGS...`` would have them."""
    saved_argv, saved_path = sys.argv[:], sys.path[:]
    first = str(run.target.path) if run.target.path is not None else run.target.text
    sys.argv = [first, *run.args]
    root = run.importable()
    if root is not None:
        sys.path.insert(0, str(root))
    try:
        yield
    finally:
        sys.argv[:] = saved_argv
        sys.path[:] = saved_path
        if root is not None:
            # The next script in this process may have its own calc_mean.py: forget ours.
            prefix = str(root) + os.sep
            for name, module in list(sys.modules.items()):
                if str(getattr(module, "__file__", None) or "").startswith(prefix):
                    del sys.modules[name]


def _call(target: Target) -> int:
    """Run the target; return its exit status (SystemExit's code, a function's int)."""
    try:
        if target.path is not None:
            runpy.run_path(str(target.path), run_name="__main__")
            return 0
        import importlib

        func: Callable[[], Any] = getattr(importlib.import_module(str(target.module)),
                                          str(target.function))  # fmt: skip
        value = func()
        return value if isinstance(value, int) and not isinstance(value, bool) else 0
    except SystemExit as exc:
        code = exc.code
        if code is None:
            return 0
        if isinstance(code, int):
            return code
        sys.stderr.write(f"{code}\n")
        return 1


def _user_traceback(exc: BaseException, run: UserRun) -> str:
    """The exception's traceback from the first frame of the user's code on."""
    tbe = traceback.TracebackException.from_exception(exc)
    root = str(run.importable() or "")
    frames = list(tbe.stack)
    for i, frame in enumerate(frames):
        in_script = run.target.path is not None and frame.filename == str(run.target.path)
        if (
            in_script
            or (root and frame.filename.startswith(root + os.sep))
            or (run.target.module and run.target.module.replace(".", os.sep) in frame.filename)
        ):
            tbe.stack = traceback.StackSummary.from_list(frames[i:])
            break
    return "".join(tbe.format())


def missing_module_hint(exc: BaseException) -> str | None:
    """One line for a module the cluster lacks (raised in a task), with the fix."""
    if not isinstance(exc, ModuleNotFoundError) or not exc.name:
        return None
    return (
        f"module {exc.name!r} is not importable where the code ran (this process or a "
        "worker); expected it in the working "
        "directory that travels with the script (--workdir), or in an image built with "
        "`make user-image` and passed with --image (docs/your-code.md)"
    )


def _no_workers(reason: str, run: UserRun) -> str:
    """The one line for a run whose workers all went away while the script waited."""
    shipped = run.importable()
    missing = unshipped_modules(shipped, run.environment)
    if missing:
        return (
            f"{reason}; the script imports modules the workers cannot: {', '.join(missing[:3])}; "
            f"expected them at the top of the working directory that travels ({shipped}), or "
            "in an image (`make user-image`, --image)"
        )
    return f"{reason}; check that the cluster can start workers and that they stay up"


def _drop_cancelled_gathers(record: logging.LogRecord) -> bool:
    """Drop asyncio's "Task exception was never retrieved" for distributed's ``AllExit``.

    When Ctrl-C interrupts a ``dask.compute`` in the script, distributed's gather coroutine
    ends with ``AllExit`` (its own cancellation signal) that nobody awaits any more, and
    asyncio logs it with a traceback after the one line daskburst prints. Nothing was lost.
    """
    exc = record.exc_info[1] if record.exc_info else None
    return type(exc).__name__ != "AllExit" or type(exc).__module__ != "distributed.client"


# ---- the run -------------------------------------------------------------------------------


def execute_user_code(
    run: UserRun,
    *,
    backend: str | None,
    options: BackendOptions,
    ship: str,
    seed: int | None = None,
    on_start: Callable[[Session], None] | None = None,
    command: list[str] | None = None,
) -> tuple[int, dict[str, Any]]:
    """Run user code on a backend and always tear the backend down.

    Args:
        run: From :func:`prepare`.
        backend: Backend name (None: ``daskburst.backend``).
        options: Backend options.
        ship: The resolved ship mode.
        seed: Master seed (``daskburst.seed()`` inside the script; None: the setting).
        on_start: Called with the session once the backend is up.
        command: The command line that asked for the run, for the record.

    Returns:
        ``(exit status, run record)``.
    """
    from daskburst.execute import now, provenance, versions

    concrete = check_options(backend, options)
    resolved = resolve_options(options)
    asyncio_log = logging.getLogger("asyncio")
    if _drop_cancelled_gathers not in asyncio_log.filters:
        asyncio_log.addFilter(_drop_cancelled_gathers)
    seed_int = config.master_seed(seed)
    out_dir = output_dir()
    for override in run.overrides:
        note(f"daskburst: warning: {override.warning(concrete)}")
    if concrete in _SAME_MACHINE and run.target.path is not None:
        for use in needs_a_cluster(run.target.path.read_bytes(), run.target.name):
            note(
                f"daskburst: warning: {use.file}:{use.line}: {use.what} needs a cluster backend "
                f"(local, address, slurm, kubernetes); --backend {concrete} has none, so it "
                "would start a cluster of its own"
            )
    status = 1
    error: str | None = None
    start = time.perf_counter()
    started = now()
    with _as_main(run), dask.config.set({"daskburst.seed": seed_int}):
        with open_backend(concrete, resolved) as session:
            if on_start is not None:
                on_start(session)
            _ship(session, run, ship)
            start = time.perf_counter()
            timeout = resolved.worker_timeout
            try:
                unshipped = functools.partial(unshipped_modules, run.importable(), run.environment)
                with watching(session, timeout, unshipped) as dog, _default_scheduler(session):
                    try:
                        status = _call(run.target)
                    except KeyboardInterrupt:
                        if dog is not None and dog.reason:
                            raise BackendError(_no_workers(dog.reason, run)) from None
                        raise
            except (KeyboardInterrupt, BackendError, UserError):
                raise
            except Exception as exc:  # noqa: BLE001 - the user's code failed: show its traceback
                sys.stderr.write(_user_traceback(exc, run))
                error = f"{type(exc).__name__}: {exc}".splitlines()[0]
                hint = missing_module_hint(exc)
                if hint:
                    note(f"daskburst: {hint}")
                status = 1
            seconds = time.perf_counter() - start
            ended = now()
            workers = session.peak_workers or session.workers
            if session.client is not None:
                with contextlib.suppress(Exception):
                    workers = max(workers, len(session.client.scheduler_info(n_workers=-1)
                                                .get("workers", {})))  # fmt: skip
            publish = session.publish
            backend_name = session.backend
    record: dict[str, Any] = {
        "script": run.target.text,
        "args": run.args,
        "sha256": run.target.sha256,
        "backend": backend_name,
        "workers": workers,
        "seed": seed_int,
        "seconds": round(seconds, 3),
        "exit_code": status,
        "workdir": run.workdir.summary(ship) if run.workdir is not None else None,
        "scheduler_overrides": [o.as_dict() for o in run.overrides],
        "versions": versions(),
        **provenance(options, started, ended, command),
    }
    if error:
        record["error"] = error
    if os.environ.get("KUBERNETES_SERVICE_HOST") and publish is not None:
        # A DaskJob's runner: its output files travel back with the record.
        outputs = pack_outputs(out_dir)
        if outputs["files"]:
            record["outputs"] = outputs
    if publish is not None:
        with contextlib.suppress(Exception):
            publish(record)
    return status, record


#: Most bytes (zip-compressed) of ``$DASKBURST_OUTPUT`` kept in a run record, to travel back
#: from a DaskJob's runner with its result (a ConfigMap holds about 1 MiB).
OUTPUTS_LIMIT = 256 * 1024


def output_dir() -> Path:
    """``$DASKBURST_OUTPUT``, created if need be; set to the current directory when unset.

    Scripts write their files there (``os.environ["DASKBURST_OUTPUT"]``): in the current
    directory locally, and in a DaskJob's runner into a directory whose files come back with
    ``k8s submit --wait --artifacts DIR``.
    """
    path = Path(os.environ.setdefault("DASKBURST_OUTPUT", os.getcwd()))
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(
            f"DASKBURST_OUTPUT {str(path)!r}: cannot create it ({exc.strerror}); expected a "
            "writable directory"
        ) from None
    return path


def pack_outputs(directory: Path) -> dict[str, Any]:
    """The files under ``directory`` as a base64 zip for the run record (bounded).

    Returns:
        ``{"files", "bytes", "zip_base64"}``, or ``{"files", "bytes", "dropped"}`` when
        they are over :data:`OUTPUTS_LIMIT` compressed.
    """
    import base64

    from daskburst.workdir import WorkFile, zip_bytes

    files = [
        WorkFile(p.relative_to(directory).as_posix(), p.read_bytes())
        for p in sorted(directory.rglob("*"))
        if p.is_file() and not p.is_symlink()
    ]
    size = sum(len(f.data) for f in files)
    packed = zip_bytes(files)
    if len(packed) > OUTPUTS_LIMIT:
        return {"files": len(files), "bytes": size,
                "dropped": f"{len(packed)} bytes compressed, over {OUTPUTS_LIMIT}; write large "
                           "outputs to storage the cluster keeps"}  # fmt: skip
    return {"files": len(files), "bytes": size, "zip_base64": base64.b64encode(packed).decode()}


def unpack_outputs(outputs: dict[str, Any], into: Path) -> list[Path]:
    """Write the files of :func:`pack_outputs` under ``into`` (paths kept inside it)."""
    import base64
    import io
    import zipfile

    data = outputs.get("zip_base64")
    if not data:
        return []
    written = []
    base = into.resolve()
    with zipfile.ZipFile(io.BytesIO(base64.b64decode(data))) as z:
        for name in z.namelist():
            dest = (base / name).resolve()
            if not dest.is_relative_to(base) or name.endswith("/"):
                continue  # never outside DIR
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(z.read(name))
            written.append(dest)
    return written


def seed() -> int:
    """The run's master seed: ``daskburst run ... --seed S``, else ``daskburst.seed``.

    Call it in the script (the client), and pass it to tasks with their keys: see
    :func:`daskburst.stream`.
    """
    return config.master_seed()
