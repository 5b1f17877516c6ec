"""checkov (infrastructure security scanner) finds nothing in what we deploy.

Scanned: every rendered kustomization, jobs/, and the Pods/Deployments/Services the operator
creates from them (rendered with its own build_* functions), next to k8s/'s NetworkPolicies.
Every skipped check must carry a one-line reason in its ``checkov.io/skipN`` annotation.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import require
from tests.k8s import manifests as m
from tests.k8s.operator_render import render_cluster, render_job

pytestmark = pytest.mark.k8s


def _checkov() -> str | None:
    for candidate in (
        os.environ.get("CHECKOV"),
        str(m.ROOT / "build" / "checkov-venv" / "bin" / "checkov"),
        shutil.which("checkov"),
    ):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def _write(path: Path, objs: list[dict[str, Any]]) -> None:
    path.write_text(yaml.safe_dump_all(objs, sort_keys=False))


def _scan_tree(tmp: Path) -> None:
    for d in m.kustomizations():
        # checkov has no checks for CRDs; they are 900 kB of schema that only slow it down.
        objs = [o for o in m.render(d) if o["kind"] != "CustomResourceDefinition"]
        name = str(d.relative_to(m.ROOT)).replace("/", "_")
        _write(tmp / f"kustomize_{name}.yaml", objs)
    platform = [o for o in m.render(m.ROOT / "k8s") if o["kind"] == "NetworkPolicy"]
    for path in m.job_files():
        (tmp / f"jobs_{path.name}").write_text(path.read_text())
        job = m.load(path)[0]
        if job["kind"] == "DaskJob":
            made = render_job(job, "daskburst", workers=2)
            objs = [made["runner"], made["scheduler"], made["service"], *made["workers"]]
            _write(tmp / f"operator_{path.stem}.yaml", objs + platform)
    # A user's script (`daskburst k8s manifest examples/delayed_loop.py`): job, ConfigMap, pods.
    from daskburst.k8s._usercode import user_job
    from daskburst.usercode import collect

    job, cm = user_job(
        "user-code", "delayed_loop.py", collect(m.ROOT / "examples"), namespace="daskburst"
    )
    made = render_job(job, "daskburst", workers=2)
    _write(tmp / "usercode_job.yaml", [job, cm])
    _write(tmp / "operator_usercode.yaml", [made["runner"], *made["workers"]] + platform)
    for overlay in ("kind", "cloud"):
        (cluster,) = [
            o
            for o in m.render(m.ROOT / "charts" / "dask-burst" / "overlays" / overlay)
            if o["kind"] == "DaskCluster"
        ]
        made = render_cluster(cluster, "daskburst", workers=2)
        objs = [made["scheduler"], made["service"], *made["workers"]]
        _write(tmp / f"operator_dask-burst-{overlay}.yaml", objs + platform)


def test_checkov_finds_no_failed_checks(tmp_path: Path) -> None:
    require(m.have_kubectl(), "kubectl (with built-in kustomize) is not on PATH")
    checkov = _checkov()
    require(checkov is not None, "checkov is not installed: run `make k8s-tools`")
    assert checkov is not None
    scan = tmp_path / "scan"
    scan.mkdir()
    _scan_tree(scan)
    proc = subprocess.run(
        [
            checkov,
            "--directory",
            str(scan),
            "--framework",
            "kubernetes",
            "--output",
            "json",
            "--quiet",
            "--compact",
            "--skip-download",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": ""},
    )
    assert proc.stdout.strip(), proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    reports = report if isinstance(report, list) else [report]
    failed, skipped = [], []
    for rep in reports:
        results = rep.get("results", {})
        failed += results.get("failed_checks", [])
        skipped += results.get("skipped_checks", [])
    assert reports and any(r.get("summary", {}).get("passed", 0) > 100 for r in reports)
    assert not failed, "\n".join(
        f"{c['check_id']} {c['check_name']}: {c['resource']} ({c['file_path']})" for c in failed
    )
    for check in skipped:
        reason = (check.get("check_result") or {}).get("suppress_comment", "")
        assert reason.strip() and "\n" not in reason, f"{check['check_id']} skipped without reason"
