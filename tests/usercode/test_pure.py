"""The pure parts of user code: routing, the scan for scheduler overrides, the file selection."""

from __future__ import annotations

import os
import zipfile
from io import BytesIO
from pathlib import Path

import dask
import pytest

from daskburst.cli.run import SCRIPT_COMMAND, route
from daskburst.errors import UserError
from daskburst.usercode import collect, scan_source, ship_mode, zip_bytes


@pytest.mark.parametrize(
    ("argv", "routed", "script_args"),
    [
        (["run", "calc-mean", "--n", "5"], ["run", "calc-mean", "--n", "5"], None),
        (["run", "my.py", "--backend", "local", "--", "--n", "5", "--"],
         [SCRIPT_COMMAND, "my.py", "--backend", "local"], ["--n", "5", "--"]),
        (["--debug", "run", "pkg.mod:main"], ["--debug", SCRIPT_COMMAND, "pkg.mod:main"], []),
        (["run", "--help"], ["run", "--help"], None),
        (["k8s", "run", "x.py"], ["k8s", "run", "x.py"], None),
    ],
)  # fmt: skip
def test_route(argv: list[str], routed: list[str], script_args: list[str] | None) -> None:
    assert route(argv) == (routed, script_args)


def test_a_workload_name_that_is_a_file_goes_to_the_script_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert route(["run", "bag"])[0] == ["run", "bag"]
    (tmp_path / "bag").write_text("print(1)\n")
    assert route(["run", "bag"])[0] == [SCRIPT_COMMAND, "bag"]  # refused there, by name


SOURCE = """\
import dask
from dask.distributed import Client, LocalCluster, get_client
dask.config.set(scheduler="processes", num_workers=4)
dask.config.set({"scheduler": "threads"})
dask.config.set({"array.chunk-size": "64MiB"})
cluster = LocalCluster(n_workers=4)
c = Client(cluster)
c2 = Client(address="tcp://h:8786")
ok = Client()
also_ok = get_client()
x.compute(scheduler="threads")
dask.compute(x, scheduler="sync")
x.compute()
"""


def test_scan_names_each_override_and_nothing_else() -> None:
    found = [(o.line, o.what) for o in scan_source(SOURCE, "s.py")]
    assert found == [
        (3, "dask.config.set(scheduler=...)"),
        (4, "dask.config.set(scheduler=...)"),
        (6, "LocalCluster(...)"),
        (7, "Client(<address or cluster>)"),
        (8, "Client(<address or cluster>)"),
        (11, "compute(scheduler=...)"),
        (12, "compute(scheduler=...)"),
    ]
    assert scan_source("def (:", "broken.py") == []


def _tree(root: Path, files: dict[str, bytes | str]) -> None:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data if isinstance(data, bytes) else data.encode())


def test_collect_keeps_code_and_skips_the_rest(tmp_path: Path) -> None:
    _tree(tmp_path, {
        "main.py": "print(1)\n", "pkg/__init__.py": "", "pkg/mod.py": "X = 1\n",
        "settings.yaml": "a: 1\n", "README.md": "# hi\n",
        ".git/config": "x", "__pycache__/main.cpython-311.pyc": "x", "pkg/mod.pyc": "x",
        ".venv/bin/python": "x", "myenv/pyvenv.cfg": "x", "myenv/lib/site.py": "x",
        "data/a.csv": "x", "flights.parquet": "x", "logs.csv.gz": "x", "slurm-12.out": "x",
    })  # fmt: skip
    (tmp_path / "outside.py").symlink_to("/etc/hostname")
    wd = collect(tmp_path)
    assert sorted(wd.relpaths()) == [
        "README.md",
        "main.py",
        "pkg/__init__.py",
        "pkg/mod.py",
        "settings.yaml",
    ]
    assert wd.skipped >= 9
    names = zipfile.ZipFile(BytesIO(zip_bytes(wd.files))).namelist()
    assert sorted(names) == sorted(wd.relpaths())
    assert zip_bytes(wd.files) == zip_bytes(list(reversed(wd.files)))  # stable


def test_the_digest_follows_content_and_names(tmp_path: Path) -> None:
    _tree(tmp_path, {"a.py": "A = 1\n", "b.py": "B = 2\n"})
    first = collect(tmp_path).sha256
    assert collect(tmp_path).sha256 == first
    (tmp_path / "b.py").write_text("B = 3\n")
    assert collect(tmp_path).sha256 != first


def test_the_limit_is_on_compressed_bytes(tmp_path: Path) -> None:
    _tree(tmp_path, {"big.py": "x = 1\n" * 50_000})  # 300 kB that compress to about 1 kB
    with dask.config.set({"daskburst.user-code.max-bytes": "16KiB"}):
        assert collect(tmp_path).compressed < 16 * 1024
        _tree(tmp_path, {"noise.py": os.urandom(32 * 1024)})
        with pytest.raises(UserError, match=r"over the 16.00 kiB limit"):
            collect(tmp_path)
        assert collect(tmp_path, limit=None).bytes > 32 * 1024  # shared filesystem: no limit
    with dask.config.set({"daskburst.user-code.max-bytes": "lots"}):
        with pytest.raises(UserError, match=r"max-bytes.*'lots': expected a size"):
            collect(tmp_path)


def test_ship_modes() -> None:
    assert [ship_mode(b) for b in ("sync", "processes", "local", "address", "slurm",
                                   "kubernetes")] == [
        "off", "off", "upload", "upload", "shared", "upload"]  # fmt: skip
    assert ship_mode("slurm", "upload") == "upload"
    with pytest.raises(UserError, match="--ship 'scp': expected one of auto, upload"):
        ship_mode("local", "scp")
