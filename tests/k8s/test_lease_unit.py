"""The lease of `--backend kubernetes` clusters: what the gc reads (pure parts)."""

from __future__ import annotations

from datetime import UTC, datetime

import dask

from daskburst.backends import BackendOptions
from daskburst.k8s import cluster_manifest
from daskburst.k8s._lease import EXPIRES, expires_at, lapsed, stamp

NOW = datetime(2026, 12, 5, 12, 0, 0, tzinfo=UTC)


def _cluster(name: str, expires: str | None) -> dict:
    annotations = {EXPIRES: expires} if expires is not None else {}
    return {"metadata": {"name": name, "annotations": annotations}}


def test_a_lease_is_seconds_after_the_server_time() -> None:
    assert stamp(NOW, 600) == "2026-12-05T12:10:00Z"
    assert expires_at(_cluster("a", stamp(NOW, 600))) == datetime(2026, 12, 5, 12, 10, tzinfo=UTC)


def test_only_clusters_whose_lease_ran_out_are_lapsed() -> None:
    clusters = [
        _cluster("ran-out", "2026-12-05T11:59:59Z"),
        _cluster("alive", "2026-12-05T12:00:01Z"),
        _cluster("a-jobs-own", None),  # no lease: never the gc's
        _cluster("unreadable", "yesterday"),  # kept; `kubectl get` shows it
    ]
    assert lapsed(clusters, NOW) == [("ran-out", datetime(2026, 12, 5, 11, 59, 59, tzinfo=UTC))]


def test_the_operator_idle_timeout_is_set_unless_turned_off() -> None:
    manifest = cluster_manifest(BackendOptions(workers=1), "c", "ns")
    assert manifest["spec"]["idleTimeout"] == 3600
    with dask.config.set({"daskburst.kubernetes.idle-timeout": 1800}):
        assert cluster_manifest(BackendOptions(workers=1), "c", "ns")["spec"]["idleTimeout"] == 1800
    with dask.config.set({"daskburst.kubernetes.idle-timeout": None}):
        assert "idleTimeout" not in cluster_manifest(BackendOptions(workers=1), "c", "ns")["spec"]
