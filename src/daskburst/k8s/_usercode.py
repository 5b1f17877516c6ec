"""A user's script as a DaskJob plus a ConfigMap holding its working directory (pure).

``daskburst k8s submit my_analysis.py`` and ``daskburst k8s manifest my_analysis.py`` build
the same two objects here, from the same spec builders as ``jobs/*.yaml``
(:func:`daskburst.k8s.specs.daskjob`): the runner, the scheduler and every worker mount the
ConfigMap read-only at :data:`daskburst.usercode.MOUNT_PATH`, which is on their
``PYTHONPATH``, and the runner runs ``daskburst run MOUNT_PATH/<script> --backend
kubernetes`` against the job's own cluster with shipping off (the files are already there).

ConfigMap keys may not contain ``/``: each file gets a flat key (``f0``, ``f1``...) and the
volume's ``items`` maps it back to its relative path; non-UTF-8 files go in ``binaryData``.
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Mapping, Sequence
from typing import Any

from daskburst.k8s import _specs as specs
from daskburst.k8s._manifests import Manifest
from daskburst.workdir import MOUNT_PATH, Workdir

#: The volume (and ConfigMap name suffix) of the shipped working directory.
VOLUME = "workdir"
#: Marks the ConfigMap (and job) of a user-code submission, for gc and delete.
WORKDIR_LABEL = "daskburst.io/workdir-of"
#: Where the runner's script may write files that come back with ``--artifacts``.
OUTPUT_PATH = "/tmp/daskburst-output"


def configmap_name(job: str) -> str:
    """The ConfigMap of job ``job`` (job names are under 53 characters, so this fits 63)."""
    return f"{job}-{VOLUME}"


def workdir_configmap(
    job: str, workdir: Workdir, namespace: str | None = None
) -> tuple[Manifest, list[dict[str, str]]]:
    """Return the ConfigMap holding ``workdir`` and the volume ``items`` that unflatten it.

    Args:
        job: The DaskJob's name (the ConfigMap is named after it).
        workdir: The selected files (:func:`daskburst.usercode.collect`).
        namespace: Namespace, or None.

    Returns:
        ``(configmap, items)``: items are ``{"key": "f0", "path": "pkg/mod.py"}``.
    """
    data: dict[str, str] = {}
    binary: dict[str, str] = {}
    items: list[dict[str, str]] = []
    for i, f in enumerate(sorted(workdir.files, key=lambda f: f.relpath)):
        key = f"f{i}"
        try:
            data[key] = f.data.decode("utf-8")
        except UnicodeDecodeError:
            binary[key] = base64.b64encode(f.data).decode("ascii")
        items.append({"key": key, "path": f.relpath})
    meta: dict[str, Any] = {"name": configmap_name(job)}
    if namespace:
        meta["namespace"] = namespace
    meta["labels"] = {**specs.labels(job, VOLUME), WORKDIR_LABEL: job}
    meta["annotations"] = {"daskburst.io/workdir-sha256": workdir.sha256}
    cm: Manifest = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta}
    if data:
        cm["data"] = data
    if binary:
        cm["binaryData"] = binary
    return cm, items


def _pods(job: Manifest) -> tuple[dict[str, Any], ...]:
    """The runner's, the workers' and the scheduler's pod specs of a DaskJob."""
    cluster = job["spec"]["cluster"]["spec"]
    return job["spec"]["job"]["spec"], cluster["worker"]["spec"], cluster["scheduler"]["spec"]


def _mount(pod: dict[str, Any], cm_name: str, items: list[dict[str, str]]) -> None:
    pod["volumes"].append(
        {
            "name": VOLUME,
            "configMap": {"name": cm_name, "items": copy.deepcopy(items), "defaultMode": 0o444},
        }
    )
    container = pod["containers"][0]
    container["volumeMounts"].append({"name": VOLUME, "mountPath": MOUNT_PATH, "readOnly": True})
    container["env"].append({"name": "PYTHONPATH", "value": MOUNT_PATH})


def user_job(
    name: str,
    script: str,
    workdir: Workdir | None,
    script_args: Sequence[str] = (),
    *,
    namespace: str | None = None,
    adapt: tuple[int, int] = (1, 3),
    seed: int | None = None,
    image: str = specs.DEFAULT_IMAGE,
    resources: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[Manifest]:
    """Return ``[daskjob, configmap]`` (or ``[daskjob]`` with no working directory).

    Args:
        name: The job's name (also its cluster's; under 53 characters).
        script: The script's path relative to the working directory, or ``module:function``.
        workdir: The files to ship, or None (code already in the image).
        script_args: Arguments after ``--``.
        namespace: Namespace, or None (``kubectl apply -n``).
        adapt: The autoscaler's minimum and maximum workers.
        seed: The master seed (``daskburst.seed`` in the script), or None.
        image: Container image of every pod.
        resources: Per-role requests/limits (default: the settings').

    Returns:
        The objects to create, the DaskJob first. The ConfigMap has no owner yet:
        :func:`own` adds the created job's uid.
    """
    lo, hi = adapt
    target = f"{MOUNT_PATH}/{script}" if workdir is not None and ":" not in script else script
    args = ["daskburst", "run", target, "--backend", "kubernetes", "--adapt", f"{lo}:{hi}"]
    if seed is not None:
        args += ["--seed", str(seed)]
    args += ["--no-progress", "--", *script_args]
    env = {"DASK_DASKBURST__USER_CODE__SHIP": "off", "DASKBURST_OUTPUT": OUTPUT_PATH}
    job = specs.daskjob(
        name, args, namespace=namespace, image=image, workers=lo, resources=resources, env=env
    )
    if workdir is None:
        return [job]
    cm, items = workdir_configmap(name, workdir, namespace)
    job["metadata"]["labels"][WORKDIR_LABEL] = name
    # The scheduler too: it unpickles the task graph, which names the script's modules.
    for pod in _pods(job):
        _mount(pod, cm["metadata"]["name"], items)
    return [job, cm]


def rename(objs: Sequence[Manifest], name: str) -> list[Manifest]:
    """Point the ConfigMap of ``objs`` (and the job's volumes) at job ``name``.

    ``prepare_submission`` renames the job; this follows it with the ConfigMap.
    """
    out = [copy.deepcopy(o) for o in objs]
    job = out[0]
    for o in out[1:]:
        if o["kind"] == "ConfigMap":
            o["metadata"]["name"] = configmap_name(name)
            o["metadata"]["labels"][WORKDIR_LABEL] = name
            o["metadata"]["labels"]["app.kubernetes.io/instance"] = name
            if "namespace" in job["metadata"]:
                o["metadata"]["namespace"] = job["metadata"]["namespace"]
    if WORKDIR_LABEL in job["metadata"].get("labels", {}):
        job["metadata"]["labels"][WORKDIR_LABEL] = name
    for pod in _pods(job):
        for volume in pod.get("volumes", []):
            if volume["name"] == VOLUME:
                volume["configMap"]["name"] = configmap_name(name)
    return out


def own(cm: Manifest, job: Manifest, uid: str) -> Manifest:
    """Return ``cm`` owned by the created DaskJob ``job`` (garbage-collected with it)."""
    out = copy.deepcopy(cm)
    out["metadata"]["ownerReferences"] = [
        {
            "apiVersion": job["apiVersion"],
            "kind": job["kind"],
            "name": job["metadata"]["name"],
            "uid": uid,
            "blockOwnerDeletion": False,
        }
    ]
    return out
