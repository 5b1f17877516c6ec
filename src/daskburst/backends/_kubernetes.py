"""Backend on Kubernetes: a Dask cluster of the Dask operator, driven through ``KubeCluster``.

Two modes:

- **create** (the default): a DaskCluster with exactly the pod specs of ``charts/dask-burst``
  and ``jobs/`` (:func:`daskburst.k8s.cluster_manifest`), named uniquely per run, adaptive
  with ``--adapt MIN:MAX`` (a DaskAutoscaler) or fixed with ``--workers N``, and deleted when
  the run ends, also on error or Ctrl-C;
- **attach** (``daskburst.kubernetes.cluster-name`` set, as in the runner pods of ``jobs/``):
  use that existing cluster, e.g. a DaskJob's own, giving it a DaskAutoscaler with ``--adapt``;
  it is never deleted here. From a pod (a DaskJob's runner) the client connects to the
  scheduler's Service directly, as the operator's ``DASK_SCHEDULER_ADDRESS`` intends.

A thin adapter over :mod:`daskburst.k8s`, which builds the DaskCluster and talks to the API
server (create, adapt, open, diagnose, delete; see ``k8s/_clusters.py``); here the options
become calls of it, and a Dask client is opened on the cluster.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from daskburst import config, k8s
from daskburst.backends._reach import wait_reachable
from daskburst.backends._session import ResolvedOptions, Session, note, wait_for_workers


@contextlib.contextmanager
def open_kubernetes(opts: ResolvedOptions) -> Iterator[Session]:
    """Open a Dask cluster of the operator (create or attach) and clean up on exit.

    Needs the Dask operator (``daskburst k8s install``) and Kubernetes credentials
    (KUBECONFIG or in-cluster). Outside the cluster the scheduler is reached through a
    port-forward.

    Args:
        opts: ``workers`` or ``adapt``, ``threads_per_worker``; ``extra`` may hold
            ``image``, ``namespace`` and ``name``.

    Yields:
        A session with a client connected to the cluster.

    Raises:
        BackendError: When the cluster cannot be created or reached, or gets no workers.
    """
    from distributed import Client

    namespace = str(k8s.setting("namespace", opts.extra.get("namespace")))
    timeout = config.get_seconds("kubernetes.resource-timeout")
    attach = k8s.setting("cluster-name")
    name = str(attach or opts.extra.get("name") or k8s.unique_name(str(k8s.setting("name-prefix"))))
    created = False
    if attach:
        k8s.read_cluster(name, namespace)
    else:
        manifest = k8s.cluster_manifest(opts, name, namespace)
        lease = config.get_seconds("kubernetes.lease")
        k8s.stamp_lease(manifest, lease)
        note(f"kubernetes: creating DaskCluster {namespace}/{name}")
        obj = k8s.create_cluster(manifest, timeout)
        created = True
    cluster = None
    renewing = contextlib.ExitStack()
    if created:
        # Until it is deleted below; a client killed with -9 stops renewing, and `k8s gc`
        # deletes the cluster once the lease has run out.
        renewing.enter_context(k8s.kept(obj, lease))
    try:
        service = f"{name}-scheduler.{namespace}"
        inside = k8s.in_cluster()
        if inside:
            # From a pod the scheduler is reached through its Service (see _reach).
            wait_reachable(f"tcp://{service}:8786", "its Service", timeout)
        if attach and inside:
            # A DaskJob's runner: a client on the Service, as the operator means it to
            # (it sets DASK_SCHEDULER_ADDRESS to it). KubeCluster.from_name would first
            # wait for the scheduler pod's readiness probe, a second or more of every job.
            target: Any = f"tcp://{service}:8786"
            dashboard = f"http://{service}:8787/status"
        else:
            cluster = k8s.open_cluster(name, namespace, shutdown_on_close=created, timeout=timeout)
            target, dashboard = cluster, cluster.dashboard_link
        if opts.adapt:
            k8s.adapt_cluster(name, namespace, *opts.adapt)
        with Client(target) as client:
            want = opts.adapt[0] if opts.adapt else (opts.workers or (0 if attach else 1))
            worker_timeout = opts.worker_timeout
            lost = k8s.LostWorkerGroup(name, namespace)
            wait_for_workers(client, int(want), worker_timeout, f"kubernetes {name}",
                             diagnose=lost)  # fmt: skip
            yield Session(
                backend="kubernetes",
                workers=int(opts.adapt[1] if opts.adapt else want),
                client=client,
                cluster=cluster,
                dashboard_link=dashboard,
                progress=opts.progress,
                worker_timeout=worker_timeout,
                why_no_workers=lost,
                # A DaskJob's runner keeps its record for `daskburst k8s results`.
                publish=(lambda record: k8s.publish_result(name, namespace, record))
                if attach
                else None,
            )
    finally:
        renewing.close()
        if cluster is not None:
            with contextlib.suppress(Exception):
                cluster.close()
        if created:
            # KubeCluster.close deletes it; make sure of it, also when close failed.
            k8s.delete_cluster_named(name, namespace)
