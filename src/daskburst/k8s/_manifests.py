"""Manifests as data (pure): load, render with kustomize, prepare a submission, read results."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml

from daskburst.errors import BackendError, UserError
from daskburst.k8s._naming import CLUSTER_NAME_MAX, validate_name

Manifest = dict[str, Any]

DASK_API = "kubernetes.dask.org/v1"
INSTANCE = "app.kubernetes.io/instance"

#: Apply order: what others depend on first (namespaces and CRDs before what uses them).
KIND_ORDER = (
    "Namespace",
    "CustomResourceDefinition",
    "PriorityClass",
    "ServiceAccount",
    "ClusterRole",
    "ClusterRoleBinding",
    "Role",
    "RoleBinding",
    "ResourceQuota",
    "LimitRange",
    "NetworkPolicy",
    "Service",
    "Deployment",
    "PodDisruptionBudget",
)

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_yaml(text: str, origin: str = "<string>") -> list[Manifest]:
    """Parse YAML documents into Kubernetes objects, skipping empty ones.

    Args:
        text: YAML text.
        origin: Where it came from, for error messages.

    Returns:
        The objects.

    Raises:
        UserError: When the text is not YAML or a document is not an object with a kind.
    """
    try:
        docs = [d for d in yaml.load_all(text, Loader=_Loader) if d is not None]
    except yaml.YAMLError as exc:
        raise UserError(f"{origin}: not valid YAML ({exc.__class__.__name__})") from None
    for doc in docs:
        if not isinstance(doc, dict) or "kind" not in doc or "apiVersion" not in doc:
            raise UserError(f"{origin}: expected Kubernetes objects with apiVersion and kind")
    return docs


def load_file(path: str | Path) -> list[Manifest]:
    """Load every object from one YAML file.

    Args:
        path: A ``.yaml`` file.

    Returns:
        The objects in it.

    Raises:
        UserError: When the file is missing or not Kubernetes YAML.
    """
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{str(path)!r}: no such file; expected a YAML manifest")
    if p.name == "kustomization.yaml":
        raise UserError(f"{str(path)!r}: a kustomization, not a manifest; pass its directory")
    return parse_yaml(p.read_text(), str(path))


def kustomize(directory: str | Path, kubectl: str = "kubectl") -> list[Manifest]:
    """Render a kustomization with ``kubectl kustomize`` (no cluster needed).

    Args:
        directory: A directory with a ``kustomization.yaml``.
        kubectl: The kubectl executable.

    Returns:
        The rendered objects.

    Raises:
        UserError: When the directory has no kustomization.
        BackendError: When kubectl is missing or rendering fails.
    """
    d = Path(directory)
    if not (d / "kustomization.yaml").is_file():
        raise UserError(f"{str(directory)!r}: no kustomization.yaml; expected a kustomize dir")
    if shutil.which(kubectl) is None:
        raise BackendError(f"{kubectl!r} not found: install kubectl (it includes kustomize)")
    proc = subprocess.run(
        [kubectl, "kustomize", str(d)], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        detail = proc.stderr.strip().splitlines()[-1:] or ["no output"]
        raise BackendError(f"kubectl kustomize {d}: {detail[0]}")
    return parse_yaml(proc.stdout, str(d))


def sort_for_apply(objs: Iterable[Manifest]) -> list[Manifest]:
    """Order objects so that dependencies come first (stable within a kind).

    Args:
        objs: Objects in any order.

    Returns:
        Namespaces, CRDs, RBAC, policies, then workloads; unknown kinds (e.g. Dask custom
        resources) last.
    """
    rank = {kind: i for i, kind in enumerate(KIND_ORDER)}
    return sorted(objs, key=lambda o: rank.get(o["kind"], len(KIND_ORDER)))


def find_autoscalers(job_path: str | Path, job_name: str) -> list[Manifest]:
    """Return the DaskAutoscalers next to ``job_path`` that target ``job_name``.

    ``jobs/`` keeps one resource per file, so a job's autoscaler lives in a sibling file.

    Args:
        job_path: The DaskJob's file.
        job_name: The DaskJob's name in that file.

    Returns:
        The matching DaskAutoscaler objects (possibly none).
    """
    found = []
    for sibling in sorted(Path(job_path).parent.glob("*.yaml")):
        if sibling.name == "kustomization.yaml":
            continue
        try:
            docs = load_file(sibling)
        except UserError:
            continue
        found += [
            d
            for d in docs
            if d["kind"] == "DaskAutoscaler" and d.get("spec", {}).get("cluster") == job_name
        ]
    return found


def _relabel(node: Any, old: str, new: str) -> None:
    """Replace ``app.kubernetes.io/instance: old`` labels by ``new`` everywhere in ``node``."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == INSTANCE and value == old:
                node[key] = new
            else:
                _relabel(value, old, new)
    elif isinstance(node, list):
        for item in node:
            _relabel(item, old, new)


def _set_image(job: Manifest, image: str) -> None:
    spec = job["spec"]
    cluster = spec["cluster"]["spec"]
    for pod in (spec["job"]["spec"], cluster["scheduler"]["spec"], cluster["worker"]["spec"]):
        for container in pod.get("containers", []):
            container["image"] = image


def prepare_submission(
    job: Manifest,
    autoscalers: Sequence[Manifest],
    name: str,
    namespace: str,
    image: str | None = None,
) -> list[Manifest]:
    """Return copies of a DaskJob and its autoscalers renamed for one submission.

    The job's cluster is named like the job, so the scheduler Service selector, the
    autoscalers' ``spec.cluster`` and the instance labels follow the new name.

    Args:
        job: The DaskJob as written in the manifest.
        autoscalers: DaskAutoscalers targeting it.
        name: The new, unique name.
        namespace: Namespace to submit into.
        image: Replace every container image with this one (None keeps them).

    Returns:
        ``[job, *autoscalers]`` ready to create.

    Raises:
        UserError: When ``job`` is not a DaskJob or ``name`` is too long for the operator.
    """
    if job.get("kind") != "DaskJob" or job.get("apiVersion") != DASK_API:
        raise UserError(f"{job.get('kind')!r}: expected a DaskJob ({DASK_API}) manifest to submit")
    validate_name(name, CLUSTER_NAME_MAX, "job name")
    old = job["metadata"]["name"]
    new_job = copy.deepcopy(job)
    new_job["metadata"]["name"] = name
    new_job["metadata"]["namespace"] = namespace
    _relabel(new_job, old, name)
    service = new_job["spec"]["cluster"]["spec"].get("scheduler", {}).get("service", {})
    selector = service.get("selector")
    if isinstance(selector, dict) and "dask.org/cluster-name" in selector:
        selector["dask.org/cluster-name"] = name
    if image:
        _set_image(new_job, image)
    out = [new_job]
    for scaler in autoscalers:
        new = copy.deepcopy(scaler)
        new["metadata"]["name"] = name
        new["metadata"]["namespace"] = namespace
        new["spec"]["cluster"] = name
        _relabel(new, old, name)
        out.append(new)
    return out


def parse_result(log: str) -> dict[str, Any] | None:
    """Find the JSON record ``daskburst run --output /dev/stdout`` printed in a pod log.

    Pod logs interleave stdout and stderr, and a progress display may leave its last line
    without a newline, so the record is looked for as the last JSON object with a ``result``
    wherever it starts.

    Args:
        log: The runner pod's log.

    Returns:
        The record, or None when there is none.
    """
    decoder = json.JSONDecoder()
    pos = len(log)
    while True:
        start = log.rfind("{", 0, pos)
        if start < 0:
            return None
        try:
            value, _ = decoder.raw_decode(log, start)
        except json.JSONDecodeError:
            value = None
        if isinstance(value, dict) and isinstance(value.get("result"), dict):
            return value
        pos = start


def job_phase(job: Manifest) -> str:
    """Return a DaskJob's ``status.jobStatus`` (``Pending`` before the operator saw it).

    Args:
        job: A DaskJob as read from the API server.

    Returns:
        ``Pending``, ``JobCreated``, ``ClusterCreated``, ``Running``, ``Successful`` or
        ``Failed``.
    """
    return str((job.get("status") or {}).get("jobStatus") or "Pending")


TERMINAL = frozenset({"Successful", "Failed"})
