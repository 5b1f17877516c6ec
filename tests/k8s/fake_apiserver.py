"""A tiny in-memory Kubernetes API server, enough for kr8s: discovery, CRUD, lists, logs.

Not a real API server (no validation, no watches, no controllers): it lets the kr8s code of
daskburst.k8s run its real HTTP calls in unit tests. Tests play the controllers by editing
``FakeApiServer.store`` (e.g. setting a DaskJob's status or adding a runner pod's log).
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

#: (groupVersion, plural, kind, namespaced)
RESOURCES = [
    ("v1", "namespaces", "Namespace", False),
    ("v1", "pods", "Pod", True),
    ("v1", "services", "Service", True),
    ("v1", "serviceaccounts", "ServiceAccount", True),
    ("v1", "resourcequotas", "ResourceQuota", True),
    ("v1", "limitranges", "LimitRange", True),
    ("apps/v1", "deployments", "Deployment", True),
    ("apiextensions.k8s.io/v1", "customresourcedefinitions", "CustomResourceDefinition", False),
    ("rbac.authorization.k8s.io/v1", "clusterroles", "ClusterRole", False),
    ("rbac.authorization.k8s.io/v1", "clusterrolebindings", "ClusterRoleBinding", False),
    ("rbac.authorization.k8s.io/v1", "roles", "Role", True),
    ("rbac.authorization.k8s.io/v1", "rolebindings", "RoleBinding", True),
    ("networking.k8s.io/v1", "networkpolicies", "NetworkPolicy", True),
    ("policy/v1", "poddisruptionbudgets", "PodDisruptionBudget", True),
    ("scheduling.k8s.io/v1", "priorityclasses", "PriorityClass", False),
    ("kubernetes.dask.org/v1", "daskjobs", "DaskJob", True),
    ("kubernetes.dask.org/v1", "daskclusters", "DaskCluster", True),
    ("kubernetes.dask.org/v1", "daskworkergroups", "DaskWorkerGroup", True),
    ("kubernetes.dask.org/v1", "daskautoscalers", "DaskAutoscaler", True),
]
_BY_PLURAL = {(gv, plural): (kind, ns) for gv, plural, kind, ns in RESOURCES}

Key = tuple[str, str, str, str]  # groupVersion, plural, namespace ("" if cluster), name


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _selects(labels: dict[str, str], selector: str) -> bool:
    for term in filter(None, selector.split(",")):
        key, _, value = term.partition("=")
        if labels.get(key) != value:
            return False
    return True


class FakeApiServer:
    """The store and the HTTP server around it (use :func:`fake_apiserver`)."""

    def __init__(self) -> None:
        self.store: dict[Key, dict[str, Any]] = {}
        self.logs: dict[tuple[str, str], str] = {}
        self.requests: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        #: Called with each created object (play a controller, e.g. mark CRDs Established).
        self.on_create: list[Any] = []

    def objects(self, kind: str) -> list[dict[str, Any]]:
        """Every stored object of ``kind``."""
        with self.lock:
            return [o for o in self.store.values() if o["kind"] == kind]

    def get(self, kind: str, name: str, namespace: str = "") -> dict[str, Any] | None:
        """The stored object, or None."""
        for obj in self.objects(kind):
            meta = obj["metadata"]
            if meta["name"] == name and meta.get("namespace", "") == namespace:
                return obj
        return None

    def put(self, obj: dict[str, Any]) -> None:
        """Store ``obj`` directly (as a controller would create it)."""
        gv = obj["apiVersion"]
        plural = next(p for g, p, k, _ in RESOURCES if g == gv and k == obj["kind"])
        meta = obj["metadata"]
        with self.lock:
            self.store[(gv, plural, meta.get("namespace", ""), meta["name"])] = obj

    # -- HTTP -----------------------------------------------------------------------------
    def parse(self, path: str) -> tuple[str, str, str, str | None, str | None] | None:
        """``(groupVersion, plural, namespace, name, subresource)`` of a resource URL."""
        parts = [p for p in path.split("/") if p]
        if parts[:1] == ["api"]:
            gv, rest = parts[1], parts[2:]
        elif parts[:1] == ["apis"] and len(parts) >= 3:
            gv, rest = f"{parts[1]}/{parts[2]}", parts[3:]
        else:
            return None
        namespace = ""
        if len(rest) >= 3 and rest[0] == "namespaces":
            namespace, rest = rest[1], rest[2:]
        if not rest or (gv, rest[0]) not in _BY_PLURAL:
            return None
        plural = rest[0]
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        return gv, plural, namespace, name, sub

    def discovery(self, path: str) -> Any:
        """Answer /version, /api, /apis and group-version resource lists."""
        if path == "/version":
            return {"major": "1", "minor": "32", "gitVersion": "v1.32.2"}
        if path == "/api":
            return {"kind": "APIVersions", "versions": ["v1"]}
        if path == "/apis":
            groups: dict[str, list[str]] = {}
            for gv, *_ in RESOURCES:
                if "/" in gv:
                    group, version = gv.split("/")
                    groups.setdefault(group, [])
                    if gv not in groups[group]:
                        groups[group].append(gv)
            return {
                "kind": "APIGroupList",
                "groups": [
                    {
                        "name": g,
                        "versions": [{"groupVersion": v, "version": v.split("/")[1]} for v in vs],
                    }
                    for g, vs in groups.items()
                ],
            }
        gv = path.removeprefix("/api/").removeprefix("/apis/")
        resources = [
            {
                "name": plural,
                "singularName": kind.lower(),
                "namespaced": ns,
                "kind": kind,
                "verbs": ["create", "delete", "get", "list", "patch"],
            }
            for g, plural, kind, ns in RESOURCES
            if g == gv
        ]
        if resources:
            return {"kind": "APIResourceList", "groupVersion": gv, "resources": resources}
        return None


def _handler(server: FakeApiServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            return None

        def _send(self, code: int, body: Any, text: bool = False) -> None:
            data = body.encode() if text else json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/plain" if text else "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _status(self, code: int, reason: str) -> None:
            self._send(code, {"kind": "Status", "code": code, "reason": reason, "message": reason})

        def _body(self) -> Any:
            return json.loads(self._raw or b"null")

        def _route(self, method: str) -> None:
            url = urllib.parse.urlparse(self.path)
            url = url._replace(path=url.path.rstrip("/") or "/")
            query = dict(urllib.parse.parse_qsl(url.query))
            # Always consume the request body (kr8s sends one with DELETE): an unread body
            # makes the closing socket reset the connection under the client.
            self._raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            server.requests.append((method, url.path))
            found = server.discovery(url.path) if method == "GET" else None
            if found is not None:
                return self._send(200, found)
            parsed = server.parse(url.path)
            if parsed is None:
                return self._status(404, "NotFound")
            gv, plural, namespace, name, sub = parsed
            kind, _ = _BY_PLURAL[(gv, plural)]
            with server.lock:
                key = (gv, plural, namespace, name or "")
                obj = server.store.get(key)
                if method == "GET" and name is None:
                    items = [
                        o
                        for (g, p, ns, _), o in server.store.items()
                        if g == gv and p == plural and (not namespace or ns == namespace)
                    ]
                    sel = query.get("labelSelector", "")
                    items = [o for o in items if _selects(o["metadata"].get("labels", {}), sel)]
                    for term in filter(None, query.get("fieldSelector", "").split(",")):
                        field, _, value = term.partition("=")
                        if field == "metadata.name":
                            items = [o for o in items if o["metadata"]["name"] == value]
                    return self._send(
                        200, {"kind": f"{kind}List", "apiVersion": gv, "items": items}
                    )
                if method == "POST":
                    body = self._body()
                    body.setdefault("metadata", {})
                    if namespace:
                        body["metadata"]["namespace"] = namespace
                    key = (gv, plural, namespace, body["metadata"]["name"])
                    if key in server.store:
                        return self._status(409, "AlreadyExists")
                    body["metadata"].setdefault("generation", 1)
                    server.store[key] = body
                    for hook in server.on_create:
                        hook(body)
                    return self._send(201, body)
                if obj is None:
                    return self._status(404, "NotFound")
                if method == "GET" and sub == "log":
                    return self._send(200, server.logs.get((namespace, name or ""), ""), True)
                if method == "GET":
                    return self._send(200, obj)
                if method == "PATCH":
                    new = merge_patch(obj, self._body())
                    server.store[key] = new
                    return self._send(200, new)
                if method == "DELETE":
                    del server.store[key]
                    return self._send(200, obj)
            return self._status(405, "MethodNotAllowed")

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            self._route("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._route("POST")

        def do_PATCH(self) -> None:  # noqa: N802
            self._route("PATCH")

        def do_DELETE(self) -> None:  # noqa: N802
            self._route("DELETE")

    return Handler


@contextmanager
def fake_apiserver(tmp_path: Path) -> Iterator[tuple[FakeApiServer, Path]]:
    """Run a fake API server on 127.0.0.1 and write a kubeconfig for it.

    Yields:
        ``(server, kubeconfig path)``.
    """
    state = FakeApiServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    port = httpd.server_address[1]
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "fake", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
                "users": [{"name": "fake", "user": {"token": "fake-token"}}],
                "contexts": [
                    {
                        "name": "fake",
                        "context": {"cluster": "fake", "user": "fake", "namespace": "default"},
                    }
                ],
                "current-context": "fake",
            }
        )
    )
    try:
        yield state, kubeconfig
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)
