"""The command line: bad input is one line and exit 2; output is atomic and complete."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys

import pytest

from daskburst.cli import main

CMD = [sys.executable, "-m", "daskburst"]


def cli(*args, env=None, timeout=120):
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [*CMD, *args], capture_output=True, text=True, env=full_env, timeout=timeout, check=False
    )


def assert_user_error(proc, *fragments):
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for f in fragments:
        assert f in lines[0], lines[0]


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    (d / "fake.gz").write_text("this is not gzip\n")
    (d / "wrong.csv").write_text("a,b,c\n1,2,3\n")
    with gzip.open(d / "ok.gz", "wt") as f:
        f.write("20081113 100000 en Obama 1 2\n")
    return d


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["run", "nope"], ["'nope'", "calc-mean"]),
        (["run", "calc-mean", "--backend", "moon"], ["'moon'", "sync"]),
        (["run", "calc-mean", "--n", "0"], ["--n", "'0'", "positive integer"]),
        (["run", "calc-mean", "--n", "abc"], ["--n", "'abc'", "positive integer"]),
        (["run", "calc-mean", "--replicates", "-3"], ["--replicates", "'-3'"]),
        (["run", "array", "--rows", "1.5"], ["--rows", "'1.5'"]),
        (["run", "array", "--chunks", "5,x"], ["--chunks", "'5,x'", "R,C"]),
        (["run", "array", "--chunks", "5"], ["--chunks", "'5'"]),
        (["run", "array", "--rows", "10", "--cols", "10", "--adapt", "5:2"], ["5:2", "MIN <= MAX"]),
        (["run", "array", "--adapt", "two"], ["'two'", "MIN:MAX"]),
        (["run", "calc-mean-sweep", "--means", "0,1", "--sds", "1"], ["--means", "--sds"]),
        (["run", "calc-mean-sweep", "--means", "a,b"], ["--means", "'a,b'"]),
        (
            ["run", "bag", "--input", "/nonexistent/part-*.gz"],
            ["/nonexistent/part-*.gz", "no file"],
        ),
        (["run", "bag", "--regex", "("], ["--regex", "regular expression"]),
        (["run", "dataframe", "--carrier", "toolongcode"], ["--carrier", "'toolongcode'"]),
        (["run", "calc-mean", "--seed", "-1"], ["--seed", "'-1'"]),
        (["run", "calc-mean", "--workers", "0", "--backend", "threads"], ["--workers 0"]),
        (["data", "airline", "--out", "OUT", "--rows", "-5"], ["--rows -5", "positive"]),
        (["data", "wikistats", "--out", "OUT", "--lines", "10", "--files", "20"], ["--files 20"]),
        (["data", "to-parquet", "--input", "/nonexistent/*.csv", "--out", "OUT"], ["no file"]),
        (["bogus"], ["bogus"]),
        (["run", "calc-mean", "--unknown-flag"], ["--unknown-flag", "`daskburst run calc-mean --help`"]),
        # Sizes no backend starts, and flags a backend would silently ignore.
        (["run", "calc-mean", "--workers", "99999999999"], ["--workers 99999999999", "at most 1000"]),
        (["run", "calc-mean", "--workers", "999", "--backend", "processes"], ["4 per core"]),
        (["run", "calc-mean", "--adapt", "1:5000", "--backend", "slurm"], ["1:5000", "at most 1000"]),
        (["run", "calc-mean", "--adapt", "1:3", "--backend", "processes"], ["--adapt 1:3", "does not scale"]),
        (["run", "calc-mean", "--adapt", "1:3", "--workers", "2"], ["--workers 2 with --adapt 1:3"]),
        (["run", "calc-mean", "--threads-per-worker", "2", "--backend", "threads"],
         ["--threads-per-worker 2", "--workers N"]),
        (["run", "calc-mean", "--backend", "local", "--queue", "debug"],
         ["--queue: options of SLURM worker jobs", "expected --backend slurm"]),
        # No prefix matching, no flag given twice, a negative value's spelling.
        (["run", "calc-mean", "--rep", "3"], ["unrecognized arguments: --rep 3"]),
        (["run", "calc-mean", "--n", "5", "--n=6"], ["--n given 2 times", "expected once"]),
        (["run", "calc-mean-sweep", "--means", "-1,0"], ["--means=-1,0"]),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_exit_2(args, fragments, tmp_path):
    args = [str(tmp_path / "out") if a == "OUT" else a for a in args]
    assert_user_error(cli(*args), *fragments)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_not_gzip(bad_files):
    assert_user_error(cli("run", "bag", "--input", str(bad_files / "fake.gz")), "not a gzip")


def test_csv_without_schema(bad_files):
    assert_user_error(
        cli("run", "dataframe", "--input", str(bad_files / "wrong.csv")),
        "missing column",
        "DepDelay",
    )


def test_debug_shows_traceback():
    proc = cli("run", "calc-mean", "--n", "0", "--debug")
    assert proc.returncode == 2 and "Traceback" in proc.stderr


def test_visualize_without_graphviz_is_clear(tmp_path, monkeypatch):
    import shutil

    if shutil.which("dot"):
        pytest.skip("graphviz is installed here; the error path cannot be shown")
    out = tmp_path / "g.svg"
    proc = cli(
        "run",
        "calc-mean",
        "--n",
        "10",
        "--replicates",
        "2",
        "--backend",
        "sync",
        "--visualize",
        str(out),
    )
    assert_user_error(proc, "graphviz")
    assert not out.exists()


def test_run_writes_record(tmp_path, bad_files):
    out = tmp_path / "r.json"
    proc = cli(
        "run", "bag", "--input", str(bad_files / "ok.gz"), "--backend", "sync", "--output", str(out)
    )
    assert proc.returncode == 0, proc.stderr
    record = json.loads(out.read_text())
    assert set(record) >= {
        "workload",
        "params",
        "backend",
        "workers",
        "seconds",
        "result",
        "versions",
    }
    assert record["result"]["lines"] == 1 and record["result"]["matches"] == 1
    assert len(record["result"]["digest"]) == 64
    assert "digest" in proc.stdout and "matches: 1" in proc.stdout
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]
    # When, where, what was asked for, and the command that asked.
    import datetime
    import socket

    started = datetime.datetime.fromisoformat(record["started"])
    assert started.tzinfo is not None and started <= datetime.datetime.fromisoformat(
        record["ended"]
    )
    assert record["host"] == socket.gethostname()
    assert record["requested"] == {"workers": None, "threads_per_worker": None, "adapt": None}
    assert record["command"].startswith("daskburst run bag --input ")
    # What it cost: the tasks dask ran, the peak memory, the files read.
    assert isinstance(record["tasks"], int) and record["tasks"] >= 1
    assert record["peak_memory"]["bytes"] > 10 * 2**20
    assert "sampled" in record["peak_memory"]["of"]
    assert record["input_files"] == [str(bad_files / "ok.gz")]


def test_output_to_a_pipe_or_device_writes_into_it_and_leaves_it_one(tmp_path):
    # As root, a rename onto /dev/null would have replaced the device with a file (it did:
    # `--output /dev/null`). A FIFO takes the same path without risking the machine's.
    import stat
    import threading

    fifo = tmp_path / "record.fifo"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    args = ("run", "calc-mean", "--n", "10", "--replicates", "1", "--backend", "sync")
    proc = cli(*args, "--output", str(fifo))
    reader.join(60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(got[0])["workload"] == "calc-mean"
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["record.fifo"]
    assert cli(*args, "--output", "/dev/null").returncode == 0
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_output_dir_missing_writes_nothing(tmp_path):
    out = tmp_path / "no" / "r.json"
    proc = cli(
        "run",
        "calc-mean",
        "--n",
        "10",
        "--replicates",
        "1",
        "--backend",
        "sync",
        "--output",
        str(out),
    )
    assert_user_error(proc, "--output")
    assert not (tmp_path / "no").exists()


def test_python_api_matches_cli(tmp_path):
    import daskburst

    out = tmp_path / "r.json"
    assert (
        main(
            [
                "run",
                "array",
                "--rows",
                "300",
                "--cols",
                "200",
                "--backend",
                "sync",
                "--output",
                str(out),
            ]
        )
        == 0
    )
    api = daskburst.run("array", backend="threads", rows=300, cols=200)
    assert api == json.loads(out.read_text())["result"]


def test_env_overrides_defaults():
    proc = cli("workloads", env={"DASK_DASKBURST__ARRAY__ROWS": "1234"})
    assert proc.returncode == 0
    assert "(default: 1234)" in proc.stdout
    proc = cli(
        "run",
        "calc-mean",
        "--replicates",
        "2",
        "--n",
        "100",
        "--output",
        "-",
        env={"DASK_DASKBURST__BACKEND": "threads", "DASK_DASKBURST__SEED": "5"},
    )
    record = json.loads(proc.stdout)
    assert record["backend"] == "threads" and record["seed"] == 5


def test_auto_backend_uses_address_from_environment():
    proc = cli(
        "run",
        "calc-mean",
        "--n",
        "10",
        "--replicates",
        "1",
        env={"DASK_SCHEDULER_ADDRESS": "tcp://127.0.0.1:9", "DASK_DASKBURST__CONNECT_TIMEOUT": "1"},
    )
    assert proc.returncode == 1
    assert "127.0.0.1:9" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_address_backend_runs_on_existing_scheduler():
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=":0") as cluster:
        proc = cli(
            "run",
            "calc-mean",
            "--n",
            "1000",
            "--replicates",
            "3",
            "--output",
            "-",
            env={"DASK_SCHEDULER_ADDRESS": cluster.scheduler_address},
        )
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)
    assert record["backend"] == "address"
    import daskburst

    assert record["result"] == daskburst.run("calc-mean", backend="sync", n=1000, replicates=3)


def test_workloads_lists_everything():
    proc = cli("workloads")
    for name in ("calc-mean", "calc-mean-sweep", "array", "bag", "dataframe", "--chunks"):
        assert name in proc.stdout
    # Defaults as one would type them, not Python's reprs.
    assert "(default: 200000,4)" in proc.stdout
    assert "(default: the generated sample)" in proc.stdout
    assert "{" not in proc.stdout and "None" not in proc.stdout


@pytest.mark.parametrize("kind", ["airline", "wikistats", "to-parquet"])
def test_every_data_flag_has_help(kind):
    from daskburst.cli import build_parser

    parser = build_parser()
    sub = parser._subparsers._group_actions[0].choices["data"]
    kind_parser = sub._subparsers._group_actions[0].choices[kind]
    undocumented = [a.option_strings[0] for a in kind_parser._actions
                    if a.option_strings and not a.help]  # fmt: skip
    assert undocumented == []


def test_ctrl_c_tears_the_cluster_down():
    import signal
    import threading

    import psutil

    args = ["run", "calc-mean", "--replicates", "200", "--n", "1e8", "--backend", "local",
            "--workers", "1"]  # fmt: skip
    # faulthandler: on a hang, SIGABRT prints every thread's stack (this failed once in CI
    # with a timeout, and could not be reproduced).
    env = {**os.environ, "PYTHONFAULTHANDLER": "1"}
    proc = subprocess.Popen([*CMD, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, env=env)  # fmt: skip
    err: list[str] = []
    came_up = threading.Event()

    def drain() -> None:
        # Read stderr to the end, so that a chatty shutdown can never block on a full pipe.
        for line in proc.stderr:
            err.append(line)
            if "dashboard" in line:
                came_up.set()

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        parent = psutil.Process(proc.pid)
        assert came_up.wait(60), "the cluster never came up: " + "".join(err)
        children = parent.children(recursive=True)
        assert children, "expected worker processes"
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGABRT)
            proc.wait(timeout=30)
            reader.join(10)
            pytest.fail(
                "no exit 60 s after Ctrl-C; its stacks and stderr:\n" + "".join(err)[-20000:]
            )
        reader.join(30)
        assert code == 130, "".join(err)
        assert "interrupted" in "".join(err)
        gone, alive = psutil.wait_procs(children, timeout=30)
        assert not alive, f"left behind: {alive}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_internal_error_exits_1_not_2(monkeypatch, capsys):
    import numpy as np

    from daskburst.errors import InternalError, UserError
    from daskburst.execute import prepare

    prep = prepare("array", rows=3, cols=2)
    with pytest.raises(InternalError) as info:
        prep.plan.finalize([np.zeros(2)])
    assert not isinstance(info.value, UserError)
    # a broken invariant reaching the CLI is a failure (1), never "bad input" (2)
    monkeypatch.setattr(
        "daskburst.execute.compute", lambda prep, session: prep.plan.finalize([np.zeros(1)])
    )
    assert main(["run", "array", "--rows", "3", "--cols", "2", "--backend", "sync"]) == 1
    err = capsys.readouterr().err
    assert "internal error" in err and len(err.strip().splitlines()) == 1


def test_address_without_backend_uses_that_address():
    # Before: the address was ignored and a new local cluster computed the run (exit 0).
    proc = cli(
        "run",
        "calc-mean",
        "--n",
        "10",
        "--replicates",
        "1",
        "--address",
        "tcp://127.0.0.1:1",
        env={"DASK_DASKBURST__CONNECT_TIMEOUT": "1"},
    )
    assert proc.returncode == 1, proc.stderr
    assert "tcp://127.0.0.1:1" in proc.stderr and "connection refused" in proc.stderr
    assert "dashboard" not in proc.stderr


def test_address_with_another_backend_is_refused():
    proc = cli("run", "calc-mean", "--backend", "local", "--address", "tcp://127.0.0.1:1")
    assert_user_error(proc, "--address", "--backend local")


def test_empty_input_is_an_error_not_the_sample():
    for workload in ("bag", "dataframe"):
        proc = cli("run", workload, "--input", "", "--backend", "sync")
        assert_user_error(proc, "--input ''", "expected")
        proc = cli("run", workload, "--input", "  ", "--backend", "sync")
        assert_user_error(proc, "--input '  '")


def test_output_is_checked_before_computing(tmp_path, monkeypatch):
    def must_not_run(*args, **kwargs):
        raise AssertionError("computed although the output path is bad")

    monkeypatch.setattr("daskburst.execute.compute", must_not_run)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    for out in (tmp_path / "missing" / "r.json", blocker / "r.json", tmp_path):
        for flag in ("--output", "--visualize"):
            code = main(["run", "calc-mean", "--n", "10", "--backend", "sync", flag, str(out)])
            assert code == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_record_shows_every_setting_that_changes_the_numbers(tmp_path):
    out = tmp_path / "r.json"
    env = {"DASK_DASKBURST__STREAM_CHUNK": "1000", "DASK_DASKBURST__ARRAY__CHUNK_BYTES": "8000"}
    proc = cli(
        "run", "calc-mean", "--n", "5000", "--replicates", "2", "--backend", "processes",
        "--workers", "2", "--output", str(out), env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    record = json.loads(out.read_text())
    assert record["params"] == {"replicates": 2, "n": 5000, "stream_chunk": 1000}
    import daskburst

    # the worker processes used the chunk the record shows, whatever their own config says
    want = daskburst.run("calc-mean", backend="sync", n=5000, replicates=2, stream_chunk=1000)
    assert record["result"] == want
    assert want != daskburst.run("calc-mean", backend="sync", n=5000, replicates=2)
    proc = cli("run", "array", "--rows", "30", "--cols", "100", "--backend", "sync",
               "--output", "-", env=env)  # fmt: skip
    assert json.loads(proc.stdout)["params"]["chunks"] == [10, 100]


def test_stream_chunk_is_a_flag():
    proc = cli("run", "calc-mean", "--stream-chunk", "0", "--backend", "sync")
    assert_user_error(proc, "--stream-chunk", "'0'")


def test_record_counts_the_workers_that_really_ran(tmp_path):
    import daskburst.execute as execution

    record = execution.execute("calc-mean", backend="threads", workers=4, replicates=1, n=1000)
    assert record["workers"] == 1  # one task: one thread really ran (4 were configured)
    record = execution.execute("calc-mean", backend="local", workers=2, replicates=4, n=1000)
    assert record["workers"] == 2


@pytest.mark.parametrize("kind", ["airline", "wikistats"])
def test_data_refuses_a_directory_that_holds_files(tmp_path, kind):
    out = tmp_path / "out"
    size = "--rows" if kind == "airline" else "--lines"
    args = ["data", kind, "--out", str(out), size, "20", "--files", "2", "--backend", "sync"]
    assert cli(*args).returncode == 0
    first = sorted(p.name for p in out.iterdir())
    assert len(first) == 3 and ".daskburst-output.json" in first  # two files and the marker
    assert_user_error(cli(*args), "--out", "already holds files", "--force")
    proc = cli(*args, "--force", "--seed", "9")  # its own output: replaced
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no temporary left


@pytest.mark.parametrize("kind", ["airline", "wikistats"])
def test_force_never_deletes_files_daskburst_did_not_write(tmp_path, kind):
    size = "--rows" if kind == "airline" else "--lines"
    proj = tmp_path / "proj"
    (proj / "src").mkdir(parents=True)
    (proj / "src" / "thesis.tex").write_text("\\section{Results}")
    (proj / "notes.md").write_text("notes")
    args = ["data", kind, size, "20", "--files", "2", "--backend", "sync", "--force"]
    assert_user_error(
        cli(*args, "--out", str(proj)), "did not write there", "--force replaces only"
    )
    assert (proj / "src" / "thesis.tex").read_text() == "\\section{Results}"
    # daskburst's own output with a file of the user's added later: refused too
    data = tmp_path / "data"
    assert cli(*args, "--out", str(data)).returncode == 0
    (data / "my-notes.txt").write_text("mine")
    assert_user_error(cli(*args, "--out", str(data)), "(e.g. my-notes.txt)")
    assert (data / "my-notes.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "proj"]


@pytest.mark.parametrize(
    ("out", "says"),
    [("", "empty"), (".", "the current directory"), ("..", "a directory above this one"),
     ("/", "a directory above this one"), ("~", "the home directory")],
)  # fmt: skip
def test_data_refuses_the_places_that_are_never_its_own(tmp_path, out, says):
    (tmp_path / "keep.txt").write_text("keep")
    proc = subprocess.run(
        [*CMD, "data", "wikistats", "--lines", "20", "--backend", "sync", "--force", "--out", out],
        capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path,
        env={**os.environ, "HOME": str(tmp_path) if out == "~" else os.environ.get("HOME", "/")},
    )  # fmt: skip
    assert_user_error(proc, f"--out {out!r}: ", says)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_data_into_a_place_it_cannot_write_is_one_line(tmp_path):
    proc = cli("data", "airline", "--rows", "10", "--backend", "sync", "--out", "/proc/x")
    assert_user_error(proc, "--out '/proc/x': cannot write in '/proc'")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    proc = cli("data", "airline", "--rows", "10", "--backend", "sync", "--out", f"{blocker}/x")
    assert_user_error(proc, "is not a directory")


def test_a_glob_of_daskburst_output_skips_its_marker(tmp_path):
    out = tmp_path / "wiki"
    args = ["--lines", "200", "--files", "2", "--backend", "sync"]
    assert cli("data", "wikistats", "--out", str(out), *args).returncode == 0
    proc = cli("run", "bag", "--input", f"{out}/*", "--backend", "sync")
    assert proc.returncode == 0, proc.stderr
    assert "lines: 200" in proc.stdout


def test_data_into_an_empty_directory(tmp_path):
    out = tmp_path / "empty"
    out.mkdir()
    proc = cli("data", "wikistats", "--out", str(out), "--lines", "10", "--backend", "sync")
    assert proc.returncode == 0, proc.stderr
    assert len(list(out.glob("*.gz"))) == 4 and (out / ".daskburst-output.json").is_file()


@pytest.mark.parametrize("asked", [[], ["--progress"]])
def test_progress_lines_when_stderr_is_not_a_terminal(asked):
    proc = cli(
        "run", "calc-mean", "--replicates", "6", "--n", "1e7", "--backend", "threads", *asked,
        env={"DASK_DASKBURST__PROGRESS_INTERVAL": "0.02"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "progress: " in proc.stderr and "tasks) after" in proc.stderr
    assert "\r" not in proc.stderr


def test_recorded_params_run_again_to_the_same_result(tmp_path):
    import daskburst.execute as execution

    for workload, params in (
        ("calc-mean", {"replicates": 2, "n": 3000}),
        ("array", {"rows": 40, "cols": 30}),
        ("bag", {"input": "synthetic", "sample": "300,2"}),
        ("dataframe", {"sample": "400,2"}),
    ):
        record = execution.execute(workload, backend="sync", **params)
        again = execution.execute(workload, backend="sync", **record["params"])
        assert again["params"] == record["params"] and again["result"] == record["result"]
    gz = tmp_path / "day.gz"
    gz.write_bytes(gzip.compress(b"20081113 100000 en Obama 1 2\n"))
    record = execution.execute("bag", backend="sync", input=str(gz), sample="5,1")
    assert "sample" not in record["params"]  # files, not generated data: no sample size


def _fake_demo(monkeypatch):
    """Run `daskburst demo` without computing: record the backend and options it opens."""
    import contextlib
    import types

    import daskburst.backends
    import daskburst.execute

    opened = {}

    @contextlib.contextmanager
    def open_backend(name, opts):
        opened.update(name=name, opts=opts)
        yield types.SimpleNamespace(backend=name, workers=1, dashboard_link=None)

    monkeypatch.setattr(daskburst.backends, "open_backend", open_backend)
    monkeypatch.setattr(daskburst.execute, "prepare", lambda name, **kw: _Prep(name))
    monkeypatch.setattr(daskburst.execute, "compute", lambda prep, session: {"digest": "0" * 64})
    monkeypatch.setattr("daskburst.cli.run.DEMO", (("bag", {}),))
    return opened


def test_demo_honours_its_backend_flags(monkeypatch, capsys):
    opened = _fake_demo(monkeypatch)
    code = main(["demo", "--backend", "local", "--threads-per-worker", "3", "--adapt", "1:4"])
    assert code == 0, capsys.readouterr().err
    assert opened["name"] == "local"
    opts = opened["opts"]
    assert (opts.workers, opts.threads_per_worker, opts.adapt) == (None, 3, (1, 4))
    assert opts.address is None
    assert main(["demo", "--backend", "local", "--workers", "2"]) == 0
    assert opened["opts"].workers == 2


def test_demo_follows_the_configured_backend_and_address(monkeypatch, capsys):
    opened = _fake_demo(monkeypatch)
    import dask

    with dask.config.set({"daskburst.backend": "threads"}):
        assert main(["demo"]) == 0, capsys.readouterr().err
    assert opened["name"] == "threads"
    assert main(["demo", "--address", "tcp://127.0.0.1:1"]) == 0
    assert opened["name"] == "address"
    assert opened["opts"].address == "tcp://127.0.0.1:1"


class _Prep:
    def __init__(self, name):
        from daskburst.workloads import WORKLOADS

        self.workload = WORKLOADS[name]


def test_help_shows_the_configured_values():
    """Every flag backed by a setting shows the value in force now, wherever it was set:
    the packaged default, an environment variable, or daskburst's jobqueue defaults."""
    env = {
        "DASK_DASKBURST__CALC_MEAN__REPLICATES": "7",
        "DASK_DASKBURST__WORKERS": "3",
        "DASK_JOBQUEUE__SLURM__CORES": "4",
        "COLUMNS": "400",  # one line per flag
    }
    text = cli("run", "calc-mean", "--backend", "slurm", "--help", env=env).stdout
    for shown in ("daskburst.calc-mean.replicates = 7", "daskburst.calc-mean.n = 1000000",
                  "daskburst.workers = 3", "daskburst.seed = 20261127",
                  "jobqueue.slurm.cores = 4", "jobqueue.slurm.memory = 2GB",
                  "daskburst.slurm.lifetime = auto"):  # fmt: skip
        assert shown in text, shown
    env = {"DASK_DASKBURST__KUBERNETES__IMAGE": "registry.example/daskburst:1", "COLUMNS": "400"}
    text = cli("k8s", "submit", "--help", env=env).stdout
    assert "daskburst.kubernetes.image = registry.example/daskburst:1" in text
    assert "daskburst.kubernetes.retries = 0" in text


@pytest.mark.parametrize("target", ["calc-mean", "analysis.py"])
def test_the_slurm_flags_are_in_the_help_only_with_backend_slurm(target):
    hidden = cli("run", target, "--help", env={"COLUMNS": "400"}).stdout
    assert "--walltime" not in hidden and "--queue VALUE" not in hidden
    command = "calc-mean" if target == "calc-mean" else "SCRIPT.py"
    assert f"`daskburst run {command} --backend slurm --help`" in hidden
    assert "--replicates" in hidden or target != "calc-mean"
    shown = cli("run", target, "--backend=slurm", "--help", env={"COLUMNS": "400"}).stdout
    assert "--walltime VALUE" in shown and "--queue VALUE" in shown
    # `slurm job-script` is about them: always there.
    assert "--walltime VALUE" in cli("slurm", "job-script", "--help").stdout


def test_no_command_is_a_usage_error_on_stderr():
    proc = cli()
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "usage: daskburst" in proc.stderr


@pytest.mark.parametrize(
    ("env", "yaml_text", "says"),
    [
        ({"DASK_DASKBURST_WORKERS": "3"}, None,
         "environment variable DASK_DASKBURST_WORKERS is ignored: settings take two underscores"),
        ({}, "daskburst: 5\n", "daskburst: 5 in {file} is ignored: expected a mapping"),
        ({}, "daskburst:\n  limits: null\n", "daskburst.limits: null in {file} is ignored"),
    ],
)  # fmt: skip
def test_settings_dask_would_drop_are_named(tmp_path, env, yaml_text, says):
    if yaml_text is not None:
        (tmp_path / "mine.yaml").write_text(yaml_text)
        env = {**env, "DASK_CONFIG": str(tmp_path)}
    proc = cli("run", "calc-mean", "--replicates", "2", "--n", "10", "--backend", "sync",
               "--no-progress", env=env)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert f"daskburst: warning: {says.format(file=tmp_path / 'mine.yaml')}" in proc.stderr


def test_importing_daskburst_leaves_other_config_alone():
    code = (
        "import dask, dask_jobqueue; before = dask.config.config.copy()\n"
        "import daskburst, daskburst.slurm._jobs as j\n"
        "from daskburst.backends import BackendOptions\n"
        "kwargs = j.job_kwargs(BackendOptions())\n"
        "changed = [k for k in before if dask.config.config.get(k) != before[k]]\n"
        "print(changed, kwargs['cores'], kwargs['memory'], dask.config.get('jobqueue.slurm.cores'))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    # daskburst's SLURM defaults reach dask-jobqueue as arguments, not through the global config.
    assert proc.stdout.split() == ["[]", "1", "2GB", "None"], proc.stdout + proc.stderr


def test_an_empty_subset_gets_a_note():
    proc = cli("run", "dataframe", "--carrier", "ZZ", "--backend", "sync", "--sample", "2000,2")
    assert proc.returncode == 0, proc.stderr
    assert "subset_rows: 0" in proc.stdout
    assert "note: no flight of carrier 'ZZ' from origin" in proc.stdout


def test_demo_status_goes_to_stderr_and_the_table_to_stdout(monkeypatch, capsys):
    _fake_demo(monkeypatch)
    assert main(["demo", "--backend", "sync"]) == 0
    out, err = capsys.readouterr()
    assert "preparing inputs" in err and "running 1 workloads" in err and "done: bag" in err
    assert out.splitlines()[0].split() == ["workload", "seconds", "result", "digest"]


def test_the_python_api_gives_the_record_too():
    import daskburst

    record = daskburst.run_record("calc-mean", backend="sync", replicates=2, n=100, seed=4)
    assert record["result"] == daskburst.run("calc-mean", backend="sync", replicates=2, n=100,
                                             seed=4)  # fmt: skip
    assert record["params"]["replicates"] == 2 and record["backend"] == "sync"
    assert "command" not in record and record["requested"]["workers"] is None
    assert record["input_files"] == []  # calc-mean reads no file


@pytest.mark.parametrize("backend", ["threads", "local"])
def test_the_record_counts_the_tasks_the_scheduler_ran(backend):
    """Local schedulers count the graph they run; a cluster's scheduler counts its span."""
    import daskburst

    small = daskburst.run_record("calc-mean", backend=backend, workers=2, replicates=2, n=10**6)
    large = daskburst.run_record("calc-mean", backend=backend, workers=2, replicates=8, n=10**6)
    # A replicate of 1e6 draws has tasks of its own (replicates.batches): 6 more replicates.
    assert 1 <= small["tasks"] < large["tasks"], (small["tasks"], large["tasks"])
    assert large["peak_memory"]["bytes"] > 10 * 2**20


def test_a_scheduler_that_cannot_count_gives_none_not_a_guess():
    from daskburst.backends._measure import span_tasks

    class Foreign:
        def run_on_scheduler(self, function, **kwargs):
            raise RuntimeError("no such handler")

    assert span_tasks(Foreign(), "any") is None


def test_the_summary_says_why_fewer_workers_ran_than_were_asked_for():
    proc = cli("run", "calc-mean", "--backend", "threads", "--workers", "40", "--replicates", "3",
               "--n", "1000")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0].startswith(
        "calc-mean on threads (3 of 40 workers had work at once): "
    ), proc.stdout
    plain = cli("run", "calc-mean", "--backend", "sync", "--replicates", "3", "--n", "1000")
    assert plain.stdout.splitlines()[0].startswith("calc-mean on sync (1 worker): "), plain.stdout


def test_backend_options_a_backend_would_ignore_are_refused_from_python_and_cli(tmp_path):
    import daskburst
    from daskburst.errors import UserError

    with pytest.raises(UserError, match=r"--queue \(backend_extra 'queue'\): the local backend "
                       r"does not use it; expected --backend slurm"):  # fmt: skip
        daskburst.run("calc-mean", backend="local", backend_extra={"queue": "short"})
    script = tmp_path / "s.py"
    script.write_text("print(1)\n")
    proc = cli("run", str(script), "--image", "x:1", "--backend", "threads")
    assert_user_error(proc, "--image", "the threads backend does not use it",
                      "expected --backend kubernetes")  # fmt: skip
