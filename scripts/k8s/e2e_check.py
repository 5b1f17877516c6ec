#!/usr/bin/env python3
"""The checks of `make kind-test`, run against a fresh cluster (KUBECONFIG set by e2e.sh).

1. `daskburst k8s install` (twice: it must be idempotent).
2. `kubectl apply -f jobs/`; every DaskJob succeeds; its runner's result has the same digest
   as `daskburst run` with the local backend and the same parameters.
3. The calc-mean job's cluster scaled above its autoscaler minimum while it worked.
4. `daskburst k8s submit jobs/bag.yaml --wait` (a unique name next to the applied job) works.
5. charts/dask-burst (kind overlay, 0..3 workers) scales up for a burst of tasks and back to
   its minimum after.
Exit code 0 only if everything holds; a summary is written to ARTIFACTS/summary.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from daskburst import k8s
from daskburst.k8s import specs

ROOT = Path(__file__).resolve().parents[2]
NAMESPACE = "daskburst"
BURST = "dask-burst"
BURST_LOAD = """
import time
from distributed import Client
client = Client(timeout="300s")
futures = client.map(lambda i: (time.sleep(2), i)[1], range(90), pure=False)
print("burst total", sum(client.gather(futures)), flush=True)
"""


def log(msg: str) -> None:
    """Print a progress line."""
    print(f"e2e: {msg}", flush=True)


def sh(*cmd: str, timeout: float = 600) -> str:
    """Run a command in the checkout; exit with its stderr when it fails."""
    log("$ " + " ".join(cmd))
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit(f"e2e: {' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr}")
    return proc.stdout


def job_params(job: dict[str, Any]) -> tuple[str, list[str]]:
    """The workload and its parameters from a DaskJob's runner command."""
    args = job["spec"]["job"]["spec"]["containers"][0]["args"]
    assert args[:2] == ["daskburst", "run"], args
    rest = args[3:]
    params = []
    i = 0
    while i < len(rest):
        if rest[i] in ("--backend", "--output"):
            i += 2
            continue
        if rest[i] == "--no-progress":
            i += 1
            continue
        params.append(rest[i])
        i += 1
    return args[2], params


def local_digest(workload: str, params: list[str]) -> str:
    """Run the workload with the local backend and return its digest."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        sh(
            str(Path(sys.executable).with_name("daskburst")),
            "run",
            workload,
            *params,
            "--backend",
            "local",
            "--no-progress",
            "--output",
            str(out),
            timeout=1800,
        )
        return str(json.loads(out.read_text())["result"]["digest"])


def check_jobs(args: argparse.Namespace, summary: dict[str, Any]) -> None:
    """Apply jobs/, wait for all, compare digests with the local backend, check scaling."""
    jobs = [d for p in sorted((ROOT / "jobs").glob("*.yaml")) for d in k8s.load_file(p)]
    daskjobs = {j["metadata"]["name"]: j for j in jobs if j["kind"] == "DaskJob"}
    minimum = {
        j["spec"]["cluster"]: j["spec"]["minimum"] for j in jobs if j["kind"] == "DaskAutoscaler"
    }
    sh(args.kubectl, "apply", "-f", "jobs/")

    def follow(name: str) -> k8s.JobOutcome:
        return k8s.wait_job(
            k8s.Kr8sJobView(NAMESPACE),
            name,
            timeout=args.timeout,
            artifacts=Path(args.artifacts) / "jobs" / name,
        )

    with ThreadPoolExecutor(max_workers=len(daskjobs)) as pool:
        outcomes = dict(zip(daskjobs, pool.map(follow, daskjobs), strict=True))
    failures = []
    for name, outcome in outcomes.items():
        workload, params = job_params(daskjobs[name])
        entry: dict[str, Any] = {"phase": outcome.phase, "peak_workers": outcome.peak_workers}
        summary["jobs"][name] = entry
        if not outcome.ok or outcome.result is None:
            failures.append(
                f"{name}: {outcome.phase}, result {'found' if outcome.result else 'missing'}"
            )
            continue
        entry["digest"] = outcome.result["result"]["digest"]
        entry["local_digest"] = local_digest(workload, params)
        if entry["digest"] != entry["local_digest"]:
            failures.append(f"{name}: digest {entry['digest']} != local {entry['local_digest']}")
        log(f"{name}: {outcome.phase}, peak {outcome.peak_workers} workers, digest ok")
    calc = outcomes.get("calc-mean")
    if calc is None or calc.peak_workers <= minimum.get("calc-mean", 1):
        failures.append(
            f"calc-mean never scaled above its minimum {minimum.get('calc-mean')} "
            f"(peak {calc.peak_workers if calc else None})"
        )
    if failures:
        raise SystemExit("e2e: jobs failed:\n  " + "\n  ".join(failures))


def check_submit(args: argparse.Namespace, summary: dict[str, Any]) -> None:
    """Submit jobs/bag.yaml under a unique name and wait for it."""
    out = sh(
        str(Path(sys.executable).with_name("daskburst")),
        "k8s",
        "submit",
        "jobs/bag.yaml",
        "--wait",
        "--timeout",
        str(args.timeout),
        "--artifacts",
        str(Path(args.artifacts) / "submit"),
        timeout=args.timeout + 60,
    )
    record = json.loads(out)
    summary["submit_digest"] = record["result"]["digest"]
    if record["result"]["digest"] != summary["jobs"]["bag"]["digest"]:
        raise SystemExit("e2e: submitted bag job gave a different digest than the applied one")


def _replicas() -> int:
    wg = k8s.to_object(
        {
            "apiVersion": "kubernetes.dask.org/v1",
            "kind": "DaskWorkerGroup",
            "metadata": {"name": f"{BURST}-default", "namespace": NAMESPACE},
        }
    )
    wg.refresh()
    return int(wg.raw["spec"]["worker"]["replicas"])


def check_burst(args: argparse.Namespace, summary: dict[str, Any]) -> None:
    """Scale charts/dask-burst up with a burst of tasks and back down."""
    sh(args.kubectl, "apply", "-k", "charts/dask-burst/overlays/kind")
    k8s.wait_for(
        lambda: True if _safe(_replicas) is not None else None, 300, "dask-burst worker group"
    )
    sh(
        args.kubectl,
        "-n",
        NAMESPACE,
        "wait",
        "--for=condition=Ready",
        "pod",
        "-l",
        f"dask.org/cluster-name={BURST},dask.org/component=scheduler",
        "--timeout=300s",
    )
    minimum = _replicas()
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "dask-burst-load",
            "namespace": NAMESPACE,
            "labels": specs.labels(BURST, "runner"),
        },
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
    peak = minimum

    def loaded() -> str | None:
        nonlocal peak
        peak = max(peak, _replicas())
        load.refresh()
        phase = load.raw.get("status", {}).get("phase")
        return phase if phase in ("Succeeded", "Failed") else None

    phase = k8s.wait_for(loaded, args.timeout, "the dask-burst load pod", interval=3)
    (Path(args.artifacts) / "dask-burst-load.log").write_text("\n".join(load.logs()))
    if phase != "Succeeded":
        raise SystemExit("e2e: the dask-burst load pod failed")
    if peak <= minimum:
        raise SystemExit(f"e2e: dask-burst never scaled above {minimum} workers")
    k8s.wait_for(
        lambda: True if _replicas() <= minimum else None,
        900,
        "dask-burst to scale back down",
        interval=5,
    )
    summary["burst"] = {"minimum": minimum, "peak": peak, "back_to_minimum": True}
    log(f"dask-burst scaled {minimum} -> {peak} -> {minimum}")
    load.delete()


def _safe(fn: Any) -> Any:
    try:
        return fn()
    except Exception:  # noqa: BLE001 - not there yet
        return None


def main() -> int:
    """Run every check; write summary.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", required=True)
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--kubectl", default="kubectl")
    parser.add_argument("--burst-image", default="localhost/daskburst:dev")
    args = parser.parse_args()
    Path(args.artifacts).mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {"jobs": {}}
    started = time.monotonic()
    try:
        objs = k8s.platform_manifests(ROOT, kubectl=args.kubectl)
        k8s.install(objs, timeout=600)
        k8s.install(objs, timeout=120)  # idempotent
        check_jobs(args, summary)
        check_submit(args, summary)
        check_burst(args, summary)
        deleted = k8s.delete([], NAMESPACE)
        summary["deleted"] = deleted
    finally:
        summary["seconds"] = round(time.monotonic() - started, 1)
        (Path(args.artifacts) / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    log(f"all checks passed in {summary['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
