"""localk8s.pki: the certificates the cluster needs, their identities and names (no openssl)."""

from __future__ import annotations

from localk8s import pki
from localk8s.settings import Settings


def test_certificates_identities_and_sans(s: Settings) -> None:
    certs = {c.name: c for c in pki.certificates(s)}
    assert certs["kubelet-client"].subject() == "/O=system:nodes/CN=system:node:node1"
    assert certs["admin"].organizations == ("system:masters",)
    api = certs["apiserver"]
    assert {"127.0.0.1", "10.96.0.1", "192.0.2.7"} <= set(api.ips)
    assert "kubernetes.default.svc.cluster.local" in api.dns
    assert "extendedKeyUsage = serverAuth" in api.extensions()
    assert "clientAuth" in certs["controller-manager"].extensions()
    assert "subjectAltName" not in certs["scheduler"].extensions()
