"""daskburst.cluster-settings reach the clusters daskburst starts, unless the user set them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dask
import distributed  # noqa: F401  (registers distributed's config defaults)
import yaml

from daskburst import config
from daskburst.backends import BackendOptions, open_backend

ROOT = Path(__file__).resolve().parents[2]
PROFILE = "distributed.worker.profile.interval"
TICK = "distributed.admin.tick.interval"
TOP_PAD = "distributed.nanny.pre-spawn-environ.MALLOC_TOP_PAD_"


def test_settings_replace_distributeds_defaults() -> None:
    assert dask.config.get(PROFILE) == "10ms" and dask.config.get(TICK) == "20ms"
    assert config.cluster_settings() == {PROFILE: "100ms", TICK: "100ms", TOP_PAD: 1 << 26}


def test_a_value_the_user_set_wins() -> None:
    with dask.config.set({TICK: "5ms", TOP_PAD: 0}):
        assert config.cluster_settings() == {PROFILE: "100ms"}


def test_settings_can_be_configured_away() -> None:
    with dask.config.set({"daskburst.cluster-settings": {}}):
        assert config.cluster_settings() == {}


def test_distributeds_default_comes_back_through_our_key() -> None:
    env = {
        **os.environ,
        "DASK_DASKBURST__CLUSTER_SETTINGS__DISTRIBUTED__ADMIN__TICK__INTERVAL": "20ms",
    }
    code = "import json; from daskburst import config; print(json.dumps(config.cluster_settings()))"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {PROFILE: "100ms", TICK: "20ms", TOP_PAD: 1 << 26}


def test_env_name_is_what_dask_reads() -> None:
    name = config.env_name("distributed.admin.tick.interval")
    assert name == "DASK_DISTRIBUTED__ADMIN__TICK__INTERVAL"
    assert dask.config.collect_env({name: "7ms"}) == {
        "distributed": {"admin": {"tick": {"interval": "7ms"}}}
    }


def _worker_profile_interval() -> str:
    return str(dask.config.get(PROFILE))


def _worker_top_pad() -> str | None:
    return os.environ.get("MALLOC_TOP_PAD_")


def _scheduler_tick(dask_scheduler) -> float:  # noqa: ANN001 (client.run_on_scheduler's name)
    return float(dask_scheduler._tick_interval)


def test_local_cluster_runs_with_the_settings() -> None:
    with open_backend("local", BackendOptions(workers=2)) as session:
        intervals = session.client.run(_worker_profile_interval)
        tick = session.client.run_on_scheduler(_scheduler_tick)
        pads = session.client.run(_worker_top_pad)
    assert sorted(intervals.values()) == ["100ms", "100ms"]
    assert list(pads.values()) == ["67108864", "67108864"]
    assert tick == 0.1
    assert dask.config.get(PROFILE) == "10ms", "the settings must not outlive the session"


def test_local_cluster_keeps_the_users_value() -> None:
    with dask.config.set({PROFILE: "30ms"}), open_backend("local", BackendOptions(workers=1)) as s:
        assert list(s.client.run(_worker_profile_interval).values()) == ["30ms"]
        assert s.client.run_on_scheduler(_scheduler_tick) == 0.1


def test_local_adaptive_workers_get_the_settings() -> None:
    with open_backend("local", BackendOptions(adapt=(0, 1))) as session:
        # a task makes adapt() start a worker after the cluster was created
        future = session.client.submit(_worker_profile_interval, pure=False)
        assert future.result(timeout=120) == "100ms"


def test_image_bakes_in_the_same_settings() -> None:
    baked = yaml.safe_load((ROOT / "images" / "dask.yaml").read_text())
    wanted = config.flatten(dask.config.get("daskburst.cluster-settings"))
    assert wanted
    for key, value in wanted.items():
        assert dask.config.get(key, None, config=baked) == value, key


def test_image_and_manifests_give_the_scheduler_the_same_http_routes() -> None:
    """The image bakes the routes in (images/dask.yaml); manifests set them for any image
    (k8s/_specs.py). The operator's autoscaler needs the scheduler API in both."""
    from daskburst.k8s._specs import SCHEDULER_HTTP_ROUTES

    baked = yaml.safe_load((ROOT / "images" / "dask.yaml").read_text())
    routes = dask.config.get("distributed.scheduler.http.routes", None, config=baked)
    assert tuple(routes) == SCHEDULER_HTTP_ROUTES
    assert "distributed.http.scheduler.api" in routes


def test_kubernetes_workers_get_the_worker_environment_in_their_container() -> None:
    """A forked worker reads glibc's variables from its container's environment only."""
    from daskburst.k8s._specs import worker_pod_spec

    (container,) = worker_pod_spec()["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["MALLOC_TOP_PAD_"] == "67108864" and env["MALLOC_TRIM_THRESHOLD_"] == "65536"
    assert "MALLOC_TOP_PAD_" not in dask.config.get("distributed.nanny.pre-spawn-environ")


def test_the_worker_environment_can_be_turned_off() -> None:
    key = "daskburst.cluster-settings.distributed.nanny.pre-spawn-environ.MALLOC_TOP_PAD_"
    with dask.config.set({key: None}):
        assert TOP_PAD not in config.cluster_settings()
