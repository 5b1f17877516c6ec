"""Backend names and options, checked before anything starts (no backend is imported here).

:class:`BackendOptions` and :class:`Session` live in ``_session``; ``_registry`` opens a
backend by name.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from daskburst import config
from daskburst.backends._session import BackendOptions, resolve_options
from daskburst.errors import UserError
from daskburst.local import configured_address

BACKENDS = ("auto", "sync", "threads", "processes", "local", "address", "slurm", "kubernetes")


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


def configured_backend(given: str | None = None) -> str:
    """Return ``--backend`` if given, else ``daskburst.backend``, validated (may be ``auto``)."""
    return config.get_choice("backend", BACKENDS, override_with=given, flag="--backend")


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
    chosen = configured_backend(name)
    if chosen == "auto":
        has_address = configured_address(None) or os.environ.get("DASK_SCHEDULER_ADDRESS")
        return "address" if has_address else "local"
    return chosen


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
    _check_sizes(concrete, opts, resolve_options(opts).workers)
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
