#!/usr/bin/env python3
"""The whole Kubernetes flow against the cluster KUBECONFIG points at (`make k8s-test`).

1. ``daskburst k8s install`` twice (idempotent).
2. ``kubectl apply -f jobs/`` unchanged: every DaskJob succeeds with the digest of
   ``daskburst run`` on the local backend; each job's autoscaler asks for more workers than
   its minimum; re-applying jobs/ changes nothing and leaves no orphan autoscaler.
3. ``daskburst k8s submit --wait --artifacts`` saves runner log, scheduler log and result.json;
   a submission with another seed and parameters matches the local digest; ``k8s status``
   and ``k8s delete`` work.
4. ``daskburst run --backend kubernetes --adapt 0:N`` from this host gives the local digest and
   deletes its cluster, also when interrupted with Ctrl-C.
5. charts/dask-burst (kind overlay, 0..3 workers) scales 0 -> N for a burst of tasks and back
   to 0 after it; both times are recorded.
6. ``daskburst k8s uninstall`` leaves no daskburst object, no Dask CRD and no pod; the
   namespaced operator is installed, runs a job, and is uninstalled the same way; the
   cluster-wide install is restored.

Exit code 0 only if everything holds. ARTIFACTS/summary.json gets every figure and step time;
job logs are saved under ARTIFACTS/.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from daskburst import k8s
from daskburst.k8s import specs
from daskburst.k8s._submission import parse_invocation, runner_container, settings_env

ROOT = Path(__file__).resolve().parents[2]
NAMESPACE = "daskburst"
BURST = "dask-burst"
DASK_API = "kubernetes.dask.org/v1"
BURST_LOAD = """
import time
from distributed import Client
client = Client(timeout="300s")
futures = client.map(lambda i: (time.sleep(2), i)[1], range(40), pure=False)
print("burst total", sum(client.gather(futures)), flush=True)
"""
DASKBURST = str(Path(sys.executable).with_name("daskburst"))


class CheckFailed(Exception):  # noqa: N818 - reads as "the check failed"
    """A check of the flow did not hold."""


def log(msg: str) -> None:
    """Print a progress line."""
    print(f"e2e: {msg}", flush=True)


def sh(*cmd: str, timeout: float = 900, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a command in the checkout; raise CheckFailed with its stderr when it fails."""
    log("$ " + " ".join(cmd))
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    if check and proc.returncode != 0:
        raise CheckFailed(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc


def local_digest(what: list[str], env: dict[str, str] | None = None) -> str:
    """Run ``daskburst run WHAT --backend local`` here (with ``env`` settings); its digest."""
    log(
        "$ "
        + " ".join(f"{k}={v}" for k, v in (env or {}).items())
        + " daskburst run "
        + " ".join(what)
    )
    proc = subprocess.run(
        [DASKBURST, "run", *what, "--backend", "local", "--no-progress", "--output", "-"],
        capture_output=True, text=True, timeout=1800, cwd=ROOT, env={**os.environ, **(env or {})},
    )  # fmt: skip
    if proc.returncode != 0:
        raise CheckFailed(f"local run of {what} failed:\n{proc.stderr[-3000:]}")
    return str(json.loads(proc.stdout)["result"]["digest"])


def _get(kind: str, name: str, namespace: str = NAMESPACE) -> dict[str, Any] | None:
    obj = k8s.to_object(
        {"apiVersion": DASK_API, "kind": kind, "metadata": {"name": name, "namespace": namespace}}
    )
    import kr8s

    try:
        obj.refresh()
    except kr8s.NotFoundError:  # not there (yet, or any more); any other error is the check's
        return None
    return dict(obj.raw)


def _list(resource: str, namespace: str | None = NAMESPACE, selector: Any = None) -> list[Any]:
    """Objects of ``resource`` in ``namespace`` (None: every namespace, or cluster-scoped).

    Only a resource type the API server no longer has (its CRD deleted) is an empty list:
    any other error fails the check instead of passing it.
    """
    import kr8s

    try:
        return list(kr8s.get(resource, namespace=namespace or kr8s.ALL,
                             label_selector=selector or {}))  # fmt: skip
    except kr8s.NotFoundError:
        return []
    except ValueError as exc:
        if str(exc).startswith("Kind ") and str(exc).endswith(" not found."):
            return []
        raise


def _replicas(cluster: str) -> int | None:
    wg = _get("DaskWorkerGroup", f"{cluster}-default")
    return None if wg is None else int(wg["spec"]["worker"]["replicas"])


def _running_worker_nodes(cluster: str) -> list[str]:
    """The node of each running worker of ``cluster``."""
    pods = _list(
        "pods", selector={"dask.org/cluster-name": cluster, "dask.org/component": "worker"}
    )
    return [str(p.raw["spec"].get("nodeName")) for p in pods
            if (p.raw.get("status") or {}).get("phase") == "Running"]  # fmt: skip


def _running_workers(cluster: str) -> int:
    return len(_running_worker_nodes(cluster))


def _nodes_for_workers() -> list[str]:
    """Nodes a worker may run on: all but those tainted NoSchedule other than for spot."""
    spot = {key for key, _ in specs.SPOT_TOLERATIONS}
    return [n.name for n in _list("nodes", None)
            if not any(t.get("effect") == "NoSchedule" and t.get("key") not in spot
                       for t in n.raw["spec"].get("taints") or [])]  # fmt: skip


class Watcher(threading.Thread):
    """Records, every 2 s, each cluster's wanted and running workers while jobs run."""

    def __init__(self, clusters: list[str]) -> None:
        super().__init__(daemon=True)
        self.clusters = clusters
        self.peak_wanted = dict.fromkeys(clusters, 0)
        self.peak_running = dict.fromkeys(clusters, 0)
        self.nodes: dict[str, set[str]] = {name: set() for name in clusters}
        self.stop = threading.Event()

    def run(self) -> None:
        """Poll until stopped."""
        while not self.stop.wait(2):
            for name in self.clusters:
                wanted = _replicas(name)
                if wanted is not None:
                    self.peak_wanted[name] = max(self.peak_wanted[name], wanted)
                nodes = _running_worker_nodes(name)
                self.peak_running[name] = max(self.peak_running[name], len(nodes))
                self.nodes[name].update(nodes)


def follow(name: str, timeout: float, artifacts: Path) -> k8s.JobOutcome:
    """Follow a DaskJob to its end, saving its logs."""
    return k8s.wait_job(k8s.Kr8sJobView(NAMESPACE), name, timeout=timeout, artifacts=artifacts)


# ---- the steps ----------------------------------------------------------------------------


def _versions(objs: list[dict[str, Any]]) -> dict[str, str]:
    """Each object as stored, less what controllers change on their own (status, versions)."""
    found = {}
    for manifest in objs:
        obj = k8s.to_object(manifest)
        obj.refresh()
        raw = {k: v for k, v in obj.raw.items() if k != "status"}
        meta = {k: v for k, v in raw["metadata"].items()
                if k not in ("resourceVersion", "managedFields")}  # fmt: skip
        key = f"{manifest['kind']}/{meta.get('namespace', '')}/{meta['name']}".replace("//", "/")
        found[key] = json.dumps({**raw, "metadata": meta}, sort_keys=True)
    return found


def installing_again_changes(objs: list[dict[str, Any]]) -> list[str]:
    """Install ``objs`` and return the objects whose spec that changed (none when in sync)."""
    before = _versions(objs)
    k8s.install(objs, timeout=120)
    after = _versions(objs)
    return sorted(key for key in after if after[key] != before.get(key))


def step_install(args: argparse.Namespace, summary: dict[str, Any]) -> None:
    """Install the operator and k8s/ twice: the second run must change nothing and pass."""
    objs = k8s.platform_manifests(ROOT, kubectl=args.kubectl, bundled=args.bundled_operator)
    k8s.install(objs, timeout=600)
    changed = installing_again_changes(objs)
    if changed:
        raise CheckFailed(f"installing a second time changed: {', '.join(changed)}")


def step_jobs(args: argparse.Namespace, summary: dict[str, Any]) -> None:
    """Kubectl apply -f jobs/: all succeed, digests equal local, autoscalers scale up."""
    daskjobs = {}
    for path in sorted((ROOT / "jobs").glob("*.yaml")):
        for doc in k8s.load_file(path):
            daskjobs[doc["metadata"]["name"]] = doc
    # A DaskJob that already ran is not run again by apply: start from none.
    sh(args.kubectl, "delete", "-f", "jobs/", "--ignore-not-found", "--wait=true")
    started = time.monotonic()
    schedulable = sorted(_nodes_for_workers())
    sh(args.kubectl, "apply", "-f", "jobs/")
    watcher = Watcher(list(daskjobs))
    watcher.start()
    out = Path(args.artifacts) / "jobs"
    done_at: dict[str, float] = {}

    def timed(name: str) -> k8s.JobOutcome:
        outcome = follow(name, args.timeout, out / name)
        done_at[name] = round(time.monotonic() - started, 1)
        return outcome

    with ThreadPoolExecutor(max_workers=len(daskjobs)) as pool:
        futures = {n: pool.submit(timed, n) for n in daskjobs}
        outcomes = {n: f.result() for n, f in futures.items()}
    watcher.stop.set()
    watcher.join()
    failures = []
    for name, outcome in outcomes.items():
        inv = parse_invocation(runner_container(daskjobs[name])["args"])
        minimum = int((inv.get("--adapt") or "1:1").split(":")[0])
        entry: dict[str, Any] = {
            "phase": outcome.phase,
            "seconds_to_end": done_at[name],
            "minimum": minimum,
            "peak_wanted_workers": watcher.peak_wanted[name],
            "peak_running_workers": watcher.peak_running[name],
            "worker_nodes": sorted(watcher.nodes[name]),
        }
        summary["jobs"][name] = entry
        if not outcome.ok or outcome.result is None:
            failures.append(
                f"{name}: {outcome.phase}, result {'found' if outcome.result else 'missing'}"
            )
            continue
        entry["digest"] = outcome.result["result"]["digest"]
        env = settings_env(runner_container(daskjobs[name]))
        entry["local_digest"] = local_digest(inv.what_argv(), env)
        if entry["digest"] != entry["local_digest"]:
            failures.append(f"{name}: digest {entry['digest']} != local {entry['local_digest']}")
        if watcher.peak_wanted[name] <= minimum:
            failures.append(f"{name}: its autoscaler never asked for more than {minimum} workers")
        log(f"{name}: {outcome.phase} after {done_at[name]} s, workers wanted up to "
            f"{watcher.peak_wanted[name]}, running up to {watcher.peak_running[name]}")  # fmt: skip
    # On several nodes (kind's: a regular and a spot worker), the jobs' workers use them all,
    # each reaching its scheduler across the pod network.
    used = set().union(*watcher.nodes.values())
    if len(schedulable) > 1 and used != set(schedulable):
        failures.append(f"workers ran on {sorted(used)}, not on every node of {schedulable}")
    if failures:
        raise CheckFailed("jobs failed:\n  " + "\n  ".join(failures))
    again = sh(args.kubectl, "apply", "-f", "jobs/").stdout
    if any(not line.endswith(" unchanged") for line in again.strip().splitlines()):
        raise CheckFailed(f"re-applying jobs/ changed something:\n{again}")
    # An ended job's DaskCluster is deleted at once; its DaskAutoscaler (adopted by the cluster)
    # goes with it through the garbage collector, which may take a while on a busy node.
    orphans: list[str] = []

    def autoscalers_gone() -> bool | None:
        orphans[:] = [o.name for o in _list("daskautoscalers.kubernetes.dask.org")]
        return True if not orphans else None

    try:
        k8s.wait_for(autoscalers_gone, 120, "the ended jobs' DaskAutoscalers to go", interval=1)
    except k8s.WaitTimeoutError:
        raise CheckFailed(f"DaskAutoscalers left 120 s after the jobs ended: {orphans}") from None
    sh(args.kubectl, "delete", "-f", "jobs/", "--wait=true")


def step_submit(args: argparse.Namespace, summary: dict[str, Any]) -> None:
    """k8s submit --wait --artifacts, with the file's and with other parameters; status; delete."""
    arts = Path(args.artifacts) / "submit"
    proc = sh(DASKBURST, "k8s", "submit", "jobs/bag.yaml", "--wait", "--timeout",
              str(args.timeout), "--artifacts", str(arts), timeout=args.timeout + 60)  # fmt: skip
    record = json.loads(proc.stdout)
    name = next(p.name for p in arts.iterdir())
    for file in ("runner.log", "scheduler.log", "result.json"):
        if not (arts / name / file).stat().st_size:
            raise CheckFailed(f"submit --artifacts: {file} is empty")
    bag = parse_invocation(runner_container(k8s.load_file(ROOT / "jobs/bag.yaml")[0])["args"])
    bag_env = settings_env(runner_container(k8s.load_file(ROOT / "jobs/bag.yaml")[0]))
    if record["result"]["digest"] != local_digest(bag.what_argv(), bag_env):
        raise CheckFailed("the submitted bag job's digest differs from the local backend's")
    proc = sh(DASKBURST, "k8s", "submit", "jobs/calc-mean.yaml", "--seed", "7", "-p",
              "replicates=6", "-p", "n=3e6", "--wait", timeout=args.timeout + 60)  # fmt: skip
    custom = json.loads(proc.stdout)
    want = local_digest(["calc-mean", "--replicates", "6", "--n", "3e6", "--seed", "7"])
    if custom["result"]["digest"] != want or custom["seed"] != 7:
        raise CheckFailed(f"seed 7 submission: digest {custom['result']['digest']} != local {want}")
    summary["submit"] = {"bag_digest": record["result"]["digest"], "seed7_digest": want}
    rows = json.loads(sh(DASKBURST, "k8s", "status", "--json").stdout)
    mine = {r["name"]: r["phase"] for r in rows if r["kind"] == "DaskJob"}
    if mine.get(name) != "Successful" or len(mine) != 2:
        raise CheckFailed(f"k8s status: expected 2 Successful jobs with {name}, got {mine}")
    sh(DASKBURST, "k8s", "delete", *mine)
    rows = json.loads(sh(DASKBURST, "k8s", "status", "--json").stdout)
    if rows:
        raise CheckFailed(f"k8s delete left {rows}")


def _clusters_with_prefix(prefix: str) -> list[str]:
    return [o.name for o in _list("daskclusters.kubernetes.dask.org") if o.name.startswith(prefix)]


def step_backend(args: argparse.Namespace, summary: dict[str, Any]) -> None:
    """--backend kubernetes from the host: local digest, cluster deleted, also on Ctrl-C."""
    what = ["array", "--rows", "4000", "--cols", "4000", "--chunks", "500,4000"]
    started = time.monotonic()
    proc = sh(DASKBURST, "run", *what, "--backend", "kubernetes", "--adapt", "0:2",
              "--no-progress", "--output", "-")  # fmt: skip
    record = json.loads(proc.stdout)
    summary["backend"] = {"seconds": round(time.monotonic() - started, 1)}
    if record["result"]["digest"] != local_digest(what):
        raise CheckFailed("--backend kubernetes gave another digest than the local backend")
    if _clusters_with_prefix("daskburst-"):
        raise CheckFailed(f"--backend kubernetes left {_clusters_with_prefix('daskburst-')}")
    launched = time.monotonic()
    long = subprocess.Popen(
        [DASKBURST, "run", "calc-mean", "--replicates", "40", "--n", "5e7", "--backend",
         "kubernetes", "--adapt", "1:2", "--no-progress"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        # This run's cluster: the check above left no other with the prefix.
        interrupted = k8s.wait_for(
            lambda: next((c for c in _clusters_with_prefix("daskburst-") if _running_workers(c)),
                         None),
            300, "the interrupted run's first worker",
        )  # fmt: skip
        ended_before = long.poll()
        sent_at = time.monotonic() - launched
        long.send_signal(signal.SIGINT)
        out, err = long.communicate(timeout=120)
    finally:
        if long.poll() is None:
            long.kill()
    if long.returncode != 130:
        raise CheckFailed(
            f"Ctrl-C: exit {long.returncode}, expected 130 (SIGINT sent {sent_at:.1f} s after "
            f"the start, when {interrupted} had a running worker; the run had "
            f"{'ended with ' + str(ended_before) if ended_before is not None else 'not ended'}); "
            f"stdout: {out[-500:]!r}; stderr:\n{err[-2000:]}"
        )
    k8s.wait_for(lambda: True if not _clusters_with_prefix("daskburst-") else None, 120,
                 "the interrupted run's cluster to be deleted")  # fmt: skip
    # By the cluster's label: other pods share the prefix (the gc CronJob's daskburst-gc-...).
    k8s.wait_for(
        lambda: True if not _list("pods", selector={"dask.org/cluster-name": interrupted})
        else None,
        120, f"the interrupted run's pods (dask.org/cluster-name={interrupted}) to go",
    )  # fmt: skip
    summary["backend"]["interrupted"] = "exit 130, cluster and pods deleted"


def step_burst(args: argparse.Namespace, summary: dict[str, Any]) -> None:
    """dask-burst (kind overlay) goes 0 -> N -> 0 around a burst of tasks."""
    sh(args.kubectl, "apply", "-k", "charts/dask-burst/overlays/kind")
    k8s.wait_for(lambda: True if _replicas(BURST) is not None else None, 300, "dask-burst")
    sh(args.kubectl, "-n", NAMESPACE, "wait", "--for=condition=Ready", "pod", "-l",
       f"dask.org/cluster-name={BURST},dask.org/component=scheduler", "--timeout=300s")  # fmt: skip
    minimum = _replicas(BURST)
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "dask-burst-load",
            "namespace": NAMESPACE,
            "labels": specs.labels(BURST, "runner"),
        },  # fmt: skip
        "spec": specs.runner_pod_spec(
            ["python", "-c", BURST_LOAD],
            image=args.burst_image,
            env={
                "DASK_SCHEDULER_ADDRESS": f"tcp://{BURST}-scheduler.{NAMESPACE}.svc.cluster.local:8786"
            },
        ),
    }
    load = k8s.to_object(pod)
    load.create()
    peak, started, first_worker = minimum or 0, time.monotonic(), None

    def loaded() -> str | None:
        nonlocal peak, first_worker
        peak = max(peak, _replicas(BURST) or 0)
        if first_worker is None and _running_workers(BURST) > (minimum or 0):
            first_worker = time.monotonic() - started
        load.refresh()
        phase = (load.raw.get("status") or {}).get("phase")
        return phase if phase in ("Succeeded", "Failed") else None

    try:
        phase = k8s.wait_for(loaded, args.timeout, "the dask-burst load pod", interval=1)
        (Path(args.artifacts) / "dask-burst-load.log").write_text("\n".join(load.logs()))
    finally:
        load.delete()
    if phase != "Succeeded":
        raise CheckFailed("the dask-burst load pod failed")
    if peak <= (minimum or 0):
        raise CheckFailed(f"dask-burst never scaled above {minimum} workers")
    ended = time.monotonic()
    k8s.wait_for(lambda: True if (_replicas(BURST) or 0) <= (minimum or 0) else None, 900,
                 "dask-burst to scale back down", interval=1)  # fmt: skip
    summary["burst"] = {
        "minimum": minimum,
        "peak": peak,
        "scale_up_s": round(first_worker, 1) if first_worker is not None else None,
        "scale_down_s": round(time.monotonic() - ended, 1),
    }
    log(f"dask-burst {minimum} -> {peak} -> {minimum}: {summary['burst']}")
    sh(args.kubectl, "delete", "-k", "charts/dask-burst/overlays/kind", "--wait=true")


def _leftovers() -> list[str]:
    left = [f"crd/{o.name}" for o in _list("customresourcedefinitions", None)
            if o.name.endswith(".kubernetes.dask.org")]  # fmt: skip
    left += [f"namespace/{o.name}" for o in _list("namespaces", None)
             if o.name in (NAMESPACE, "dask-operator")]  # fmt: skip
    for resource in ("clusterroles", "clusterrolebindings", "validatingadmissionpolicies"):
        left += [f"{resource}/{o.name}" for o in _list(resource, None)
                 if (o.raw["metadata"].get("labels") or {}).get("app.kubernetes.io/part-of")
                 == "daskburst"]  # fmt: skip
    left += [f"pod/{p.namespace}/{p.name}" for p in _list("pods", None)
             if p.namespace in (NAMESPACE, "dask-operator")]  # fmt: skip
    return left


def _uninstall(args: argparse.Namespace, namespaced: bool, *extra: str, crds_kept: bool) -> None:
    """``k8s uninstall``; everything must be gone but the CRDs, which stay iff ``crds_kept``."""
    flags = ["--kubectl", args.kubectl] + (["--bundled-operator"] if args.bundled_operator else [])
    proc = sh(DASKBURST, "k8s", "uninstall", *flags, *(["--namespaced"] if namespaced else []),
              *extra)  # fmt: skip
    left = _leftovers()
    crds = [x for x in left if x.startswith("crd/")]
    if crds_kept and (len(crds) < 4 or "keeping the Dask CRDs" not in proc.stderr):
        raise CheckFailed(f"k8s uninstall deleted the shared CRDs (left: {crds}): {proc.stderr}")
    if not crds_kept and crds:
        raise CheckFailed(f"k8s uninstall kept the CRDs: {crds}")
    left = [x for x in left if not x.startswith("crd/")]
    if left:
        raise CheckFailed(f"k8s uninstall left: {left}")


#: A namespace with a Dask resource of its own while daskburst is uninstalled.
OTHER = "daskburst-e2e-other"


def _other_namespace_with_a_dask_resource(kubectl: str) -> None:
    sh(kubectl, "create", "namespace", OTHER)
    scaler = {"apiVersion": "kubernetes.dask.org/v1", "kind": "DaskAutoscaler",
              "metadata": {"name": "someone-elses", "namespace": OTHER},
              "spec": {"cluster": "someone-elses", "minimum": 0, "maximum": 1}}  # fmt: skip
    subprocess.run([kubectl, "apply", "-f", "-"], input=json.dumps(scaler), text=True,
                   check=True, capture_output=True)  # fmt: skip


def _remove_other_namespace(kubectl: str) -> None:
    # The operator may have put its finalizer on it, and the operator is gone now.
    sh(kubectl, "patch", "daskautoscaler", "someone-elses", "-n", OTHER, "--type=merge",
       "-p", '{"metadata":{"finalizers":null}}', check=False)  # fmt: skip
    sh(kubectl, "delete", "namespace", OTHER, "--wait=true", "--timeout=120s", check=False)


def step_namespaced(args: argparse.Namespace, summary: dict[str, Any]) -> None:
    """Uninstall and reinstall, namespaced and cluster-wide, keeping the shared CRDs.

    Uninstall (the CRDs stay while another namespace has a Dask resource); the namespaced
    operator runs a job; uninstall it (the CRDs stay: they are shared); --delete-crds deletes
    them; cluster-wide again.
    """
    flags = ["--kubectl", args.kubectl] + (["--bundled-operator"] if args.bundled_operator else [])
    _other_namespace_with_a_dask_resource(args.kubectl)
    try:
        _uninstall(args, False, crds_kept=True)
        if not _list("daskautoscalers.kubernetes.dask.org", OTHER):
            raise CheckFailed("k8s uninstall deleted another namespace's Dask resource")
    finally:
        _remove_other_namespace(args.kubectl)
    sh(DASKBURST, "k8s", "install", "--namespaced", *flags)
    op = _list("deployments", NAMESPACE, {"app.kubernetes.io/name": "dask-kubernetes-operator"})
    if not op:
        raise CheckFailed("the namespaced operator is not in the daskburst namespace")
    proc = sh(DASKBURST, "k8s", "submit", "jobs/bag.yaml", "--wait", timeout=args.timeout + 60)
    summary["namespaced"] = {
        "phase": "Successful",
        "digest": json.loads(proc.stdout)["result"]["digest"],
    }
    _uninstall(args, True, crds_kept=True)
    _uninstall(args, True, "--delete-crds", crds_kept=False)
    sh(DASKBURST, "k8s", "install", *flags)


STEPS = {
    "install": step_install,
    "jobs": step_jobs,
    "submit": step_submit,
    "backend": step_backend,
    "burst": step_burst,
    "namespaced": step_namespaced,
}


def main() -> int:
    """Run every step (or those in --only); write summary.json."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--artifacts", required=True)
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--kubectl", default="kubectl")
    parser.add_argument("--burst-image", default="localhost/daskburst:dev")
    parser.add_argument(
        "--bundled-operator",
        action="store_true",
        help="install the operator from the daskburst image (no registry)",
    )
    parser.add_argument("--only", help=f"comma-separated steps of {','.join(STEPS)}")
    args = parser.parse_args()
    if not os.environ.get("KUBECONFIG"):
        parser.error("KUBECONFIG is not set: point it at the cluster to test")
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        # Run in the background by a script (make kind-test & in CI), this check inherits SIGINT
        # ignored, and so would the command whose Ctrl-C it checks; a Python handler here is
        # reset to the default in that command, as in a terminal.
        signal.signal(signal.SIGINT, signal.default_int_handler)
    Path(args.artifacts).mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {"jobs": {}, "steps": {}}
    chosen = args.only.split(",") if args.only else list(STEPS)
    started = time.monotonic()
    status = 0
    try:
        for name in chosen:
            t = time.monotonic()
            log(f"== {name}")
            STEPS[name](args, summary)
            summary["steps"][name] = round(time.monotonic() - t, 1)
    except (CheckFailed, k8s.WaitTimeoutError) as exc:
        log(f"FAILED: {exc}")
        summary["failed"] = str(exc)
        status = 1
    finally:
        summary["seconds"] = round(time.monotonic() - started, 1)
        (Path(args.artifacts) / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    if status == 0:
        log(f"all checks passed in {summary['seconds']} s")
    return status


if __name__ == "__main__":
    sys.exit(main())
