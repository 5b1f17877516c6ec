"""What the Dask operator creates for a DaskJob, rendered with its own ``build_*`` functions.

Mirrors ``daskjob_create_components``, ``daskcluster_create_components`` and
``daskworkergroup_replica_update`` in ``dask_kubernetes.operator.controller`` (minus the API
calls): the runner Pod, the scheduler Deployment and Service, and the worker Deployments.
"""

from __future__ import annotations

import copy
from typing import Any

from dask_kubernetes.operator.controller import controller as ctl


def _merge_meta(
    labels: dict[str, str], annotations: dict[str, str], sub: dict[str, Any]
) -> tuple[dict[str, str], dict[str, str]]:
    labels, annotations = dict(labels), dict(annotations)
    meta = sub.get("metadata", {})
    labels.update(meta.get("labels", {}))
    annotations.update(meta.get("annotations", {}))
    return labels, annotations


def _ignored(annotations: dict[str, str]) -> dict[str, str]:
    return {
        k: v
        for k, v in annotations.items()
        if not k.startswith(ctl._ANNOTATION_NAMESPACES_TO_IGNORE)
    }


def render_job(job: dict[str, Any], namespace: str, workers: int | None = None) -> dict[str, Any]:
    """Return the objects the operator makes for ``job``.

    Args:
        job: A DaskJob dict.
        namespace: Namespace the job is created in.
        workers: Worker Deployments to render (default: the cluster's replicas).

    Returns:
        ``{"cluster": DaskCluster, "runner": Pod, "scheduler": Deployment,
        "service": Service, "workergroup": DaskWorkerGroup, "workers": [Deployment, ...]}``.
    """
    job = copy.deepcopy(job)
    name = job["metadata"]["name"]
    job_labels = dict(job["metadata"].get("labels", {}))
    job_ann = _ignored(dict(job["metadata"].get("annotations", {})))

    cspec = job["spec"]["cluster"]
    labels, ann = _merge_meta(job_labels, job_ann, cspec)
    cluster = ctl.build_cluster_spec(
        name, cspec["spec"]["worker"], cspec["spec"]["scheduler"], ann, labels
    )
    labels, ann = _merge_meta(job_labels, job_ann, job["spec"]["job"])
    runner = ctl.build_job_pod_spec(
        job_name=name,
        cluster_name=name,
        namespace=namespace,
        spec=job["spec"]["job"]["spec"],
        annotations=ann,
        labels=labels,
    )

    made = render_cluster(cluster, namespace, workers)
    runner["metadata"]["namespace"] = namespace
    return {"runner": runner, **made}


def render_cluster(
    cluster: dict[str, Any], namespace: str, workers: int | None = None
) -> dict[str, Any]:
    """Return the objects the operator makes for a DaskCluster.

    Args:
        cluster: A DaskCluster dict.
        namespace: Its namespace.
        workers: Worker Deployments to render (default: the worker replicas, at least 1).

    Returns:
        ``{"cluster", "scheduler", "service", "workergroup", "workers": [...]}``.
    """
    cluster = copy.deepcopy(cluster)
    name = cluster["metadata"]["name"]
    cluster["metadata"].setdefault("labels", {})["dask.org/cluster-name"] = name
    cluster["metadata"]["annotations"] = _ignored(cluster["metadata"].get("annotations", {}))
    c_labels = dict(cluster["metadata"]["labels"])
    c_ann = dict(cluster["metadata"]["annotations"])
    sched = cluster["spec"]["scheduler"]
    labels, ann = _merge_meta(c_labels, c_ann, sched)
    scheduler = ctl.build_scheduler_deployment_spec(name, sched["spec"], ann, labels)
    service = ctl.build_scheduler_service_spec(name, sched["service"], ann, labels)

    wspec = cluster["spec"]["worker"]
    labels, ann = _merge_meta(c_labels, c_ann, wspec)
    group = ctl.build_default_worker_group_spec(name, wspec, ann, labels)
    g_labels, g_ann = _merge_meta(
        group["metadata"]["labels"], group["metadata"]["annotations"], wspec
    )
    n = max(1, wspec.get("replicas", 1)) if workers is None else workers
    worker_deps = []
    for i in range(n):
        dep = ctl.build_worker_deployment_spec(
            worker_group_name=group["metadata"]["name"],
            namespace=namespace,
            cluster_name=name,
            uuid=f"{i:010x}",
            pod_spec=wspec["spec"],
            annotations=g_ann,
            labels=g_labels,
        )
        for key, value in c_labels.items():  # kopf.label(data, labels=cluster.labels)
            dep["metadata"]["labels"].setdefault(key, value)
        worker_deps.append(dep)
    for obj in (cluster, scheduler, service, group, *worker_deps):
        obj["metadata"]["namespace"] = namespace
    return {
        "cluster": cluster,
        "scheduler": scheduler,
        "service": service,
        "workergroup": group,
        "workers": worker_deps,
    }
