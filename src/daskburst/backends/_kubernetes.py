"""Backend on Kubernetes: a Dask cluster made by the Dask operator through ``KubeCluster``.

The cluster uses exactly the pod specs of ``charts/dask-burst`` and ``jobs/``
(:mod:`daskburst.k8s.specs`), named uniquely per run, adaptive with ``--adapt MIN:MAX``
(a DaskAutoscaler) or fixed with ``--workers N``, and deleted when the run ends.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import dask.config

from daskburst import config
from daskburst.backends._base import BackendOptions, Session, wait_for_workers
from daskburst.errors import BackendError
from daskburst.k8s import specs
from daskburst.k8s._naming import unique_name

#: Used when daskburst.yaml has no ``kubernetes:`` section (older config files).
_DEFAULTS: dict[str, Any] = {
    "namespace": "daskburst",
    "image": None,
    "name-prefix": "daskburst",
    "resource-timeout": 300,
}


def _setting(key: str, given: Any = None) -> Any:
    return dask.config.get(
        f"daskburst.kubernetes.{key}", default=_DEFAULTS[key], override_with=given
    )


def cluster_manifest(opts: BackendOptions, name: str, namespace: str) -> dict[str, Any]:
    """Return the DaskCluster that :func:`open_kubernetes` creates (pure).

    Args:
        opts: ``workers`` (fixed size), ``threads_per_worker``, ``adapt`` (initial size is
            its minimum) and ``extra["image"]``.
        name: Cluster name (under 53 characters).
        namespace: Namespace.

    Returns:
        A ``kubernetes.dask.org/v1`` DaskCluster dict.
    """
    image = opts.extra.get("image") or _setting("image") or specs.DEFAULT_IMAGE
    workers = config.get("workers", override_with=opts.workers)
    initial = opts.adapt[0] if opts.adapt else int(workers or 1)
    manifest = specs.daskcluster(name, namespace, image=str(image), workers=initial)
    threads = config.get("threads-per-worker", override_with=opts.threads_per_worker)
    if threads:
        args = manifest["spec"]["worker"]["spec"]["containers"][0]["args"]
        args[args.index("--nthreads") + 1] = str(int(threads))
    return manifest


@contextlib.contextmanager
def open_kubernetes(opts: BackendOptions) -> Iterator[Session]:
    """Create a DaskCluster with dask-kubernetes' ``KubeCluster`` and delete it on exit.

    Needs the Dask operator (``daskburst k8s install``) and Kubernetes credentials
    (KUBECONFIG or in-cluster). Outside the cluster ``KubeCluster`` port-forwards the
    scheduler.

    Args:
        opts: ``workers`` or ``adapt``, ``threads_per_worker``; ``extra`` may hold
            ``image``, ``namespace`` and ``name``.

    Yields:
        A session with a client connected to the new cluster.

    Raises:
        BackendError: When the cluster cannot be created or gets no workers.
    """
    from dask_kubernetes.operator import KubeCluster
    from distributed import Client

    namespace = str(_setting("namespace", opts.extra.get("namespace")))
    name = opts.extra.get("name") or unique_name(str(_setting("name-prefix")))
    manifest = cluster_manifest(opts, name, namespace)
    try:
        cluster = KubeCluster(
            custom_cluster_spec=manifest,
            namespace=namespace,
            shutdown_on_close=True,
            resource_timeout=int(_setting("resource-timeout")),
        )
    except Exception as exc:  # noqa: BLE001 - kr8s/httpx/operator errors all mean "no cluster"
        raise BackendError(
            f"kubernetes: cannot create DaskCluster {namespace}/{name}: "
            f"{type(exc).__name__}: {exc} (is the operator installed? `daskburst k8s install`)"
        ) from None
    try:
        if opts.adapt:
            cluster.adapt(minimum=opts.adapt[0], maximum=opts.adapt[1])
        with Client(cluster) as client:
            wait = opts.adapt[0] if opts.adapt else manifest["spec"]["worker"]["replicas"]
            wait_for_workers(
                client, int(wait), float(config.get("worker-timeout")), f"kubernetes {name}"
            )
            yield Session(
                backend="kubernetes",
                workers=int(opts.adapt[1] if opts.adapt else wait),
                client=client,
                cluster=cluster,
                dashboard_link=cluster.dashboard_link,
                progress=opts.progress,
            )
    finally:
        cluster.close()
