"""Names of Kubernetes objects: validation and unique per-submission names."""

from __future__ import annotations

import re
import secrets
import time

from daskburst.errors import UserError

#: DNS-1123 label: lower-case alphanumerics and '-', starting and ending alphanumeric.
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
#: Most object names and label values.
NAME_MAX = 63
#: The Dask operator rejects DaskCluster names of 53 or more characters; a DaskJob's cluster
#: is named like the job.
CLUSTER_NAME_MAX = 52


def validate_name(name: str, limit: int = NAME_MAX, what: str = "name") -> str:
    """Check that ``name`` is a DNS-1123 label of at most ``limit`` characters.

    Args:
        name: The name.
        limit: Maximum length.
        what: What the name is, for the error message.

    Returns:
        ``name`` unchanged.

    Raises:
        UserError: When it is not.
    """
    if not DNS1123_LABEL.match(name) or len(name) > limit:
        raise UserError(
            f"{what} {name!r}: expected at most {limit} lower-case letters, digits and '-', "
            "starting and ending with a letter or digit"
        )
    return name


def unique_suffix(now: float | None = None, token: str | None = None) -> str:
    """Return a short suffix that differs between submissions.

    Args:
        now: Seconds since the epoch (default: the current time).
        token: Random hex (default: 8 random hex digits).

    Returns:
        ``<base36 seconds>-<token>``, e.g. ``t4k2l1-9f3a0c21``: sortable by time and collision
        free between concurrent submissions.
    """
    seconds = int(time.time() if now is None else now)
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    b36 = ""
    while seconds:
        seconds, rem = divmod(seconds, 36)
        b36 = digits[rem] + b36
    return f"{b36 or '0'}-{token if token is not None else secrets.token_hex(4)}"


def unique_name(base: str, suffix: str | None = None, limit: int = CLUSTER_NAME_MAX) -> str:
    """Return ``<base>-<suffix>``, shortening ``base`` so that it fits in ``limit``.

    Args:
        base: The name in the manifest, e.g. ``calc-mean``.
        suffix: The unique part (default: :func:`unique_suffix`).
        limit: Maximum length of the result.

    Returns:
        A valid DNS-1123 name of at most ``limit`` characters.

    Raises:
        UserError: When ``base`` is not a valid name or the suffix leaves no room.
    """
    validate_name(base, what="manifest name")
    suffix = suffix if suffix is not None else unique_suffix()
    room = limit - len(suffix) - 1
    if room < 1:
        raise UserError(f"name suffix {suffix!r}: too long for a {limit}-character name")
    head = base[:room].rstrip("-")
    return validate_name(f"{head}-{suffix}", limit)
