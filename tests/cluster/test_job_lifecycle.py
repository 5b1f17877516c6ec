"""The job lifecycle SLURM users expect, on the real cluster: time limit, retries, gc, queue,
results after the fact.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from tests.cluster.conftest import (
    ENDLESS_CALC_MEAN,
    LONG_CALC_MEAN,
    NAMESPACE,
    ROOT,
    Cluster,
    cluster_pods,
    job_phase,
    namespace_story,
    submit,
    wait_until,
)

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

#: A job that ends within seconds.
SHORT = ("-p", "replicates=2", "-p", "n=1e5")


def _cli(cluster: Cluster, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return cluster.daskburst(*args, timeout=timeout)


def test_a_time_limit_ends_the_job_and_says_so(cluster: Cluster, cleanup_jobs: list[str]) -> None:
    proc = _cli(cluster, "k8s", "submit", "jobs/calc-mean.yaml", *ENDLESS_CALC_MEAN, "--time-limit", "0:15",
                "--wait")  # fmt: skip
    name = proc.stderr.split("daskjob/")[1].split()[0]
    cleanup_jobs.append(name)
    assert proc.returncode == 1, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last == f"daskjob/{name} Failed: time limit 15 s reached", last
    assert job_phase(cluster, name) == "Failed"
    wait_until(lambda: not cluster_pods(cluster, name, "scheduler"), 120, "its cluster to go")


def test_a_retry_after_a_killed_runner_succeeds(
    cluster: Cluster, cleanup_jobs: list[str], tmp_path: Path
) -> None:
    proc = subprocess.Popen(
        [str(ROOT / ".venv/bin/daskburst"), "k8s", "submit", "jobs/calc-mean.yaml", *LONG_CALC_MEAN,
         "--retries", "1", "--wait", "--artifacts", str(tmp_path)],
        cwd=ROOT, env=cluster.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:

        def runner() -> str | None:
            for pod in cluster.pods(selector="dask.org/component=job-runner"):
                name = pod["metadata"]["labels"]["dask.org/cluster-name"]
                if name.startswith("calc-mean-") and pod["status"].get("phase") == "Running":
                    return name
            return None

        first = wait_until(runner, 300, "the first attempt's runner running")
        cleanup_jobs += [first, f"{first}-r2"]
        time.sleep(3)  # let it compute a little: the kill is mid-run
        cluster.kubectl("delete", "pod", "-n", NAMESPACE, f"{first}-runner", "--wait=false")
        out, err = proc.communicate(timeout=900)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-3000:]
    assert f"daskjob/{first}-r2 Successful after 2 attempts" in err
    record = json.loads((tmp_path / first / "result.json").read_text())
    attempts = record["attempts"]
    assert [a["name"] for a in attempts] == [first, f"{first}-r2"]
    assert attempts[0]["phase"] == "Failed" and attempts[1]["phase"] == "Successful"
    assert (tmp_path / first / "attempt-2" / "runner.log").exists()
    assert json.loads(out)["result"]["digest"] == record["result"]["digest"]


def test_bad_lifecycle_values_are_one_line_errors(cluster: Cluster) -> None:
    for flags, expected in [
        (("--time-limit", "-1"), "--time-limit"),
        (("--retries", "x"), "--retries"),
        (("--ttl-after-finished", "1e99"), "--ttl-after-finished"),
    ]:
        proc = _cli(cluster, "k8s", "submit", "jobs/bag.yaml", *flags)
        assert proc.returncode == 2, proc.stderr
        (line,) = proc.stderr.strip().splitlines()
        assert expected in line and flags[1] in line, line


def test_gc_cronjob_deletes_an_expired_job_and_keeps_a_fresh_one(
    cluster: Cluster, cleanup_jobs: list[str], gc_held: None
) -> None:
    old = submit(cluster, "jobs/calc-mean.yaml", *SHORT, "--ttl-after-finished", "1")
    fresh = submit(cluster, "jobs/calc-mean.yaml", *SHORT, "--ttl-after-finished", "1h")
    cleanup_jobs += [old, fresh]
    for name in (old, fresh):
        wait_until(lambda n=name: job_phase(cluster, n) in ("Successful", "Failed"), 300, f"{name}")
    dry = _cli(cluster, "k8s", "gc", "--dry-run")
    assert f"would delete daskjob/{old} Successful" in dry.stdout, dry.stdout
    assert fresh not in dry.stdout
    run = f"gc-now-{os.getpid()}"
    cluster.kubectl("create", "job", run, "--from=cronjob/daskburst-gc", "-n", NAMESPACE)
    try:
        cluster.kubectl("wait", "--for=condition=Complete", f"job/{run}", "-n", NAMESPACE,
                        "--timeout=180s", timeout=200)  # fmt: skip
        log = cluster.kubectl("logs", f"job/{run}", "-n", NAMESPACE).stdout
        assert f"deleted daskjob/{old}" in log, log
        wait_until(lambda: job_phase(cluster, old) == "gone", 60, f"{old} deleted")
        wait_until(lambda: not cluster_pods(cluster, old), 120, f"{old}'s runner pod deleted")
        assert job_phase(cluster, fresh) == "Successful"
        # The result outlives the job.
        kept = _cli(cluster, "k8s", "results", old, "--json")
        assert json.loads(kept.stdout)["record"]["result"]["digest"]
    finally:
        cluster.kubectl("delete", "job", run, "-n", NAMESPACE, "--wait=true", check=False)


def test_results_and_status_work_for_a_kubectl_applied_job(
    cluster: Cluster, cleanup_jobs: list[str]
) -> None:
    cluster.kubectl("apply", "-f", "jobs/bag.yaml")
    cleanup_jobs.append("bag")
    wait_until(lambda: job_phase(cluster, "bag") in ("Successful", "Failed"), 600, "bag")
    found = json.loads(_cli(cluster, "k8s", "results", "bag", "--json").stdout)
    assert found["phase"] == "Successful"
    record = found["record"]
    assert record["workload"] == "bag" and len(record["result"]["digest"]) == 64
    assert record["workers"] >= 1
    assert found["logs"] == f"kubectl -n {NAMESPACE} logs bag-runner"
    rows = json.loads(_cli(cluster, "k8s", "status", "--json").stdout)
    (row,) = [r for r in rows if r["name"] == "bag"]
    assert row["digest"] == record["result"]["digest"] and row["workers_peak"] == record["workers"]
    assert row["attempt"] == 1 and row["age"]
    human = _cli(cluster, "k8s", "results", "bag").stdout
    assert record["result"]["digest"] in human and "versions" in human
    uid = cluster.kubectl("get", "daskjob", "bag", "-n", NAMESPACE, "-o",
                          "jsonpath={.metadata.uid}").stdout  # fmt: skip
    assert record["job_uid"] == uid

    # Deleted and applied again under the same name: a new job, whose runner here never
    # starts (its image is absent); the earlier run's record is not shown as its own.
    cluster.kubectl("delete", "daskjob", "bag", "-n", NAMESPACE, "--wait=true")
    job = yaml.safe_load((ROOT / "jobs/bag.yaml").read_text())
    job["spec"]["job"]["spec"]["containers"][0]["image"] = "localhost/daskburst:no-such-tag"
    cluster.kubectl("apply", "-f", "-", stdin=json.dumps(job))
    again = json.loads(_cli(cluster, "k8s", "results", "bag", "--json").stdout)
    assert again["record"] is None, again
    assert again["earlier"]["result"]["digest"] == record["result"]["digest"]
    (row,) = [r for r in json.loads(_cli(cluster, "k8s", "status", "--json").stdout)
              if r["name"] == "bag"]  # fmt: skip
    assert row["digest"] is None and row["workers_peak"] is None, row
    human = _cli(cluster, "k8s", "results", "bag")
    assert human.returncode == 1 and "the one kept is of an earlier DaskJob" in human.stdout


@pytest.fixture
def one_job_namespace(cluster: Cluster) -> Iterator[str]:
    """A namespace whose quota holds one small job at a time, with the runner's RBAC."""
    name = f"daskburst-queue-{os.getpid()}"
    objs = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
        {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "one-job", "namespace": name},
         "spec": {"hard": {"requests.cpu": "500m"}}},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "daskburst-runner", "namespace": name}},
    ]  # fmt: skip
    role = json.loads(
        cluster.kubectl("get", "role", "daskburst-runner", "-n", NAMESPACE, "-o", "json").stdout
    )
    binding = json.loads(
        cluster.kubectl(
            "get", "rolebinding", "daskburst-runner", "-n", NAMESPACE, "-o", "json"
        ).stdout
    )
    for obj in (role, binding):
        obj["metadata"] = {"name": obj["metadata"]["name"], "namespace": name}
        objs.append(obj)
    binding["subjects"] = [
        {"kind": "ServiceAccount", "name": "daskburst-runner", "namespace": name}
    ]
    cluster.kubectl("create", "namespace", name)
    try:
        cluster.kubectl("apply", "-f", "-", stdin="\n---\n".join(json.dumps(o) for o in objs[1:]))
        yield name
    finally:
        cluster.kubectl("delete", "namespace", name, "--wait=true", timeout=300, check=False)


def test_a_queued_job_starts_when_another_finishes(
    cluster: Cluster, one_job_namespace: str
) -> None:
    ns = one_job_namespace
    first = cluster.daskburst(
        "k8s", "submit", "jobs/calc-mean.yaml", *LONG_CALC_MEAN, "-n", ns, check=True
    )
    first_name = first.stdout.strip().splitlines()[-1]
    wait_until(
        lambda: cluster.pods(ns, f"dask.org/cluster-name={first_name}"), 120, "the first job's pods"
    )
    started = time.monotonic()
    second = cluster.daskburst("k8s", "submit", "jobs/calc-mean.yaml", *SHORT, "-n", ns, "--queue",
                               "--wait", timeout=900)  # fmt: skip
    assert second.returncode == 0, second.stderr[-3000:]
    assert "queued: position 1 of 1" in second.stderr
    assert "leaves the queue" in second.stderr
    proc = cluster.kubectl(
        "get", "daskjob", first_name, "-n", ns, "-o", "jsonpath={.status.jobStatus}"
    )
    assert proc.stdout == "Successful", (
        f"the second job waited for the first to finish; the first is {proc.stdout!r}:\n"
        + namespace_story(cluster, ns)
    )
    assert time.monotonic() - started > 5
    left = cluster.kubectl("get", "configmaps", "-n", ns, "-l", "app.kubernetes.io/component=queue",
                           "-o", "name").stdout  # fmt: skip
    assert left.strip() == "", "the queue marker is removed"


def test_several_waiters_at_once_are_admitted_one_at_a_time(
    cluster: Cluster, one_job_namespace: str
) -> None:
    """Three `submit --queue` started together into a quota that holds one job: each job is
    created only once the one before has finished, and no pod is ever refused by the quota
    (the queue used to let the next waiter in before the last job's pods were counted)."""
    ns = one_job_namespace
    procs = [
        subprocess.Popen(
            [
                str(ROOT / ".venv/bin/daskburst"),
                "k8s",
                "submit",
                "jobs/calc-mean.yaml",
                *SHORT,
                "-n",
                ns,
                "--queue",
                "--wait",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=cluster.env,
        )  # fmt: skip
        for _ in range(3)
    ]
    outs = [p.communicate(timeout=900) for p in procs]
    for proc, (_, err) in zip(procs, outs, strict=True):
        assert proc.returncode == 0, err[-3000:] + namespace_story(cluster, ns)
    jobs = sorted(cluster.json("get", "daskjobs", "-n", ns)["items"],
                  key=lambda j: j["metadata"]["creationTimestamp"])  # fmt: skip
    assert len(jobs) == 3
    for earlier, later in zip(jobs, jobs[1:], strict=False):
        ended, created = earlier["status"]["endTime"], later["metadata"]["creationTimestamp"]
        assert created >= ended, (
            f"daskjob/{later['metadata']['name']} was created at {created}, before "
            f"daskjob/{earlier['metadata']['name']} ended at {ended}:\n"
            + namespace_story(cluster, ns)
        )
    refused = cluster.kubectl("get", "events", "-n", ns, "--field-selector",
                              "reason=FailedCreate", "-o", "json").stdout  # fmt: skip
    assert "exceeded quota" not in refused, refused[-3000:]
    left = cluster.kubectl("get", "configmaps", "-n", ns, "-l", "app.kubernetes.io/component=queue",
                           "-o", "name").stdout  # fmt: skip
    assert left.strip() == "", "every queue marker is removed"
    gate = cluster.json("get", "lease", "daskburst-queue", "-n", ns)
    assert not gate["spec"].get("holderIdentity"), gate


def test_a_namespace_without_the_runner_service_account_is_refused_at_once(
    cluster: Cluster,
) -> None:
    """Its pods could never be created: `--wait` used to wait its whole timeout."""
    missing = _cli(cluster, "k8s", "submit", "jobs/calc-mean.yaml", "--namespace",
                   "daskburst-no-such-namespace", "--wait", timeout=120)  # fmt: skip
    assert missing.returncode == 2, missing.stderr
    assert "namespace 'daskburst-no-such-namespace' does not exist" in missing.stderr
    bare = f"daskburst-bare-{os.getpid()}"
    cluster.kubectl("create", "namespace", bare)
    try:
        # A hang would end in the 120 s timeout: the refusal comes before anything is created.
        proc = _cli(cluster, "k8s", "submit", "jobs/calc-mean.yaml", "--namespace", bare, "--wait",
                    timeout=120)  # fmt: skip
        assert proc.returncode == 2, proc.stderr
        line = proc.stderr.strip().splitlines()[-1]
        assert f"namespace '{bare}' has no ServiceAccount 'daskburst-runner'" in line, line
        assert cluster.json("get", "daskjobs", "-n", bare)["items"] == []
    finally:
        cluster.kubectl("delete", "namespace", bare, "--wait=false", check=False)


class ApiGate:
    """A TCP forwarder to the API server that can stop answering for a while.

    While shut, it accepts and closes each connection at once and has cut the open ones:
    what a client meets while an API server restarts or a load balancer drops it.
    """

    def __init__(self, target: tuple[str, int]) -> None:
        self.target, self.open = target, True
        self.live: list[socket.socket] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            if not self.open:
                conn.close()
                continue
            upstream = socket.create_connection(self.target)
            with self.lock:
                self.live += [conn, upstream]
            for a, b in ((conn, upstream), (upstream, conn)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def shut(self) -> None:
        self.open = False
        with self.lock:
            for sock in self.live:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self.live = []

    def stop(self) -> None:
        self.shut()
        self.listener.close()


def test_submit_wait_rides_out_an_api_server_that_stops_answering(
    cluster: Cluster, cleanup_jobs: list[str], tmp_path: Path
) -> None:
    """A transient API error used to end `--wait` with a traceback while the job ran on."""
    kubeconfig = yaml.safe_load(cluster.kubeconfig.read_text())
    (entry,) = kubeconfig["clusters"]
    server = urlsplit(entry["cluster"]["server"])
    gate = ApiGate((server.hostname or "127.0.0.1", server.port or 443))
    entry["cluster"]["server"] = f"https://{server.hostname}:{gate.port}"
    gated = tmp_path / "kubeconfig"
    gated.write_text(yaml.safe_dump(kubeconfig))

    def jobs() -> set[str]:
        names = cluster.kubectl("get", "daskjobs", "-n", NAMESPACE, "-o", "name").stdout.split()
        return {n.split("/")[1] for n in names}

    seen = jobs()
    proc = subprocess.Popen(
        [str(ROOT / ".venv/bin/daskburst"), "k8s", "submit", "jobs/calc-mean.yaml", *SHORT,
         "--wait"],
        cwd=ROOT, env={**cluster.env, "KUBECONFIG": str(gated)}, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:

        def submitted() -> str | None:
            return next(iter(jobs() - seen), None)

        name = wait_until(submitted, 120, "the DaskJob to be created")
        cleanup_jobs.append(name)
        gate.shut()
        shut_at = time.monotonic()
        time.sleep(10)  # the outage: --wait polls every 2 s, so it meets it several times
        gate.open = True
        out, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
        gate.stop()
    assert time.monotonic() - shut_at > 10
    assert proc.returncode == 0, err[-3000:]
    assert "kubernetes: the API server did not answer (" in err, err[-3000:]
    assert "kubernetes: the API server answers again after" in err
    assert "Traceback" not in err
    assert json.loads(out)["result"]["digest"]
