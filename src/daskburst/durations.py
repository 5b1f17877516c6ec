"""Durations as users write them, for SLURM and Kubernetes alike (imports only errors).

- :func:`slurm_time`: SLURM's ``--time`` forms (``MM``, ``MM:SS``, ``HH:MM:SS``, ``D-HH``...).
- :func:`parse_walltime`: a SLURM time limit, or a one-line error.
- :func:`parse_duration`: a time limit or TTL on Kubernetes: SLURM's forms with a colon or
  dash, a Dask duration (``30m``), or plain seconds.
"""

from __future__ import annotations

import math
import re

from daskburst.errors import UserError


def slurm_time(value: str, in_range: bool = False) -> float | None:
    """Seconds of a SLURM time limit, or None when ``value`` is not one.

    Args:
        value: ``MM``, ``MM:SS``, ``HH:MM:SS``, ``D-HH``, ``D-HH:MM`` or ``D-HH:MM:SS``.
        in_range: Also None when a field after the first exceeds its range (``1:60``,
            ``2-24``); SLURM itself carries such values over.
    """
    match = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", str(value).strip())
    if not match:
        return None
    days, a, b, c = match.groups()
    parts = [int(a)] + [int(x) for x in (b, c) if x is not None]
    if days is not None:  # D-HH[:MM[:SS]]
        hours, minutes, seconds = (parts + [0, 0])[:3]
        limits: tuple[bool, ...] = (hours < 24, minutes < 60, seconds < 60)
    elif len(parts) == 1:  # MM
        hours, minutes, seconds = 0, parts[0], 0
        limits = ()
    elif len(parts) == 2:  # MM:SS (the minutes may exceed an hour)
        hours, (minutes, seconds) = 0, parts
        limits = (seconds < 60,)
    else:  # HH:MM:SS (the hours may exceed a day)
        hours, minutes, seconds = parts
        limits = (minutes < 60, seconds < 60)
    if in_range and not all(limits):
        return None
    return float(((int(days or 0) * 24 + hours) * 60 + minutes) * 60 + seconds)


def parse_walltime(value: str) -> float:
    """Convert a SLURM time limit to seconds (the forms of :func:`slurm_time`).

    Raises:
        UserError: When ``value`` is not a SLURM time limit.
    """
    seconds = slurm_time(value)
    if seconds is None:
        raise UserError(f"walltime {value!r}: expected a SLURM time such as 00:30:00 or 1-00:00")
    return seconds


#: Longest accepted time limit or TTL: a year (etcd stores seconds; nobody means more).
LONGEST = 366 * 24 * 3600


def parse_duration(text: str, what: str) -> int:
    """Parse a duration: SLURM's ``--time`` forms, a Dask duration, or plain seconds.

    SLURM forms: ``MM:SS``, ``HH:MM:SS``, ``D-HH``, ``D-HH:MM``, ``D-HH:MM:SS``. Dask
    durations: ``90s``, ``30m``, ``2h``, ``1d``. A bare number is **seconds**, as in
    Kubernetes (not minutes as in ``sbatch``): write ``30:00`` or ``30m`` for half an hour.

    Args:
        text: The value as given.
        what: The flag or setting, for the error message.

    Returns:
        Whole seconds, at least 1 and at most a year.

    Raises:
        UserError: For anything else.
    """
    value = str(text).strip()
    seconds: float | None = None
    if ":" in value or "-" in value:
        seconds = slurm_time(value, in_range=True)
    elif re.fullmatch(r"\d+(\.\d+)?([eE]\d+)?", value):
        seconds = float(value)
    elif re.fullmatch(r"\d+(\.\d+)?\s*[a-zA-Z]+", value):
        from dask.utils import parse_timedelta

        try:
            seconds = parse_timedelta(value)
        except (KeyError, ValueError):
            seconds = None
    if seconds is None or not math.isfinite(seconds) or seconds < 1 or seconds > LONGEST:
        raise UserError(
            f"{what} {text!r}: expected a duration from 1 s to 366 days: seconds (1800), a "
            "Dask duration (30m, 2h) or SLURM's form (30:00, 1:30:00, 2-00:00:00)"
        )
    return int(math.ceil(seconds))
