"""Install and uninstall the Dask operator and the platform (``k8s/``), CRDs first."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from daskburst.errors import BackendError, UserError
from daskburst.k8s import _egress as egress
from daskburst.k8s._apply import create_or_patch, to_object
from daskburst.k8s._manifests import (
    Manifest,
    kustomize,
    sort_for_apply,
)
from daskburst.k8s._objects import Echo, delete_object, object_names, to_stderr
from daskburst.k8s._settings import install_timeout
from daskburst.k8s._wait import Clock, WaitTimeoutError, wait_for

OPERATOR = ("dask-operator", "dask-kubernetes-operator")


def manifests_root(root: str | Path | None = None) -> Path:
    """Return the directory holding ``charts/`` and ``k8s/`` (a daskburst checkout).

    Args:
        root: Given explicitly, or None to use the current directory.

    Returns:
        The directory.

    Raises:
        UserError: When it does not hold the manifests.
    """
    path = Path(root) if root else Path.cwd()
    if not (path / "charts" / "dask-operator" / "kustomization.yaml").is_file():
        raise UserError(
            f"--manifests {str(path)!r}: no charts/dask-operator there; expected the "
            "daskburst checkout (run from it or pass --manifests DIR)"
        )
    return path


def operator_overlay(root: Path, namespaced: bool = False, bundled: bool = False) -> Path:
    """Return the kustomization of the operator bundle to install.

    Args:
        root: The checkout (see :func:`manifests_root`).
        namespaced: The operator watching only its own namespace (a Role, not a ClusterRole).
        bundled: The operator run from the daskburst image instead of the upstream one.

    Returns:
        A directory under ``charts/dask-operator``.
    """
    operator = root / "charts" / "dask-operator"
    variant = "-".join(
        name for name, on in (("namespaced", namespaced), ("bundled-image", bundled)) if on
    )
    return operator / "overlays" / variant if variant else operator


def platform_manifests(
    root: Path,
    namespaced: bool = False,
    kubectl: str = "kubectl",
    bundled: bool = False,
    platform: str | Path | None = None,
) -> list[Manifest]:
    """Render the operator bundle and ``k8s/`` into one apply-ordered list.

    Args:
        root: The checkout (see :func:`manifests_root`).
        namespaced: Use the namespaced operator overlay instead of the cluster-wide one.
        kubectl: The kubectl executable (for ``kubectl kustomize``).
        bundled: Run the operator from the daskburst image (see :func:`operator_overlay`).
        platform: The platform kustomization (default ``k8s/``; e.g. ``k8s/overlays/cloud``).

    Returns:
        Every object, dependencies first.
    """
    operator = operator_overlay(root, namespaced, bundled)
    base = root / (platform or "k8s")
    return sort_for_apply([*kustomize(base, kubectl), *kustomize(operator, kubectl)])


def _crd_established(obj: Any) -> bool:
    obj.refresh()
    conditions = (obj.raw.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)


def _deployment_available(obj: Any) -> bool:
    obj.refresh()
    want = obj.raw.get("spec", {}).get("replicas", 1)
    status = obj.raw.get("status") or {}
    return bool(
        status.get("availableReplicas", 0) >= want
        and status.get("updatedReplicas", 0) >= want
        and status.get("observedGeneration", 0) >= obj.raw["metadata"].get("generation", 0)
    )


def _until(predicate: Callable[[Any], bool], obj: Any) -> Callable[[], bool | None]:
    return lambda: True if predicate(obj) else None


def _apply_then_wait(
    manifests: Sequence[Manifest],
    kind: str,
    ready: Callable[[Any], bool],
    what: Callable[[Any], str],
    hint: str,
    api: Any,
    timeout: float,
    clock: Clock | None,
    echo: Echo,
) -> None:
    """Create or patch ``manifests``, then wait until every object of ``kind`` is ready."""
    waiting = []
    for manifest in manifests:
        obj, action = create_or_patch(manifest, api)
        echo(f"{manifest['kind'].lower()}/{manifest['metadata']['name']} {action}")
        if manifest["kind"] == kind:
            waiting.append(obj)
    try:
        for obj in waiting:
            wait_for(_until(ready, obj), timeout, what(obj), clock=clock)
    except WaitTimeoutError as exc:
        raise BackendError(f"{exc}{hint}") from None


def install(
    objs: Sequence[Manifest],
    timeout: float | None = None,
    api: Any = None,
    clock: Clock | None = None,
    echo: Echo = to_stderr,
) -> None:
    """Apply the platform objects, wait for the CRDs to be Established and the operator Ready.

    Idempotent: existing objects are patched.

    Args:
        objs: From :func:`platform_manifests`.
        timeout: Seconds to wait for CRDs and operator (default:
            ``daskburst.kubernetes.install-timeout``).
        api: A ``kr8s.Api``.
        clock: Time source for waiting.
        echo: Progress messages.

    Raises:
        BackendError: When the CRDs or the operator are not ready in time.
    """
    timeout = install_timeout(timeout)
    objs = narrowed(objs, api, echo)
    first = [o for o in objs if o["kind"] in ("Namespace", "CustomResourceDefinition")]
    rest = [o for o in objs if o not in first]
    _apply_then_wait(
        first, "CustomResourceDefinition", _crd_established,
        lambda o: f"CRD {o.name} to be Established", "",
        api, timeout, clock, echo,
    )  # fmt: skip
    _apply_then_wait(
        rest, "Deployment", _deployment_available,
        lambda o: f"deployment {o.namespace}/{o.name} to be available",
        f" (check `kubectl -n {OPERATOR[0]} get pods`)",
        api, timeout, clock, echo,
    )  # fmt: skip
    echo("installed: CRDs established, operator ready")


def narrowed(objs: Sequence[Manifest], api: Any = None, echo: Echo = to_stderr) -> list[Manifest]:
    """``objs`` with API and DNS egress narrowed to this cluster's addresses (see ``_egress``).

    When the addresses cannot be read, says so in one line and returns ``objs`` unchanged:
    the policies then keep their wide API rule (TCP 443 and 6443 to any address).
    """
    import kr8s

    try:
        where = egress.read_addresses(api)
    except (kr8s.ServerError, ValueError) as exc:
        echo(
            f"warning: could not read the API server's addresses ({exc}); the NetworkPolicies' "
            "API egress stays open to TCP 443 and 6443 on any address"
        )
        return list(objs)
    echo(egress.describe(where))
    return egress.narrow(objs, where)


#: The Dask resources the CRDs define; deleting a CRD deletes every one of its kind.
DASK_KINDS = ("DaskJob", "DaskCluster", "DaskWorkerGroup", "DaskAutoscaler")


def dask_resources_elsewhere(namespace: str, api: Any) -> list[str]:
    """``kind/namespace/name`` of every Dask resource outside ``namespace`` (all namespaces)."""
    import kr8s

    found = []
    for kind in DASK_KINDS:
        try:
            items = list(kr8s.get(f"{kind.lower()}s.kubernetes.dask.org", namespace=kr8s.ALL,
                                  api=api))  # fmt: skip
        except (kr8s.NotFoundError, kr8s.ServerError, ValueError):
            continue
        found += [f"{kind.lower()}/{o.namespace}/{o.name}" for o in items
                  if o.namespace != namespace]  # fmt: skip
    return sorted(found)


def uninstall(
    objs: Sequence[Manifest],
    namespace: str,
    api: Any = None,
    echo: Echo = to_stderr,
    timeout: float = 180,
    clock: Clock | None = None,
    *,
    namespaced: bool = False,
    delete_crds: bool = False,
) -> None:
    """Delete daskburst's Dask resources, then the platform objects, and wait until gone.

    Dask resources go first and are waited for while the operator still runs, so it can
    clean up after them; then every platform object in reverse apply order; then this waits
    for the namespaces and CRDs to finish terminating.

    The CRDs are shared by every namespace, and deleting one deletes every resource of its
    kind in the cluster. They are kept when this uninstalls a namespaced operator, and when
    Dask resources are left in other namespaces, unless ``delete_crds``.

    Args:
        objs: From :func:`platform_manifests`.
        namespace: Namespace whose DaskJobs and DaskClusters are deleted first.
        api: A ``kr8s.Api``.
        echo: Progress messages.
        timeout: Seconds to wait for each stage to finish.
        clock: Time source for waiting.
        namespaced: ``objs`` hold the namespaced operator (other namespaces may have theirs).
        delete_crds: Delete the CRDs all the same, and with them every Dask resource left.

    Raises:
        BackendError: When something is still there after ``timeout``.
    """
    import kr8s

    keep: list[str] = []
    if not delete_crds:
        others = dask_resources_elsewhere(namespace, api)
        if namespaced:
            keep = ["the operator is namespaced: other namespaces may use the CRDs"]
        elif others:
            more = f" and {len(others) - 3} more" if len(others) > 3 else ""
            keep = [f"{len(others)} Dask resource(s) in other namespaces use them "
                    f"({', '.join(others[:3])}{more})"]  # fmt: skip
    if keep:
        objs = [o for o in objs if o["kind"] != "CustomResourceDefinition"]
        echo(f"keeping the Dask CRDs: {keep[0]}; --delete-crds deletes them, and every Dask "
             "resource in the cluster with them")  # fmt: skip

    for kind in ("DaskJob", "DaskCluster", "DaskAutoscaler"):
        for name in object_names(kind, namespace, api):
            delete_object(kind, name, namespace, api)
            echo(f"{kind.lower()}/{name} deleted")

    def dask_gone() -> bool | None:
        left = [n for k in ("DaskJob", "DaskCluster") for n in object_names(k, namespace, api)]
        return True if not left else None

    try:
        wait_for(dask_gone, timeout, f"the Dask resources in {namespace} to go", clock=clock)
    except WaitTimeoutError as exc:
        raise BackendError(f"{exc} (is the operator running to finalize them?)") from None
    for manifest in reversed(list(objs)):
        obj = to_object(manifest, api)
        try:
            obj.delete()
        except kr8s.NotFoundError:
            continue
        echo(f"{manifest['kind'].lower()}/{manifest['metadata']['name']} deleted")
    lasting = [o for o in objs if o["kind"] in ("Namespace", "CustomResourceDefinition")]

    def all_gone() -> bool | None:
        for manifest in lasting:
            if to_object(manifest, api).exists():
                return None
        return True

    try:
        wait_for(all_gone, timeout, "namespaces and CRDs to finish terminating", clock=clock)
    except WaitTimeoutError as exc:
        raise BackendError(str(exc)) from None
    echo("uninstalled: namespaces gone" + (", CRDs kept" if keep else " and CRDs gone"))
