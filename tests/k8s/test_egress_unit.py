"""API and DNS egress narrowed to the cluster's addresses at install (the pure part)."""

from __future__ import annotations

from daskburst.k8s._egress import Addresses, is_api_rule, is_dns_rule, narrow
from tests.k8s.manifests import ROOT, load

LOCAL = Addresses(api=(("10.1.2.3", 6443), ("10.96.0.1", 443)), dns_hosts=("10.1.2.3",))


def _policies() -> dict[str, dict]:
    paths = [*sorted((ROOT / "k8s" / "base").glob("networkpolicy-*.yaml")),
             ROOT / "charts" / "dask-operator" / "base" / "networkpolicy.yaml"]  # fmt: skip
    return {o["metadata"]["name"]: o for p in paths for o in load(p)}


def _any_address_on(policy: dict, port: int) -> bool:
    return any(
        "to" not in rule and any(p.get("port") == port for p in rule.get("ports") or [])
        for rule in policy["spec"].get("egress") or []
    )


def test_the_shipped_policies_name_their_api_and_dns_rules() -> None:
    policies = _policies()
    rules = {n: p["spec"].get("egress") or [] for n, p in policies.items()}
    assert [n for n, r in rules.items() if any(map(is_api_rule, r))] == [
        "daskburst-runner-api", "dask-kubernetes-operator"]  # fmt: skip
    assert sorted(n for n, r in rules.items() if any(map(is_dns_rule, r))) == [
        "dask-kubernetes-operator", "daskburst-egress"]  # fmt: skip
    # DNS is never open to any address, before or after install.
    for policy in policies.values():
        assert not _any_address_on(policy, 53), policy["metadata"]["name"]


def test_narrowed_api_egress_is_each_endpoint_on_its_own_port_only() -> None:
    policies = narrow(list(_policies().values()), LOCAL)
    runner = next(p for p in policies if p["metadata"]["name"] == "daskburst-runner-api")
    assert runner["spec"]["egress"] == [
        {"to": [{"ipBlock": {"cidr": "10.96.0.1/32"}}], "ports": [{"port": 443, "protocol": "TCP"}]},
        {"to": [{"ipBlock": {"cidr": "10.1.2.3/32"}}], "ports": [{"port": 6443, "protocol": "TCP"}]},
    ]  # fmt: skip
    for policy in policies:
        assert not _any_address_on(policy, 443) and not _any_address_on(policy, 6443)


def test_narrowed_dns_keeps_the_kube_dns_pods_and_adds_host_endpoints() -> None:
    (egress,) = [p for p in narrow(list(_policies().values()), LOCAL)
                 if p["metadata"]["name"] == "daskburst-egress"]  # fmt: skip
    (dns,) = [r for r in egress["spec"]["egress"] if is_dns_rule(r)]
    assert dns["to"][0]["podSelector"] == {"matchLabels": {"k8s-app": "kube-dns"}}
    assert dns["to"][1:] == [{"ipBlock": {"cidr": "10.1.2.3/32"}}]
    # Without host endpoints (DNS in pods, as on kind and managed clusters) it is unchanged.
    pods_only = narrow([egress], Addresses(api=LOCAL.api))
    assert pods_only == [egress]


def test_narrowing_copies_and_leaves_other_objects_alone() -> None:
    policies = list(_policies().values())
    before = repr(policies)
    other = {"kind": "ConfigMap", "metadata": {"name": "x"}}
    out = narrow([*policies, other], LOCAL)
    assert repr(policies) == before
    assert out[-1] is other
    assert narrow([other], Addresses(api=())) == [other]
