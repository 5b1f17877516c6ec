"""Load daskburst's defaults into ``dask.config``.

Defaults live in ``daskburst.yaml`` next to this module. They are merged *under*
whatever dask already collected (YAML files, ``DASK_DASKBURST__*`` environment
variables), so users override any default without touching code.
"""

from __future__ import annotations

import copy
import functools
import os
from pathlib import Path
from typing import Any

import dask.config
import yaml

_DEFAULTS_FILE = Path(__file__).with_name("daskburst.yaml")


@functools.cache
def _packaged() -> dict[str, Any]:
    """The parsed ``daskburst.yaml`` (read once; callers must not modify it)."""
    with _DEFAULTS_FILE.open() as f:
        return dict(yaml.safe_load(f))


def reconfigure() -> None:
    """Merge the packaged defaults into ``dask.config`` (idempotent)."""
    dask.config.update_defaults(copy.deepcopy(_packaged()))


_jobqueue_applied = False


def jobqueue_defaults() -> dict[str, Any]:
    """Return daskburst's own ``jobqueue.slurm.*`` defaults (cores, processes, memory)."""
    return dict(_packaged().get("jobqueue", {}).get("slurm", {}))


def apply_jobqueue_defaults() -> None:
    """Load dask-jobqueue's defaults, then daskburst's ``jobqueue.*`` defaults over them (once).

    Importing ``dask_jobqueue`` merges its own defaults (cores and memory unset);
    merging ours afterwards makes our defaults win over those, while any value a
    user configured still wins over both. A ``dask.config.set`` context that is
    open during this first call restores dask-jobqueue's unset value when it
    exits, so readers must still fall back to :func:`jobqueue_defaults`.
    """
    global _jobqueue_applied
    if _jobqueue_applied:
        return
    import dask_jobqueue  # noqa: F401  (loads the jobqueue.* defaults)

    dask.config.update_defaults({"jobqueue": {"slurm": jobqueue_defaults()}})
    _jobqueue_applied = True


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Return the leaves of a nested config dict as ``{"a.b.c": value}``."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def cluster_settings() -> dict[str, Any]:
    """The ``daskburst.cluster-settings`` that apply to a cluster daskburst starts.

    Each setting takes the place of distributed's shipped default. A key whose
    current value is no longer that default was configured by the user and is
    left out, so the user's value wins.

    Returns:
        Dotted ``distributed.*`` keys and values, for ``dask.config.set``.
    """
    import distributed  # noqa: F401  (registers distributed's defaults)

    shipped = dask.config.merge(*dask.config.defaults)
    wanted = flatten(get("cluster-settings") or {})
    return {
        key: value
        for key, value in wanted.items()
        if value is not None
        and dask.config.get(key, None) == dask.config.get(key, None, config=shipped)
    }


def env_name(key: str) -> str:
    """Return the environment variable dask reads for a dotted config key."""
    return "DASK_" + "__".join(part.upper().replace("-", "_") for part in key.split("."))


def get(key: str, override_with: Any = None) -> Any:
    """Return ``daskburst.<key>`` from dask config, unless ``override_with`` is not None.

    Args:
        key: Dotted key below ``daskburst``, e.g. ``"array.rows"``.
        override_with: A value given explicitly (flag or keyword argument).

    Returns:
        ``override_with`` when it is not None, else the configured value.
    """
    return dask.config.get(f"daskburst.{key}", override_with=override_with)


def cache_dir() -> Path:
    """Return the directory for generated sample inputs.

    Returns:
        ``daskburst.cache-dir`` if set, else ``$XDG_CACHE_HOME/daskburst`` or
        ``~/.cache/daskburst``.
    """
    configured = get("cache-dir")
    if configured:
        return Path(str(configured)).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "daskburst"


reconfigure()
