"""The pods of a Dask cluster: why its scheduler is not up, counts, a probe pod's start."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from daskburst.k8s._apply import to_object

#: Container waiting reasons that do not go away by waiting.
STUCK = frozenset(
    {"ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull", "CreateContainerConfigError",
     "CrashLoopBackOff", "InvalidImageName"}
)  # fmt: skip
#: Restarts after which a scheduler container counts as crash-looping.
CRASHES = 2


def _selector(name: str, component: str) -> dict[str, str]:
    return {"dask.org/cluster-name": name, "dask.org/component": component}


def pending_reason(name: str, namespace: str, api: Any = None) -> str | None:
    """Return why the cluster's scheduler is not running yet, from pod and ReplicaSet status.

    Args:
        name: DaskCluster name.
        namespace: Namespace.
        api: A ``kr8s.Api``.

    Returns:
        A short reason (e.g. ``0/1 nodes are available: 1 Insufficient cpu``, or a quota
        refusal), or None when nothing is known yet.
    """
    import kr8s

    selector = _selector(name, "scheduler")
    for rs in kr8s.get("replicasets", namespace=namespace, label_selector=selector, api=api):
        for cond in (rs.raw.get("status") or {}).get("conditions") or []:
            if cond.get("type") == "ReplicaFailure" and cond.get("status") == "True":
                return str(cond.get("message", "the scheduler pod cannot be created"))
    for pod in kr8s.get("pods", namespace=namespace, label_selector=selector, api=api):
        status = pod.raw.get("status") or {}
        for cond in status.get("conditions") or []:
            if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
                return str(cond.get("message") or cond.get("reason") or "unschedulable")
        for cs in status.get("containerStatuses") or []:
            waiting = (cs.get("state") or {}).get("waiting") or {}
            if waiting.get("reason") in STUCK:
                return f"{waiting['reason']}: {waiting.get('message', '')}".strip(": ")
    return None


def cluster_pods(name: str, namespace: str, component: str, api: Any = None) -> list[Any]:
    """Return the pods of DaskCluster ``name`` of one ``dask.org/component``.

    Args:
        name: DaskCluster name.
        namespace: Namespace.
        component: ``scheduler`` or ``worker``.
        api: A ``kr8s.Api`` (None: the default one).

    Returns:
        kr8s Pods.
    """
    import kr8s

    selector = _selector(name, component)
    return list(kr8s.get("pods", namespace=namespace, label_selector=selector, api=api))


def pod_ready(pod: Any) -> bool:
    """Whether a kr8s Pod's ``Ready`` condition holds."""
    conditions = (pod.raw.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def crash_reason(pod: Any, api: Any = None) -> str | None:
    """Say why a scheduler pod's container keeps failing, or None while it has not.

    A container that restarted :data:`CRASHES` times is crash-looping (or killed by its
    liveness probe); waiting for it, as ``KubeCluster`` does for ``resource-timeout``
    seconds, does not help. The reason names the last exit, the last line the container
    printed and the pod's last warning event (e.g. a failed probe).

    Args:
        pod: A kr8s Pod.
        api: A ``kr8s.Api``.

    Returns:
        One line, or None.
    """
    import kr8s

    for cs in (pod.raw.get("status") or {}).get("containerStatuses") or []:
        restarts = int(cs.get("restartCount") or 0)
        if restarts < CRASHES:
            continue
        end = (cs.get("lastState") or {}).get("terminated") or {}
        parts = [f"{end.get('reason') or 'exited'} with code {end.get('exitCode', '?')}"]
        with contextlib.suppress(Exception):
            lines = [ln.strip() for ln in pod.logs(container=cs.get("name"), previous=True,
                                                   tail_lines=20) if ln.strip()]  # fmt: skip
            if lines:
                parts.append(f"its last line: {lines[-1][:300]}")
        with contextlib.suppress(Exception):
            only = f"involvedObject.name={pod.name},type=Warning"
            events = kr8s.get("events", namespace=pod.namespace, api=api, field_selector=only)
            warnings = [e.raw for e in events if e.raw.get("reason") != "BackOff"]
            if warnings:
                last = max(warnings, key=lambda e: str(e.get("lastTimestamp") or ""))
                parts.append(f"{last.get('reason')}: {str(last.get('message', '')).strip()[:300]}")
        if end.get("reason") == "OOMKilled":
            parts.append("raise daskburst.kubernetes.resources.scheduler.limits.memory")
        return f"its container restarted {restarts} times ({'; '.join(parts)})"
    return None


def container_running(pod: Any) -> bool:
    """Read a kr8s Pod again and say whether one of its containers runs."""
    pod.refresh()
    statuses = (pod.raw.get("status") or {}).get("containerStatuses") or []
    return any((c.get("state") or {}).get("running") for c in statuses)


@contextlib.contextmanager
def created_pod(manifest: dict[str, Any], api: Any = None) -> Iterator[Any]:
    """Create a pod, yield its kr8s object, and delete it on exit.

    Args:
        manifest: A ``v1`` Pod.
        api: A ``kr8s.Api`` (None: the default one).

    Yields:
        The kr8s Pod.
    """
    obj = to_object(manifest, api)
    obj.create()
    try:
        yield obj
    finally:
        obj.delete()
