"""The DaskCluster of ``--backend kubernetes``, from its options and settings (pure)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from daskburst import config
from daskburst.k8s import _specs

if TYPE_CHECKING:  # a type only: k8s/ does not import backends/ (which opens it)
    from daskburst.backends import BackendOptions


def setting(key: str, given: Any = None) -> Any:
    """``daskburst.kubernetes.<key>``, or ``given`` when it is not None."""
    return config.get(f"kubernetes.{key}", override_with=given)


def cluster_manifest(opts: BackendOptions, name: str, namespace: str) -> dict[str, Any]:
    """Return the DaskCluster that ``--backend kubernetes`` creates (pure).

    Args:
        opts: ``workers`` (fixed size), ``threads_per_worker``, ``adapt`` (initial size is
            its minimum) and ``extra["image"]``.
        name: Cluster name (under 53 characters).
        namespace: Namespace.

    Returns:
        A ``kubernetes.dask.org/v1`` DaskCluster dict.
    """
    image = opts.extra.get("image") or setting("image") or _specs.DEFAULT_IMAGE
    initial = opts.adapt[0] if opts.adapt else (opts.workers or 1)
    threads = opts.threads_per_worker or 1
    manifest = _specs.daskcluster(
        name, namespace, image=str(image), workers=initial, threads=threads
    )
    if config.get("kubernetes.idle-timeout") is not None:
        # The operator deletes the cluster once its scheduler has had no task this long.
        manifest["spec"]["idleTimeout"] = int(config.get_seconds("kubernetes.idle-timeout"))
    return manifest


def autoscaler_manifest(
    name: str, namespace: str, minimum: int, maximum: int, owner: dict[str, Any]
) -> dict[str, Any]:
    """Return the DaskAutoscaler of DaskCluster ``name``, owned by it (pure).

    Args:
        name: DaskCluster name (the autoscaler has the same).
        namespace: Namespace.
        minimum: Fewest workers.
        maximum: Most workers.
        owner: The owner reference to the DaskCluster.

    Returns:
        A ``kubernetes.dask.org/v1`` DaskAutoscaler dict.
    """
    return {"apiVersion": "kubernetes.dask.org/v1", "kind": "DaskAutoscaler",
            "metadata": {"name": name, "namespace": namespace, "ownerReferences": [owner],
                         "labels": {"dask.org/cluster-name": name,
                                    "dask.org/component": "autoscaler"}},
            "spec": {"cluster": name, "minimum": minimum, "maximum": maximum}}  # fmt: skip
