"""Find, render and validate the repository's Kubernetes manifests (offline)."""

from __future__ import annotations

import copy
import functools
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from tests.helpers import kubectl

ROOT = Path(__file__).resolve().parents[2]
CRD_DIR = ROOT / "charts" / "dask-operator" / "base" / "crds"
#: The API server version kind runs (k8s/kind-config.yaml pins v1.32.2).
K8S_VERSION = "1.32.0"
#: libyaml's loader: the CRDs are ~900 kB of YAML, too slow for the pure-Python one.
Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
DASK_GROUP = "kubernetes.dask.org"


def kustomizations() -> list[Path]:
    """Every directory with a kustomization.yaml that renders on its own (not Components)."""
    dirs = []
    for path in sorted(
        [
            *(ROOT / "charts").rglob("kustomization.yaml"),
            *(ROOT / "k8s").rglob("kustomization.yaml"),
        ]
    ):
        doc = yaml.safe_load(path.read_text())
        if doc.get("kind", "Kustomization") == "Kustomization":
            dirs.append(path.parent)
    return dirs


def components() -> list[Path]:
    """Every kustomize Component directory."""
    return [
        p.parent
        for p in sorted((ROOT / "charts").rglob("kustomization.yaml"))
        if yaml.safe_load(p.read_text()).get("kind") == "Component"
    ]


def job_files() -> list[Path]:
    """The plain manifests of jobs/ (what `kubectl apply -f jobs/` reads)."""
    return sorted((ROOT / "jobs").glob("*.yaml"))


def have_kubectl() -> bool:
    """Whether kubectl (with its built-in kustomize) is available."""
    return shutil.which(kubectl()) is not None


@functools.cache
def render(directory: Path) -> tuple[dict[str, Any], ...]:
    """Render a kustomization with `kubectl kustomize` (offline)."""
    out = subprocess.run(
        [kubectl(), "kustomize", str(directory)],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    return tuple(d for d in yaml.load_all(out, Loader=Loader) if d)


def load(path: Path) -> list[dict[str, Any]]:
    """Load every document of a YAML file."""
    return [d for d in yaml.load_all(path.read_text(), Loader=Loader) if d]


def all_objects() -> list[tuple[str, dict[str, Any]]]:
    """(origin, object) for every rendered kustomization and every plain job file."""
    objs: list[tuple[str, dict[str, Any]]] = []
    for d in kustomizations():
        rel = d.relative_to(ROOT)
        objs += [(f"{rel}/", o) for o in render(d)]
    for f in job_files():
        objs += [(str(f.relative_to(ROOT)), o) for o in load(f)]
    return objs


def _strictify(schema: Any) -> Any:
    """Make an OpenAPI v3 (structural) schema a strict JSON schema.

    Unknown fields are pruned by the API server; here they are errors (typos must not be
    silently dropped). ``nullable`` becomes a JSON-schema ``null`` type.
    """
    if isinstance(schema, list):
        return [_strictify(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _strictify(v) for k, v in schema.items()}
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    if out.pop("nullable", False) and "type" in out:
        out["type"] = [out["type"], "null"]
    if out.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    return out


@functools.cache
def crd_validators() -> dict[str, jsonschema.Draft7Validator]:
    """Kind -> validator for the pinned dask-kubernetes CRDs' v1 openAPIV3Schema."""
    validators = {}
    for path in sorted(CRD_DIR.glob("*.yaml")):
        crd = yaml.load(path.read_text(), Loader=Loader)
        for version in crd["spec"]["versions"]:
            if version["name"] == "v1":
                schema = _strictify(version["schema"]["openAPIV3Schema"])
                # metadata is validated by the API server, not by the CRD schema.
                schema.setdefault("properties", {})
                schema["properties"].update(
                    apiVersion={"const": f"{DASK_GROUP}/v1"},
                    kind={"const": crd["spec"]["names"]["kind"]},
                    metadata={"type": "object"},
                )
                schema["required"] = sorted({*schema.get("required", []), "spec"})
                validators[crd["spec"]["names"]["kind"]] = jsonschema.Draft7Validator(schema)
    return validators


def validate(obj: dict[str, Any]) -> None:
    """Validate one object: Dask CRs against the CRD, everything else against Kubernetes."""
    if obj["apiVersion"].startswith(DASK_GROUP + "/"):
        crd_validators()[obj["kind"]].validate(obj)
        return
    import kubernetes_validate

    kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


def pod_specs(obj: dict[str, Any]) -> list[dict[str, Any]]:
    """Every PodSpec inside an object (workloads and Dask custom resources)."""
    kind, spec = obj["kind"], obj.get("spec", {})
    if kind == "Pod":
        return [spec]
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
        return [spec["template"]["spec"]]
    if kind == "CronJob":
        return [spec["jobTemplate"]["spec"]["template"]["spec"]]
    if kind == "DaskCluster":
        return [spec["scheduler"]["spec"], spec["worker"]["spec"]]
    if kind == "DaskWorkerGroup":
        return [spec["worker"]["spec"]]
    if kind == "DaskJob":
        c = spec["cluster"]["spec"]
        return [spec["job"]["spec"], c["scheduler"]["spec"], c["worker"]["spec"]]
    return []


def version() -> str:
    """The daskburst version (the project image's tag)."""
    from daskburst import __version__

    return __version__


def containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    """Every (init) container of an object."""
    return [
        c for ps in pod_specs(obj) for c in ps.get("containers", []) + ps.get("initContainers", [])
    ]


def deepcopy(obj: dict[str, Any]) -> dict[str, Any]:
    """A deep copy (objects from :func:`render` are cached and shared)."""
    return copy.deepcopy(obj)
