"""The backend registry: a backend's name to the context manager that opens it.

Only this module imports the backends; none of them imports it back.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from daskburst.backends._base import BACKENDS, check_options
from daskburst.backends._session import BackendOptions, ResolvedOptions, Session, resolve_options
from daskburst.errors import UserError

Opener = Callable[[ResolvedOptions], contextlib.AbstractContextManager[Session]]


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
    opts = resolve_options(options or BackendOptions())
    concrete = check_options(name, opts)
    with _opener(concrete)(opts) as session:
        yield session
