"""SLURM backend: Dask workers as SLURM jobs, through ``dask_jobqueue.SLURMCluster``.

Every job setting (partition, account, cores, processes, memory, walltime, job
directives, ``job-directives-skip``, local and log directories, python) comes from
dask-jobqueue's own ``jobqueue.slurm.*`` config keys; only values given
explicitly (CLI flags, ``BackendOptions.extra``) are passed as keyword arguments,
so ``DASK_JOBQUEUE__SLURM__*`` variables and ``~/.config/dask/jobqueue.yaml``
work unchanged. daskburst adds three things on top:

- a pre-flight ``sbatch --test-only`` of the worker job script, so a partition
  that does not exist or memory no node has fails at once with one line;
- a watchdog that fails the run when SLURM says a worker job can never start
  (``daskburst.slurm.fatal-reasons``) or when no worker connects within
  ``daskburst.worker-timeout`` seconds, instead of waiting forever;
- worker ``--lifetime``/``--lifetime-stagger`` derived from the walltime
  (``daskburst.slurm.lifetime``), so adaptive clusters replace workers before
  SLURM kills them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import dask.config

from daskburst import config
from daskburst.backends._base import BackendOptions, Session
from daskburst.errors import BackendError, UserError

logger = logging.getLogger(__name__)

#: Keyword arguments of ``SLURMCluster`` that ``BackendOptions.extra`` may set.
JOB_KEYS = (
    "queue",
    "account",
    "cores",
    "processes",
    "memory",
    "walltime",
    "job_cpu",
    "job_mem",
    "job_name",
    "job_extra_directives",
    "job_directives_skip",
    "job_script_prologue",
    "worker_extra_args",
    "log_directory",
    "local_directory",
    "python",
    "interface",
    "death_timeout",
)
#: daskburst's own keys in ``BackendOptions.extra`` (not passed to dask-jobqueue).
OWN_KEYS = ("lifetime", "lifetime_stagger")

_PLACEHOLDER_ADDRESS = "tcp://<scheduler-address>:8786"
_MIN_LIFETIME_WALLTIME = 300.0


def _setting(key: str) -> Any:
    """``daskburst.slurm.<key>`` (its default is in daskburst.yaml)."""
    return config.get(f"slurm.{key}")


def _keep_ctrl_c() -> None:
    """Undo the SIGINT handler that importing ``dask_jobqueue`` installs.

    ``dask_jobqueue.runner`` replaces SIGINT with ``sys.exit()`` at import time
    (its runners stop themselves that way), which would make Ctrl-C exit with
    status 0. Only :func:`run_in_allocation` needs that handler.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    handler = signal.getsignal(signal.SIGINT)
    if getattr(handler, "__module__", None) == "dask_jobqueue.runner":
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _jobqueue(key: str) -> Any:
    config.apply_jobqueue_defaults()
    _keep_ctrl_c()
    value = dask.config.get(f"jobqueue.slurm.{key}", None)
    if value is None:
        value = config.jobqueue_defaults().get(key)
    return value


def _one_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return "; ".join(lines) or "(no output)"


def parse_walltime(value: str) -> float:
    """Convert a SLURM time limit to seconds.

    Args:
        value: ``MM``, ``MM:SS``, ``HH:MM:SS``, ``D-HH``, ``D-HH:MM`` or ``D-HH:MM:SS``.

    Returns:
        The limit in seconds.

    Raises:
        UserError: When ``value`` is not a SLURM time limit.
    """
    match = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", str(value).strip())
    if not match:
        raise UserError(f"walltime {value!r}: expected a SLURM time such as 00:30:00 or 1-00:00")
    days, a, b, c = match.groups()
    parts = [int(a)] + [int(x) for x in (b, c) if x is not None]
    if days is not None:  # D-HH[:MM[:SS]]
        hours, minutes, seconds = (parts + [0, 0])[:3]
        return float(((int(days) * 24 + hours) * 60 + minutes) * 60 + seconds)
    if len(parts) == 1:  # MM
        return float(parts[0] * 60)
    if len(parts) == 2:  # MM:SS
        return float(parts[0] * 60 + parts[1])
    return float((parts[0] * 60 + parts[1]) * 60 + parts[2])


def lifetime_args(walltime: str | None, lifetime: Any, stagger: Any) -> list[str]:
    """Worker options that retire a worker before SLURM kills it at the walltime.

    With ``auto``, the lifetime is the walltime minus a margin of 10 % (at least
    1 minute, at most 10), staggered by half the margin so that workers do not all
    leave at once; no lifetime is set for walltimes under 5 minutes. An adaptive
    cluster then submits a replacement job while the others keep working.

    Args:
        walltime: The job's time limit, or None for none.
        lifetime: ``auto``, a duration understood by ``dask-worker --lifetime``
            (``"55m"``), or None/``off`` for none.
        stagger: ``auto`` or a duration for ``--lifetime-stagger``.

    Returns:
        Extra ``dask-worker`` arguments, possibly empty.
    """
    if lifetime in (None, False, "", "off", "none", "null"):
        return []
    if lifetime == "auto":
        if not walltime:
            return []
        seconds = parse_walltime(walltime)
        if seconds < _MIN_LIFETIME_WALLTIME:
            return []
        margin = min(max(0.1 * seconds, 60.0), 600.0)
        args = ["--lifetime", f"{int(seconds - margin)}s"]
        default_stagger = f"{int(margin / 2)}s"
    else:
        args = ["--lifetime", str(lifetime)]
        default_stagger = ""
    stagger_value = default_stagger if stagger in (None, "auto") else str(stagger)
    if stagger_value:
        args += ["--lifetime-stagger", stagger_value]
    return args


def job_kwargs(opts: BackendOptions) -> dict[str, Any]:
    """Keyword arguments for ``SLURMCluster``: only what was given explicitly.

    Everything not given here is read by dask-jobqueue itself from
    ``jobqueue.slurm.*``, except that ``cores``, ``processes`` and ``memory``
    left unset there get daskburst's defaults (one core, 2 GB).
    ``worker_extra_args`` and ``job_script_prologue`` are always passed, because
    daskburst's lifetime options and cluster-settings exports are added to the
    configured lists.

    Args:
        opts: Backend options; ``extra`` may hold any of :data:`JOB_KEYS` and
            :data:`OWN_KEYS`; ``threads_per_worker`` sets ``cores`` when
            ``cores`` is not given.

    Returns:
        The keyword arguments.

    Raises:
        UserError: For unknown keys.
    """
    extra = {k: v for k, v in opts.extra.items() if v is not None}
    unknown = sorted(set(extra) - set(JOB_KEYS) - set(OWN_KEYS))
    if unknown:
        raise UserError(
            f"SLURM option(s) {', '.join(unknown)}: "
            f"expected one of {', '.join(JOB_KEYS + OWN_KEYS)}"
        )
    kwargs: dict[str, Any] = {k: extra[k] for k in JOB_KEYS if k in extra}
    if opts.threads_per_worker is not None and "cores" not in kwargs:
        processes = kwargs.get("processes") or _jobqueue("processes") or 1
        kwargs["cores"] = int(opts.threads_per_worker) * int(processes)
    for key, value in config.jobqueue_defaults().items():
        # Unset in dask config (null, or lost to a dask.config.set context): ours.
        if kwargs.get(key) is None and dask.config.get(f"jobqueue.slurm.{key}", None) is None:
            kwargs[key] = value
    worker_args = list(kwargs.get("worker_extra_args", _jobqueue("worker-extra-args")) or [])
    if not any(str(a).startswith("--lifetime") for a in worker_args):
        walltime = kwargs.get("walltime", _jobqueue("walltime"))
        worker_args += lifetime_args(
            walltime,
            extra.get("lifetime", _setting("lifetime")),
            extra.get("lifetime_stagger", _setting("lifetime-stagger")),
        )
    kwargs["worker_extra_args"] = worker_args
    kwargs["job_script_prologue"] = settings_exports() + _prologue(kwargs)
    return kwargs


def _prologue(kwargs: dict[str, Any]) -> list[str]:
    """The configured prologue lines, falling back to the deprecated ``env-extra``."""
    lines = kwargs.get("job_script_prologue", _jobqueue("job-script-prologue"))
    if not lines:
        # dask-jobqueue reads env-extra only while the prologue is empty; ours never is.
        lines = _jobqueue("env-extra")
    return [str(line) for line in lines or []]


def settings_exports() -> list[str]:
    """``export`` lines giving worker jobs ``daskburst.cluster-settings``.

    Each keeps a value already in the job's environment (SLURM passes the
    submitter's environment on by default), so ``DASK_DISTRIBUTED__...`` set by
    the user wins here as it does in the submitting process.
    """
    lines = []
    for key, value in config.cluster_settings().items():
        name = config.env_name(key)
        lines.append(f'export {name}="${{{name}:-{value}}}"')
    return lines


def build_job(kwargs: dict[str, Any]) -> Any:
    """Create the ``SLURMJob`` a cluster with these arguments would submit (not submitted).

    Args:
        kwargs: From :func:`job_kwargs`.

    Returns:
        A ``dask_jobqueue.slurm.SLURMJob`` whose scheduler address is a placeholder.

    Raises:
        UserError: When dask-jobqueue rejects the configuration.
    """
    from dask_jobqueue import slurm

    config.apply_jobqueue_defaults()
    job_cls: Any = slurm.SLURMJob  # dask-jobqueue ships py.typed but no annotations
    try:
        return job_cls(scheduler=_PLACEHOLDER_ADDRESS, name="dummy-name", **kwargs)
    except (ValueError, TypeError) as exc:
        raise UserError(f"SLURM job configuration: {_one_line(str(exc))}") from None


def job_script(opts: BackendOptions) -> str:
    """Return the sbatch script a cluster with ``opts`` would submit for each worker job.

    Args:
        opts: Backend options (see :func:`job_kwargs`).

    Returns:
        The script text, as ``SLURMCluster.job_script()`` gives it, with a
        placeholder for the scheduler address.
    """
    return str(build_job(job_kwargs(opts)).job_script())


def _run(cmd: Sequence[str], timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            list(cmd), capture_output=True, text=True, timeout=timeout, check=False
        )
    except FileNotFoundError:
        raise BackendError(
            f"{cmd[0]} not found: backend 'slurm' needs the SLURM client commands "
            "(sbatch, squeue, scancel) on PATH; for a local test cluster run `make slurm-up`"
        ) from None
    except subprocess.TimeoutExpired:
        raise BackendError(f"{' '.join(cmd[:2])} did not answer within {timeout:g} s") from None


def preflight(script: str) -> None:
    """Ask SLURM whether it would accept the worker job, without submitting it.

    Args:
        script: The worker job script.

    Raises:
        UserError: When ``sbatch --test-only`` rejects it (unknown partition or
            account, more memory or CPUs than any node has, bad time limit, ...).
        BackendError: When sbatch is missing or does not answer.
    """
    with tempfile.NamedTemporaryFile("w", suffix=".sbatch", prefix="daskburst-") as f:
        f.write(script)
        f.flush()
        proc = _run(["sbatch", "--test-only", f.name])
    if proc.returncode != 0:
        raise UserError(
            f"SLURM rejects the worker job ({job_header(script)}): "
            f"{_one_line(proc.stderr or proc.stdout)}"
        )


def job_header(script: str) -> str:
    """The ``#SBATCH`` options of a job script but its name, as one line (for messages)."""
    return " ".join(
        line.removeprefix("#SBATCH ").strip()
        for line in script.splitlines()
        if line.startswith("#SBATCH") and not line.startswith("#SBATCH -J")
    )


def squeue(job_ids: Sequence[str]) -> dict[str, tuple[str, str]]:
    """Return ``{job_id: (state, reason)}`` for those of ``job_ids`` still known to SLURM.

    Args:
        job_ids: SLURM job ids.

    Returns:
        State (``PENDING``, ``RUNNING``, ...) and reason for each queued job.
    """
    if not job_ids:
        return {}
    proc = _run(["squeue", "-h", "-j", ",".join(job_ids), "-o", "%i|%T|%r"])
    jobs: dict[str, tuple[str, str]] = {}
    for line in proc.stdout.splitlines():
        parts = line.strip().split("|")
        if len(parts) == 3:
            jobs[parts[0]] = (parts[1], parts[2])
    return jobs


def cancel(job_ids: Sequence[str]) -> None:
    """Cancel the given SLURM jobs that are still queued or running.

    Args:
        job_ids: SLURM job ids.
    """
    alive = [j for j, (state, _) in squeue(job_ids).items() if state not in ("COMPLETED",)]
    if alive:
        logger.info("cancelling leftover SLURM jobs %s", ", ".join(alive))
        _run(["scancel", *alive])


class _Watchdog(threading.Thread):
    """Fail the run when worker jobs can never start or no worker ever connects."""

    def __init__(self, cluster: Any, client: Any, timeout: float) -> None:
        super().__init__(name="daskburst-slurm-watchdog", daemon=True)
        self.cluster = cluster
        self.client = client
        self.timeout = timeout
        self.interval = float(_setting("poll-interval"))
        self.fatal = set(_setting("fatal-reasons") or [])
        self.error: str | None = None
        self.seen: set[str] = set()
        self._stop_event = threading.Event()
        self._waiting_since: float | None = None

    def job_ids(self) -> list[str]:
        for _ in range(3):
            try:
                jobs = list(self.cluster.workers.values())
                break
            except RuntimeError:  # dict changed size during iteration
                continue
        else:
            return sorted(self.seen)
        ids = [str(j.job_id) for j in jobs if getattr(j, "job_id", None)]
        self.seen.update(ids)
        return ids

    def check(self) -> None:
        ids = self.job_ids()
        jobs = squeue(ids)
        for job_id, (state, reason) in sorted(jobs.items()):
            if state == "PENDING" and reason.split(",")[0] in self.fatal:
                self.fail(
                    f"SLURM worker job {job_id} cannot start: {reason} "
                    f"(check the partition/node with `sinfo`, or daskburst.slurm.fatal-reasons)"
                )
                return
        requested = len(self.cluster.workers)
        connected = len(self.cluster.scheduler_info.get("workers", {}))
        if requested and not connected:
            now = time.monotonic()
            if self._waiting_since is None:
                self._waiting_since = now
            elif now - self._waiting_since > self.timeout:
                pending = ", ".join(f"{j} {s} ({r})" for j, (s, r) in sorted(jobs.items()))
                self.fail(
                    f"no SLURM worker connected within {self.timeout:g} s "
                    f"(jobs: {pending or 'none queued; see the worker job logs'}; "
                    "raise daskburst.worker-timeout if the queue is just slow)"
                )
        else:
            self._waiting_since = None

    def fail(self, message: str) -> None:
        self.error = message
        self._stop_event.set()
        # Closing the client makes a blocked gather() raise at once.
        with contextlib.suppress(Exception):
            self.client.close()

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            try:
                self.check()
            except Exception:  # a flaky squeue must not kill the watchdog
                logger.debug("slurm watchdog check failed", exc_info=True)

    def stop(self) -> None:
        self._stop_event.set()
        if self.is_alive():
            self.join(timeout=5)
        self.job_ids()

    def raise_if_failed(self) -> None:
        if self.error:
            raise BackendError(self.error)


@contextlib.contextmanager
def _exit_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM into SystemExit while the cluster is open, so that it is closed.

    ``scancel`` of a driver job, or its walltime, sends SIGTERM; without this the
    process would die without cancelling the worker jobs it submitted.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _wait_for_workers(client: Any, n: int, dog: _Watchdog) -> None:
    while True:
        dog.raise_if_failed()
        try:
            client.wait_for_workers(n, timeout=dog.interval)
            return
        except TimeoutError:
            continue


@contextlib.contextmanager
def open_slurm(opts: BackendOptions) -> Iterator[Session]:
    """Start a ``SLURMCluster`` (scheduler here, workers as SLURM jobs); cancel all on exit.

    Args:
        opts: ``workers`` scales to that many workers (default 1);
            ``adapt=(MIN, MAX)`` adapts instead (``(0, N)`` starts with no job and
            returns to none when idle); ``extra`` overrides ``jobqueue.slurm.*``
            values (keys: :data:`JOB_KEYS`, plus ``lifetime``/``lifetime_stagger``).

    Yields:
        A session with a client connected to the cluster's scheduler.

    Raises:
        UserError: When SLURM rejects the worker job or the configuration is incomplete.
        BackendError: When SLURM is missing, a worker job can never start, or no
            worker connects within ``daskburst.worker-timeout`` seconds.
    """
    from dask_jobqueue import slurm

    config.apply_jobqueue_defaults()
    cluster_cls: Any = slurm.SLURMCluster  # py.typed without annotations
    _keep_ctrl_c()

    kwargs = job_kwargs(opts)
    if _setting("preflight"):
        preflight(str(build_job(kwargs).job_script()))
    scheduler_options = {"dashboard_address": ":0", **(_jobqueue("scheduler-options") or {})}
    timeout = float(config.get("worker-timeout"))
    # The scheduler runs here: it gets the cluster settings from dask config.
    with _exit_on_sigterm(), dask.config.set(config.cluster_settings()):
        cluster: Any = cluster_cls(scheduler_options=scheduler_options, **kwargs)
        with _closing(cluster, opts, timeout) as session:
            yield session


@contextlib.contextmanager
def _closing(cluster: Any, opts: BackendOptions, timeout: float) -> Iterator[Session]:
    from distributed import Client

    adapt = opts.adapt
    dog: _Watchdog | None = None
    client: Any = None
    try:
        client = Client(cluster)
        dog = _Watchdog(cluster, client, timeout)
        dog.start()
        if adapt:
            cluster.adapt(minimum=adapt[0], maximum=adapt[1])
            workers = adapt[1]
        else:
            workers = int(config.get("workers", override_with=opts.workers) or 1)
            cluster.scale(workers)
            try:
                _wait_for_workers(client, workers, dog)
            except Exception:
                dog.raise_if_failed()
                raise
        try:
            yield Session(
                backend="slurm",
                workers=workers,
                client=client,
                cluster=cluster,
                dashboard_link=cluster.dashboard_link,
                progress=opts.progress,
            )
        except Exception:
            dog.raise_if_failed()
            raise
    finally:
        if dog is not None:
            dog.stop()
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()
        with contextlib.suppress(Exception):
            cluster.close()
        if dog is not None and dog.seen:
            # cluster.close() scancels its jobs; make sure, also after failures.
            with contextlib.suppress(Exception):
                cancel(sorted(dog.seen))


def run_in_allocation(command: Sequence[str], scheduler_file: str) -> int:
    """Run one daskburst command on a Dask cluster made of this SLURM job's tasks.

    Every task of the job (``srun``) calls this. ``dask_jobqueue.SLURMRunner``
    makes rank 0 the scheduler, rank 1 the client and the other ranks workers;
    the client runs ``daskburst COMMAND`` with ``DASK_SCHEDULER_ADDRESS`` set, so
    ``--backend address`` (or ``auto``) uses the cluster. When the command ends,
    the runner shuts the scheduler and workers down.

    Args:
        command: Arguments for ``daskburst`` (e.g. ``["run", "calc-mean", ...]``).
        scheduler_file: Path for the scheduler file on a filesystem all nodes
            share; ``{job_id}`` is replaced by the SLURM job id.

    Returns:
        The command's exit code on the client rank, 0 on the other ranks.

    Raises:
        UserError: Outside a SLURM job step, or with fewer than 3 tasks.
    """
    from dask_jobqueue import slurm

    runner_cls: Any = slurm.SLURMRunner  # py.typed without annotations

    if "SLURM_PROCID" not in os.environ:
        raise UserError("slurm runner: not inside a SLURM job step; expected `srun daskburst ...`")
    code = 0
    try:
        with (
            dask.config.set(config.cluster_settings()),
            runner_cls(
                scheduler_file=scheduler_file,
                scheduler_options={"dashboard_address": ":0"},
                worker_options={"nthreads": int(os.environ.get("SLURM_CPUS_PER_TASK", "1"))},
            ) as runner,
        ):
            env = dict(os.environ, DASK_SCHEDULER_ADDRESS=str(runner.scheduler_address))
            beside = Path(sys.executable).with_name("daskburst")
            exe = str(beside) if beside.exists() else shutil.which("daskburst") or "daskburst"
            try:
                code = subprocess.run([exe, *command], env=env, check=False).returncode
            finally:
                with contextlib.suppress(OSError):
                    os.unlink(runner.scheduler_file)
    except slurm.WorldTooSmallException as exc:
        raise UserError(f"slurm runner: {exc} (expected sbatch --ntasks >= 3)") from None
    return code
