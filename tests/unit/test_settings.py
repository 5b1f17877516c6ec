"""Settings from config get the checks their flags get, and name where they came from."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import dask
import pytest

from daskburst import config
from daskburst.errors import UserError

CMD = [sys.executable, "-m", "daskburst"]


def cli(*args, env=None, timeout=60):
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [*CMD, *args], capture_output=True, text=True, env=full_env, timeout=timeout, check=False
    )


def one_line_error(proc, *fragments):
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for f in fragments:
        assert f in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("value", ["0", "abc", "-2", "1.5"])
def test_workers_from_the_environment_is_checked_like_the_flag(value):
    proc = cli(
        "run",
        "calc-mean",
        "--n",
        "10",
        "--replicates",
        "1",
        "--backend",
        "local",
        env={"DASK_DASKBURST__WORKERS": value},
    )
    one_line_error(
        proc, "daskburst.workers", "environment variable DASK_DASKBURST__WORKERS", "positive"
    )


@pytest.mark.parametrize(
    ("var", "value", "fragments"),
    [
        (
            "DASK_DASKBURST__CALC_MEAN__REPLICATES",
            "abc",
            ["daskburst.calc-mean.replicates", "'abc'", "positive"],
        ),
        ("DASK_DASKBURST__SEED", "x", ["daskburst.seed", "DASK_DASKBURST__SEED"]),
        ("DASK_DASKBURST__WORKER_TIMEOUT", "soon", ["daskburst.worker-timeout", "seconds"]),
        ("DASK_DASKBURST__STREAM_CHUNK", "0", ["daskburst.stream-chunk", "positive"]),
        ("DASK_DASKBURST__BACKEND", "moon", ["daskburst.backend", "'moon'", "sync"]),
        ("DASK_DASKBURST__PROGRESS", "maybe", ["daskburst.progress", "auto"]),
        ("DASK_DASKBURST__ADAPT", "x", ["daskburst.adapt", "MIN:MAX"]),
    ],
)
def test_bad_setting_is_one_line_naming_it_and_its_source(var, value, fragments):
    backend = [] if var == "DASK_DASKBURST__BACKEND" else ["--backend", "sync"]
    proc = cli("run", "calc-mean", *backend, env={var: value})
    one_line_error(proc, *fragments, f"environment variable {var}")


def test_flag_still_named_when_the_flag_is_bad():
    proc = cli("run", "calc-mean", "--workers", "0", "--backend", "threads")
    one_line_error(proc, "--workers")


def test_setting_in_a_yaml_file_names_the_file(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("daskburst:\n  workers: many\n")
    proc = cli(
        "run", "calc-mean", "--n", "10", "--backend", "threads", env={"DASK_CONFIG": str(path)}
    )
    one_line_error(proc, "daskburst.workers", str(path), "'many'")


def test_broken_yaml_in_dask_config_is_one_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("daskburst:\n  workers: [1\n")
    proc = cli("workloads", env={"DASK_CONFIG": str(path)})
    line = one_line_error(proc, str(path), "invalid YAML", "line")
    assert "DASK_CONFIG" in line


def test_a_binary_file_in_dask_config_is_one_line(tmp_path):
    path = tmp_path / "binary.yaml"
    path.write_bytes(b"\x00\xae\xff" * 100)
    proc = cli("workloads", env={"DASK_CONFIG": str(tmp_path)})
    one_line_error(proc, str(path), "(DASK_CONFIG): not UTF-8 text")


@pytest.mark.parametrize("below", ["", "/sub"])
def test_a_cache_dir_that_is_a_file_is_one_line(tmp_path, below):
    afile = tmp_path / "hostname"
    afile.write_text("x")
    proc = cli("run", "bag", "--backend", "sync",
               env={"DASK_DASKBURST__CACHE_DIR": f"{afile}{below}"})  # fmt: skip
    one_line_error(proc, "daskburst.cache-dir", "DASK_DASKBURST__CACHE_DIR", "is not a directory")


@pytest.mark.parametrize("reader", ["head -1", "true"])
def test_a_closed_pipe_ends_quietly(reader):
    """`daskburst workloads | head -1`: no BrokenPipeError, the status a closed pipe gives.

    `true` closes the pipe before daskburst writes: always 141. `head -1` closes it after
    the first line, which may come with all the others in one write: 0 or 141.
    """
    proc = subprocess.run(
        f"{sys.executable} -m daskburst workloads | {reader}; exit ${{PIPESTATUS[0]}}",
        shell=True, executable="/bin/bash", capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert proc.stderr == "", proc.stderr
    if reader == "true":
        assert proc.returncode == 141
    else:
        assert proc.returncode in (0, 141)
        assert proc.stdout.startswith("calc-mean: ")


def test_a_null_value_in_a_yaml_file_is_one_line(tmp_path):
    path = tmp_path / "null.yaml"
    path.write_text("daskburst:\n  calc-mean:\n    n: null\n")
    proc = cli("run", "calc-mean", "--backend", "sync", env={"DASK_CONFIG": str(path)})
    one_line_error(proc, "daskburst.calc-mean.n", str(path), "positive integer")


def test_a_missing_key_names_the_setting():
    from daskburst.execute import prepare

    with dask.config.set({"daskburst.calc-mean": None}), pytest.raises(UserError) as info:
        prepare("calc-mean")
    assert "daskburst.calc-mean" in str(info.value) and "KeyError" not in str(info.value)
    with dask.config.set({"daskburst.calc-mean": 3}), pytest.raises(UserError) as info:
        prepare("calc-mean")
    assert "daskburst.calc-mean" in str(info.value) and "mapping" in str(info.value)


def test_broken_packaged_defaults_are_one_line(tmp_path, monkeypatch):
    broken = tmp_path / "daskburst.yaml"
    broken.write_text("daskburst:\n  seed: [\n")
    monkeypatch.setattr(config, "_DEFAULTS_FILE", broken)
    config._packaged.cache_clear()
    try:
        with pytest.raises(UserError) as info:
            config.reconfigure()
    finally:
        config._packaged.cache_clear()
    message = str(info.value)
    assert str(broken) in message and "invalid YAML" in message and "\n" not in message


def test_unknown_setting_is_warned_about_once():
    proc = cli(
        "run",
        "calc-mean",
        "--n",
        "10",
        "--replicates",
        "1",
        "--backend",
        "sync",
        env={"DASK_DASKBURST__WORKRES": "2"},
    )
    assert proc.returncode == 0, proc.stderr
    warned = [ln for ln in proc.stderr.splitlines() if "warning" in ln]
    assert len(warned) == 1, proc.stderr
    assert "daskburst.workres" in warned[0] and "daskburst.workers" in warned[0]
    assert "DASK_DASKBURST__WORKRES" in warned[0]


def test_known_settings_raise_no_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert config.unknown_keys() == []
        with dask.config.set(
            {
                "daskburst.cluster-settings.distributed.worker.memory.target": 0.5,
                "daskburst.array.rows": 7,
                "daskburst.worker_timeout": 3,
            }
        ):
            assert config.unknown_keys() == []
        with dask.config.set({"daskburst.array.rowz": 7}):
            assert config.unknown_keys() == ["array.rowz"]


def test_parse_int_accepts_what_the_flags_accept():
    assert config.parse_int("x", "1e6") == 1_000_000
    assert config.parse_int("x", "1_000") == 1000
    assert config.parse_int("x", 0, minimum=0) == 0
    for bad in (True, "1.5", "nan", None, 0):
        with pytest.raises(UserError):
            config.parse_int("x", bad)
