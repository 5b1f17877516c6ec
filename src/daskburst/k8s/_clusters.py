"""The DaskCluster of ``--backend kubernetes``: create, adapt, open, diagnose and delete it.

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
from typing import Any

from daskburst.errors import BackendError
from daskburst.k8s._apply import create_or_patch, stored, to_object
from daskburst.k8s._cluster_specs import autoscaler_manifest
from daskburst.k8s._lease import EXPIRES, server_now, stamp
from daskburst.k8s._pods import cluster_pods, crash_reason, pending_reason, pod_ready

#: Phases of a DaskCluster once the operator has created its scheduler, service and workers.
CREATED = ("Pending", "Running")
#: Where kopf, the operator's framework, keeps the state of its handlers on each object.
_KOPF = "kopf.zalando.org/"


def in_cluster() -> bool:
    """Whether this process runs in a pod (it can resolve Service names there)."""
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST"))


def _say(msg: str) -> None:
    sys.stderr.write(f"kubernetes: {msg}\n")
    sys.stderr.flush()


def api_error(exc: Exception, what: str) -> BackendError:
    """Turn a kr8s/httpx error into one line that says what to do.

    Args:
        exc: The error kr8s, httpx or dask-kubernetes raised.
        what: What could not be done, e.g. ``create DaskCluster ns/name``.

    Returns:
        The error to raise.
    """
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


def _daskcluster(name: str, namespace: str, api: Any = None) -> Any:
    return to_object(
        {"apiVersion": "kubernetes.dask.org/v1", "kind": "DaskCluster",
         "metadata": {"name": name, "namespace": namespace}}, api,
    )  # fmt: skip


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

        def get(kind: str, name: str) -> dict[str, Any] | None:
            return stored("kubernetes.dask.org/v1", kind, name, self.namespace, self.api)

        try:
            cluster = get("DaskCluster", self.name)
            phase = ((cluster or {}).get("status") or {}).get("phase")
            lost = phase in CREATED and get("DaskWorkerGroup", f"{self.name}-default") is None
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


def delete_cluster_named(name: str, namespace: str) -> None:
    """Delete DaskCluster ``namespace/name`` as :func:`delete_cluster` does, if it can be."""
    try:
        obj = _daskcluster(name, namespace)
    except Exception:  # noqa: BLE001 - no credentials: nothing was created either
        return
    delete_cluster(obj)


def read_cluster(name: str, namespace: str) -> None:
    """Read DaskCluster ``namespace/name``, to attach to it.

    ``KubeCluster.from_name`` reports a DaskCluster it may not read as one that does not
    exist: looking first names RBAC problems as such.

    Raises:
        BackendError: When it cannot be read (with what to do).
    """
    try:
        _daskcluster(name, namespace).refresh()
    except Exception as exc:  # noqa: BLE001 - kr8s/httpx raise many kinds
        raise api_error(exc, f"read DaskCluster {namespace}/{name}") from None


def stamp_lease(manifest: dict[str, Any], seconds: float) -> None:
    """Annotate a DaskCluster to expire ``seconds`` from now, by the API server's clock.

    Raises:
        BackendError: When the API server cannot be asked the time.
    """
    name = manifest["metadata"]["name"]
    namespace = manifest["metadata"]["namespace"]
    try:
        now = server_now()
    except Exception as exc:  # noqa: BLE001 - kr8s/httpx raise many kinds
        raise api_error(exc, f"create DaskCluster {namespace}/{name}") from None
    manifest["metadata"]["annotations"][EXPIRES] = stamp(now, seconds)


def create_cluster(manifest: dict[str, Any], timeout: float, api: Any = None) -> Any:
    """Create a DaskCluster and wait until its scheduler pod is ready.

    A scheduler that keeps crashing ends the wait at once, with its reason
    (:func:`~daskburst.k8s.crash_reason`).

    Args:
        manifest: From :func:`~daskburst.k8s.cluster_manifest`.
        timeout: Seconds for the operator to act and the scheduler pod to be ready.
        api: A ``kr8s.Api``.

    Returns:
        The kr8s object of the DaskCluster.

    Raises:
        BackendError: When it cannot be created, the operator does not act, or the scheduler
            cannot start (with the reason); the DaskCluster is deleted first.
    """
    name = manifest["metadata"]["name"]
    namespace = manifest["metadata"]["namespace"]
    obj = to_object(manifest, api)
    try:
        obj.create()
    except Exception as exc:  # noqa: BLE001 - kr8s/httpx raise many kinds
        raise api_error(exc, f"create DaskCluster {namespace}/{name}") from None
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
            pods = cluster_pods(name, namespace, "scheduler", api) if phase in CREATED else []
            if any(pod_ready(p) for p in pods):
                return obj
            for pod in pods:
                crash = crash_reason(pod, api)
                if crash:
                    raise BackendError(
                        f"kubernetes: the scheduler of {namespace}/{name} cannot start: {crash}"
                    )
            reason = pending_reason(name, namespace, api) if phase in CREATED else refused
            now = time.monotonic()
            if now > deadline:
                if phase not in CREATED:
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
    try:
        owner = _daskcluster(name, namespace, api)
        owner.refresh()
        # The same reference the operator's adoption writes (kr8s set_owner), so that its
        # later patch changes nothing.
        ref = {"controller": True, "blockOwnerDeletion": True, "apiVersion": owner.version,
               "kind": "DaskCluster", "name": name, "uid": owner.metadata.uid}  # fmt: skip
        manifest = autoscaler_manifest(name, namespace, minimum, maximum, ref)
        autoscaler, _ = create_or_patch(manifest, api)
    except Exception as exc:  # noqa: BLE001 - kr8s/httpx raise many kinds
        raise api_error(exc, f"write DaskAutoscaler {namespace}/{name}") from None
    return autoscaler


def open_cluster(name: str, namespace: str, *, shutdown_on_close: bool, timeout: float) -> Any:
    """Open DaskCluster ``namespace/name`` as a ``KubeCluster`` (a port-forward from outside).

    Args:
        name: DaskCluster name.
        namespace: Namespace.
        shutdown_on_close: Whether closing the KubeCluster deletes the DaskCluster.
        timeout: Seconds KubeCluster waits for the cluster's resources.

    Returns:
        A ``dask_kubernetes.operator.KubeCluster``.

    Raises:
        BackendError: When it cannot be opened.
    """
    from dask_kubernetes.operator import KubeCluster

    try:
        return KubeCluster.from_name(
            name,
            namespace=namespace,
            shutdown_on_close=shutdown_on_close,
            resource_timeout=int(timeout),
            port_forward_cluster_ip=None if in_cluster() else True,
            quiet=True,
        )
    except Exception as exc:  # noqa: BLE001 - kr8s/httpx/distributed errors
        raise api_error(exc, f"open DaskCluster {namespace}/{name}") from None


def operator_missing() -> str | None:
    """Return why no Kubernetes cluster with the Dask operator's CRDs is reachable, or None."""
    try:
        import kr8s

        api = kr8s.api()
        list(kr8s.get("customresourcedefinitions", "daskjobs.kubernetes.dask.org", api=api))
    except Exception as exc:  # noqa: BLE001 - no cluster, no CRD, no credentials
        return f"{type(exc).__name__}: {str(exc)[:120]}"
    return None


def close_api(namespace: str) -> None:
    """Ask kr8s for the pods of ``namespace``, only to close its session cleanly."""
    import kr8s

    try:
        kr8s.get("pods", namespace=namespace)
    except Exception:  # noqa: BLE001, S110 - only to close kr8s' session cleanly
        pass
