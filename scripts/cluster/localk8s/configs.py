"""Config files, kubeconfigs, command lines and bootstrap objects of every component (pure).

Nothing here touches the host: each function maps :class:`~localk8s.settings.Settings` to
text, a dict or an argv, so every setting that matters on these hosts is unit-tested:
containerd's ``restrict_oom_score_adj`` (without CAP_SYS_RESOURCE every pod fails without it),
cgroupfs everywhere, the kubelet's ``failCgroupV1: false`` and ``oomScoreAdj: 0``, kube-proxy's
``conntrack`` limits left alone, and a CNI config private to this cluster.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from localk8s.settings import Settings

#: Admission plugins beyond the API server's defaults are enabled explicitly; the defaults
#: that matter are listed too, so the cluster's policy reads in one place.
ADMISSION = (
    "NamespaceLifecycle",
    "LimitRanger",
    "ServiceAccount",
    "NodeRestriction",
    "PodSecurity",
    "Priority",
    "DefaultTolerationSeconds",
    "DefaultStorageClass",
    "MutatingAdmissionWebhook",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionWebhook",
    "ResourceQuota",
)


def _pki(s: Settings, name: str) -> str:
    return str(s.pki / name)


def kubeconfig(
    s: Settings, user: str, cert: str, server: str | None = None, embed: bool = False
) -> dict[str, Any]:
    """Return a kubeconfig for a client-certificate identity.

    Args:
        s: The settings.
        user: The name of the user entry (any label).
        cert: Base name of the ``.crt``/``.key`` pair in the PKI directory.
        server: API server URL (default: :attr:`Settings.api_url`).
        embed: Embed certificates as data (portable) instead of file paths.

    Returns:
        The kubeconfig as a dict.
    """
    if embed:

        def data(name: str) -> str:
            return base64.b64encode((s.pki / name).read_bytes()).decode()

        cluster = {"certificate-authority-data": data("ca.crt")}
        creds = {
            "client-certificate-data": data(f"{cert}.crt"),
            "client-key-data": data(f"{cert}.key"),
        }
    else:
        cluster = {"certificate-authority": _pki(s, "ca.crt")}
        creds = {
            "client-certificate": _pki(s, f"{cert}.crt"),
            "client-key": _pki(s, f"{cert}.key"),
        }
    cluster["server"] = server or s.api_url
    name = "daskburst-local"
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": cluster}],
        "users": [{"name": user, "user": creds}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": user}}],
        "current-context": name,
        "preferences": {},
    }


#: kubeconfig file name -> (user, certificate) for each component.
KUBECONFIGS = {
    "controller-manager.kubeconfig": ("system:kube-controller-manager", "controller-manager"),
    "scheduler.kubeconfig": ("system:kube-scheduler", "scheduler"),
    "kubelet.kubeconfig": ("kubelet", "kubelet-client"),
    "kube-proxy.kubeconfig": ("system:kube-proxy", "kube-proxy"),
    "coredns.kubeconfig": ("system:coredns", "coredns"),
    "kube-router.kubeconfig": ("system:kube-router", "kube-router"),
}


def etcd_args(s: Settings) -> list[str]:
    """Return etcd's command line: TLS for clients and peer, health over plain loopback HTTP."""
    peer = f"https://127.0.0.1:{s.etcd_peer_port}"
    client = f"https://127.0.0.1:{s.etcd_port}"
    return [
        str(s.bin("etcd")),
        f"--name={s.node_name}",
        f"--data-dir={s.etcd_data}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster={s.node_name}={peer}",
        "--initial-cluster-state=new",
        f"--listen-metrics-urls=http://127.0.0.1:{s.etcd_metrics_port}",
        f"--cert-file={_pki(s, 'etcd-server.crt')}",
        f"--key-file={_pki(s, 'etcd-server.key')}",
        "--client-cert-auth",
        f"--trusted-ca-file={_pki(s, 'ca.crt')}",
        f"--peer-cert-file={_pki(s, 'etcd-peer.crt')}",
        f"--peer-key-file={_pki(s, 'etcd-peer.key')}",
        "--peer-client-cert-auth",
        f"--peer-trusted-ca-file={_pki(s, 'ca.crt')}",
        "--snapshot-count=10000",
        "--log-level=warn",
    ]


def apiserver_args(s: Settings) -> list[str]:
    """Return kube-apiserver's command line (Node,RBAC authorization, the admission chain)."""
    issuer = f"https://kubernetes.default.svc.{s.cluster_domain}"
    return [
        str(s.bin("kube-apiserver")),
        f"--etcd-servers=https://127.0.0.1:{s.etcd_port}",
        f"--etcd-cafile={_pki(s, 'ca.crt')}",
        f"--etcd-certfile={_pki(s, 'apiserver-etcd-client.crt')}",
        f"--etcd-keyfile={_pki(s, 'apiserver-etcd-client.key')}",
        "--bind-address=0.0.0.0",
        f"--secure-port={s.api_port}",
        f"--advertise-address={s.node_ip}",
        f"--tls-cert-file={_pki(s, 'apiserver.crt')}",
        f"--tls-private-key-file={_pki(s, 'apiserver.key')}",
        f"--client-ca-file={_pki(s, 'ca.crt')}",
        f"--kubelet-client-certificate={_pki(s, 'apiserver-kubelet-client.crt')}",
        f"--kubelet-client-key={_pki(s, 'apiserver-kubelet-client.key')}",
        f"--kubelet-certificate-authority={_pki(s, 'ca.crt')}",
        "--kubelet-preferred-address-types=InternalIP,Hostname",
        f"--service-account-key-file={_pki(s, 'service-account.pub')}",
        f"--service-account-signing-key-file={_pki(s, 'service-account.key')}",
        f"--service-account-issuer={issuer}",
        f"--service-cluster-ip-range={s.service_cidr}",
        "--authorization-mode=Node,RBAC",
        f"--enable-admission-plugins={','.join(ADMISSION)}",
        # PodSecurity, not a blanket ban, decides which namespaces refuse privileged pods.
        "--allow-privileged=true",
        "--anonymous-auth=true",
        "--profiling=false",
        "--event-ttl=1h",
        "--v=1",
    ]


def controller_manager_args(s: Settings) -> list[str]:
    """Return kube-controller-manager's command line (signs with the cluster CA)."""
    kc = str(s.conf / "controller-manager.kubeconfig")
    return [
        str(s.bin("kube-controller-manager")),
        f"--kubeconfig={kc}",
        f"--authentication-kubeconfig={kc}",
        f"--authorization-kubeconfig={kc}",
        "--bind-address=127.0.0.1",
        f"--secure-port={s.controller_manager_port}",
        f"--cluster-signing-cert-file={_pki(s, 'ca.crt')}",
        f"--cluster-signing-key-file={_pki(s, 'ca.key')}",
        f"--root-ca-file={_pki(s, 'ca.crt')}",
        f"--service-account-private-key-file={_pki(s, 'service-account.key')}",
        "--use-service-account-credentials=true",
        f"--service-cluster-ip-range={s.service_cidr}",
        f"--cluster-cidr={s.cluster_cidr}",
        "--leader-elect=false",
        "--profiling=false",
        "--v=1",
    ]


def scheduler_args(s: Settings) -> list[str]:
    """Return kube-scheduler's command line."""
    kc = str(s.conf / "scheduler.kubeconfig")
    return [
        str(s.bin("kube-scheduler")),
        f"--kubeconfig={kc}",
        f"--authentication-kubeconfig={kc}",
        f"--authorization-kubeconfig={kc}",
        "--bind-address=127.0.0.1",
        f"--secure-port={s.scheduler_port}",
        "--leader-elect=false",
        "--profiling=false",
        "--v=1",
    ]


def containerd_config(s: Settings) -> str:
    """Return containerd's config.toml (version 2, containerd 1.6's CRI plugin).

    ``restrict_oom_score_adj``: without CAP_SYS_RESOURCE runc cannot apply the kubelet's
    negative ``oom_score_adj`` and every pod fails to start.
    """
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    return f"""\
# Generated by scripts/cluster (make cluster-up); do not edit.
version = 2
root = "{s.containerd_root}"
state = "{s.containerd_state}"
disabled_plugins = [
  "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing",
]

[grpc]
  address = "{s.containerd_socket}"

[ttrpc]
  address = "{s.containerd_socket}.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "{s.state / "containerd" / "opt"}"

[{cri}]
  sandbox_image = "{s.pause_image}"
  restrict_oom_score_adj = true
  enable_selinux = false
  max_container_log_line_size = 16384

[{cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

[{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[{cri}.containerd.runtimes.runc.options]
  SystemdCgroup = false

[{cri}.cni]
  bin_dir = "/usr/lib/cni"
  conf_dir = "{s.cni_conf_dir}"
  max_conf_num = 1
"""


def cni_conflist(s: Settings) -> dict[str, Any]:
    """Return the CNI network: a bridge with masquerade and hairpin, host-local IPAM, portmap."""
    return {
        "cniVersion": "1.0.0",
        "name": s.cni_network,
        "plugins": [
            {
                "type": "bridge",
                "bridge": s.bridge,
                "isGateway": True,
                "ipMasq": True,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "dataDir": str(s.cni_ipam_dir),
                    "ranges": [[{"subnet": s.pod_cidr}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }


def kubelet_config(s: Settings, max_open_files: int) -> dict[str, Any]:
    """Return the KubeletConfiguration for this host.

    Args:
        s: The settings.
        max_open_files: At most the hard ``RLIMIT_NOFILE`` (the kubelet cannot raise it
            without CAP_SYS_RESOURCE).

    Returns:
        The config as a dict.
    """
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": _pki(s, "ca.crt")},
        },
        "authorization": {"mode": "Webhook"},
        "address": "0.0.0.0",
        "port": s.kubelet_port,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": s.kubelet_healthz_port,
        "tlsCertFile": _pki(s, "kubelet-serving.crt"),
        "tlsPrivateKeyFile": _pki(s, "kubelet-serving.key"),
        "containerRuntimeEndpoint": s.containerd_endpoint,
        "cgroupDriver": "cgroupfs",
        "failCgroupV1": False,
        "failSwapOn": False,
        "oomScoreAdj": 0,
        "maxOpenFiles": max_open_files,
        "clusterDNS": [s.dns_ip],
        "clusterDomain": s.cluster_domain,
        "resolvConf": "/etc/resolv.conf",
        "podLogsDir": str(s.pod_logs),
        "serializeImagePulls": False,
        # Nothing can be pulled here: never garbage-collect the images loaded into containerd.
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        # The node's disk is shared with everything else on the host: evict only when it is
        # really full, not at the default 10-15 % free.
        "evictionHard": {
            "memory.available": "200Mi",
            "nodefs.available": "1Gi",
            "imagefs.available": "1Gi",
            "nodefs.inodesFree": "1%",
        },
        "rotateCertificates": False,
        "serverTLSBootstrap": False,
        "protectKernelDefaults": False,
        "makeIPTablesUtilChains": True,
        "shutdownGracePeriod": "0s",
        "logging": {"verbosity": 1},
    }


def kubelet_args(s: Settings) -> list[str]:
    """Return the kubelet's command line."""
    return [
        str(s.bin("kubelet")),
        f"--config={s.conf / 'kubelet.yaml'}",
        f"--kubeconfig={s.conf / 'kubelet.kubeconfig'}",
        f"--root-dir={s.kubelet_root}",
        f"--hostname-override={s.node_name}",
        f"--node-ip={s.node_ip}",
    ]


def kube_proxy_config(s: Settings) -> dict[str, Any]:
    """Return the KubeProxyConfiguration (iptables mode; leaves host sysctls alone).

    ``conntrack`` zeros keep kube-proxy off the conntrack sysctls; ``localhostNodePorts``
    off keeps it from setting ``route_localnet=1`` host-wide (CVE-2020-8558's exposure, and
    a setting a killed cluster would leave behind): nothing here uses a NodePort on 127.0.0.1.
    """
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(s.conf / "kube-proxy.kubeconfig")},
        "mode": "iptables",
        "clusterCIDR": s.cluster_cidr,
        "hostnameOverride": s.node_name,
        "bindAddress": "0.0.0.0",
        "healthzBindAddress": f"127.0.0.1:{s.proxy_healthz_port}",
        "metricsBindAddress": f"127.0.0.1:{s.proxy_metrics_port}",
        "oomScoreAdj": 0,
        "conntrack": {"maxPerCore": 0, "min": 0},
        "iptables": {"localhostNodePorts": False},
    }


def kube_proxy_args(s: Settings) -> list[str]:
    """Return kube-proxy's command line."""
    return [str(s.bin("kube-proxy")), f"--config={s.conf / 'kube-proxy.yaml'}", "--v=1"]


def corefile(s: Settings) -> str:
    """Return CoreDNS's Corefile: the cluster zone from the API, the rest to the host's DNS.

    CoreDNS runs as a host process bound to the node IP (there is no ``dummy`` kernel module
    for a link-local address); the ``kube-dns`` Service forwards 10.96.0.10 to it. The node
    IP is reachable from outside the node, so its ``acl`` answers only the pods, the node
    itself and loopback, and drops every other query: no open resolver on the network.
    """
    return f"""\
# Generated by scripts/cluster (make cluster-up); do not edit.
.:53 {{
    bind {s.node_ip}
    errors
    acl {{
        allow net {s.cluster_cidr} {s.node_ip}/32 127.0.0.0/8
        drop
    }}
    health 127.0.0.1:{s.coredns_health_port}
    ready 127.0.0.1:{s.coredns_ready_port}
    kubernetes {s.cluster_domain} in-addr.arpa ip6.arpa {{
        kubeconfig {s.conf / "coredns.kubeconfig"} daskburst-local
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 30
    }}
    forward . /etc/resolv.conf
    cache 30
    loop
}}
"""


def coredns_args(s: Settings) -> list[str]:
    """Return CoreDNS's command line."""
    return [str(s.bin("coredns")), "-conf", str(s.conf / "Corefile")]


def bootstrap_objects(s: Settings) -> list[dict[str, Any]]:
    """Return the objects the host-process components need in the API.

    CoreDNS's and kube-router's RBAC, and a selector-less ``kube-system/kube-dns`` Service on
    the conventional cluster DNS address with a hand-made EndpointSlice pointing at CoreDNS on
    the node.
    """
    labels = {"app.kubernetes.io/part-of": "localk8s", "app.kubernetes.io/managed-by": "localk8s"}
    return [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "system:coredns", "labels": labels},
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["endpoints", "services", "pods", "namespaces"],
                    "verbs": ["list", "watch"],
                },
                {
                    "apiGroups": ["discovery.k8s.io"],
                    "resources": ["endpointslices"],
                    "verbs": ["list", "watch"],
                },
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "system:coredns", "labels": labels},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "system:coredns",
            },
            "subjects": [
                {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "system:coredns"}
            ],
        },
        # kube-router's informers: what its NetworkPolicy controller reads, and no more.
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "system:kube-router", "labels": labels},
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["pods", "namespaces", "nodes", "services", "endpoints"],
                    "verbs": ["get", "list", "watch"],
                },
                {
                    "apiGroups": ["discovery.k8s.io"],
                    "resources": ["endpointslices"],
                    "verbs": ["get", "list", "watch"],
                },
                {
                    "apiGroups": ["networking.k8s.io"],
                    "resources": ["networkpolicies"],
                    "verbs": ["get", "list", "watch"],
                },
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "system:kube-router", "labels": labels},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "system:kube-router",
            },
            "subjects": [
                {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "User",
                    "name": "system:kube-router",
                }
            ],
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "name": "kube-dns",
                "namespace": "kube-system",
                "labels": {**labels, "k8s-app": "kube-dns"},
            },
            "spec": {
                "clusterIP": s.dns_ip,
                "ports": [
                    {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                    {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
                ],
            },
        },
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": "kube-dns-node",
                "namespace": "kube-system",
                "labels": {
                    **labels,
                    "kubernetes.io/service-name": "kube-dns",
                    "endpointslice.kubernetes.io/managed-by": "localk8s.daskburst",
                },
            },
            "addressType": "IPv4",
            "endpoints": [
                {"addresses": [s.node_ip], "conditions": {"ready": True}, "nodeName": s.node_name}
            ],
            "ports": [
                {"name": "dns", "port": 53, "protocol": "UDP"},
                {"name": "dns-tcp", "port": 53, "protocol": "TCP"},
            ],
        },
    ]


def kube_router_args(s: Settings) -> list[str]:
    """Return kube-router's command line: its NetworkPolicy controller (iptables + ipset) alone.

    No BGP routing, no service proxy (kube-proxy is the proxy), no pprof, no metrics; its
    health on :``kube_router_health_port`` (kube-router binds every address; /healthz only).
    """
    return [
        str(s.bin("kube-router")),
        "--run-firewall=true",
        "--run-router=false",
        "--run-service-proxy=false",
        "--enable-pprof=false",
        "--metrics-port=0",
        f"--health-port={s.kube_router_health_port}",
        f"--kubeconfig={s.conf / 'kube-router.kubeconfig'}",
        f"--hostname-override={s.node_name}",
        f"--service-cluster-ip-range={s.service_cidr}",
        "--v=1",
    ]


def features_configmap(networkpolicy: str) -> dict[str, Any]:
    """Return ``kube-system/localk8s-features``: what this cluster can and cannot do.

    Args:
        networkpolicy: ``enforced``, or ``not enforced: <why>``.
    """
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "localk8s-features",
            "namespace": "kube-system",
            "labels": {"app.kubernetes.io/part-of": "localk8s"},
        },
        "data": {"networkpolicy": networkpolicy},
    }


def files(s: Settings, max_open_files: int) -> dict[Path, str]:
    """Return every generated file of the cluster (path -> content), kubeconfigs included.

    Args:
        s: The settings.
        max_open_files: See :func:`kubelet_config`.

    Returns:
        The files to write.
    """
    import yaml

    out: dict[Path, str] = {
        s.conf / "containerd.toml": containerd_config(s),
        s.cni_conf_dir / "10-daskburst.conflist": json.dumps(cni_conflist(s), indent=2) + "\n",
        s.conf / "kubelet.yaml": yaml.safe_dump(kubelet_config(s, max_open_files)),
        s.conf / "kube-proxy.yaml": yaml.safe_dump(kube_proxy_config(s)),
        s.conf / "Corefile": corefile(s),
        s.conf / "bootstrap.yaml": yaml.safe_dump_all(bootstrap_objects(s)),
    }
    for name, (user, cert) in KUBECONFIGS.items():
        out[s.conf / name] = yaml.safe_dump(kubeconfig(s, user, cert))
    return out
