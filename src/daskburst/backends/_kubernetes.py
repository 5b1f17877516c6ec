"""Backend on Kubernetes: a Dask cluster of the Dask operator, driven through ``KubeCluster``.

Two modes:

- **create** (the default): a DaskCluster with exactly the pod specs of ``charts/dask-burst``
  and ``jobs/`` (:mod:`daskburst.k8s.specs`), named uniquely per run, adaptive with ``--adapt
  MIN:MAX`` (a DaskAutoscaler) or fixed with ``--workers N``, and deleted when the run ends,
  also on error or Ctrl-C;
- **attach** (``daskburst.kubernetes.cluster-name`` set, as in the runner pods of ``jobs/``):
  use that existing cluster, e.g. a DaskJob's own, giving it a DaskAutoscaler with ``--adapt``;
  it is never deleted here.

The DaskCluster is created here and then opened with ``KubeCluster.from_name``: KubeCluster's
own creation path waits for ``status.phase == Running``, which dask-kubernetes 2026.3.0's
operator can overwrite with ``Pending`` (dask/dask-kubernetes#968, fixed upstream by #977,
unreleased), failing half of all runs after 300 s. Waiting for the operator to have created
the cluster's components (phase ``Pending`` or ``Running``) avoids that race, and a scheduler
that cannot start is explained instead of waited for in silence.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator
from typing import Any

from daskburst import config
from daskburst.backends._reach import wait_reachable
from daskburst.backends._session import BackendOptions, Session, wait_for_workers
from daskburst.errors import BackendError
from daskburst.k8s import EXPIRES, kept, publish_result, server_now, specs, stamp, unique_name

#: Container waiting reasons that do not go away by waiting.
_STUCK = frozenset(
    {"ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull", "CreateContainerConfigError",
     "CrashLoopBackOff", "InvalidImageName"}
)  # fmt: skip
#: Phases of a DaskCluster once the operator has created its scheduler, service and workers.
_CREATED = ("Pending", "Running")
#: Restarts after which a scheduler container counts as crash-looping.
_CRASHES = 2


def _setting(key: str, given: Any = None) -> Any:
    return config.get(f"kubernetes.{key}", override_with=given)


def in_cluster() -> bool:
    """Whether this process runs in a pod (it can resolve Service names there)."""
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST"))


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
    threads = int(config.get("threads-per-worker", override_with=opts.threads_per_worker) or 1)
    manifest = specs.daskcluster(
        name, namespace, image=str(image), workers=initial, threads=threads
    )
    if config.get("kubernetes.idle-timeout") is not None:
        # The operator deletes the cluster once its scheduler has had no task this long.
        manifest["spec"]["idleTimeout"] = int(config.get_seconds("kubernetes.idle-timeout"))
    return manifest


def _say(msg: str) -> None:
    sys.stderr.write(f"kubernetes: {msg}\n")
    sys.stderr.flush()


def _api_error(exc: Exception, what: str) -> BackendError:
    """Turn a kr8s/httpx error into one line that says what to do."""
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    try:
        detail = response.json().get("message", "") if response is not None else ""
    except Exception:  # noqa: BLE001 - not JSON
        detail = ""
    detail = detail or f"{type(exc).__name__}: {exc}"
    if status == 404 and "namespaces" in detail:
        hint = "create it, or set daskburst.kubernetes.namespace (`daskburst k8s install`)"
    elif status == 404 and "daskclusters" in detail:
        hint = "no such DaskCluster: check daskburst.kubernetes.cluster-name"
    elif status == 404:
        hint = "the Dask CRDs are not installed: run `daskburst k8s install`"
    elif status == 403:
        hint = (
            "these credentials lack RBAC for Dask resources there; a job's runner needs the "
            "daskburst-runner Role of k8s/"
        )
    elif status == 422:
        hint = "the API server rejected the manifest"
    else:
        hint = "check KUBECONFIG and that the cluster is reachable"
    return BackendError(f"kubernetes: cannot {what}: {detail} ({hint})")


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

    selector = {"dask.org/cluster-name": name, "dask.org/component": "scheduler"}
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
            if waiting.get("reason") in _STUCK:
                return f"{waiting['reason']}: {waiting.get('message', '')}".strip(": ")
    return None


def _scheduler_pods(name: str, namespace: str, api: Any) -> list[Any]:
    import kr8s

    selector = {"dask.org/cluster-name": name, "dask.org/component": "scheduler"}
    return list(kr8s.get("pods", namespace=namespace, label_selector=selector, api=api))


def _ready(pod: Any) -> bool:
    conditions = (pod.raw.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def crash_reason(pod: Any, api: Any = None) -> str | None:
    """Say why a scheduler pod's container keeps failing, or None while it has not.

    A container that restarted :data:`_CRASHES` times is crash-looping (or killed by its
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
        if restarts < _CRASHES:
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


#: Where kopf, the operator's framework, keeps the state of its handlers on each object.
_KOPF = "kopf.zalando.org/"


def operator_error(obj: Any) -> str | None:
    """Return the last error of the operator's handlers on a Dask object, or None.

    The operator reports nothing else when it cannot create a cluster's components (e.g.
    the API server refuses its Deployment): it retries every minute, for ever.
    """
    for key, value in ((obj.raw.get("metadata") or {}).get("annotations") or {}).items():
        if not key.startswith(_KOPF):
            continue
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            state = json.loads(value)
            if state.get("message") and not state.get("success"):
                return str(state["message"])
    return None


class LostWorkerGroup:
    """Whether a DaskCluster past creation lacks its default worker group, seen twice in a row.

    Then no worker will ever start: the operator creates the group once, while the phase is
    ``Created``, and a retry of that step is dropped when the scheduler's Service turns the
    phase to ``Running`` meanwhile (dask-kubernetes #976). Seen on two checks 10 s apart, so
    the moment between the Service and the group's creation is not mistaken for it.
    """

    def __init__(self, name: str, namespace: str, api: Any = None) -> None:
        self.name, self.namespace, self.api, self.seen = name, namespace, api, 0

    def __call__(self) -> str | None:
        """The reason no worker can come, or None."""
        from daskburst.k8s import stored

        def get(kind: str, name: str) -> dict[str, Any] | None:
            return stored("kubernetes.dask.org/v1", kind, name, self.namespace, self.api)

        try:
            cluster = get("DaskCluster", self.name)
            phase = ((cluster or {}).get("status") or {}).get("phase")
            lost = phase in _CREATED and get("DaskWorkerGroup", f"{self.name}-default") is None
        except Exception:  # noqa: BLE001 - a diagnosis must not end a wait that may succeed
            return None
        self.seen = self.seen + 1 if lost else 0
        if self.seen < 2:
            return None
        return (
            f"DaskCluster {self.namespace}/{self.name} is {phase} without its worker group "
            f"{self.name}-default, so no worker will start (the operator dropped it after a "
            "failed step: dask-kubernetes #976); delete the cluster and run again"
        )


def delete_cluster(obj: Any) -> None:
    """Delete a DaskCluster, also one whose creation failed in the operator.

    kopf keeps retrying a failed creation after the deletion was asked for and never removes
    its finalizer: such a DaskCluster would stay for ever. Its finalizer is removed here
    (the operator has no deletion handler for DaskClusters; what it made is garbage-collected
    through owner references).
    """
    with contextlib.suppress(Exception):
        obj.delete()
    with contextlib.suppress(Exception):
        obj.refresh()
        if operator_error(obj) and obj.raw["metadata"].get("finalizers"):
            obj.patch({"metadata": {"finalizers": None}})


def create_cluster(manifest: dict[str, Any], timeout: float, api: Any = None) -> Any:
    """Create a DaskCluster and wait until its scheduler pod is ready.

    A scheduler that keeps crashing ends the wait at once, with its reason
    (:func:`crash_reason`).

    Args:
        manifest: From :func:`cluster_manifest`.
        timeout: Seconds for the operator to act and the scheduler pod to be ready.
        api: A ``kr8s.Api``.

    Returns:
        The kr8s object of the DaskCluster.

    Raises:
        BackendError: When it cannot be created, the operator does not act, or the scheduler
            cannot start (with the reason); the DaskCluster is deleted first.
    """
    from daskburst.k8s import to_object

    name = manifest["metadata"]["name"]
    namespace = manifest["metadata"]["namespace"]
    obj = to_object(manifest, api)
    try:
        obj.create()
    except Exception as exc:  # noqa: BLE001 - kr8s/httpx raise many kinds
        raise _api_error(exc, f"create DaskCluster {namespace}/{name}") from None
    try:
        deadline = time.monotonic() + timeout
        next_note = time.monotonic() + 10
        phase = ""
        while True:
            obj.refresh()
            phase = str((obj.raw.get("status") or {}).get("phase", ""))
            if phase == "Error":
                raise BackendError(
                    f"kubernetes: the operator refused DaskCluster {namespace}/{name} "
                    "(phase Error; `kubectl -n dask-operator logs deploy/dask-kubernetes-operator`)"
                )
            refused = operator_error(obj)
            if refused and ("is invalid" in refused or "forbidden" in refused):
                raise BackendError(
                    f"kubernetes: the Dask operator cannot create the pods of "
                    f"{namespace}/{name}: {refused}"
                )
            pods = _scheduler_pods(name, namespace, api) if phase in _CREATED else []
            if any(_ready(p) for p in pods):
                return obj
            for pod in pods:
                crash = crash_reason(pod, api)
                if crash:
                    raise BackendError(
                        f"kubernetes: the scheduler of {namespace}/{name} cannot start: {crash}"
                    )
            reason = pending_reason(name, namespace, api) if phase in _CREATED else refused
            now = time.monotonic()
            if now > deadline:
                if phase not in _CREATED:
                    raise BackendError(
                        f"kubernetes: the Dask operator did not act on DaskCluster "
                        f"{namespace}/{name} within {timeout:g} s (phase {phase or 'unset'}): is "
                        "it running? `kubectl get pods -A -l "
                        "app.kubernetes.io/name=dask-kubernetes-operator`"
                    )
                raise BackendError(
                    f"kubernetes: the scheduler of {namespace}/{name} did not start within "
                    f"{timeout:g} s: {reason or 'no reason reported'}"
                )
            if reason and "exceeded quota" in reason:
                raise BackendError(f"kubernetes: {namespace}/{name} does not fit: {reason}")
            if now > next_note:
                _say(
                    f"waiting for {name}: phase {phase or 'unset'}"
                    + (f"; {reason}" if reason else "")
                )
                next_note = now + 10
            time.sleep(0.5)
    except BaseException:
        delete_cluster(obj)
        raise


def adapt_cluster(name: str, namespace: str, minimum: int, maximum: int, api: Any = None) -> Any:
    """Give DaskCluster ``name`` a DaskAutoscaler that it owns from the moment it exists.

    ``KubeCluster.adapt`` creates the autoscaler without an owner and leaves it to the
    operator to adopt it a moment later. A DaskJob whose runner dies in that moment has its
    cluster deleted first, and the autoscaler then outlives it forever (seen on 2 cores).
    Created with the owner reference, it goes with its cluster whatever happens.

    Returns:
        The kr8s object of the DaskAutoscaler.

    Raises:
        BackendError: When the DaskCluster cannot be read or the autoscaler not written.
    """
    from daskburst.k8s import create_or_patch, to_object

    try:
        owner = to_object(
            {"apiVersion": "kubernetes.dask.org/v1", "kind": "DaskCluster",
             "metadata": {"name": name, "namespace": namespace}}, api,
        )  # fmt: skip
        owner.refresh()
        # The same reference the operator's adoption writes (kr8s set_owner), so that its
        # later patch changes nothing.
        ref = {"controller": True, "blockOwnerDeletion": True, "apiVersion": owner.version,
               "kind": "DaskCluster", "name": name, "uid": owner.metadata.uid}  # fmt: skip
        autoscaler, _ = create_or_patch(
            {"apiVersion": "kubernetes.dask.org/v1", "kind": "DaskAutoscaler",
             "metadata": {"name": name, "namespace": namespace, "ownerReferences": [ref],
                          "labels": {"dask.org/cluster-name": name,
                                     "dask.org/component": "autoscaler"}},
             "spec": {"cluster": name, "minimum": minimum, "maximum": maximum}}, api,
        )  # fmt: skip
    except Exception as exc:  # noqa: BLE001 - kr8s/httpx raise many kinds
        raise _api_error(exc, f"write DaskAutoscaler {namespace}/{name}") from None
    return autoscaler


def _delete_cluster(name: str, namespace: str) -> None:
    from daskburst.k8s import to_object

    try:
        obj = to_object(
            {"apiVersion": "kubernetes.dask.org/v1", "kind": "DaskCluster",
             "metadata": {"name": name, "namespace": namespace}}
        )  # fmt: skip
    except Exception:  # noqa: BLE001 - no credentials: nothing was created either
        return
    delete_cluster(obj)


@contextlib.contextmanager
def open_kubernetes(opts: BackendOptions) -> Iterator[Session]:
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
    from dask_kubernetes.operator import KubeCluster
    from distributed import Client

    namespace = str(_setting("namespace", opts.extra.get("namespace")))
    timeout = config.get_seconds("kubernetes.resource-timeout")
    attach = _setting("cluster-name")
    name = str(attach or opts.extra.get("name") or unique_name(str(_setting("name-prefix"))))
    created = False
    if attach:
        # KubeCluster.from_name reports a DaskCluster it may not read as one that does not
        # exist: look first, so that RBAC problems are named as such.
        from daskburst.k8s import to_object

        try:
            to_object(
                {"apiVersion": "kubernetes.dask.org/v1", "kind": "DaskCluster",
                 "metadata": {"name": name, "namespace": namespace}}
            ).refresh()  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - kr8s/httpx raise many kinds
            raise _api_error(exc, f"read DaskCluster {namespace}/{name}") from None
    else:
        manifest = cluster_manifest(opts, name, namespace)
        lease = config.get_seconds("kubernetes.lease")
        try:
            now = server_now()
        except Exception as exc:  # noqa: BLE001 - kr8s/httpx raise many kinds
            raise _api_error(exc, f"create DaskCluster {namespace}/{name}") from None
        manifest["metadata"]["annotations"][EXPIRES] = stamp(now, lease)
        _say(f"creating DaskCluster {namespace}/{name}")
        obj = create_cluster(manifest, timeout)
        created = True
    cluster = None
    renewing = contextlib.ExitStack()
    if created:
        # Until it is deleted below; a client killed with -9 stops renewing, and `k8s gc`
        # deletes the cluster once the lease has run out.
        renewing.enter_context(kept(obj, lease))
    try:
        if in_cluster():
            # From a pod the scheduler is reached through its Service (see _reach).
            wait_reachable(f"tcp://{name}-scheduler.{namespace}:8786", "its Service", timeout)
        try:
            cluster = KubeCluster.from_name(
                name,
                namespace=namespace,
                shutdown_on_close=created,
                resource_timeout=int(timeout),
                port_forward_cluster_ip=None if in_cluster() else True,
                quiet=True,
            )
        except Exception as exc:  # noqa: BLE001 - kr8s/httpx/distributed errors
            raise _api_error(exc, f"open DaskCluster {namespace}/{name}") from None
        if opts.adapt:
            adapt_cluster(name, namespace, *opts.adapt)
        with Client(cluster) as client:
            fixed = config.get("workers", override_with=opts.workers)
            want = opts.adapt[0] if opts.adapt else int(fixed or (0 if attach else 1))
            worker_timeout = config.get_seconds("worker-timeout")
            lost = LostWorkerGroup(name, namespace)
            wait_for_workers(client, int(want), worker_timeout, f"kubernetes {name}",
                             diagnose=lost)  # fmt: skip
            yield Session(
                backend="kubernetes",
                workers=int(opts.adapt[1] if opts.adapt else want),
                client=client,
                cluster=cluster,
                dashboard_link=cluster.dashboard_link,
                progress=opts.progress,
                worker_timeout=worker_timeout,
                why_no_workers=lost,
                # A DaskJob's runner keeps its record for `daskburst k8s results`.
                publish=(lambda record: publish_result(name, namespace, record))
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
            _delete_cluster(name, namespace)
