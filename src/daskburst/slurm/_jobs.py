"""SLURM worker jobs: their settings, ``SLURMCluster`` keyword arguments and job script.

Every job setting comes from dask-jobqueue's own ``jobqueue.slurm.*`` config keys; only
values given explicitly (CLI flags, ``BackendOptions.extra``) become keyword arguments.
On top, worker ``--lifetime``/``--lifetime-stagger`` derived from the walltime
(``daskburst.slurm.lifetime``) and daskburst's cluster settings exported in the script.
"""

from __future__ import annotations

import signal
import threading
from typing import TYPE_CHECKING, Any

import dask.config

from daskburst import config
from daskburst.durations import parse_walltime
from daskburst.errors import UserError

if TYPE_CHECKING:  # a type only: slurm/ does not import backends/ (which opens it)
    from daskburst.backends import BackendOptions

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


def slurm_setting(key: str) -> Any:
    """``daskburst.slurm.<key>`` (its default is in daskburst.yaml)."""
    return config.get(f"slurm.{key}")


def keep_ctrl_c() -> None:
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


def jobqueue_setting(key: str) -> Any:
    config.apply_jobqueue_defaults()
    keep_ctrl_c()
    value = dask.config.get(f"jobqueue.slurm.{key}", None)
    if value is None:
        value = config.jobqueue_defaults().get(key)
    return value


def scheduler_options() -> dict[str, Any]:
    """``SLURMCluster``'s scheduler options: a dashboard on a free port, then the settings."""
    return {"dashboard_address": ":0", **(jobqueue_setting("scheduler-options") or {})}


def _one_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return "; ".join(lines) or "(no output)"


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
        processes = kwargs.get("processes") or jobqueue_setting("processes") or 1
        kwargs["cores"] = int(opts.threads_per_worker) * int(processes)
    for key, value in config.jobqueue_defaults().items():
        # Unset in dask config (null, or lost to a dask.config.set context): ours.
        if kwargs.get(key) is None and dask.config.get(f"jobqueue.slurm.{key}", None) is None:
            kwargs[key] = value
    worker_args = list(kwargs.get("worker_extra_args", jobqueue_setting("worker-extra-args")) or [])
    if not any(str(a).startswith("--lifetime") for a in worker_args):
        walltime = kwargs.get("walltime", jobqueue_setting("walltime"))
        worker_args += lifetime_args(
            walltime,
            extra.get("lifetime", slurm_setting("lifetime")),
            extra.get("lifetime_stagger", slurm_setting("lifetime-stagger")),
        )
    kwargs["worker_extra_args"] = worker_args
    kwargs["job_script_prologue"] = settings_exports() + _prologue(kwargs)
    return kwargs


def _prologue(kwargs: dict[str, Any]) -> list[str]:
    """The configured prologue lines, falling back to the deprecated ``env-extra``."""
    lines = kwargs.get("job_script_prologue", jobqueue_setting("job-script-prologue"))
    if not lines:
        # dask-jobqueue reads env-extra only while the prologue is empty; ours never is.
        lines = jobqueue_setting("env-extra")
    return [str(line) for line in lines or []]


def settings_exports() -> list[str]:
    """``export`` lines giving worker jobs ``daskburst.cluster-settings``.

    Each keeps a value already in the job's environment (SLURM passes the
    submitter's environment on by default), so ``DASK_DISTRIBUTED__...`` set by
    the user wins here as it does in the submitting process. A variable for the
    worker process (``distributed.nanny.pre-spawn-environ``) is exported as itself:
    dask would lowercase its name.
    """
    lines = []
    for key, value in config.cluster_settings().items():
        name = key.removeprefix(config.WORKER_ENVIRON)
        if name == key:
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
