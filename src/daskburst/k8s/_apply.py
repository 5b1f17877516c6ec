"""Create-or-patch with kr8s (kr8s has no ``apply()``), in one place."""

from __future__ import annotations

from typing import Any

from daskburst.k8s._manifests import Manifest

#: Kinds that have no namespace (kr8s must not put one in their URL).
CLUSTER_SCOPED = frozenset(
    {
        "Namespace",
        "CustomResourceDefinition",
        "ClusterRole",
        "ClusterRoleBinding",
        "PriorityClass",
        "StorageClass",
        "PersistentVolume",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
    }
)


def plural(kind: str) -> str:
    """Return the resource name of a kind (``NetworkPolicy`` -> ``networkpolicies``).

    kr8s appends an ``s`` to kinds it does not know, which is wrong for ``-y`` kinds such as
    ``ValidatingAdmissionPolicy``.
    """
    lower = kind.lower()
    if lower.endswith("y") and lower[-2:-1] not in ("a", "e", "i", "o", "u"):
        return lower[:-1] + "ies"
    if lower.endswith(("s", "x", "ch", "sh")):
        return lower + "es"
    return lower + "s"


def to_object(manifest: Manifest, api: Any = None) -> Any:
    """Return a synchronous kr8s object for ``manifest`` (any kind, custom ones too).

    Args:
        manifest: A Kubernetes object as a dict.
        api: A ``kr8s.Api`` (default: kr8s' default client from KUBECONFIG/in-cluster).

    Returns:
        A ``kr8s.objects.APIObject``.
    """
    import kr8s.objects

    try:
        return kr8s.objects.object_from_spec(manifest, api=api)
    except (KeyError, ValueError):
        cls = kr8s.objects.new_class(
            manifest["kind"],
            manifest["apiVersion"],
            asyncio=False,
            namespaced=manifest["kind"] not in CLUSTER_SCOPED,
            plural=plural(manifest["kind"]),
        )
        return cls(manifest, api=api)


def stored(
    api_version: str, kind: str, name: str, namespace: str, api: Any = None
) -> dict[str, Any] | None:
    """The object as the API server holds it, or None when there is none of that name.

    Any other error (no answer, forbidden) is raised: it is not "not there".
    """
    import kr8s

    obj = to_object(
        {"apiVersion": api_version, "kind": kind,
         "metadata": {"name": name, "namespace": namespace}},
        api,
    )  # fmt: skip
    try:
        obj.refresh()
    except kr8s.NotFoundError:
        return None
    return dict(obj.raw)


def create_or_patch(manifest: Manifest, api: Any = None) -> tuple[Any, str]:
    """Create ``manifest``, or merge-patch it onto the existing object of the same name.

    A JSON merge patch replaces lists and never removes fields that the manifest dropped;
    ``daskburst k8s uninstall`` then ``install`` starts clean.
    It creates first and patches on a conflict: one request in the common case, and no read
    right is needed (a job runner may write its own result ConfigMap but read no ConfigMap).

    Args:
        manifest: The desired object.
        api: A ``kr8s.Api``.

    Returns:
        ``(object, "created" | "configured")``.
    """
    import kr8s

    obj = to_object(manifest, api)
    try:
        obj.create()
        return obj, "created"
    except kr8s.ServerError as exc:
        if exc.response is None or exc.response.status_code != 409:
            raise
    obj = to_object(manifest, api)
    obj.patch({k: v for k, v in manifest.items() if k != "status"})
    return obj, "configured"


def create_strict(manifest: Manifest, api: Any = None) -> Any:
    """Create ``manifest`` with strict server-side field validation, as ``kubectl`` does.

    The API server otherwise drops fields a schema does not know with only a warning header,
    so a misspelt field in a DaskJob would silently do nothing.

    Args:
        manifest: The object to create.
        api: A ``kr8s.Api``.

    Returns:
        The created kr8s object.

    Raises:
        kr8s.ServerError: When the API server refuses it (422 for unknown fields).
    """
    import json

    from kr8s._async_utils import as_sync_func

    obj = to_object(manifest, api)

    async def post() -> None:
        async with obj.api.call_api(
            "POST",
            version=obj.version,
            url=obj.endpoint,
            namespace=obj.namespace,
            content=json.dumps(manifest),
            params={"fieldValidation": "Strict"},
        ) as resp:
            obj.raw = resp.json()

    as_sync_func(post)()
    return obj
