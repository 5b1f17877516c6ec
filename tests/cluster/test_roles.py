"""Least privilege on the real cluster: who may do what, by RBAC and by admission.

Three identities work in a daskburst namespace (k8s/base): a job's runner (attaches to its
own cluster, adds its autoscaler, keeps its record), a submitter (people, CI) and the gc.
Each denial is asked of the API server twice: ``kubectl auth can-i`` (RBAC alone), and a real
request with the real token, which also passes admission: the runner's writes are held to
its own job's objects by the policy daskburst-runner-own-objects, which RBAC cannot do.

The jobs here are submitted *as the submitter* (a token of its ServiceAccount), so the
submitter's Role is proven sufficient by use; the runner's token is the one the kubelet
mounted in a running job's runner pod.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.cluster.conftest import NAMESPACE, ROOT, Cluster, namespace_story, wait_until

pytestmark = pytest.mark.cluster

RUNNER = f"system:serviceaccount:{NAMESPACE}:daskburst-runner"
SUBMITTER = f"system:serviceaccount:{NAMESPACE}:daskburst-submitter"
GC = f"system:serviceaccount:{NAMESPACE}:daskburst-gc"
TOKEN_PATH = "/var/run/secrets/kubernetes.io/serviceaccount/token"  # noqa: S105 - a path

#: A user script that holds its runner pod up while the test acts with its token.
SLEEPER = "import time\n\ntime.sleep(900)\n"


def _can(cluster: Cluster, who: str, verb: str, resource: str) -> bool:
    resource, _, sub = resource.partition("/")
    args = ["auth", "can-i", verb, resource, f"--as={who}", "-n", NAMESPACE]
    args += [f"--subresource={sub}"] if sub else []
    return cluster.kubectl(*args, check=False).stdout.strip() == "yes"


DASK = "kubernetes.dask.org"


@pytest.mark.parametrize(
    ("who", "verb", "resource", "allowed"),
    [
        # The runner attaches, scales and keeps its record: nothing more.
        (RUNNER, "get", f"daskclusters.{DASK}", True),
        (RUNNER, "get", f"daskjobs.{DASK}", True),
        (RUNNER, "create", f"daskautoscalers.{DASK}", True),
        (RUNNER, "patch", f"daskworkergroups.{DASK}", True),
        (RUNNER, "create", "configmaps", True),
        (RUNNER, "create", f"daskjobs.{DASK}", False),
        (RUNNER, "delete", f"daskjobs.{DASK}", False),
        (RUNNER, "create", f"daskclusters.{DASK}", False),
        (RUNNER, "delete", f"daskclusters.{DASK}", False),
        (RUNNER, "get", "configmaps", False),
        (RUNNER, "list", "configmaps", False),
        (RUNNER, "delete", "configmaps", False),
        (RUNNER, "create", "pods", False),
        (RUNNER, "get", "secrets", False),
        (RUNNER, "create", "rolebindings.rbac.authorization.k8s.io", False),
        # The submitter submits, follows and cleans up; it makes no pod and reads no Secret.
        (SUBMITTER, "create", f"daskjobs.{DASK}", True),
        (SUBMITTER, "delete", f"daskjobs.{DASK}", True),
        (SUBMITTER, "create", f"daskclusters.{DASK}", True),
        (SUBMITTER, "create", "configmaps", True),
        (SUBMITTER, "get", "pods/log", True),
        (SUBMITTER, "create", "pods/portforward", True),
        (SUBMITTER, "patch", "leases.coordination.k8s.io", True),
        (RUNNER, "patch", "leases.coordination.k8s.io", False),
        (SUBMITTER, "create", "pods", False),
        (SUBMITTER, "create", "pods/exec", False),
        (SUBMITTER, "get", "secrets", False),
        (SUBMITTER, "create", "roles.rbac.authorization.k8s.io", False),
        (SUBMITTER, "patch", "resourcequotas", False),
        # The gc deletes expired jobs and leftovers, and makes nothing.
        (GC, "delete", f"daskjobs.{DASK}", True),
        (GC, "create", f"daskjobs.{DASK}", False),
        (GC, "create", "configmaps", False),
        (GC, "get", "secrets", False),
    ],
)
def test_each_identity_can_do_what_it_needs_and_no_more(
    cluster: Cluster, who: str, verb: str, resource: str, allowed: bool
) -> None:
    assert _can(cluster, who, verb, resource) is allowed


def test_only_the_runner_mounts_a_token_and_only_the_runner_has_one(cluster: Cluster) -> None:
    for sa in ("daskburst-runner", "daskburst-submitter", "daskburst-gc"):
        obj = cluster.json("get", "serviceaccount", sa, "-n", NAMESPACE)
        assert obj.get("automountServiceAccountToken") is False, sa


def _kubeconfig_for(cluster: Cluster, token: str, path: Path) -> Path:
    """A kubeconfig that reaches the cluster with ``token`` and nothing else."""
    admin = cluster.json("config", "view", "--raw", "--minify")
    server = admin["clusters"][0]["cluster"]
    ca = (
        server.get("certificate-authority-data")
        or base64.b64encode(Path(server["certificate-authority"]).read_bytes()).decode()
    )
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": server["server"],
                                               "certificate-authority-data": ca}}],
        "users": [{"name": "u", "user": {"token": token}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u",
                                               "namespace": NAMESPACE}}],
        "current-context": "c",
    }  # fmt: skip
    path.write_text(json.dumps(config))
    path.chmod(0o600)
    return path


@dataclass
class As:
    """kubectl as one identity (a kubeconfig holding only its token)."""

    cluster: Cluster
    kubeconfig: Path

    def kubectl(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.cluster.kubectl_bin, f"--kubeconfig={self.kubeconfig}", "-n", NAMESPACE, *args],
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )

    def denied(self, *args: str, stdin: str | None = None) -> str:
        proc = self.kubectl(*args, stdin=stdin)
        assert proc.returncode != 0, f"kubectl {' '.join(args)} was allowed: {proc.stdout}"
        assert "forbidden" in proc.stderr.lower() or "denied" in proc.stderr.lower(), proc.stderr
        return proc.stderr

    def allowed(self, *args: str, stdin: str | None = None) -> str:
        proc = self.kubectl(*args, stdin=stdin)
        assert proc.returncode == 0, f"kubectl {' '.join(args)} was refused: {proc.stderr}"
        return proc.stdout


@dataclass
class TwoJobs:
    """Two running jobs submitted by the submitter; ``mine`` is the one whose runner we are."""

    mine: str
    other: str
    runner: As
    submitter: As


@pytest.fixture(scope="module")
def two_jobs(cluster: Cluster) -> Iterator[TwoJobs]:
    with tempfile.TemporaryDirectory(prefix="daskburst-roles-") as tmp:
        work = Path(tmp)
        token = cluster.kubectl("create", "token", "daskburst-submitter", "-n", NAMESPACE,
                                "--duration=1h").stdout.strip()  # fmt: skip
        submitter = As(cluster, _kubeconfig_for(cluster, token, work / "submitter.kubeconfig"))
        (work / "code").mkdir()
        (work / "code" / "sleeper.py").write_text(SLEEPER)
        names = [f"roles-{os.getpid() % 10000}-{which}" for which in ("mine", "other")]
        env = {**cluster.env, "KUBECONFIG": str(submitter.kubeconfig)}
        try:
            for name in names:
                proc = subprocess.run(
                    [str(ROOT / ".venv/bin/daskburst"), "k8s", "submit",
                     str(work / "code" / "sleeper.py"), "--name", name, "--adapt", "1:1"],
                    capture_output=True, text=True, env=env, timeout=120, check=False,
                )  # fmt: skip
                assert proc.returncode == 0, f"the submitter could not submit: {proc.stderr}"

            def runner_up() -> bool:
                pod = cluster.kubectl("get", "pod", f"{names[0]}-runner", "-n", NAMESPACE,
                                      "-o", "jsonpath={.status.phase}", check=False)  # fmt: skip
                return pod.stdout == "Running"

            try:
                wait_until(runner_up, 180, f"pod {names[0]}-runner to run")
            except AssertionError as exc:
                raise AssertionError(f"{exc}\n{namespace_story(cluster, NAMESPACE)}") from None
            # The token the kubelet mounted for the runner: bound to that pod.
            mounted = cluster.kubectl("exec", f"{names[0]}-runner", "-n", NAMESPACE, "--",
                                      "cat", TOKEN_PATH).stdout.strip()  # fmt: skip
            runner = As(cluster, _kubeconfig_for(cluster, mounted, work / "runner.kubeconfig"))
            wait_until(lambda: cluster.kubectl("get", "daskworkergroup", f"{names[1]}-default",
                                               "-n", NAMESPACE, check=False).returncode == 0,
                       120, f"daskworkergroup/{names[1]}-default")  # fmt: skip
            yield TwoJobs(names[0], names[1], runner, submitter)
        finally:
            for name in names:
                # As the submitter: `k8s delete` removes the job, its autoscaler and record.
                subprocess.run(
                    [str(ROOT / ".venv/bin/daskburst"), "k8s", "delete", name],
                    capture_output=True,
                    text=True,
                    env=env,
                    timeout=120,
                    check=False,
                )
            for name in names:
                wait_until(lambda n=name: not cluster.pods(selector=f"dask.org/cluster-name={n}"),
                           120, f"the pods of {name} to go")  # fmt: skip


def _configmap(name: str) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": name, "namespace": NAMESPACE},
                       "data": {"result.json": "{}\n"}})  # fmt: skip


def _autoscaler(name: str, cluster: str) -> str:
    return json.dumps({"apiVersion": f"{DASK}/v1", "kind": "DaskAutoscaler",
                       "metadata": {"name": name, "namespace": NAMESPACE},
                       "spec": {"cluster": cluster, "minimum": 1, "maximum": 1}})  # fmt: skip


def test_a_runner_writes_its_own_job_objects(two_jobs: TwoJobs) -> None:
    mine, runner = two_jobs.mine, two_jobs.runner
    runner.allowed("create", "-f", "-", stdin=_configmap(f"{mine}-result"))
    # Patched again (a job of the same name ran before); without reading it first, which a
    # runner may not (so not `kubectl patch`).
    runner.allowed("apply", "--server-side", "--force-conflicts", "-f", "-",
                   stdin=_configmap(f"{mine}-result"))  # fmt: skip
    runner.allowed("apply", "--server-side", "--force-conflicts", "--dry-run=server", "-f", "-",
                   stdin=_autoscaler(mine, mine))  # fmt: skip
    runner.allowed("patch", "daskworkergroup", f"{mine}-default", "--type=merge",
                   "-p", '{"spec": {"worker": {"replicas": 1}}}')  # fmt: skip
    runner.allowed("get", "daskcluster", mine)
    runner.allowed("get", "daskjob", mine)


def test_a_runner_cannot_touch_another_jobs_objects(two_jobs: TwoJobs) -> None:
    mine, other, runner = two_jobs.mine, two_jobs.other, two_jobs.runner
    # The other job's record: another runner's to write (here made by its submitter).
    two_jobs.submitter.allowed("create", "-f", "-", stdin=_configmap(f"{other}-result"))
    said = runner.denied("apply", "--server-side", "--force-conflicts", "-f", "-",
                         stdin=_configmap(f"{other}-result"))  # fmt: skip
    assert f"may write configmap/{mine}-result only, not configmaps/{other}-result" in said, said
    runner.denied("create", "-f", "-", stdin=_configmap(f"{other}-x-result"))
    said = runner.denied("create", "-f", "-", stdin=_autoscaler(other, other))
    assert f"daskautoscaler/{mine} of its own cluster only" in said, said
    # Its own autoscaler's name, but pointed at the other cluster.
    said = runner.denied("create", "-f", "-", stdin=_autoscaler(mine, other))
    assert f'of cluster "{other}"' in said, said
    said = runner.denied("patch", "daskworkergroup", f"{other}-default", "--type=merge",
                         "-p", '{"spec": {"worker": {"replicas": 3}}}')  # fmt: skip
    assert "worker groups of its own cluster only" in said, said
    # What RBAC refuses outright, whoever's it is.
    runner.denied("delete", "daskjob", other)
    runner.denied("delete", "daskcluster", other)
    runner.denied("delete", "daskjob", mine)
    runner.denied("get", "configmap", f"{other}-result")
    runner.denied("create", "-f", "-", stdin=json.dumps(
        {"apiVersion": f"{DASK}/v1", "kind": "DaskJob", "metadata": {"name": f"{mine}-2"},
         "spec": {}}))  # fmt: skip
    runner.denied("get", "secrets")
    assert two_jobs.submitter.kubectl("get", "daskjob", other).returncode == 0, "still there"


def test_a_runner_token_bound_to_no_pod_writes_nothing(
    cluster: Cluster, two_jobs: TwoJobs, tmp_path: Path
) -> None:
    token = cluster.kubectl("create", "token", "daskburst-runner", "-n", NAMESPACE,
                            "--duration=10m").stdout.strip()  # fmt: skip
    loose = As(cluster, _kubeconfig_for(cluster, token, tmp_path / "loose.kubeconfig"))
    said = loose.denied("create", "-f", "-", stdin=_configmap(f"{two_jobs.mine}-result"))
    assert "bound to no pod" in said, said


def test_the_submitter_cannot_make_pods_or_read_secrets(two_jobs: TwoJobs) -> None:
    sub = two_jobs.submitter
    sub.denied("run", "rogue", "--image=localhost/daskburst:0.1.0", "--restart=Never")
    sub.denied("get", "secrets")
    sub.denied("exec", f"{two_jobs.mine}-runner", "--", "true")
    sub.denied("create", "rolebinding", "rogue", "--role=daskburst-submitter",
               "--serviceaccount=daskburst:default")  # fmt: skip
