"""Pod and cluster specs for daskburst's Dask clusters on Kubernetes (pure functions).

One source of truth: ``charts/dask-burst``, every ``jobs/*.yaml`` and the ``kubernetes``
backend (dask-kubernetes' ``KubeCluster``) are all built from these functions.
``scripts/k8s/render_manifests.py`` writes the YAML files and ``tests/k8s`` fails when they
drift. The shapes follow ``dask_kubernetes.operator.kubecluster.make_scheduler_spec``/
``make_worker_spec`` (named ports ``tcp-comm``/``http-dashboard``, ``/health`` probes,
``--name $(DASK_WORKER_NAME)``), hardened for the Pod Security "restricted" profile.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from daskburst._version import __version__

#: Project image: ``make image`` builds it, ``make kind-load`` loads it into kind.
DEFAULT_IMAGE = f"localhost/daskburst:{__version__}"
#: The image's non-root user (images/Dockerfile).
IMAGE_UID = 1000
PART_OF = "daskburst"
APP_NAME = "daskburst"

#: The scheduler's HTTP routes: distributed's defaults plus the API the operator's
#: autoscaler uses (``/api/v1/adaptive_target``, ``/api/v1/retire_workers``).
SCHEDULER_HTTP_ROUTES = (
    "distributed.http.scheduler.prometheus",
    "distributed.http.scheduler.info",
    "distributed.http.scheduler.json",
    "distributed.http.health",
    "distributed.http.proxy",
    "distributed.http.statics",
    "distributed.http.scheduler.api",
)

ROLES = ("scheduler", "worker", "runner")

#: Every worker pod's preload: it registers the moment its scheduler listens.
PRELOAD = "daskburst.k8s_preload"

#: The taints that GKE, AKS and EKS (Karpenter, eksctl) put on spot and preemptible nodes.
#: Workers tolerate them: a lost worker's tasks are computed again on another, so a job
#: survives a spot reclaim. The scheduler and the runner do not: losing either loses the job.
SPOT_TOLERATIONS = (
    ("cloud.google.com/gke-spot", "true"),
    ("cloud.google.com/gke-preemptible", "true"),
    ("kubernetes.azure.com/scalesetpriority", "spot"),
    ("karpenter.sh/capacity-type", "spot"),
    ("eks.amazonaws.com/capacityType", "SPOT"),
)


def role_resources(
    role: str, threads: int = 1, config: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Return the requests and limits of a container role from ``daskburst.kubernetes.resources``.

    A worker whose ``limits.cpu`` is null gets one CPU per thread, so ``--threads-per-worker``
    and the CPU the kernel lets the worker use always agree.

    Args:
        role: ``scheduler``, ``worker`` or ``runner``.
        threads: Threads per worker (workers only).
        config: The ``resources`` mapping to read (default: dask config).

    Returns:
        ``{"requests": {...}, "limits": {...}}`` without null values.

    Raises:
        ValueError: For an unknown role.
    """
    if role not in ROLES:
        raise ValueError(f"role {role!r}: expected one of {', '.join(ROLES)}")
    if config is None:
        from daskburst import config as settings

        config = settings.get("kubernetes.resources")
    chosen = copy.deepcopy(dict((config or {}).get(role) or {}))
    out: dict[str, Any] = {}
    for kind in ("requests", "limits"):
        values = {k: str(v) for k, v in dict(chosen.get(kind) or {}).items() if v is not None}
        if role == "worker" and kind == "limits" and "cpu" not in values:
            values["cpu"] = str(threads)
        values = dict(sorted(values.items()))
        if values:
            out[kind] = values
    _check_quantities(role, out)
    return out


def _check_quantities(role: str, resources: Mapping[str, Mapping[str, str]]) -> None:
    """Refuse what the API server would refuse later, inside the operator, where nobody sees it.

    A request above its limit makes the operator's Deployment invalid; the operator then
    retries for ever and its DaskCluster cannot even be deleted.
    """
    from kubernetes.utils.quantity import parse_quantity

    from daskburst.errors import UserError

    parsed: dict[tuple[str, str], Any] = {}
    for kind, values in resources.items():
        for key, text in values.items():
            try:
                parsed[kind, key] = parse_quantity(text)  # type: ignore[no-untyped-call]
            except ValueError:
                raise UserError(
                    f"daskburst.kubernetes.resources.{role}.{kind}.{key} = {text!r}: expected a "
                    "Kubernetes quantity such as 512Mi, 2Gi, 500m or 1"
                ) from None
    for (kind, key), request in parsed.items():
        limit = parsed.get(("limits", key))
        if kind == "requests" and limit is not None and request > limit:
            raise UserError(
                f"daskburst.kubernetes.resources.{role}.requests.{key} = "
                f"{resources['requests'][key]}: expected at most its limit "
                f"{resources['limits'][key]} (Kubernetes refuses a request above the limit)"
            )


#: Why each checkov check that fails by design is skipped (one line each). The annotations
#: travel from a DaskJob/DaskCluster to the pods the operator creates.
CHECKOV_SKIPS = {
    "CKV_K8S_43": "Pinned by version tag; kind loads local images that have no registry digest",
    "CKV_K8S_40": "The image's non-root user is UID 1000 (images/Dockerfile)",
    "CKV_K8S_15": "IfNotPresent so kind uses the image loaded with `kind load`; tags are immutable",
}


def labels(instance: str, component: str, version: str = __version__) -> dict[str, str]:
    """Return the recommended ``app.kubernetes.io`` labels of a daskburst object.

    Args:
        instance: The cluster or job name this object belongs to.
        component: ``scheduler``, ``worker``, ``runner``, ``cluster``, ``job``, ``autoscaler``...
        version: The daskburst version.

    Returns:
        The six ``app.kubernetes.io/*`` labels.
    """
    return {
        "app.kubernetes.io/name": APP_NAME,
        "app.kubernetes.io/instance": instance,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": "daskburst",
        "app.kubernetes.io/version": version,
    }


#: A runner with API access (the default in jobs/) mounts its ServiceAccount token.
RUNNER_API_CHECKOV_SKIPS = {
    "CKV_K8S_38": "The runner attaches to its own Dask cluster and adds its autoscaler through "
    "the API; its Role covers only this namespace's Dask resources",
}

#: Extra skips for a DaskJob's runner pod only.
RUNNER_CHECKOV_SKIPS = {
    "CKV_K8S_8": "A batch pod that exits when its computation ends; it serves nothing to probe",
    "CKV_K8S_9": "A batch pod that exits when its computation ends; nothing routes traffic to it",
}


def checkov_annotations(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return ``checkov.io/skipN`` annotations, each with its one-line reason.

    Args:
        extra: More ``check -> reason`` pairs beyond :data:`CHECKOV_SKIPS`.

    Returns:
        Annotation name to ``CHECK=reason``.
    """
    skips = {**CHECKOV_SKIPS, **(extra or {})}
    return {
        f"checkov.io/skip{i}": f"{check}={reason}"
        for i, (check, reason) in enumerate(sorted(skips.items()), start=1)
    }


def _container_security_context() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "runAsUser": IMAGE_UID,
        "capabilities": {"drop": ["ALL"]},
    }


def _pod_security_context() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": IMAGE_UID,
        "runAsGroup": IMAGE_UID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _tmp_volume() -> tuple[dict[str, Any], dict[str, Any]]:
    # The root filesystem is read-only: Dask spills and keeps worker dirs in /tmp.
    return (
        {"name": "tmp", "emptyDir": {"sizeLimit": "2Gi"}},
        {"name": "tmp", "mountPath": "/tmp"},
    )


def _env(extra: Mapping[str, str | dict[str, Any]] | None) -> list[dict[str, Any]]:
    env: dict[str, str | dict[str, Any]] = {"HOME": "/tmp", "DASK_TEMPORARY_DIRECTORY": "/tmp"}
    env.update(extra or {})
    return [
        {"name": k, "value": v} if isinstance(v, str) else {"name": k, "valueFrom": v}
        for k, v in env.items()
    ]


#: What a runner needs to find its own cluster through the API (the ``kubernetes`` backend's
#: attach mode): the operator labels the runner pod with its cluster's name.
RUNNER_CLUSTER_ENV: dict[str, str | dict[str, Any]] = {
    "DASK_DASKBURST__KUBERNETES__CLUSTER_NAME": {
        "fieldRef": {"fieldPath": "metadata.labels['dask.org/cluster-name']"}
    },
    "DASK_DASKBURST__KUBERNETES__NAMESPACE": {"fieldRef": {"fieldPath": "metadata.namespace"}},
}


def _pod(
    container: dict[str, Any],
    *,
    service_account: str | None = None,
    restart: str | None = None,
    api_token: bool = False,
) -> dict[str, Any]:
    volume, mount = _tmp_volume()
    container["volumeMounts"] = [mount]
    container["securityContext"] = _container_security_context()
    spec: dict[str, Any] = {}
    if restart:
        spec["restartPolicy"] = restart
    if service_account:
        spec["serviceAccountName"] = service_account
    spec.update(
        {
            "automountServiceAccountToken": api_token,
            "securityContext": _pod_security_context(),
            "containers": [container],
            "volumes": [volume],
        }
    )
    return spec


def _health_probes(readiness: dict[str, int]) -> dict[str, Any]:
    """Readiness and liveness probes on the Dask ``/health`` route of the dashboard port."""
    get = {"port": "http-dashboard", "path": "/health"}
    return {
        "readinessProbe": {"httpGet": dict(get), **readiness},
        "livenessProbe": {"httpGet": dict(get), "initialDelaySeconds": 15, "periodSeconds": 20},
    }


def scheduler_pod_spec(
    image: str = DEFAULT_IMAGE,
    resources: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    pull_policy: str = "IfNotPresent",
) -> dict[str, Any]:
    """Return the scheduler's PodSpec: ``dask scheduler`` with named ports and probes.

    Args:
        image: Container image with daskburst installed.
        resources: Requests/limits (default: :func:`role_resources` ``("scheduler")``).
        env: Extra environment variables.
        pull_policy: ``imagePullPolicy``.

    Returns:
        A PodSpec dict.
    """
    routes = "[" + ", ".join(f"'{r}'" for r in SCHEDULER_HTTP_ROUTES) + "]"
    container = {
        "name": "scheduler",
        "image": image,
        "imagePullPolicy": pull_policy,
        "args": ["dask", "scheduler", "--host", "0.0.0.0", "--dashboard-address", ":8787"],
        "env": _env({"DASK_DISTRIBUTED__SCHEDULER__HTTP__ROUTES": routes, **(env or {})}),
        "resources": copy.deepcopy(dict(resources or role_resources("scheduler"))),
        "ports": [
            {"name": "tcp-comm", "containerPort": 8786, "protocol": "TCP"},
            {"name": "http-dashboard", "containerPort": 8787, "protocol": "TCP"},
        ],
        # Every second: clients outside the cluster (KubeCluster) wait for this readiness.
        **_health_probes({"periodSeconds": 1, "timeoutSeconds": 5}),
    }
    return _pod(container)


def _pre_spawn_env() -> dict[str, str]:
    """The worker container's environment from distributed's ``nanny.pre-spawn-environ``.

    The nanny sets them just before it starts its worker process, for glibc's allocator and
    the BLAS libraries, which read them once, when a process starts: a forked worker would
    miss them, so the whole container gets them, with those of ``daskburst.cluster-settings``.
    """
    import dask

    from daskburst import config

    with dask.config.set(config.cluster_settings()):  # str() inside: set() puts back the dict
        return {
            k: str(v) for k, v in dask.config.get("distributed.nanny.pre-spawn-environ").items()
        }


def worker_pod_spec(
    image: str = DEFAULT_IMAGE,
    resources: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    pull_policy: str = "IfNotPresent",
    threads: int = 1,
) -> dict[str, Any]:
    """Return a worker's PodSpec: ``dask worker --name $(DASK_WORKER_NAME)`` and our preload.

    The operator injects ``DASK_WORKER_NAME`` and ``DASK_SCHEDULER_ADDRESS``. Workers may
    run on spot nodes (:data:`SPOT_TOLERATIONS`); nothing else does.

    Args:
        image: Container image with daskburst installed.
        resources: Requests/limits (default: :func:`role_resources` ``("worker", threads)``).
        env: Extra environment variables.
        pull_policy: ``imagePullPolicy``.
        threads: Threads per worker.

    Returns:
        A PodSpec dict.
    """
    container = {
        "name": "worker",
        "image": image,
        "imagePullPolicy": pull_policy,
        "args": [
            "dask",
            "worker",
            "--name",
            "$(DASK_WORKER_NAME)",
            "--nthreads",
            str(threads),
            # Its HTTP server (/health for the probes, /metrics) without the per-worker
            # bokeh pages: bokeh is 0.3 s of every worker's start; the scheduler's
            # dashboard shows the workers.
            "--no-dashboard",
            "--dashboard-address",
            "8788",
            # With its nanny: user code travels to the workers as UploadDirectory, a nanny
            # plugin that restarts the worker process (docs/your-code.md).
            "--preload",
            PRELOAD,
        ],
        # The nanny forks its worker process instead of starting a new interpreter that
        # imports distributed again (0.7 s of every worker's start; docs/kubernetes.md).
        "env": _env(
            {
                "DASK_DISTRIBUTED__WORKER__MULTIPROCESSING_METHOD": "fork",
                **_pre_spawn_env(),
                **(env or {}),
            }
        ),  # fmt: skip
        "resources": copy.deepcopy(dict(resources or role_resources("worker", threads))),
        "ports": [{"name": "http-dashboard", "containerPort": 8788, "protocol": "TCP"}],
        **_health_probes({"periodSeconds": 5}),
    }
    spec = _pod(container)
    spec["tolerations"] = [
        {"key": key, "operator": "Equal", "value": value, "effect": "NoSchedule"}
        for key, value in SPOT_TOLERATIONS
    ]
    return spec


def runner_pod_spec(
    args: Sequence[str],
    image: str = DEFAULT_IMAGE,
    resources: Mapping[str, Any] | None = None,
    env: Mapping[str, str | dict[str, Any]] | None = None,
    pull_policy: str = "IfNotPresent",
    api_access: bool = False,
) -> dict[str, Any]:
    """Return a DaskJob runner's PodSpec (``restartPolicy: Never``).

    Args:
        args: The command, e.g. ``["daskburst", "run", "array", ...]``.
        image: Container image with daskburst installed.
        resources: Requests/limits (default: :func:`role_resources` ``("runner")``).
        env: Extra environment variables (a string, or a ``valueFrom`` dict).
        pull_policy: ``imagePullPolicy``.
        api_access: Mount the ``daskburst-runner`` ServiceAccount's token and tell the runner
            its cluster's name and namespace, so ``--backend kubernetes`` attaches to the
            job's own cluster (and ``--adapt`` gives it a DaskAutoscaler).

    Returns:
        A PodSpec dict.
    """
    container = {
        "name": "runner",
        "image": image,
        "imagePullPolicy": pull_policy,
        "args": list(args),
        "env": _env({**(RUNNER_CLUSTER_ENV if api_access else {}), **(env or {})}),
        "resources": copy.deepcopy(dict(resources or role_resources("runner"))),
    }
    return _pod(
        container, service_account="daskburst-runner", restart="Never", api_token=api_access
    )


def scheduler_service_spec() -> dict[str, Any]:
    """Return the scheduler Service spec (the operator adds the cluster to the selector).

    The scheduler is reachable through it as soon as its pod has an address, not only once
    its readiness probe passed (``publishNotReadyAddresses``): clients and workers retry until
    it listens, and a job's runner no longer waits up to a probe period for nothing (issue 24).

    Returns:
        A ServiceSpec dict exposing ``tcp-comm`` 8786 and ``http-dashboard`` 8787.
    """
    return {
        "type": "ClusterIP",
        "publishNotReadyAddresses": True,
        "selector": {"dask.org/component": "scheduler"},
        "ports": [
            {"name": "tcp-comm", "protocol": "TCP", "port": 8786, "targetPort": "tcp-comm"},
            {
                "name": "http-dashboard",
                "protocol": "TCP",
                "port": 8787,
                "targetPort": "http-dashboard",
            },
        ],
    }


def cluster_spec(
    name: str,
    image: str = DEFAULT_IMAGE,
    workers: int = 1,
    resources: Mapping[str, Mapping[str, Any]] | None = None,
    pull_policy: str = "IfNotPresent",
    idle_timeout: int = 0,
    threads: int = 1,
) -> dict[str, Any]:
    """Return a DaskCluster ``spec`` (the ``kubernetes.dask.org/v1`` schema).

    Args:
        name: Cluster name (the Service selector needs it).
        image: Container image for scheduler and workers.
        workers: Initial worker replicas.
        resources: Per-role requests/limits replacing :func:`role_resources`.
        pull_policy: ``imagePullPolicy``.
        idle_timeout: Seconds of scheduler idleness before the operator deletes the
            cluster (0 never).
        threads: Threads per worker (``--nthreads``; the worker CPU limit follows it).

    Returns:
        The ``spec`` of a DaskCluster.
    """
    res = dict(resources or {})
    service = scheduler_service_spec()
    # The operator uses this selector as written: it must name the cluster (k8s/'s
    # admission policy rejects a DaskJob or DaskCluster whose selector names another).
    service["selector"]["dask.org/cluster-name"] = name
    spec: dict[str, Any] = {
        "worker": {
            "replicas": workers,
            "metadata": {"labels": labels(name, "worker")},
            "spec": worker_pod_spec(
                image, res.get("worker"), pull_policy=pull_policy, threads=threads
            ),
        },
        "scheduler": {
            "metadata": {"labels": labels(name, "scheduler")},
            "spec": scheduler_pod_spec(image, res.get("scheduler"), pull_policy=pull_policy),
            "service": service,
        },
    }
    if idle_timeout:
        spec["idleTimeout"] = idle_timeout
    return spec


def daskcluster(name: str, namespace: str | None = None, **kwargs: Any) -> dict[str, Any]:
    """Return a complete DaskCluster resource.

    Args:
        name: Cluster name (under 53 characters).
        namespace: Namespace, or None to leave it to kustomize/kubectl.
        **kwargs: Passed to :func:`cluster_spec`.

    Returns:
        A ``kubernetes.dask.org/v1`` DaskCluster dict.
    """
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    meta["labels"] = labels(name, "cluster")
    meta["annotations"] = checkov_annotations()
    return {
        "apiVersion": "kubernetes.dask.org/v1",
        "kind": "DaskCluster",
        "metadata": meta,
        "spec": cluster_spec(name, **kwargs),
    }


def daskautoscaler(
    cluster: str, minimum: int, maximum: int, namespace: str | None = None
) -> dict[str, Any]:
    """Return a DaskAutoscaler that keeps ``cluster`` between ``minimum`` and ``maximum``.

    Args:
        cluster: DaskCluster (or DaskJob) name.
        minimum: Fewest workers.
        maximum: Most workers.
        namespace: Namespace, or None.

    Returns:
        A ``kubernetes.dask.org/v1`` DaskAutoscaler dict (named like its cluster).
    """
    meta: dict[str, Any] = {"name": cluster}
    if namespace:
        meta["namespace"] = namespace
    meta["labels"] = labels(cluster, "autoscaler")
    return {
        "apiVersion": "kubernetes.dask.org/v1",
        "kind": "DaskAutoscaler",
        "metadata": meta,
        "spec": {"cluster": cluster, "minimum": minimum, "maximum": maximum},
    }


def daskjob(
    name: str,
    args: Sequence[str],
    namespace: str | None = None,
    image: str = DEFAULT_IMAGE,
    workers: int = 1,
    resources: Mapping[str, Mapping[str, Any]] | None = None,
    pull_policy: str = "IfNotPresent",
    api_access: bool = True,
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Return a DaskJob: a runner pod plus its own Dask cluster named like the job.

    Args:
        name: Job name (also the cluster's; under 53 characters).
        args: The runner's command.
        namespace: Namespace, or None.
        image: Container image.
        workers: Initial worker replicas.
        resources: Per-role requests/limits replacing :func:`role_resources`.
        pull_policy: ``imagePullPolicy``.
        api_access: Let the runner attach to its cluster through the API (see
            :func:`runner_pod_spec`); needed for ``--backend kubernetes --adapt``.
        env: Extra environment variables of the runner (e.g. ``DASK_DASKBURST__*`` settings).

    Returns:
        A ``kubernetes.dask.org/v1`` DaskJob dict.
    """
    res = dict(resources or {})
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    meta["labels"] = labels(name, "job")
    meta["annotations"] = checkov_annotations()
    runner = runner_pod_spec(
        args, image, res.get("runner"), env=env, pull_policy=pull_policy, api_access=api_access
    )
    return {
        "apiVersion": "kubernetes.dask.org/v1",
        "kind": "DaskJob",
        "metadata": meta,
        "spec": {
            "job": {
                "metadata": {
                    "labels": labels(name, "runner"),
                    "annotations": checkov_annotations(
                        {**RUNNER_CHECKOV_SKIPS, **(RUNNER_API_CHECKOV_SKIPS if api_access else {})}
                    ),
                },
                "spec": runner,
            },
            # The CRD has no spec.cluster.metadata (the API server would prune it): the
            # cluster inherits the job's labels and annotations.
            "cluster": {"spec": cluster_spec(name, image, workers, res, pull_policy=pull_policy)},
        },
    }
