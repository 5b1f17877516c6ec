"""Load daskburst's defaults into ``dask.config`` and read settings with validation.

Defaults live in ``daskburst.yaml`` next to this module. They are merged *under*
whatever dask already collected (YAML files, ``DASK_DASKBURST__*`` environment
variables), so users override any default without touching code.

A value read from the configuration gets the same checks as the flag that
overrides it; a bad one is a :class:`~daskburst.errors.UserError` naming the
setting, where it was set (environment variable, YAML file, ...) and what was
expected.
"""

from __future__ import annotations

import copy
import difflib
import functools
import json
import math
import os
import signal
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import dask.config
import yaml
from dask.utils import parse_bytes

from daskburst.errors import UserError, yaml_problem

_DEFAULTS_FILE = Path(__file__).with_name("daskburst.yaml")
#: Sections whose keys are free-form (not checked against daskburst.yaml).
_OPEN_SECTIONS = ("cluster-settings",)


class ConfigWarning(UserWarning):
    """A setting daskburst does not know (most likely a typo)."""


@functools.cache
def _packaged() -> dict[str, Any]:
    """The parsed ``daskburst.yaml`` (read once; callers must not modify it).

    Raises:
        UserError: When the file is not valid YAML or not a mapping.
    """
    try:
        with _DEFAULTS_FILE.open() as f:
            data = yaml.safe_load(f)
    except yaml.YAMLError as exc:
        raise UserError(
            f"packaged defaults {str(_DEFAULTS_FILE)!r}: invalid YAML ({yaml_problem(exc)}); "
            "expected the file as shipped (reinstall daskburst or undo the edit)"
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("daskburst"), dict):
        raise UserError(
            f"packaged defaults {str(_DEFAULTS_FILE)!r}: expected a mapping with a "
            "'daskburst' section (reinstall daskburst or undo the edit)"
        )
    return data


def reconfigure() -> None:
    """Merge the packaged ``daskburst.*`` defaults into ``dask.config`` (idempotent).

    Only daskburst's own keys: ``import daskburst`` must not change what other code in the
    user's process reads (its ``jobqueue.*`` defaults go to dask-jobqueue at call time).
    """
    dask.config.update_defaults({"daskburst": copy.deepcopy(_packaged()["daskburst"])})


def jobqueue_defaults() -> dict[str, Any]:
    """Return daskburst's own ``jobqueue.slurm.*`` defaults (cores, processes, memory)."""
    return dict(_packaged().get("jobqueue", {}).get("slurm", {}))


def apply_jobqueue_defaults() -> None:
    """Load dask-jobqueue's own defaults into dask config (cores and memory unset).

    daskburst's defaults (:func:`jobqueue_defaults`) are not merged into the global config:
    each reader falls back to them where dask config leaves a key unset, and the SLURM
    backend passes them to dask-jobqueue as arguments.

    Importing it sets a SIGINT handler (``dask_jobqueue.runner``'s); the one before is put
    back, so that a run started in the background keeps ignoring Ctrl-C, as all of daskburst
    does then (see :func:`daskburst.slurm.keep_ctrl_c` for Python's own handler).
    """
    main = threading.current_thread() is threading.main_thread()
    before = signal.getsignal(signal.SIGINT) if main else None
    import dask_jobqueue  # noqa: F401  (loads the jobqueue.* defaults)

    if before is not None and signal.getsignal(signal.SIGINT) is not before:
        signal.signal(signal.SIGINT, before)


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Return the leaves of a nested config dict as ``{"a.b.c": value}``."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


#: The worker process's environment variables among the cluster settings start with this.
WORKER_ENVIRON = "distributed.nanny.pre-spawn-environ."


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
    wanted = get("cluster-settings") or {}
    if not isinstance(wanted, dict):
        raise UserError(
            f"{label('cluster-settings')} {wanted!r}: expected a mapping of distributed settings"
        )
    return {
        key: value
        for key, value in flatten(wanted).items()
        if value is not None
        and dask.config.get(key, None) == dask.config.get(key, None, config=shipped)
    }


def shown(key: str, fallback: Any = None) -> str:
    """Return ``KEY = VALUE`` with the value configured now, for a flag's help text.

    Never raises, so a broken setting still lets ``--help`` print (running the command
    then reports it).

    Args:
        key: A full dotted key, e.g. ``daskburst.workers`` or ``jobqueue.slurm.cores``.
        fallback: What is used when the key is unset or null (e.g. the image a null
            ``daskburst.kubernetes.image`` stands for).
    """
    try:
        value = dask.config.get(key, None)
    except (KeyError, TypeError):
        value = None
    if value is None:
        value = fallback
    return f"{key} = {as_typed(value)}".replace("%", "%%")  # argparse formats help with %


def as_typed(value: Any) -> str:
    """A setting's value as it is typed in YAML or on the command line (``200000,4``, ``null``).

    Lists and mappings (e.g. ``sample: {lines: 200000, files: 4}``) become their values
    joined by commas, as their flags take them.
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    return str(value)


def env_name(key: str) -> str:
    """Return the environment variable dask reads for a dotted config key."""
    return "DASK_" + "__".join(part.upper().replace("-", "_") for part in key.split("."))


# ---- where a setting comes from -------------------------------------------------------------


def _canonical(key: str) -> str:
    return key.replace("_", "-")


_YAML_SUFFIXES = (".json", ".yaml", ".yml")  # what dask.config.collect_yaml reads
_yaml_cache: dict[tuple[Any, ...], list[tuple[Path, dict[str, Any]]]] = {}


def _stamp(path: str) -> tuple[Any, ...]:
    """Name, mtime and size of a config file, or of every config file in a directory."""
    try:
        if os.path.isdir(path):
            names = sorted(n for n in os.listdir(path) if n.endswith(_YAML_SUFFIXES))
            return tuple(_stamp(os.path.join(path, n)) for n in names)
        st = os.stat(path)
    except OSError:
        return (path, None)
    return (path, st.st_mtime_ns, st.st_size)


def _yaml_files() -> list[tuple[Path, dict[str, Any]]]:
    """Dask's YAML config files and their contents, parsed again only when one changed.

    Every setting's source is looked up while a run's parameters are read (see
    :func:`label`): parsing the files each time cost a quarter of a second per run with
    dask-jobqueue's and dask-kubernetes' files in ~/.config/dask.
    """
    paths = list(dask.config.paths)
    if os.environ.get("DASK_CONFIG"):
        paths.append(os.environ["DASK_CONFIG"])
    key = tuple((p, _stamp(p)) for p in paths)
    if key not in _yaml_cache:
        try:
            found = list(dask.config.collect_yaml(paths, return_paths=True))
        except ValueError:  # a malformed file: reported when dask is imported
            found = []
        _yaml_cache.clear()
        _yaml_cache[key] = found
    return _yaml_cache[key]


def source(key: str) -> str:
    """Say where ``daskburst.<key>`` is set, for error messages.

    Args:
        key: Dotted key below ``daskburst``.

    Returns:
        ``environment variable DASK_...``, a YAML file, ``daskburst.yaml`` (the
        packaged defaults) or ``dask config`` (e.g. ``dask.config.set``).
    """
    full = f"daskburst.{key}"
    name = env_name(full)
    for var in sorted(os.environ):
        if var.upper() == name or var.upper().startswith(name + "__"):
            return f"environment variable {var}"  # the key, or a key inside it
    marker = object()
    found = None
    for path, data in _yaml_files():
        if dask.config.get(full, marker, config=data) is not marker:
            found = f"{path}"  # later files win, as in dask
    if found:
        return found
    current = dask.config.get(full, marker)
    if current is not marker and current == dask.config.get(full, marker, config=_packaged()):
        return f"{_DEFAULTS_FILE.name} (packaged defaults)"
    return "dask config"


def label(key: str, flag: str | None = None, given: Any = None) -> str:
    """Name a setting in a message: the flag when it was given, else key and source.

    Args:
        key: Dotted key below ``daskburst``.
        flag: The flag or keyword that overrides the setting, e.g. ``--workers``.
        given: The value given with that flag (None: not given).

    Returns:
        E.g. ``--workers`` or ``daskburst.workers (from environment variable
        DASK_DASKBURST__WORKERS)``.
    """
    if given is not None and flag:
        return flag
    return f"daskburst.{key} (from {source(key)})"


def get(key: str, override_with: Any = None) -> Any:
    """Return ``daskburst.<key>`` from dask config, unless ``override_with`` is not None.

    Args:
        key: Dotted key below ``daskburst``, e.g. ``"array.rows"``.
        override_with: A value given explicitly (flag or keyword argument).

    Returns:
        ``override_with`` when it is not None, else the configured value.

    Raises:
        UserError: When the key is missing from the configuration (e.g. a YAML file
            set its section to null).
    """
    if override_with is not None:
        return override_with
    try:
        return dask.config.get(f"daskburst.{key}")
    except (KeyError, TypeError):
        pass
    parts = key.split(".")
    for depth in range(len(parts) - 1, 0, -1):
        parent = ".".join(parts[:depth])
        value = dask.config.get(f"daskburst.{parent}", None)
        if value is not None and not isinstance(value, dict):
            raise UserError(
                f"{label(parent)} {value!r}: expected a mapping holding {parts[depth]!r}"
            )
    raise UserError(
        f"daskburst.{key}: missing from the configuration; expected a value "
        f"(the default is in {_DEFAULTS_FILE.name}; is a YAML file setting a section to null?)"
    )


# ---- typed readers --------------------------------------------------------------------------


def parse_int(name: str, value: Any, minimum: int = 1) -> int:
    """Parse a whole number of at least ``minimum`` (accepts ``1e6`` and ``1_000_000``).

    Args:
        name: The flag or setting, for the error message.
        value: Text or number.
        minimum: The smallest valid value.

    Returns:
        The integer.

    Raises:
        UserError: When it is not a whole number >= ``minimum``.
    """
    what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
    try:
        if isinstance(value, bool):
            raise ValueError
        if isinstance(value, int):
            number = value
        else:
            f = float(str(value).replace("_", ""))
            if not f.is_integer():
                raise ValueError
            number = int(f)
    except (TypeError, ValueError, OverflowError):
        raise UserError(f"{name} {value!r}: expected {what}") from None
    if number < minimum:
        raise UserError(f"{name} {value!r}: expected {what}")
    return number


def parse_seconds(name: str, value: Any) -> float:
    """Parse a positive, finite number of seconds.

    Raises:
        UserError: When it is not one.
    """
    try:
        if isinstance(value, bool):
            raise ValueError
        number = float(value)
    except (TypeError, ValueError):
        raise UserError(f"{name} {value!r}: expected a positive number of seconds") from None
    if not (math.isfinite(number) and number > 0):
        raise UserError(f"{name} {value!r}: expected a positive number of seconds")
    return number


def get_int(
    key: str,
    override_with: Any = None,
    *,
    flag: str | None = None,
    minimum: int = 1,
) -> int:
    """Return ``daskburst.<key>`` as a validated integer (the flag's value wins).

    Raises:
        UserError: Naming the flag, or the setting and its source.
    """
    value = get(key, override_with)
    return parse_int(label(key, flag, override_with), value, minimum)


def get_optional_int(
    key: str, override_with: Any = None, *, flag: str | None = None, minimum: int = 1
) -> int | None:
    """Like :func:`get_int`, but None (unset) stays None."""
    value = get(key, override_with)
    if value is None:
        return None
    return parse_int(label(key, flag, override_with), value, minimum)


def master_seed(given: Any = None) -> int:
    """Return the master seed: ``given`` (``--seed``, ``seed=``), else ``daskburst.seed``.

    Every seed of a run derives from it (:mod:`daskburst.rng`); this is the one place it is
    read.
    """
    return get_int("seed", given, flag="--seed", minimum=0)


def get_seconds(key: str, override_with: Any = None, *, flag: str | None = None) -> float:
    """Return ``daskburst.<key>`` as a validated positive number of seconds."""
    value = get(key, override_with)
    return parse_seconds(label(key, flag, override_with), value)


def get_bytes(key: str, *, expected: str = "a size such as 1MiB") -> int:
    """Return ``daskburst.<key>`` as a positive number of bytes (``8GB``, ``1MiB``, 1024).

    Raises:
        UserError: Naming the setting, its source and ``expected``.
    """
    value = get(key)
    try:
        number = value if isinstance(value, int) else parse_bytes(str(value))
    except (TypeError, ValueError):
        number = -1
    if isinstance(number, bool) or number < 1:
        raise UserError(f"{label(key)} {value!r}: expected {expected}")
    return int(number)


def get_choice(
    key: str, choices: Sequence[str], override_with: Any = None, *, flag: str | None = None
) -> str:
    """Return ``daskburst.<key>`` when it is one of ``choices``.

    Raises:
        UserError: Naming the setting and the choices.
    """
    value = get(key, override_with)
    text = str(value).lower() if isinstance(value, bool) else str(value)
    if text not in choices:
        raise UserError(
            f"{label(key, flag, override_with)} {value!r}: expected one of {', '.join(choices)}"
        )
    return text


def get_optional_text(
    key: str, override_with: Any = None, *, flag: str | None = None
) -> str | None:
    """Return ``daskburst.<key>`` as non-empty text, or None when unset."""
    value = get(key, override_with)
    if value is None:
        return None
    if not isinstance(value, str | Path) or not str(value).strip():
        raise UserError(f"{label(key, flag, override_with)} {value!r}: expected non-empty text")
    return str(value)


# ---- unknown keys ---------------------------------------------------------------------------


def _known() -> set[str]:
    return {_canonical(k) for k in flatten(_packaged()["daskburst"])}


def unknown_keys() -> list[str]:
    """Return the ``daskburst.*`` settings that daskburst does not know (sorted)."""
    current = dask.config.get("daskburst", None)
    if not isinstance(current, dict):
        return []
    known = _known()
    out = []
    for key in flatten(current):
        canonical = _canonical(key)
        if canonical in known or canonical.split(".")[0] in _OPEN_SECTIONS:
            continue
        if any(k.startswith(canonical + ".") for k in known):
            continue  # a section emptied by the user ({}), not a new key
        out.append(key)
    return sorted(out)


_warned: set[str] = set()


def ignored_values() -> list[str]:
    """Say which settings the user wrote that dask's merge drops without a word.

    ``daskburst: 5`` or ``limits: null`` in a YAML file lose against the packaged mapping,
    and ``DASK_DASKBURST_WORKERS`` (one underscore) is a top-level key nobody reads.
    """
    out = []
    sections = {k for k, v in _packaged()["daskburst"].items() if isinstance(v, dict)}
    for path, data in _yaml_files():
        tree = data.get("daskburst", {}) if isinstance(data, dict) else {}
        if not isinstance(tree, dict):
            shown = json.dumps(tree, default=str)
            out.append(f"daskburst: {shown} in {path} is ignored: expected a mapping of settings")
            continue
        for key, value in tree.items():
            if _canonical(str(key)) in sections and not isinstance(value, dict):
                shown = json.dumps(value, default=str)
                out.append(f"daskburst.{key}: {shown} in {path} is ignored: expected a mapping "
                           f"(set the keys inside it, e.g. daskburst.{key}.<name>)")  # fmt: skip
    for var in sorted(os.environ):
        upper = var.upper()
        if upper.startswith("DASK_DASKBURST_") and not upper.startswith("DASK_DASKBURST__"):
            good = "DASK_DASKBURST__" + var[len("DASK_DASKBURST_") :]
            out.append(f"environment variable {var} is ignored: settings take two underscores "
                       f"after DASK_DASKBURST, e.g. {good}")  # fmt: skip
    return out


def warn_unknown_keys() -> None:
    """Warn (``ConfigWarning``, once per key) about ``daskburst.*`` settings nobody reads."""
    for message in ignored_values():
        if message not in _warned:
            _warned.add(message)
            warnings.warn(message, ConfigWarning, stacklevel=2)
    known = sorted(_known())
    for key in unknown_keys():
        if key in _warned:
            continue
        _warned.add(key)
        close = difflib.get_close_matches(_canonical(key), known, n=1)
        hint = f"; did you mean daskburst.{close[0]}?" if close else ""
        warnings.warn(
            f"unknown setting daskburst.{key} (from {source(key)}) is ignored{hint}",
            ConfigWarning,
            stacklevel=2,
        )


def cache_dir() -> Path:
    """Return the directory for generated sample inputs.

    Returns:
        ``daskburst.cache-dir`` if set, else ``$XDG_CACHE_HOME/daskburst`` or
        ``~/.cache/daskburst``.
    """
    configured = get_optional_text("cache-dir")
    if configured:
        path = Path(configured).expanduser()
        where = label("cache-dir")
    else:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        path = Path(base) / "daskburst"
        where = "the cache directory ($XDG_CACHE_HOME or ~/.cache, daskburst.cache-dir unset)"
    # The first existing ancestor must be a directory: samples are generated below it.
    for parent in (path, *path.parents):
        if parent.exists():
            if not parent.is_dir():
                raise UserError(
                    f"{where} {str(path)!r}: {str(parent)!r} is not a directory; expected a "
                    "directory for the generated samples"
                )
            break
    return path


reconfigure()
