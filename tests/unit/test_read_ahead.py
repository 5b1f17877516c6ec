"""A .gz input inflated one chunk ahead, in a thread of its own, gives the same bytes.

``daskburst.gzip-read-ahead`` lets one file keep two cores busy (ISA-L inflates while the
scan works): the bytes, the errors and the results must be those of the plain read, and no
thread may outlive the read, even one stopped halfway.
"""

from __future__ import annotations

import gzip
import os
import random
import subprocess
import sys
import threading
import time

import dask
import fsspec
import pytest

from daskburst.data.parts import CHUNK_BYTES, TextPart
from daskburst.data.sources import wikistats_parts
from daskburst.workloads.bag import scan_bytes


@pytest.fixture(scope="module")
def big_gz(tmp_path_factory):
    # Several chunks of text that compresses about as the real logs do.
    rng = random.Random(5)
    titles = ["Barack_Obama", "Main_Page", "Obama", "Café", "x" * 40]
    lines = [
        f"2009 {i} {rng.choice(['en', 'fr', 'de'])} {rng.choice(titles)}_{i % 977} 1 {i}\n"
        for i in range(400_000)
    ]
    text = "".join(lines).encode()
    assert len(text) > 3 * CHUNK_BYTES
    path = tmp_path_factory.mktemp("ahead") / "big.gz"
    path.write_bytes(gzip.compress(text, 1))
    return path, text


def _part(path, read_ahead, files=1):
    file = fsspec.open(str(path), mode="rb", compression="infer")
    return TextPart(file, read_ahead=read_ahead, files=files)


def _inflating_threads():
    return [t for t in threading.enumerate() if "_decompress" in t.name]


def _no_inflating_thread_within(seconds=10.0):
    deadline = time.monotonic() + seconds
    while _inflating_threads():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_read_ahead_gives_the_same_bytes_and_answer(big_gz):
    path, text = big_gz
    plain, ahead = _part(path, "off"), _part(path, "on")
    assert b"".join(ahead.chunks()) == text == b"".join(plain.chunks())
    assert scan_bytes(ahead.chunks(), "Obama", "en") == scan_bytes(plain.chunks(), "Obama", "en")
    assert _no_inflating_thread_within()


def test_read_ahead_inflates_in_a_thread_that_ends_with_the_read(big_gz):
    path, _ = big_gz
    chunks = _part(path, "on").chunks()
    next(chunks)
    assert len(_inflating_threads()) == 1  # the next chunk is being inflated meanwhile
    chunks.close()  # a scan that stops halfway (an error in the text)
    assert _no_inflating_thread_within()
    plain = _part(path, "off").chunks()
    next(plain)
    assert not _inflating_threads()
    plain.close()


def test_read_ahead_raises_what_the_plain_read_raises(big_gz, tmp_path):
    path, _ = big_gz
    cut = tmp_path / "cut.gz"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    errors = []
    for ahead in ("off", "on"):
        with pytest.raises(Exception) as info:
            b"".join(_part(cut, ahead).chunks())
        errors.append((type(info.value), str(info.value)))
    assert errors[0] == errors[1], errors
    assert _no_inflating_thread_within()


@pytest.mark.parametrize("cores, files, threaded", [(4, 1, True), (4, 3, True), (4, 4, False)])
def test_auto_reads_ahead_when_the_run_has_fewer_files_than_cores(
    big_gz, monkeypatch, cores, files, threaded
):
    path, _ = big_gz
    monkeypatch.setattr(dask.system, "CPU_COUNT", cores)
    chunks = _part(path, "auto", files).chunks()
    next(chunks)
    assert bool(_inflating_threads()) is threaded
    chunks.close()
    assert _no_inflating_thread_within()


@pytest.mark.parametrize("value, mode", [("auto", "auto"), (True, "on"), (False, "off")])
def test_the_setting_reaches_the_parts(big_gz, value, mode):
    path, _ = big_gz
    glob = str(path.parent / "*.gz")
    with dask.config.set({"daskburst.gzip-read-ahead": value}):
        parts = wikistats_parts(glob, 1)
    assert [(p.read_ahead, p.files) for p in parts] == [(mode, 1)]


def test_a_bad_setting_is_one_line_and_exit_2(big_gz):
    path, _ = big_gz
    env = {**os.environ, "DASK_DASKBURST__GZIP_READ_AHEAD": "maybe"}
    proc = subprocess.run(
        [sys.executable, "-m", "daskburst", "run", "bag", "--input", str(path), "--backend",
         "sync"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "gzip-read-ahead 'maybe'" in lines[0], proc.stderr
    assert "expected auto, true or false" in lines[0]
