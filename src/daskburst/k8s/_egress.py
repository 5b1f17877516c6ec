"""The platform's API and DNS egress, narrowed to this cluster's API server and DNS addresses.

``k8s/`` and the operator bundle say in their NetworkPolicies which pods may reach the
Kubernetes API and cluster DNS:

- the *API rule*: an egress rule on TCP 443 and 6443 with no peers. A manifest cannot know
  the API server's addresses, so as shipped it allows those ports to any address;
- the *DNS rule*: an egress rule on port 53 to the ``k8s-app: kube-dns`` pods of
  ``kube-system`` (every common distribution labels its cluster DNS so).

``daskburst k8s install`` reads the addresses from the cluster and narrows both before it
applies them (:func:`narrow`): the API rule becomes one rule per API server endpoint port
(``default/kubernetes``' EndpointSlices: the addresses packets reach after the Service's
DNAT) plus the Service's own ClusterIP and port; the DNS rule also admits DNS endpoints that
are not pods (a CoreDNS run as a host process, as on ``make cluster-up``'s node).

The part that talks to the cluster is :func:`read_addresses`; the rest is pure.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from daskburst.k8s._manifests import Manifest

API_PORTS = frozenset({(443, "TCP"), (6443, "TCP")})
DNS_PORT = 53


@dataclass(frozen=True)
class Addresses:
    """Where this cluster's API server and DNS are.

    Attributes:
        api: ``(ip, port)`` of each API server endpoint, and of the ``kubernetes`` Service.
        dns_hosts: Cluster DNS endpoint addresses that are not pods.
    """

    api: tuple[tuple[str, int], ...]
    dns_hosts: tuple[str, ...] = field(default=())


def _ports(rule: dict[str, Any]) -> set[tuple[Any, str]]:
    return {(p.get("port"), p.get("protocol", "TCP")) for p in rule.get("ports") or []}


def is_api_rule(rule: dict[str, Any]) -> bool:
    """Whether an egress rule is the platform's API rule (443 and 6443, to any address)."""
    return "to" not in rule and _ports(rule) == API_PORTS


def is_dns_rule(rule: dict[str, Any]) -> bool:
    """Whether an egress rule is a DNS rule (port 53 only, to named peers)."""
    ports = _ports(rule)
    return bool(ports) and {port for port, _ in ports} == {DNS_PORT} and bool(rule.get("to"))


def _block(ip: str) -> dict[str, Any]:
    return {"ipBlock": {"cidr": f"{ip}/{128 if ':' in ip else 32}"}}


def api_rules(api: Sequence[tuple[str, int]]) -> list[dict[str, Any]]:
    """One egress rule per port: to exactly the addresses that serve the API on it."""
    by_port: dict[int, list[str]] = {}
    for ip, port in api:
        if ip not in by_port.setdefault(port, []):
            by_port[port].append(ip)
    return [
        {"to": [_block(ip) for ip in ips], "ports": [{"port": port, "protocol": "TCP"}]}
        for port, ips in sorted(by_port.items())
    ]


def narrow(objs: Sequence[Manifest], where: Addresses) -> list[Manifest]:
    """Return ``objs`` with every API rule and DNS rule narrowed to ``where`` (a copy).

    Objects other than NetworkPolicies, and rules that are neither, are left as they are.
    """
    out = []
    for obj in objs:
        if obj.get("kind") != "NetworkPolicy" or not (obj.get("spec") or {}).get("egress"):
            out.append(obj)
            continue
        obj = copy.deepcopy(obj)
        egress: list[dict[str, Any]] = []
        for rule in obj["spec"]["egress"]:
            if is_api_rule(rule) and where.api:
                egress += api_rules(where.api)
            elif is_dns_rule(rule) and where.dns_hosts:
                egress.append({**rule, "to": [*rule["to"], *map(_block, where.dns_hosts)]})
            else:
                egress.append(rule)
        obj["spec"]["egress"] = egress
        out.append(obj)
    return out


def _slices(api: Any, namespace: str, service: str) -> list[dict[str, Any]]:
    import kr8s

    found = kr8s.get("endpointslices.discovery.k8s.io", namespace=namespace,
                     label_selector={"kubernetes.io/service-name": service}, api=api)  # fmt: skip
    return [dict(s.raw) for s in found]


def read_addresses(api: Any) -> Addresses:
    """Read the API server's and cluster DNS's addresses from the cluster.

    Raises:
        kr8s.ServerError: When the API refuses a read (e.g. RBAC).
        ValueError: When the ``kubernetes`` Service has no ready endpoint (no API to narrow to).
    """
    import kr8s

    pairs: list[tuple[str, int]] = []
    for piece in _slices(api, "default", "kubernetes"):
        ports = [int(p["port"]) for p in piece.get("ports") or [] if p.get("port")]
        for endpoint in piece.get("endpoints") or []:
            if (endpoint.get("conditions") or {}).get("ready") is False:
                continue
            pairs += [(ip, port) for ip in endpoint.get("addresses") or [] for port in ports]
    if not pairs:
        raise ValueError("the kubernetes Service in namespace default has no ready endpoint")
    (svc,) = kr8s.get("services", "kubernetes", namespace="default", api=api)
    cluster_ip = svc.raw["spec"].get("clusterIP")
    if cluster_ip and cluster_ip != "None":
        pairs += [(cluster_ip, int(p["port"])) for p in svc.raw["spec"].get("ports") or []]
    hosts: list[str] = []
    for piece in _slices(api, "kube-system", "kube-dns"):
        for endpoint in piece.get("endpoints") or []:
            if (endpoint.get("targetRef") or {}).get("kind") == "Pod":
                continue  # the DNS rule's pod selector admits it
            hosts += [ip for ip in endpoint.get("addresses") or [] if ip not in hosts]
    return Addresses(api=tuple(pairs), dns_hosts=tuple(hosts))


def describe(where: Addresses) -> str:
    """One line: what the API and DNS rules were narrowed to."""
    api = ", ".join(f"{ip}:{port}" for ip, port in where.api)
    dns = "the kube-dns pods" + (f" and {', '.join(where.dns_hosts)}" if where.dns_hosts else "")
    return f"egress narrowed: API to {api}; DNS to {dns}"
