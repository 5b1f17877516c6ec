"""The checks of `scripts/k8s/e2e_check.py` (`make k8s-test`) can fail: each is shown failing.

They used to pass whatever the cluster held: every error counted as "nothing there", pods were
listed in the default namespace only, and "installing twice changes nothing" was not checked.
"""

from __future__ import annotations

import importlib.util
import json
from types import ModuleType

import pytest

from tests.cluster.conftest import NAMESPACE, ROOT, Cluster

pytestmark = [pytest.mark.cluster]


@pytest.fixture
def e2e(cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.setenv("KUBECONFIG", str(cluster.kubeconfig))
    spec = importlib.util.spec_from_file_location("e2e_check", ROOT / "scripts/k8s/e2e_check.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_leftover_check_sees_pods_in_every_namespace(e2e: ModuleType) -> None:
    left = e2e._leftovers()
    assert any(x.startswith("pod/dask-operator/dask-kubernetes-operator-") for x in left), left
    assert "namespace/daskburst" in left and "crd/daskjobs.kubernetes.dask.org" in left


def test_the_check_that_installing_again_changes_nothing_fails_on_drift(
    cluster: Cluster, e2e: ModuleType
) -> None:
    from daskburst import k8s

    objs = k8s.platform_manifests(ROOT, kubectl=cluster.kubectl_bin, bundled=True)
    quota = json.loads(
        cluster.kubectl("get", "resourcequota", "daskburst", "-n", NAMESPACE, "-o", "json").stdout
    )
    pods = quota["spec"]["hard"]["pods"]
    cluster.kubectl("patch", "resourcequota", "daskburst", "-n", NAMESPACE, "--type=merge",
                    "-p", json.dumps({"spec": {"hard": {"pods": "7"}}}))  # fmt: skip
    try:
        assert e2e.installing_again_changes(objs) == [f"ResourceQuota/{NAMESPACE}/daskburst"]
    finally:
        cluster.kubectl("patch", "resourcequota", "daskburst", "-n", NAMESPACE, "--type=merge",
                        "-p", json.dumps({"spec": {"hard": {"pods": pods}}}))  # fmt: skip
    assert e2e.installing_again_changes(objs) == []


def test_a_failing_api_call_fails_the_check_instead_of_finding_nothing(e2e: ModuleType) -> None:
    import kr8s

    # The API server refuses the request (400): that is not "no pods".
    with pytest.raises(kr8s.ServerError):
        e2e._list("pods", NAMESPACE, selector="app in (")
    assert e2e._list("daskwidgets.kubernetes.dask.org") == [], "only an unknown type is none"
