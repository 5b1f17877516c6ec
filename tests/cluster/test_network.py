"""NetworkPolicy on the cluster under test (kube-router's firewall on the single-node cluster,
kindnet on kind), with real connections.

Both sides of every rule in k8s/ and the operator's policy: a pod in another namespace cannot
reach a scheduler's 8786 while a pod of the namespace and the operator can; DNS works; a
worker's egress is confined to its namespace and DNS (not the API server, not another
namespace); a runner reaches the API server and nothing else on the API ports (egress
narrowed by `daskburst k8s install` to the API server's own addresses).

`make cluster-up` records in ``kube-system/localk8s-features`` whether it could enforce them
(kube-router needs iptables with ipset). Where it says ``not enforced`` the same probes must
show the connections open, and in CI that is a failure: CI must prove enforcement.

kube-router programs a new pod's firewall a moment after the pod gets its address; the probes
run in pods that are already up, after the node's iptables show that pod's rules.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from daskburst.k8s import specs
from tests.cluster.conftest import NAMESPACE, Cluster, wait_until

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

TARGET = "netpol-target"
SCHEDULER = f"{TARGET}-scheduler.{NAMESPACE}.svc.cluster.local"

#: Prints one JSON object: which (host, port) could be connected to within 3 s.
#: A refusal of a name (a Service) is retried for 15 s: kube-proxy rejects a Service's
#: connections until it has programmed the endpoints. An address is tried once: kube-router
#: rejects what a policy forbids.
PROBE = """
import json, socket, sys, time
out = {}
for target in sys.argv[1:]:
    host, port = target.rsplit(":", 1)
    deadline = time.monotonic() + (15 if host[-1].isalpha() else 0)
    while True:
        try:
            socket.create_connection((host, int(port)), timeout=3).close()
            out[target] = "open"
        except ConnectionRefusedError as exc:
            out[target] = type(exc).__name__
            if time.monotonic() < deadline:
                time.sleep(0.5)
                continue
        except OSError as exc:
            out[target] = type(exc).__name__
        break
try:
    socket.getaddrinfo("kubernetes.default.svc.cluster.local", 443)
    out["dns"] = "ok"
except OSError as exc:
    out["dns"] = type(exc).__name__
print(json.dumps(out), flush=True)
"""

#: Listens on 8080 and 6443 until deleted (a server in the "other" namespace; 6443 stands for
#: any address on an API port).
LISTEN = """
import socket, threading
def serve(port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port)); s.listen(16)
    while True:
        c, _ = s.accept(); c.close()
threading.Thread(target=serve, args=(6443,), daemon=True).start()
serve(8080)
"""

SLEEP = "import time; time.sleep(3600)"


def _pod(
    name: str, namespace: str, code: str, component: str, labelled: bool = True
) -> dict[str, object]:
    spec = specs.runner_pod_spec(["python", "-c", code], pull_policy="Never")
    spec.pop("serviceAccountName")  # the namespace's default one
    spec["restartPolicy"] = "Never"
    spec["terminationGracePeriodSeconds"] = 1
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": specs.labels(TARGET, component) if labelled else {"app": name},
        },
        "spec": spec,
    }


@dataclass(frozen=True)
class Features:
    """What `make cluster-up` recorded in ``kube-system/localk8s-features``."""

    local: bool  # the cluster is `make cluster-up`'s (the ConfigMap is there)
    #: ``enforced``, or ``not enforced: <why>`` (clusters other than `make cluster-up`'s are
    #: expected to enforce: kind's kindnet does).
    enforcement: str

    @property
    def watch(self) -> bool:
        """kube-router runs on this host: a pod is firewalled once its rules are in iptables."""
        return self.local and self.enforcement == "enforced"


@pytest.fixture(scope="module")
def features(cluster: Cluster) -> Features:
    proc = cluster.kubectl("get", "configmap", "localk8s-features", "-n", "kube-system",
                           "-o", "json", check=False)  # fmt: skip
    if proc.returncode != 0:
        return Features(local=False, enforcement="enforced")
    return Features(local=True, enforcement=str(json.loads(proc.stdout)["data"]["networkpolicy"]))


def _firewalled(namespace: str, name: str, watch: bool) -> None:
    """On `make cluster-up`'s node (``watch``), wait until kube-router has programmed the
    pod's rules."""
    if not watch:
        return
    marker = f"POD name:{name} namespace: {namespace}"
    wait_until(
        lambda: marker in subprocess.run(["iptables", "-w", "-S"], capture_output=True,
                                         text=True, check=False).stdout,
        60, f"kube-router's rules for pod {namespace}/{name}",
    )  # fmt: skip


def _start(cluster: Cluster, name: str, namespace: str, component: str,
           labelled: bool = True, code: str = SLEEP) -> None:  # fmt: skip
    pod = _pod(name, namespace, code, component, labelled)
    cluster.kubectl("apply", "-f", "-", stdin=json.dumps(pod))
    cluster.kubectl("-n", namespace, "wait", "--for=condition=Ready", f"pod/{name}",
                    "--timeout=180s", timeout=200)  # fmt: skip


def _probe(cluster: Cluster, target: Target, namespace: str, name: str,
           targets: list[str]) -> dict[str, str]:  # fmt: skip
    _firewalled(namespace, name, target.watch)
    proc = cluster.kubectl("exec", "-n", namespace, name, "--", "python", "-c", PROBE, *targets)
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


@dataclass(frozen=True)
class Target:
    other: str  # the other namespace
    listener: str  # the listener's pod IP there
    api: str  # an API server endpoint, ip:port
    enforced: bool
    watch: bool  # Features.watch


@pytest.fixture(scope="module")
def target(cluster: Cluster, features: Features) -> Iterator[Target]:
    """A scheduler in the daskburst namespace, a listener in another namespace, and probe
    pods: an outsider there, a worker and a runner here."""
    other = f"netpol-other-{os.getpid()}"
    cluster.kubectl("create", "namespace", other)
    try:
        cluster.kubectl(
            "apply", "-f", "-", stdin=json.dumps(specs.daskcluster(TARGET, NAMESPACE, workers=0))
        )
        _start(cluster, "listener", other, "listener", labelled=False, code=LISTEN)
        _start(cluster, "outsider", other, "probe", labelled=False)
        _start(cluster, f"{TARGET}-worker-probe", NAMESPACE, "worker")
        _start(cluster, f"{TARGET}-runner-probe", NAMESPACE, "runner")
        cluster.kubectl("-n", NAMESPACE, "wait", "--for=condition=Ready", "pod", "-l",
                        f"dask.org/cluster-name={TARGET},dask.org/component=scheduler",
                        "--timeout=300s", timeout=320)  # fmt: skip
        (scheduler,) = cluster.pods(
            NAMESPACE, f"dask.org/cluster-name={TARGET},dask.org/component=scheduler"
        )
        _firewalled(NAMESPACE, scheduler["metadata"]["name"], features.watch)
        ip = cluster.json("get", "pod", "listener", "-n", other)["status"]["podIP"]
        slices = cluster.json("get", "endpointslices", "-n", "default", "-l",
                              "kubernetes.io/service-name=kubernetes")["items"]  # fmt: skip
        api = f"{slices[0]['endpoints'][0]['addresses'][0]}:{slices[0]['ports'][0]['port']}"
        yield Target(other, ip, api, features.enforcement == "enforced", features.watch)
    finally:
        for name in (f"{TARGET}-worker-probe", f"{TARGET}-runner-probe"):
            cluster.kubectl("delete", "pod", name, "-n", NAMESPACE, "--wait=false", check=False)
        cluster.kubectl(
            "delete", "daskcluster", TARGET, "-n", NAMESPACE, "--wait=true", check=False
        )
        cluster.kubectl("delete", "namespace", other, "--wait=true", timeout=300, check=False)


def test_enforcement_is_what_the_cluster_claims(features: Features) -> None:
    state = features.enforcement
    if not features.local:
        return  # kind: kindnet enforces NetworkPolicy; the probes below show it
    if state != "enforced":
        assert state.startswith("not enforced: kube-router's firewall needs iptables with ipset")
        assert not os.environ.get("CI"), f"CI must prove NetworkPolicy enforced, but: {state}"
        return
    # kube-router runs, healthy, and has hooked its chains into the host's filter table.
    with urllib.request.urlopen("http://127.0.0.1:20244/healthz", timeout=5) as resp:
        assert resp.status == 200
    rules = subprocess.run(["iptables", "-w", "-S"], capture_output=True, text=True,
                           check=True).stdout  # fmt: skip
    for hook in ("INPUT", "FORWARD", "OUTPUT"):
        assert f"-A {hook} " in rules and f"-j KUBE-ROUTER-{hook}" in rules, hook


def test_another_namespace_cannot_reach_a_scheduler(cluster: Cluster, target: Target) -> None:
    result = _probe(cluster, target, target.other, "outsider",
                    [f"{SCHEDULER}:8786", f"{target.listener}:8080"])  # fmt: skip
    assert result[f"{target.listener}:8080"] == "open", f"the probe itself works: {result}"
    assert result["dns"] == "ok"
    assert (result[f"{SCHEDULER}:8786"] != "open") == target.enforced, result


def test_a_worker_reaches_its_scheduler_and_dns_but_not_the_api_or_other_namespaces(
    cluster: Cluster, target: Target
) -> None:
    result = _probe(cluster, target, NAMESPACE, f"{TARGET}-worker-probe", [
        f"{SCHEDULER}:8786", f"{SCHEDULER}:8787", f"{target.listener}:8080",
        "kubernetes.default.svc.cluster.local:443", target.api,
    ])  # fmt: skip
    assert result[f"{SCHEDULER}:8786"] == "open", result
    assert result[f"{SCHEDULER}:8787"] == "open", result
    assert result["dns"] == "ok", result
    for closed in (f"{target.listener}:8080", "kubernetes.default.svc.cluster.local:443",
                   target.api):  # fmt: skip
        assert (result[closed] != "open") == target.enforced, (closed, result)


def test_a_runner_reaches_the_api_server_but_no_other_address_on_its_ports(
    cluster: Cluster, target: Target
) -> None:
    result = _probe(cluster, target, NAMESPACE, f"{TARGET}-runner-probe", [
        "kubernetes.default.svc.cluster.local:443", target.api, f"{SCHEDULER}:8786",
        f"{target.listener}:6443",
    ])  # fmt: skip
    assert result["kubernetes.default.svc.cluster.local:443"] == "open", result
    assert result[target.api] == "open", result
    assert result[f"{SCHEDULER}:8786"] == "open", result
    assert result["dns"] == "ok", result
    # Before egress was narrowed to the API server's addresses, 6443 was open to any address.
    assert (result[f"{target.listener}:6443"] != "open") == target.enforced, result


def test_the_operator_reaches_schedulers_and_dns(cluster: Cluster, target: Target) -> None:
    (op,) = cluster.json(
        "get", "pods", "-A", "-l", "app.kubernetes.io/name=dask-kubernetes-operator"
    )["items"]
    result = _probe(cluster, target, op["metadata"]["namespace"], op["metadata"]["name"],
                    [f"{SCHEDULER}:8787", f"{SCHEDULER}:8786", f"{target.listener}:6443"])  # fmt: skip
    assert result[f"{SCHEDULER}:8787"] == "open" and result[f"{SCHEDULER}:8786"] == "open", result
    assert result["dns"] == "ok", result
    assert (result[f"{target.listener}:6443"] != "open") == target.enforced, result
