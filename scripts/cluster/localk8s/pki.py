"""The cluster's certificates: which ones (pure) and how openssl makes them.

One CA signs everything: serving certificates (etcd, API server, kubelet) and client
certificates whose subject is the identity RBAC and the Node authorizer see (``CN`` the user,
``O`` the groups). Keys are ECDSA P-256.
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from localk8s.settings import Settings

CA_NAME = "ca"
SA_KEY = "service-account"


@dataclass(frozen=True)
class Cert:
    """One certificate signed by the cluster CA."""

    name: str
    common_name: str
    organizations: tuple[str, ...] = ()
    dns: tuple[str, ...] = ()
    ips: tuple[str, ...] = ()
    server: bool = False
    client: bool = False

    def subject(self) -> str:
        """Return the ``-subj`` argument of ``openssl req``."""
        parts = [f"/O={o}" for o in self.organizations]
        return "".join(parts) + f"/CN={self.common_name}"

    def extensions(self) -> str:
        """Return the X.509 v3 extensions (an openssl ``-extfile``)."""
        usages = [u for u, on in (("serverAuth", self.server), ("clientAuth", self.client)) if on]
        lines = [
            "basicConstraints = critical, CA:FALSE",
            "keyUsage = critical, digitalSignature, keyEncipherment",
            f"extendedKeyUsage = {', '.join(usages)}",
        ]
        sans = [f"DNS:{d}" for d in self.dns] + [f"IP:{i}" for i in self.ips]
        if sans:
            lines.append(f"subjectAltName = {', '.join(sans)}")
        return "\n".join(lines) + "\n"


def certificates(s: Settings) -> list[Cert]:
    """Return every certificate the cluster needs.

    Args:
        s: The settings (node name and addresses go into the SANs).

    Returns:
        Serving and client certificates, one per identity.
    """
    domain = s.cluster_domain
    api_dns = (
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        f"kubernetes.default.svc.{domain}",
        "localhost",
    )
    node = f"system:node:{s.node_name}"
    return [
        Cert("etcd-server", "etcd", dns=("localhost",), ips=("127.0.0.1",), server=True),
        Cert("etcd-peer", "etcd-peer", ips=("127.0.0.1",), server=True, client=True),
        Cert("apiserver-etcd-client", "kube-apiserver-etcd-client", client=True),
        Cert(
            "apiserver",
            "kube-apiserver",
            dns=api_dns,
            ips=("127.0.0.1", s.api_service_ip, s.node_ip),
            server=True,
        ),
        Cert(
            "apiserver-kubelet-client",
            "kube-apiserver-kubelet-client",
            ("system:masters",),
            client=True,
        ),
        Cert("admin", "daskburst-admin", ("system:masters",), client=True),
        Cert("controller-manager", "system:kube-controller-manager", client=True),
        Cert("scheduler", "system:kube-scheduler", client=True),
        Cert("kube-proxy", "system:kube-proxy", client=True),
        Cert("coredns", "system:coredns", client=True),
        Cert("kube-router", "system:kube-router", client=True),
        # Satisfies the Node authorizer and NodeRestriction without TLS bootstrapping.
        Cert("kubelet-client", node, ("system:nodes",), client=True),
        Cert(
            "kubelet-serving",
            node,
            ("system:nodes",),
            dns=(s.node_name, "localhost"),
            ips=(s.node_ip, "127.0.0.1"),
            server=True,
        ),
    ]


def _openssl(*args: str) -> None:
    proc = subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed: {proc.stderr.strip()[-500:]}")


def _new_key(path: Path) -> None:
    _openssl(
        "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(path)
    )
    path.chmod(0o600)


def ensure(s: Settings, days: int = 3650) -> list[str]:
    """Create the CA, the service-account key pair and every certificate that is missing.

    Existing files are kept, so a restarted cluster keeps its identity and kubeconfigs.

    Args:
        s: The settings.
        days: Validity of new certificates.

    Returns:
        Names of the files created.
    """
    pki = s.pki
    pki.mkdir(parents=True, exist_ok=True)
    pki.chmod(0o700)
    made = []
    ca_key, ca_crt = pki / f"{CA_NAME}.key", pki / f"{CA_NAME}.crt"
    if not ca_crt.exists():
        _new_key(ca_key)
        _openssl(
            "req", "-x509", "-new", "-key", str(ca_key), "-subj", "/CN=daskburst-cluster-ca",
            "-days", str(days), "-out", str(ca_crt),
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
        )  # fmt: skip
        made.append(ca_crt.name)
    sa_key, sa_pub = pki / f"{SA_KEY}.key", pki / f"{SA_KEY}.pub"
    if not sa_pub.exists():
        _new_key(sa_key)
        _openssl("pkey", "-in", str(sa_key), "-pubout", "-out", str(sa_pub))
        made.append(sa_pub.name)
    for cert in certificates(s):
        crt, key = pki / f"{cert.name}.crt", pki / f"{cert.name}.key"
        if crt.exists():
            continue
        _new_key(key)
        with tempfile.TemporaryDirectory() as tmp:
            csr, ext = Path(tmp) / "csr.pem", Path(tmp) / "ext.cnf"
            ext.write_text(cert.extensions())
            _openssl("req", "-new", "-key", str(key), "-subj", cert.subject(), "-out", str(csr))
            _openssl(
                "x509", "-req", "-in", str(csr), "-CA", str(ca_crt), "-CAkey", str(ca_key),
                "-CAcreateserial", "-days", str(days), "-sha256", "-extfile", str(ext),
                "-out", str(crt),
            )  # fmt: skip
        made.append(crt.name)
    return made
