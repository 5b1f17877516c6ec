"""NetworkPolicy on the cluster under test (kube-network-policies on the single-node cluster,
kindnet on kind).

Where NetworkPolicy is enforced, both sides of every rule in k8s/ and the operator's policy:
a pod in another namespace cannot reach a scheduler's 8786 while a pod of the namespace and
the operator can; DNS still works; a Dask pod's egress is confined to its namespace, DNS and
(runners) the API server.

`make cluster-up` records in ``kube-system/localk8s-features`` whether it could enforce them:
kube-network-policies needs the nftables ``queue`` expression, which some kernels are built
without. There the same probes must show the policies *not* enforced, the README must carry
the kernel's exact refusal, and everything the policies allow must still work. Either way
the test checks the cluster against what it claims; nothing is skipped.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest

from daskburst.k8s import specs
from tests.cluster.conftest import NAMESPACE, ROOT, Cluster, wait_until

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

TARGET = "netpol-target"
SCHEDULER = f"{TARGET}-scheduler.{NAMESPACE}.svc.cluster.local"

#: Prints one JSON object: which (host, port) could be connected to within 3 s.
#: A refusal is retried for 15 s: kube-proxy rejects a Service's connections until it has
#: programmed the endpoints (a policy drops them instead: a timeout).
PROBE = """
import json, socket, sys, time
out = {}
for target in sys.argv[1:]:
    host, port = target.rsplit(":", 1)
    deadline = time.monotonic() + 15
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

#: Listens on 8080 until deleted (a server in the "other" namespace).
LISTEN = """
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 8080)); s.listen(16)
while True:
    c, _ = s.accept(); c.close()
"""


def _pod(
    name: str, namespace: str, code: str, args: list[str], component: str
) -> dict[str, object]:
    spec = specs.runner_pod_spec(["python", "-c", code, *args], pull_policy="Never")
    spec.pop("serviceAccountName")  # the namespace's default one
    spec["restartPolicy"] = "Never"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": specs.labels(TARGET, component),
        },
        "spec": spec,
    }


def _run_probe(cluster: Cluster, name: str, namespace: str, targets: list[str],
               component: str = "probe", labelled: bool = True) -> dict[str, str]:  # fmt: skip
    pod = _pod(name, namespace, PROBE, targets, component)
    if not labelled:
        pod["metadata"]["labels"] = {"app": "netpol-probe"}  # type: ignore[index]
    cluster.kubectl("apply", "-f", "-", stdin=json.dumps(pod))
    try:
        wait_until(
            lambda: cluster.json("get", "pod", name, "-n", namespace)["status"].get("phase")
            in ("Succeeded", "Failed"),
            180, f"probe {name}",
        )  # fmt: skip
        log = cluster.kubectl("logs", "-n", namespace, name).stdout
        return dict(json.loads(log.strip().splitlines()[-1]))
    finally:
        cluster.kubectl("delete", "pod", name, "-n", namespace, "--wait=false", check=False)


@pytest.fixture(scope="module")
def target(cluster: Cluster) -> Iterator[str]:
    """A scheduler in the daskburst namespace, and a listener in another namespace."""
    other = f"netpol-other-{os.getpid()}"
    cluster.kubectl("create", "namespace", other)
    try:
        cluster.kubectl(
            "apply", "-f", "-", stdin=json.dumps(specs.daskcluster(TARGET, NAMESPACE, workers=0))
        )
        listener = _pod("listener", other, LISTEN, [], "listener")
        listener["metadata"]["labels"] = {"app": "netpol-listener"}  # type: ignore[index]
        cluster.kubectl("apply", "-f", "-", stdin=json.dumps(listener))
        cluster.kubectl("-n", NAMESPACE, "wait", "--for=condition=Ready", "pod", "-l",
                        f"dask.org/cluster-name={TARGET},dask.org/component=scheduler",
                        "--timeout=300s", timeout=320)  # fmt: skip
        cluster.kubectl("-n", other, "wait", "--for=condition=Ready", "pod/listener",
                        "--timeout=180s", timeout=200)  # fmt: skip
        ip = cluster.json("get", "pod", "listener", "-n", other)["status"]["podIP"]
        yield f"{other}|{ip}"
    finally:
        cluster.kubectl(
            "delete", "daskcluster", TARGET, "-n", NAMESPACE, "--wait=true", check=False
        )
        cluster.kubectl("delete", "namespace", other, "--wait=true", timeout=300, check=False)


def enforcement(cluster: Cluster) -> str:
    """``enforced``, or ``not enforced: <why>`` (clusters other than `make cluster-up`'s are
    expected to enforce: kind's kindnet does)."""
    proc = cluster.kubectl("get", "configmap", "localk8s-features", "-n", "kube-system",
                           "-o", "json", check=False)  # fmt: skip
    if proc.returncode != 0:
        return "enforced"
    return str(json.loads(proc.stdout)["data"]["networkpolicy"])


def test_enforcement_is_what_the_cluster_claims(cluster: Cluster) -> None:
    state = enforcement(cluster)
    pods = cluster.pods("kube-system", "app=kube-network-policies")
    if state == "enforced":
        if "localk8s-features" in cluster.kubectl("get", "cm", "-n", "kube-system").stdout:
            assert pods and all(p["status"].get("phase") == "Running" for p in pods)
        return
    assert state.startswith("not enforced: kube-network-policies needs the nftables queue")
    assert not pods
    # The README quotes the kernel's refusal word for word, so users know what to look for.
    refusal = state.split("nft says: ", 1)[1]
    assert refusal in (ROOT / "README.md").read_text(), refusal


def test_another_namespace_cannot_reach_a_scheduler(cluster: Cluster, target: str) -> None:
    other, listener_ip = target.split("|")
    result = _run_probe(cluster, "outsider", other, [f"{SCHEDULER}:8786", f"{listener_ip}:8080"],
                        labelled=False)  # fmt: skip
    assert result[f"{listener_ip}:8080"] == "open", f"the probe itself works: {result}"
    assert result["dns"] == "ok"
    if enforcement(cluster) == "enforced":
        assert result[f"{SCHEDULER}:8786"] != "open", result
    else:
        assert result[f"{SCHEDULER}:8786"] == "open", f"claimed not enforced, but blocked: {result}"


def test_a_dask_pod_reaches_its_scheduler_and_dns_but_nothing_else(
    cluster: Cluster, target: str
) -> None:
    other, listener_ip = target.split("|")
    result = _run_probe(cluster, "insider", NAMESPACE, [f"{SCHEDULER}:8786", f"{SCHEDULER}:8787",
                                                        f"{listener_ip}:8080"])  # fmt: skip
    assert result[f"{SCHEDULER}:8786"] == "open", result
    assert result[f"{SCHEDULER}:8787"] == "open", result
    assert result["dns"] == "ok", result
    # Egress is confined: another namespace's pod is out of reach.
    if enforcement(cluster) == "enforced":
        assert result[f"{listener_ip}:8080"] != "open", result
    else:
        assert result[f"{listener_ip}:8080"] == "open", result


def test_the_operator_reaches_schedulers(cluster: Cluster, target: str) -> None:
    (op,) = cluster.json(
        "get", "pods", "-A", "-l", "app.kubernetes.io/name=dask-kubernetes-operator"
    )["items"]
    proc = cluster.kubectl(
        "exec", "-n", op["metadata"]["namespace"], op["metadata"]["name"], "--", "python", "-c",
        PROBE, f"{SCHEDULER}:8787", f"{SCHEDULER}:8786",
    )  # fmt: skip
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result[f"{SCHEDULER}:8787"] == "open" and result[f"{SCHEDULER}:8786"] == "open", result
