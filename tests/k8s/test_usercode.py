"""A user's script as a DaskJob plus a working-directory ConfigMap (offline, no cluster)."""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from daskburst.k8s import _usercode as uc
from daskburst.k8s._submit import build_submission
from daskburst.usercode import MOUNT_PATH, collect
from tests.k8s import manifests as m
from tests.k8s.operator_render import render_job

pytestmark = pytest.mark.k8s

EXAMPLES = m.ROOT / "examples"


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "daskburst", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


def _tree(tmp: Path) -> Path:
    (tmp / "pkg").mkdir()
    (tmp / "main.py").write_text("import dask\nfrom pkg.helper import f\nprint(f())\n")
    (tmp / "pkg" / "__init__.py").write_text("")
    (tmp / "pkg" / "helper.py").write_text("def f():\n    return 1\n")
    (tmp / "pkg" / "blob.bin").write_bytes(b"\xff\x00\xfe")
    return tmp


def _objs(root: Path, script: str = "main.py", **kw: Any) -> list[dict[str, Any]]:
    return uc.user_job("main", script, collect(root), ["--n", "3"], namespace="daskburst", **kw)


def test_nested_paths_are_items_and_binary_files_binary_data(tmp_path: Path) -> None:
    job, cm = _objs(_tree(tmp_path))
    assert cm["kind"] == "ConfigMap" and cm["metadata"]["name"] == "main-workdir"
    assert all("/" not in k for k in [*cm.get("data", {}), *cm.get("binaryData", {})])
    runner = job["spec"]["job"]["spec"]
    (vol,) = [v for v in runner["volumes"] if v["name"] == uc.VOLUME]
    paths = {i["path"]: i["key"] for i in vol["configMap"]["items"]}
    assert set(paths) == {"main.py", "pkg/__init__.py", "pkg/helper.py", "pkg/blob.bin"}
    blob = cm["binaryData"][paths["pkg/blob.bin"]]
    assert base64.b64decode(blob) == b"\xff\x00\xfe"
    assert cm["data"][paths["pkg/helper.py"]].startswith("def f()")


def test_runner_and_workers_mount_it_read_only_on_pythonpath(tmp_path: Path) -> None:
    job, _ = _objs(_tree(tmp_path), seed=7)
    worker = job["spec"]["cluster"]["spec"]["worker"]["spec"]
    scheduler = job["spec"]["cluster"]["spec"]["scheduler"]["spec"]
    for pod in (job["spec"]["job"]["spec"], worker, scheduler):
        (c,) = pod["containers"]
        (mount,) = [v for v in c["volumeMounts"] if v["name"] == uc.VOLUME]
        assert mount == {"name": uc.VOLUME, "mountPath": MOUNT_PATH, "readOnly": True}
        assert {"name": "PYTHONPATH", "value": MOUNT_PATH} in c["env"]
        assert c["securityContext"]["readOnlyRootFilesystem"] is True
    runner = job["spec"]["job"]["spec"]["containers"][0]
    assert runner["args"] == [
        "daskburst", "run", f"{MOUNT_PATH}/main.py", "--backend", "kubernetes",
        "--adapt", "1:3", "--seed", "7", "--no-progress", "--", "--n", "3",
    ]  # fmt: skip
    env = {e["name"]: e.get("value") for e in runner["env"]}
    assert env["DASK_DASKBURST__USER_CODE__SHIP"] == "off"
    # Attached to its own cluster, like jobs/calc-mean.yaml's runner.
    assert "DASK_DASKBURST__KUBERNETES__CLUSTER_NAME" in env


def test_objects_validate_against_the_crd_and_operator_rendering(tmp_path: Path) -> None:
    job, cm = _objs(_tree(tmp_path))
    m.validate(job)
    made = render_job(job, "daskburst", workers=2)
    for obj in (made["runner"], *made["workers"]):
        m.validate(obj)
    for obj in (job, cm):
        assert obj["metadata"]["labels"]["app.kubernetes.io/instance"] == "main"
        assert obj["metadata"]["labels"][uc.WORKDIR_LABEL] == "main"


def test_submission_renames_the_configmap_and_owner_follows_the_uid(tmp_path: Path) -> None:
    objs = _objs(_tree(tmp_path))
    job, cm = build_submission(objs, "ns1", name="mine-1")
    assert cm["metadata"]["name"] == "mine-1-workdir" and cm["metadata"]["namespace"] == "ns1"
    for pod in (job["spec"]["job"]["spec"], job["spec"]["cluster"]["spec"]["worker"]["spec"]):
        (vol,) = [v for v in pod["volumes"] if v["name"] == uc.VOLUME]
        assert vol["configMap"]["name"] == "mine-1-workdir"
    owned = uc.own(cm, job, "1234")
    (ref,) = owned["metadata"]["ownerReferences"]
    assert ref == {
        "apiVersion": "kubernetes.dask.org/v1", "kind": "DaskJob", "name": "mine-1",
        "uid": "1234", "blockOwnerDeletion": False,
    }  # fmt: skip


class _Created:
    def __init__(self, raw: dict[str, Any], log: list[str]) -> None:
        self.raw = {**raw, "metadata": {**raw["metadata"], "uid": "u-" + raw["kind"]}}
        self.log = log

    def delete(self) -> None:
        self.log.append("delete " + self.raw["kind"])


def test_create_all_owns_the_configmap_and_rolls_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from daskburst.errors import BackendError
    from daskburst.k8s import _submit

    objs = build_submission(_objs(_tree(tmp_path)), "ns", name="x")
    log: list[str] = []
    seen: list[dict[str, Any]] = []

    def ok(manifest: dict[str, Any], api: Any = None) -> _Created:
        seen.append(manifest)
        return _Created(manifest, log)

    monkeypatch.setattr(_submit, "create_strict", ok)
    _submit.create_all(objs)
    assert seen[1]["metadata"]["ownerReferences"][0]["uid"] == "u-DaskJob"

    def second_fails(manifest: dict[str, Any], api: Any = None) -> _Created:
        if manifest["kind"] == "ConfigMap":
            raise RuntimeError("boom")
        return _Created(manifest, log)

    monkeypatch.setattr(_submit, "create_strict", second_fails)
    with pytest.raises(BackendError):
        _submit.create_all(objs)
    assert log == ["delete DaskJob"]

    def interrupted(manifest: dict[str, Any], api: Any = None) -> _Created:
        if manifest["kind"] == "ConfigMap":
            raise KeyboardInterrupt
        return _Created(manifest, log)

    log.clear()
    monkeypatch.setattr(_submit, "create_strict", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _submit.create_all(objs)
    assert log == ["delete DaskJob"]


def test_manifest_command_writes_both_objects_for_kubectl() -> None:
    proc = _cli("k8s", "manifest", str(EXAMPLES / "delayed_loop.py"), "--seed", "3", "--",
                "--n", "5")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    job, cm = list(yaml.safe_load_all(proc.stdout))
    assert (job["kind"], cm["kind"]) == ("DaskJob", "ConfigMap")
    assert job["spec"]["job"]["spec"]["containers"][0]["args"][-3:] == ["--", "--n", "5"]
    assert "ownerReferences" not in cm["metadata"]
    files = {i["path"] for i in job["spec"]["job"]["spec"]["volumes"][1]["configMap"]["items"]}
    assert {"delayed_loop.py", "calc_mean.py", "_report.py"} <= files
    m.validate(job)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["nope.py"], "nope.py"),
        (["{examples}"], "is a directory"),
        (["{bad}"], "invalid syntax"),
        (["{examples}/delayed_loop.py", "--adapt", "3:1"], "--adapt '3:1'"),
        (["{examples}/delayed_loop.py", "--workdir", "{tmp}"], "does not hold"),
        (["jobs/bag.yaml"], "a DaskJob manifest is already one"),
    ],
)
def test_bad_input_is_one_line_exit_2(tmp_path: Path, args: list[str], expected: str) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("def (:\n")
    fill = {"examples": str(EXAMPLES), "bad": str(bad), "tmp": str(tmp_path)}
    proc = _cli("k8s", "manifest", *(a.format(**fill) for a in args))
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert expected in proc.stderr


def test_working_directory_over_the_limit_is_refused(tmp_path: Path) -> None:
    import os

    (tmp_path / "main.py").write_text("print(1)\n")
    (tmp_path / "noise.py").write_bytes(os.urandom(2 * 2**20).hex().encode())
    proc = _cli("k8s", "manifest", str(tmp_path / "main.py"))
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "over the 1" in proc.stderr and "user-image" in proc.stderr
