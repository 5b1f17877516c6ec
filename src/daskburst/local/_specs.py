"""The local backends' arguments, from their options and settings (pure: nothing starts).

- dask's single-machine schedulers: the scheduler's name and its pool size;
- ``distributed.LocalCluster``: its keyword arguments;
- a running scheduler: its address, validated.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

import dask.config

from daskburst import config
from daskburst.errors import UserError

if TYPE_CHECKING:  # a type only: local/ does not import backends/ (which opens it)
    from daskburst.backends import BackendOptions

#: Imported by every worker process of a LocalCluster daskburst starts (see _preload.py).
PRELOAD = "daskburst.local._preload"


def scheduler_of(name: str) -> str:
    """Return dask's name for the scheduler of backend ``sync``, ``threads`` or ``processes``."""
    return "synchronous" if name == "sync" else name


def scheduler_workers(name: str, opts: BackendOptions) -> int:
    """Return the pool size of backend ``name`` (``sync``: 1; default: one per core).

    Args:
        name: ``sync``, ``threads`` or ``processes``.
        opts: ``workers`` sets it.

    Returns:
        The number of threads or processes.
    """
    if name == "sync":
        return 1
    return opts.workers or (os.cpu_count() or 1)


def cluster_kwargs(opts: BackendOptions) -> dict[str, Any]:
    """Return the keyword arguments of the ``LocalCluster`` of ``--backend local``.

    Without ``--workers``, ``--threads-per-worker`` and ``--adapt``: one single-threaded
    worker process per core. With ``--adapt`` it starts with none (adapt() adds them).

    Args:
        opts: ``workers``, ``threads_per_worker`` and ``adapt``.

    Returns:
        ``n_workers``, ``threads_per_worker``, ``processes``, ``dashboard_address``,
        ``silence_logs`` and ``preload`` (dask config's worker preloads and :data:`PRELOAD`).
    """
    workers, threads = opts.workers, opts.threads_per_worker
    n_workers = 0 if opts.adapt else workers
    if workers is None and threads is None and not opts.adapt:
        # One single-threaded worker process per core: no GIL contention for
        # pure-Python tasks, and numpy kernels are single-threaded anyway.
        n_workers = os.cpu_count() or 1
        threads = 1
    preload = [*(dask.config.get("distributed.worker.preload", None) or []), PRELOAD]
    return {
        "n_workers": n_workers,
        "threads_per_worker": threads,
        "processes": True,
        "dashboard_address": ":0",
        "silence_logs": logging.ERROR,
        "preload": preload,
    }


def configured_address(given: str | None) -> str | None:
    """Return ``--address`` if given, else ``daskburst.address`` (None: not set)."""
    return config.get_optional_text("address", given, flag="--address")


def scheduler_address(given: str | None) -> tuple[str, str]:
    """Return the scheduler address and where it came from, validated.

    Args:
        given: ``--address`` (None: ``daskburst.address``, then ``DASK_SCHEDULER_ADDRESS``).

    Returns:
        ``(address, source)``, e.g. ``("tcp://10.0.0.5:8786", "DASK_SCHEDULER_ADDRESS")``.

    Raises:
        UserError: When no address is known or it is not a scheduler address.
    """
    from distributed.comm import get_address_host_port
    from distributed.comm.addressing import parse_address
    from distributed.comm.registry import get_backend

    address = configured_address(given)
    where = config.label("address", "--address", given)
    if address is None:
        address = os.environ.get("DASK_SCHEDULER_ADDRESS") or None
        where = "DASK_SCHEDULER_ADDRESS"
    if address is None:
        raise UserError(
            "backend 'address': no scheduler address; expected --address or DASK_SCHEDULER_ADDRESS"
        )
    expected = "expected a scheduler address such as tcp://HOST:8786"
    try:
        scheme, _ = parse_address(address)
        get_backend(scheme)
        if scheme in ("tcp", "tls", "ws", "wss"):
            get_address_host_port(address)
    except ValueError as exc:
        raise UserError(f"{where} {address!r}: {expected} ({exc})") from None
    return address, where
