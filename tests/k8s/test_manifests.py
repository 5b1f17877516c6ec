"""Offline checks of every Kubernetes manifest: renders, schemas, labels, images, names."""

from __future__ import annotations

import filecmp
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.helpers import require
from tests.k8s import manifests as m
from tests.k8s.operator_render import render_job

pytestmark = pytest.mark.k8s

LABELS = ("name", "instance", "component", "part-of", "managed-by", "version")
SELECTOR_OK = {f"app.kubernetes.io/{k}" for k in ("name", "instance", "component")}
DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
CLUSTER_NAME_MAX = 52  # the operator rejects DaskCluster names of 53+ characters


@pytest.fixture(scope="module", autouse=True)
def _kubectl() -> None:
    require(m.have_kubectl(), "kubectl (with built-in kustomize) is not on PATH")


def _objects() -> list[tuple[str, dict[str, Any]]]:
    return m.all_objects()


def _id(item: tuple[str, dict[str, Any]]) -> str:
    origin, obj = item
    return f"{origin}:{obj['kind']}/{obj['metadata']['name']}"


def test_every_kustomization_renders() -> None:
    dirs = m.kustomizations()
    assert {str(d.relative_to(m.ROOT)) for d in dirs} >= {
        "charts/dask-operator",
        "charts/dask-operator/base",
        "charts/dask-operator/overlays/namespaced",
        "charts/dask-burst/base",
        "charts/dask-burst/overlays/kind",
        "charts/dask-burst/overlays/cloud",
        "k8s",
    }
    for d in dirs:
        assert m.render(d), f"{d} renders no objects"
    assert m.components(), "the namespaced RBAC component is missing"


def test_every_object_validates_against_its_schema() -> None:
    failures = []
    for origin, obj in _objects():
        try:
            m.validate(obj)
        except Exception as exc:  # noqa: BLE001 - collect every failure, report all
            failures.append(f"{_id((origin, obj))}: {getattr(exc, 'message', exc)}")
    assert not failures, "\n".join(failures)


def test_strict_validation_catches_unknown_fields() -> None:
    job = m.load(m.ROOT / "jobs" / "calc-mean.yaml")[0]
    job["spec"]["cluster"]["spec"]["worker"]["replica"] = 2  # typo of replicas
    with pytest.raises(jsonschema.ValidationError):
        m.validate(job)
    dep = next(o for o in m.render(m.ROOT / "charts/dask-operator") if o["kind"] == "Deployment")
    dep = m.deepcopy(dep)
    dep["spec"]["template"]["spec"]["containers"][0]["imagePullpolicy"] = "Always"
    with pytest.raises(jsonschema.ValidationError):
        m.validate(dep)


def test_operator_built_objects_validate() -> None:
    for path in m.job_files():
        for job in m.load(path):
            if job["kind"] != "DaskJob":
                continue
            made = render_job(job, "daskburst", workers=2)
            for obj in (made["runner"], made["scheduler"], made["service"], *made["workers"]):
                m.validate(obj)
            m.validate(made["cluster"])
            m.validate(made["workergroup"])


def test_every_object_carries_the_recommended_labels() -> None:
    missing = []
    for item in _objects():
        labels = item[1]["metadata"].get("labels", {})
        absent = [k for k in LABELS if not labels.get(f"app.kubernetes.io/{k}")]
        if absent:
            missing.append(f"{_id(item)} lacks {absent}")
    assert not missing, "\n".join(missing)


def _selectors(obj: dict[str, Any]) -> list[dict[str, str]]:
    spec = obj.get("spec", {})
    out = []
    if obj["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "PodDisruptionBudget"):
        out.append(spec["selector"].get("matchLabels", {}))
    if obj["kind"] == "NetworkPolicy":
        out.append(spec["podSelector"].get("matchLabels", {}))
        for rule in spec.get("ingress", []):
            for peer in rule.get("from", []):
                out.append(peer.get("podSelector", {}).get("matchLabels", {}))
    if obj["kind"] == "Service":
        out.append(spec.get("selector", {}))
    return out


def test_selectors_use_only_name_instance_component() -> None:
    for item in _objects():
        for selector in _selectors(item[1]):
            app_keys = {k for k in selector if k.startswith("app.kubernetes.io/")}
            assert app_keys <= SELECTOR_OK, f"{_id(item)} selects on {app_keys - SELECTOR_OK}"


def test_no_latest_or_untagged_images() -> None:
    for item in _objects():
        for c in m.containers(item[1]):
            image = c["image"]
            tag = image.rsplit("/", 1)[-1]
            assert "@sha256:" in image or ":" in tag, f"{_id(item)}: untagged image {image}"
            assert not tag.endswith(":latest"), f"{_id(item)}: {image} uses :latest"


def test_operator_image_is_the_pinned_dask_kubernetes_release() -> None:
    from importlib.metadata import version

    images = {
        c["image"] for o in m.render(m.ROOT / "charts/dask-operator") for c in m.containers(o)
    }
    assert images == {f"ghcr.io/dask/dask-kubernetes-operator:{version('dask-kubernetes')}"}


def test_names_are_dns_labels_and_clusters_fit_the_operator_limit() -> None:
    for item in _objects():
        obj = item[1]
        name = obj["metadata"]["name"]
        if obj["kind"] in ("CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding"):
            assert len(name) <= 253, _id(item)
            continue
        assert DNS1123.match(name) and len(name) <= 63, f"{_id(item)}: bad name"
        if obj["kind"] in ("DaskCluster", "DaskJob"):
            assert len(name) <= CLUSTER_NAME_MAX, f"{_id(item)}: {len(name)} chars"


def test_pods_are_restricted_and_have_resources_and_probes() -> None:
    for item in _objects():
        obj = item[1]
        for ps in m.pod_specs(obj):
            psc = ps.get("securityContext", {})
            assert psc.get("runAsNonRoot") is True, _id(item)
            assert psc.get("seccompProfile", {}).get("type") == "RuntimeDefault", _id(item)
            for c in ps["containers"]:
                sc = c.get("securityContext", {})
                assert sc.get("allowPrivilegeEscalation") is False, _id(item)
                assert sc.get("readOnlyRootFilesystem") is True, _id(item)
                assert sc.get("capabilities", {}).get("drop") == ["ALL"], _id(item)
                res = c.get("resources", {})
                assert res.get("requests") and res.get("limits", {}).get("memory"), _id(item)
                # Run-to-completion containers (a DaskJob's runner, the gc) have no probes.
                if c["name"] != "runner" and obj["kind"] not in ("Job", "CronJob"):
                    assert "livenessProbe" in c and "readinessProbe" in c, _id(item)


def test_only_workers_tolerate_spot_nodes() -> None:
    """Every Dask worker may run on a spot node; schedulers, runners and the rest never do."""
    spot = {"cloud.google.com/gke-spot", "kubernetes.azure.com/scalesetpriority",
            "karpenter.sh/capacity-type", "eks.amazonaws.com/capacityType"}  # fmt: skip
    workers = 0
    for item in _objects():
        for ps in m.pod_specs(item[1]):
            tolerated = {t["key"] for t in ps.get("tolerations", [])}
            if [c["name"] for c in ps["containers"]] == ["worker"]:
                workers += 1
                assert spot <= tolerated, _id(item)
            else:
                assert not tolerated & spot, f"{_id(item)}: {ps['containers'][0]['name']}"
    assert workers >= 5, "jobs/ and dask-burst's overlays hold Dask workers"


def test_dask_scheduler_exposes_named_ports_health_probes_and_api() -> None:
    for item in _objects():
        obj = item[1]
        if obj["kind"] not in ("DaskCluster", "DaskJob"):
            continue
        spec = obj["spec"] if obj["kind"] == "DaskCluster" else obj["spec"]["cluster"]["spec"]
        sched = spec["scheduler"]["spec"]["containers"][0]
        assert {p["name"]: p["containerPort"] for p in sched["ports"]} == {
            "tcp-comm": 8786,
            "http-dashboard": 8787,
        }
        assert sched["livenessProbe"]["httpGet"]["path"] == "/health"
        env = {e["name"]: e.get("value", "") for e in sched["env"]}
        assert "distributed.http.scheduler.api" in env["DASK_DISTRIBUTED__SCHEDULER__HTTP__ROUTES"]
        name = obj["metadata"]["name"]
        assert spec["scheduler"]["service"]["selector"]["dask.org/cluster-name"] == name
        worker = spec["worker"]["spec"]["containers"][0]
        assert worker["args"][2:4] == ["--name", "$(DASK_WORKER_NAME)"]


def test_jobs_folder_is_plain_resources_one_per_file() -> None:
    jobs = m.ROOT / "jobs"
    assert not (jobs / "kustomization.yaml").exists(), "`kubectl apply -f jobs/` would read it"
    assert not list(jobs.glob("*.yml"))
    names = []
    for path in m.job_files():
        docs = m.load(path)
        assert len(docs) == 1, f"{path.name}: one resource per file"
        (doc,) = docs
        # Autoscalers come from the runner (--adapt), owned by the job's cluster: a separate
        # file would be re-created, orphaned, by every re-apply of jobs/.
        assert doc["kind"] == "DaskJob", path.name
        assert doc["metadata"].get("namespace") == "daskburst", path.name
        names.append(doc["metadata"]["name"])
        runner = doc["spec"]["job"]["spec"]
        assert runner["restartPolicy"] == "Never"
        assert runner["automountServiceAccountToken"] is True
        container = runner["containers"][0]
        args = container["args"]
        assert args[:3] == ["daskburst", "run", doc["metadata"]["name"]]
        assert args[args.index("--backend") + 1] == "kubernetes"
        lo, hi = (int(x) for x in args[args.index("--adapt") + 1].split(":"))
        assert hi > lo >= 1
        env = {e["name"]: e for e in container["env"]}
        ref = env["DASK_DASKBURST__KUBERNETES__CLUSTER_NAME"]["valueFrom"]["fieldRef"]
        assert ref["fieldPath"] == "metadata.labels['dask.org/cluster-name']"
    assert sorted(names) == ["array", "bag", "calc-mean", "dataframe"]


def test_jobs_kustomization_retargets_images_without_breaking_apply_f() -> None:
    # `Kustomization` (no .yaml suffix): kubectl apply -f jobs/ skips it, -k jobs/ uses it.
    kust = yaml.safe_load((m.ROOT / "jobs" / "Kustomization").read_text())
    assert sorted(kust["resources"]) == sorted(p.name for p in m.job_files())
    assert kust["images"] == [
        {"name": "localhost/daskburst", "newName": "localhost/daskburst", "newTag": m.version()}
    ]
    rendered = m.render(m.ROOT / "jobs")
    assert sorted(o["metadata"]["name"] for o in rendered) == [
        "array",
        "bag",
        "calc-mean",
        "dataframe",
    ]


def test_every_yaml_file_holds_one_resource() -> None:
    for top in ("charts", "k8s", "jobs"):
        for path in (m.ROOT / top).rglob("*"):
            assert path.suffix != ".yml", f"{path}: use .yaml"
            if path.suffix == ".yaml" and path.parent.name != "slurm":
                docs = list(yaml.load_all(path.read_text(), Loader=m.Loader))
                assert len([d for d in docs if d is not None]) == 1, f"{path}: one per file"


def test_crds_are_the_pinned_release_copies() -> None:
    import dask_kubernetes

    shipped = (
        Path(dask_kubernetes.__file__).parent
        / "operator/deployment/helm/dask-kubernetes-operator/crds"
    )
    names = sorted(p.name for p in shipped.glob("*.yaml"))
    assert names == sorted(p.name for p in m.CRD_DIR.glob("*.yaml"))
    _, mismatch, errors = filecmp.cmpfiles(shipped, m.CRD_DIR, names, shallow=False)
    assert not mismatch and not errors, f"CRDs drifted, run `make k8s-crds`: {mismatch}"


def test_generated_manifests_are_up_to_date() -> None:
    proc = subprocess.run(
        [sys.executable, str(m.ROOT / "scripts/k8s/render_manifests.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr


def test_kind_config_pins_the_node_image_of_the_makefile() -> None:
    config = yaml.safe_load((m.ROOT / "k8s" / "kind-config.yaml").read_text())
    roles = [n["role"] for n in config["nodes"]]
    assert roles == ["control-plane", "worker", "worker"]
    images = {n["image"] for n in config["nodes"]}
    assert len(images) == 1
    (image,) = images
    assert re.match(r"^kindest/node:v\d+\.\d+\.\d+@sha256:[0-9a-f]{64}$", image)
    mk = (m.ROOT / "mk" / "k8s.mk").read_text()
    assert f"KIND_NODE_IMAGE ?= {image}" in mk


def test_namespaces_enforce_pod_security_restricted() -> None:
    for item in _objects():
        obj = item[1]
        if obj["kind"] == "Namespace":
            labels = obj["metadata"]["labels"]
            assert labels["pod-security.kubernetes.io/enforce"] == "restricted", _id(item)


def test_scheduler_network_policy_admits_namespace_and_operator_only() -> None:
    objs = m.render(m.ROOT / "k8s")
    (policy,) = [
        o
        for o in objs
        if o["kind"] == "NetworkPolicy" and o["metadata"]["name"] == "dask-scheduler"
    ]
    peers = [p for rule in policy["spec"]["ingress"] for p in rule["from"]]
    assert {"podSelector": {}} in peers
    for peer in peers:
        assert "ipBlock" not in peer
        if "namespaceSelector" in peer:
            assert peer["namespaceSelector"]["matchLabels"] == {
                "kubernetes.io/metadata.name": "dask-operator"
            }


CLUSTER_SCOPED_RESOURCES = {
    "customresourcedefinitions", "namespaces", "clusterkopfpeerings",
    "validatingwebhookconfigurations", "mutatingwebhookconfigurations",
}  # fmt: skip


def test_namespaced_operator_has_a_role_and_only_cluster_wide_reads() -> None:
    for overlay in ("namespaced", "namespaced-bundled-image"):
        objs = m.render(m.ROOT / "charts/dask-operator/overlays" / overlay)
        (dep,) = [o for o in objs if o["kind"] == "Deployment"]
        assert dep["metadata"]["namespace"] == "daskburst"
        container = dep["spec"]["template"]["spec"]["containers"][0]
        assert "--namespace=$(POD_NAMESPACE)" in container["args"]
        assert "--all-namespaces" not in container["args"]
        (role,) = [o for o in objs if o["kind"] == "Role"]
        # A Role cannot grant cluster-scoped resources: none may be listed in it.
        for rule in role["rules"]:
            assert not CLUSTER_SCOPED_RESOURCES & set(rule["resources"]), rule
        # The application rules are the upstream chart's.
        cluster_rules = next(
            o for o in m.render(m.ROOT / "charts/dask-operator") if o["kind"] == "ClusterRole"
        )["rules"]
        app = [r for r in cluster_rules if not CLUSTER_SCOPED_RESOURCES & set(r["resources"])]
        assert [r for r in role["rules"] if r["apiGroups"] != ["kopf.dev"]] == app
        # kopf's cluster-wide reads: list/watch of CRDs and namespaces, nothing more.
        (reads,) = [o for o in objs if o["kind"] == "ClusterRole"]
        assert {v for r in reads["rules"] for v in r["verbs"]} == {"list", "watch"}
        assert {x for r in reads["rules"] for x in r["resources"]} == {
            "customresourcedefinitions",
            "namespaces",
        }
        (binding,) = [o for o in objs if o["kind"] == "ClusterRoleBinding"]
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "dask-kubernetes-operator", "namespace": "daskburst"}
        ]


def test_bundled_operator_runs_upstream_code_from_the_project_image() -> None:
    objs = m.render(m.ROOT / "charts/dask-operator/overlays/bundled-image")
    (dep,) = [o for o in objs if o["kind"] == "Deployment"]
    container = dep["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == f"localhost/daskburst:{m.version()}"
    assert container["command"] == [
        "tini", "--", "kopf", "run", "-m", "dask_kubernetes.operator.controller"
    ]  # fmt: skip
    upstream = next(
        o for o in m.render(m.ROOT / "charts/dask-operator") if o["kind"] == "Deployment"
    )
    ours, theirs = dep["spec"]["template"]["spec"], upstream["spec"]["template"]["spec"]
    for key in ("securityContext", "serviceAccountName"):
        assert ours[key] == theirs[key]
    for key in ("args", "livenessProbe", "readinessProbe", "securityContext", "resources"):
        assert container[key] == theirs["containers"][0][key], key


def test_overlays_set_image_scale_and_scheduling() -> None:
    def cluster_and_scaler(overlay: str) -> tuple[dict[str, Any], dict[str, Any]]:
        objs = m.render(m.ROOT / "charts/dask-burst/overlays" / overlay)
        (c,) = [o for o in objs if o["kind"] == "DaskCluster"]
        (s,) = [o for o in objs if o["kind"] == "DaskAutoscaler"]
        return c, s

    kind, kind_scaler = cluster_and_scaler("kind")
    assert {c["image"] for c in m.containers(kind)} == {"localhost/daskburst:dev"}
    assert {c["imagePullPolicy"] for c in m.containers(kind)} == {"IfNotPresent"}
    assert (kind_scaler["spec"]["minimum"], kind_scaler["spec"]["maximum"]) == (0, 3)
    cloud, cloud_scaler = cluster_and_scaler("cloud")
    assert (cloud_scaler["spec"]["minimum"], cloud_scaler["spec"]["maximum"]) == (0, 50)
    worker = cloud["spec"]["worker"]["spec"]
    args = worker["containers"][0]["args"]
    assert args[args.index("--nthreads") + 1] == "2"
    assert worker["priorityClassName"] == "daskburst-worker"
    assert any(t["key"] == "cloud.google.com/gke-spot" for t in worker["tolerations"])
    sched = cloud["spec"]["scheduler"]["spec"]
    assert sched["priorityClassName"] == "daskburst-scheduler"
    assert "requiredDuringSchedulingIgnoredDuringExecution" in sched["affinity"]["nodeAffinity"]
    objs = m.render(m.ROOT / "charts/dask-burst/overlays/cloud")
    (pdb,) = [o for o in objs if o["kind"] == "PodDisruptionBudget"]
    labels = {
        "app.kubernetes.io/name": "daskburst",
        "app.kubernetes.io/instance": "dask-burst",
        "app.kubernetes.io/component": "scheduler",
    }
    assert pdb["spec"]["selector"]["matchLabels"] == labels
    sched_labels = cloud["spec"]["scheduler"]["metadata"]["labels"]
    assert labels.items() <= sched_labels.items()


def test_the_cloud_platform_runs_the_cloud_image_everywhere() -> None:
    """Its gc CronJob used to keep localhost/daskburst, which no cloud node has."""

    def images(directory: str) -> set[str]:
        return {c["image"] for o in m.render(m.ROOT / directory) for c in m.containers(o)}

    (chart,) = images("charts/dask-burst/overlays/cloud")
    assert not chart.startswith("localhost/")
    assert images("k8s/overlays/cloud") == {chart}


def test_resource_quota_fits_all_jobs_at_their_maximum() -> None:
    from daskburst.k8s.specs import role_resources

    def cpu(v: str) -> float:
        return float(v[:-1]) / 1000 if v.endswith("m") else float(v)

    (quota,) = [o for o in m.render(m.ROOT / "k8s") if o["kind"] == "ResourceQuota"]
    jobs = [d for p in m.job_files() for d in m.load(p)]
    maxima = []
    for job in jobs:
        args = job["spec"]["job"]["spec"]["containers"][0]["args"]
        maxima.append(int(args[args.index("--adapt") + 1].split(":")[1]))
    need = sum(
        cpu(role_resources("scheduler")["limits"]["cpu"])
        + cpu(role_resources("runner")["limits"]["cpu"])
        + n * cpu(role_resources("worker")["limits"]["cpu"])
        for n in maxima
    )
    assert need + 4 <= cpu(quota["spec"]["hard"]["limits.cpu"])  # + dask-burst at 3 workers


def test_overlays_retarget_images_with_kustomize_images_not_patches() -> None:
    import re

    image_path = re.compile(r"/image\s*$", re.M)  # a JSON patch of an image, not imagePullPolicy
    for overlay in ("kind", "cloud"):
        directory = m.ROOT / "charts/dask-burst/overlays" / overlay
        kust = yaml.safe_load((directory / "kustomization.yaml").read_text())
        assert [i["name"] for i in kust["images"]] == ["localhost/daskburst"]
        for path in directory.glob("*.yaml"):
            assert not image_path.search(path.read_text()), path


def test_the_cloud_platform_quota_holds_the_cloud_burst_at_its_maximum() -> None:
    from daskburst.k8s._submission import _quantity

    (quota,) = [o for o in m.render(m.ROOT / "k8s/overlays/cloud") if o["kind"] == "ResourceQuota"]
    hard = quota["spec"]["hard"]
    objs = m.render(m.ROOT / "charts/dask-burst/overlays/cloud")
    (cluster,) = [o for o in objs if o["kind"] == "DaskCluster"]
    (scaler,) = [o for o in objs if o["kind"] == "DaskAutoscaler"]
    worker = cluster["spec"]["worker"]["spec"]["containers"][0]["resources"]
    sched = cluster["spec"]["scheduler"]["spec"]["containers"][0]["resources"]
    n = scaler["spec"]["maximum"]
    assert n == 50
    for kind in ("requests", "limits"):
        for resource in ("cpu", "memory"):
            need = n * _quantity(worker[kind][resource]) + _quantity(sched[kind][resource])
            assert need <= _quantity(hard[f"{kind}.{resource}"]), (kind, resource, need)
    assert n + 1 <= int(hard["pods"])


@pytest.mark.parametrize(
    ("resources", "expected"),
    [
        ({"requests": {"memory": "2Gi"}, "limits": {"memory": "1Gi"}},
         "scheduler.requests.memory = 2Gi: expected at most its limit 1Gi"),
        ({"requests": {"cpu": "1500m"}, "limits": {"cpu": "1"}},
         "scheduler.requests.cpu = 1500m: expected at most its limit 1"),
        ({"limits": {"memory": "lots"}},
         "scheduler.limits.memory = 'lots': expected a Kubernetes quantity"),
    ],
)  # fmt: skip
def test_resources_the_api_server_would_refuse_are_refused_here(
    resources: dict[str, Any], expected: str
) -> None:
    # Else the operator's Deployment is invalid: it retries for ever, out of the user's sight.
    from daskburst.errors import UserError
    from daskburst.k8s.specs import role_resources

    with pytest.raises(UserError, match=re.escape(f"daskburst.kubernetes.resources.{expected}")):
        role_resources("scheduler", config={"scheduler": resources})
