"""A kr8s client for the cluster that KUBECONFIG (or the pod's credentials) points at."""

from __future__ import annotations

import os
from typing import Any

from daskburst.errors import UserError


def connect(context: str | None = None) -> Any:
    """Return a ``kr8s.Api`` for KUBECONFIG's cluster (or in-cluster credentials).

    Args:
        context: A kubeconfig context (None: its current one).

    Returns:
        The ``kr8s.Api``.

    Raises:
        UserError: When no cluster is reachable.
    """
    import kr8s

    kwargs: dict[str, Any] = {}
    if context:
        kwargs["context"] = context
    kubeconfig = os.environ.get("KUBECONFIG", "")
    if kubeconfig and os.pathsep not in kubeconfig:
        # Explicit, so kr8s' per-arguments client cache never mixes two clusters.
        kwargs["kubeconfig"] = kubeconfig
    try:
        return kr8s.api(**kwargs)
    except Exception as exc:  # noqa: BLE001 - kr8s raises many kinds when there is no cluster
        raise UserError(
            f"no Kubernetes cluster reachable ({type(exc).__name__}); expected KUBECONFIG or "
            "in-cluster credentials (e.g. `export KUBECONFIG=build/kind/daskburst.kubeconfig`)"
        ) from None
