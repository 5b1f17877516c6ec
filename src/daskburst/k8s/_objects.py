"""Small kr8s helpers the control modules share: Dask objects by kind, deleting, server errors."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from daskburst.k8s._apply import to_object
from daskburst.k8s._manifests import (
    DASK_API,
)

Echo = Callable[[str], None]


def to_stderr(msg: str) -> None:
    """Print a progress line on stderr (the default ``echo``)."""
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


def dask_object(kind: str, name: str, namespace: str, api: Any) -> Any:
    return to_object(
        {"apiVersion": DASK_API, "kind": kind, "metadata": {"name": name, "namespace": namespace}},
        api,
    )


def object_names(kind: str, namespace: str, api: Any) -> list[str]:
    import kr8s

    try:
        # kr8s.get is lazy: the request (and a missing CRD's error) happens while iterating.
        found = list(kr8s.get(f"{kind.lower()}s.kubernetes.dask.org", namespace=namespace, api=api))
    except (kr8s.NotFoundError, kr8s.ServerError, ValueError):
        return []
    return sorted(o.name for o in found)


def delete_object(kind: str, name: str, namespace: str, api: Any) -> bool:
    import kr8s

    try:
        dask_object(kind, name, namespace, api).delete()
    except kr8s.NotFoundError:
        return False
    return True


def server_message(exc: Exception) -> tuple[int | None, str]:
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    try:
        message = str(response.json().get("message", "")) if response is not None else ""
    except Exception:  # noqa: BLE001 - not JSON
        message = ""
    return status, " ".join((message or f"{type(exc).__name__}: {exc}").split())
