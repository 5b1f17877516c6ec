"""The single-node cluster is a real Kubernetes (issue: `make cluster-up` in CI).

On the real API server, kubelet and operator: the node is Ready, Pod Security "restricted"
rejects a privileged pod in the daskburst namespace, and a DaskJob from jobs/ runs to
Successful with the same result digest as the local backend.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cluster.conftest import NAMESPACE, Cluster

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


def test_node_ready_and_system_pods(cluster: Cluster) -> None:
    nodes = cluster.json("get", "nodes")["items"]
    assert nodes, "no node registered"
    for node in nodes:
        ready = {c["type"]: c["status"] for c in node["status"]["conditions"]}
        assert ready["Ready"] == "True", node["status"]["conditions"]
    deploy = cluster.json("get", "deployments", "-A", "-l",
                          "app.kubernetes.io/name=dask-kubernetes-operator")["items"]  # fmt: skip
    assert deploy and all(d["status"].get("availableReplicas") == 1 for d in deploy)


def test_pod_security_rejects_a_privileged_pod(cluster: Cluster) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "privileged-probe", "namespace": NAMESPACE},
        "spec": {
            "containers": [
                {
                    "name": "c",
                    "image": "localhost/daskburst-pause:1.0",
                    "securityContext": {"privileged": True, "runAsUser": 0},
                }
            ]
        },
    }
    proc = cluster.kubectl(
        "apply", "--dry-run=server", "-f", "-", stdin=json.dumps(pod), check=False
    )
    assert proc.returncode != 0
    assert 'violates PodSecurity "restricted' in proc.stderr, proc.stderr
    assert "privileged" in proc.stderr


def test_a_job_from_jobs_succeeds_with_the_local_digest(
    cluster: Cluster, tmp_path: Path, cleanup_jobs: list[str]
) -> None:
    proc = cluster.daskburst(
        "k8s", "submit", "jobs/bag.yaml", "--wait", "--timeout", "600", "--artifacts", str(tmp_path)
    )
    cleanup_jobs.extend(p.name for p in tmp_path.iterdir())
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads(proc.stdout)
    local = cluster.local_record("jobs/bag.yaml")
    assert local["result"]["digest"] == record["result"]["digest"]
    assert record["params"] == local["params"]
