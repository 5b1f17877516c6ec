"""Every input problem is one line naming the file and the problem, on every backend."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from daskburst.backends import BackendOptions, open_backend
from daskburst.cli import main
from daskburst.data import airline, wikistats
from daskburst.errors import UserError
from daskburst.execute import compute, prepare

CMD = [sys.executable, "-m", "daskburst"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("inputs")
    gz = wikistats.file_bytes(0, 20_000, 1)
    (d / "cut.gz").write_bytes(gz[: len(gz) * 3 // 4])
    bz = airline.file_bytes(0, 6000, 1, "bz2")
    (d / "cut.csv.bz2").write_bytes(bz[: len(bz) * 3 // 4])
    # A non-numeric DepDelay far into the file: past the rows dask samples for types,
    # so it fails inside a task.
    lines = airline.csv_bytes(0, 4000, 1).decode("latin1").splitlines()
    column = lines[0].split(",").index("DepDelay")
    row = lines[3900].split(",")
    row[column] = "late"
    lines[3900] = ",".join(row)
    (d / "words.csv").write_text("\n".join(lines) + "\n", encoding="latin1")
    # A row with one field too many and one with too few: pandas' C parser, given usecols,
    # read them without a word (the digest of a clean file).
    lines = airline.csv_bytes(0, 4000, 1).decode("latin1").splitlines()
    lines[3900] += ",extra"
    lines[3950] = ",".join(lines[3950].split(",")[:-2])
    (d / "fields.csv").write_text("\n".join(lines) + "\n", encoding="latin1")
    (d / "other-header.csv").write_text(
        "\n".join([",".join(reversed(lines[0].split(","))), *lines[1:3]]) + "\n", encoding="latin1"
    )
    good = d / "good"
    good.mkdir()
    for i in range(2):
        (good / f"part-{i}.csv").write_bytes(airline.csv_bytes(i, 500, 2))
        (good / f"day-{i}.gz").write_bytes(wikistats.file_bytes(i, 300, 2))
    (good / "day-2.gz").write_bytes(wikistats.file_bytes(2, 300, 2))
    return d


@pytest.fixture(scope="module", params=["sync", "threads", "processes", "local"])
def session(request):
    with open_backend(request.param, BackendOptions(workers=2)) as s:
        yield s


@pytest.mark.parametrize(
    ("workload", "name", "problem"),
    [
        ("bag", "cut.gz", "truncated: the gzip data ends early"),
        ("dataframe", "cut.csv.bz2", "truncated: the bz2 data ends early"),
        ("dataframe", "words.csv", "column DepDelay holds 'late' on line 3901"),
        (
            "dataframe",
            "fields.csv",
            "2 row(s) with a number of fields other than the header's 29 (first: line 3901, "
            "30 fields)",
        ),
    ],
)
def test_bad_file_is_named_with_its_problem(files, session, workload, name, problem):
    with pytest.raises(UserError) as info:
        compute(prepare(workload, input=str(files / name)), session)
    message = str(info.value)
    assert message.startswith(f"--input {str(files / name)!r}: {problem}"), message
    assert "\n" not in message


def test_truncated_file_on_a_cluster_is_one_line(files):
    proc = subprocess.run(
        [*CMD, "run", "bag", "--input", str(files / "cut.gz"), "--backend", "local",
         "--workers", "1"],
        capture_output=True, text=True, timeout=120, check=False, env=dict(os.environ),
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if not ln.startswith("dashboard: ")]
    assert len(lines) == 1 and "cut.gz" in lines[0] and "truncated" in lines[0], proc.stderr


def test_a_parquet_directory_is_an_input(files, tmp_path):
    csvs = str(files / "good" / "part-*.csv")
    out = tmp_path / "air.parquet"
    assert (
        main(["data", "to-parquet", "--input", csvs, "--out", str(out), "--backend", "sync"]) == 0
    )
    with open_backend("sync") as s:
        from_dir = compute(prepare("dataframe", input=str(out)), s)
        assert from_dir == compute(prepare("dataframe", input=csvs), s)


def test_csv_files_with_different_headers_are_refused(files, tmp_path):
    # dask reads every CSV file with the first one's header: columns would be mislabelled.
    (tmp_path / "a.csv").write_bytes((files / "good" / "part-0.csv").read_bytes())
    (tmp_path / "b.csv").write_bytes((files / "other-header.csv").read_bytes())
    with pytest.raises(UserError, match=r"b\.csv'?: its header differs from .*a\.csv"):
        prepare("dataframe", input=str(tmp_path / "*.csv"))


@pytest.mark.parametrize("workload", ["bag", "dataframe"])
def test_another_directory_says_what_was_expected(files, workload):
    with pytest.raises(UserError, match="is a directory.*expected a glob of"):
        prepare(workload, input=str(files / "good"))


def test_glob_with_a_character_class(files):
    with open_backend("sync") as s:
        two = compute(prepare("bag", input=str(files / "good" / "day-[01].gz")), s)
        three = compute(prepare("bag", input=str(files / "good" / "day-*.gz")), s)
    assert two["lines"] == 600 and three["lines"] == 900
    with pytest.raises(UserError, match="no file matches"):
        prepare("bag", input=str(files / "good" / "day-[89].gz"))


def test_missing_file_is_named(files):
    with pytest.raises(UserError, match="no such file"):
        prepare("dataframe", input=str(files / "nope.csv"))


def _cli(*args, env=None):
    return subprocess.run([*CMD, *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})}, check=False)  # fmt: skip


@pytest.mark.parametrize(
    ("workload", "kind", "pattern"),
    [("bag", "wikistats", "part-00001.gz"), ("dataframe", "airline", "airline-0001.csv.bz2")],
)
def test_a_damaged_cached_sample_is_named_with_the_way_out(tmp_path, workload, kind, pattern):
    env = {"DASK_DASKBURST__CACHE_DIR": str(tmp_path)}
    args = ("run", workload, "--sample", "2000,2", "--backend", "sync", "--no-progress")
    assert _cli(*args, env=env).returncode == 0
    (cached,) = tmp_path.glob(f"{kind}-*")
    damaged = cached / pattern
    damaged.write_bytes(damaged.read_bytes()[:200])
    proc = _cli(*args, env=env)
    assert proc.returncode == 2, proc.stderr
    (line,) = proc.stderr.strip().splitlines()[-1:]
    assert f"the cached {kind} sample is damaged: file {str(damaged)!r}: truncated" in line
    assert f"delete {str(cached)!r} and run again" in line
    assert "Traceback" not in proc.stderr


def test_an_unreachable_url_is_one_line():
    proc = _cli("run", "bag", "--input", "http://127.0.0.1:9/day-*.gz")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert "--input 'http://127.0.0.1:9/day-*.gz': cannot reach it" in proc.stderr


def test_a_fifo_is_refused_instead_of_blocking(tmp_path):
    fifo = tmp_path / "day-0.gz"
    os.mkfifo(fifo)
    for given in (str(fifo), str(tmp_path / "day-*.gz")):
        proc = _cli("run", "bag", "--input", given)
        assert proc.returncode == 2, proc.stderr
        assert f"--input {str(fifo)!r}: not a regular file" in proc.stderr
