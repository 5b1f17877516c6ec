"""The bag scanner counts and matches exactly what the tutorial's line-by-line filter does.

It never makes lines one by one, so every place a line can break is tried: lines cut at any
chunk boundary, ``\\r\\n`` and lone ``\\r`` endings, a last line without a newline, short lines,
the language in another field, non-ASCII titles, literal and non-literal patterns.
"""

from __future__ import annotations

import gzip
import io
import random
import re

import dask.bag as db
import pytest

from daskburst.data.parts import TextPart
from daskburst.data.sources import wikistats_parts
from daskburst.workloads import bag
from daskburst.workloads.bag import combine, scan_bytes, scan_bytes_of
from tests.helpers import require


@pytest.fixture(autouse=True, params=["compiled", "numpy"])
def scanner(request, monkeypatch):
    """Every test here runs with the compiled scanner (_scan.c) and with the numpy one."""
    if request.param == "numpy":
        monkeypatch.setattr(bag, "compiled", None)
    else:
        require(bag.compiled is not None, "the compiled scanner: reinstall with a C compiler")
    return request.param


TEXT = (
    "20090505 000000 en Barack_Obama 997 123091092\n"
    "20090505 000000 fr Barack_Obama 12 2000\n"
    "20090505 000000 en Michelle_Obama 3 40\r\n"
    "en en en Obama\n"  # five fields: never a match
    "\n"
    "20090505 000000 en Obama_(surname) 1 1\r"
    "20090505 000000 de en_Obama 1 1 extra fields\n"
    "20090505 000000 en Café_Obama_é 1 1\n"
    "x y en Obama  \n"  # six fields, the last two empty
    "20090505 000000 en obama_lowercase 1 1\n"
    "20090505 000000 en Obama_last_line_without_newline 1 1"
)


def scan_parts(parts, regex, language):
    """The bag's tasks, one after another, merged as its last task does."""
    return combine(scan_bytes_of(part, regex, language) for part in parts)


def _tutorial(text: str, regex: str, language: str | None) -> tuple[int, int, list[str]]:
    lines = io.StringIO(text, newline=None).readlines()

    def find(line: str) -> bool:  # the tutorial's filter, verbatim logic
        vals = line.split(" ")
        if len(vals) < 6:
            return False
        tmp = re.search(regex, vals[3])
        return not (tmp is None or (language is not None and vals[2] != language))

    found = [ln.rstrip("\r\n") for ln in lines if find(ln)]
    return len(lines), len(found), found[:5]


@pytest.mark.parametrize(
    ("regex", "language"),
    [
        ("Obama", "en"),
        ("Obama", None),
        ("O.ama", "en"),
        ("^Obama$|Obama_", None),
        ("é", "en"),
        ("Obama", "de"),
        ("nothing", "en"),
    ],  # fmt: skip
)
def test_every_chunking_gives_the_tutorials_answer(regex: str, language: str | None) -> None:
    want = _tutorial(TEXT, regex, language)
    assert want[0] == 11
    data = TEXT.encode()  # cut anywhere: inside \r\n and inside a two-byte character too
    for size in range(1, len(data) + 1):
        chunks = [data[i : i + size] for i in range(0, len(data), size)]
        assert scan_bytes(chunks, regex, language) == want, size


def test_the_compiled_scanner_is_built_and_used(scanner) -> None:
    """A wheel built with a C compiler has it (CI and the image require it to)."""
    if scanner == "compiled":
        assert bag.compiled is not None
        assert bag.compiled.line_stats(b"a\nb\r\n\xc3\xa9") == (2, False, True)
        assert bag.compiled.line_stats(b"a\n" * 40) == (40, True, False)
        assert bag.compiled.title_lines(b"1 2 en Obama 3 4\n", 0, 17, b"Obama", b"en", 5) == (
            1,
            [0],
        )


def _random_lines(seed: int, count: int) -> str:
    """Lines built to break a scanner that reads a window around each hit: the pattern in
    every field, twice in a title, at a title's either end, beside long fields (longer than
    the window) before and after it, with 4 to 8 fields, empty fields and look-alike codes."""
    rng = random.Random(seed)
    words = ["Obama", "Obam", "bama", "ObamaObama", "x", "", "é", "Café", "en", "_", "O"]
    codes = ["en", "en.b", "xen", "e", "", "de", "Obama", "en en"]

    def field(longest: int) -> str:
        n = rng.choice([0, 1, 2, 3, longest])
        return "_".join(rng.choice(words) for _ in range(n)) + "a" * rng.choice([0, 0, 80, 200])

    lines = []
    for _ in range(count):
        fields = [field(2), field(2), rng.choice(codes), field(6), field(2), field(3)]
        fields += [field(1) for _ in range(rng.choice([0, 0, 1, 2]))]
        lines.append(" ".join(fields[: rng.choice([4, 5, 6, 6, 6, 7, 8])]))
    return "\n".join(lines) + rng.choice(["", "\n"])


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize(("regex", "language"), [("Obama", "en"), ("Obama", None),
    ("é", "en.b"), ("a", "en"), ("ObamaObama", "en")])  # fmt: skip
def test_many_lines_give_the_tutorials_answer(seed: int, regex: str, language: str | None) -> None:
    text = _random_lines(seed, 3000)
    want = _tutorial(text, regex, language)
    assert want[1] > 0 or regex == "ObamaObama"
    data = text.encode()
    for size in (len(data), 4099, 65536):
        chunks = [data[i : i + size] for i in range(0, len(data), size)]
        assert scan_bytes(chunks, regex, language) == want, size


@pytest.mark.parametrize("language", ["en en", "en\n", "\nen"])
def test_a_language_no_field_can_hold_matches_nothing(language: str) -> None:
    text = _random_lines(4, 2000)
    assert scan_bytes([text.encode()], "Obama", language) == _tutorial(text, "Obama", language)
    assert _tutorial(text, "Obama", language)[1] == 0


def test_empty_and_newline_only_texts() -> None:
    assert scan_bytes([], "Obama", "en") == (0, 0, [])
    assert scan_bytes([b""], "Obama", "en") == (0, 0, [])
    assert scan_bytes([b"\n\n"], "Obama", "en") == (2, 0, [])
    assert scan_bytes([b"\r", b"\r", b"\n", b"\r"], "Obama", "en") == (3, 0, [])


@pytest.mark.parametrize(
    "data",
    [
        b"x y en Obama\xff 1 1\n",
        b"ok\n\xc3",
        b"\xc3" + b"a" * 10,
        b"a\n\xe9t\xe9\n",
        b"x y en Obama 1 1\n" * 40 + b"\xff" + b"a" * 40,
    ],  # fmt: skip
)
def test_invalid_utf8_anywhere_raises_as_reading_text_does(data: bytes) -> None:
    with pytest.raises(UnicodeDecodeError):
        io.TextIOWrapper(io.BytesIO(data), encoding="utf-8").read()
    for size in (1, 2, len(data)):
        with pytest.raises(UnicodeDecodeError):
            scan_bytes([data[i : i + size] for i in range(0, len(data), size)], "Obama", "en")


def test_files_blocks_and_compressed_parts_match_dask_read_text(tmp_path, monkeypatch) -> None:
    """Parts of plain files (in blocks ending at line ends) and of gzip files, each file on its
    own (a file without a final newline does not run into the next), equal read_text's lines."""
    body = TEXT * 40
    (tmp_path / "a.txt").write_bytes(body.encode())
    (tmp_path / "b.txt").write_bytes(b"")
    (tmp_path / "c.txt").write_bytes(body.encode())
    with gzip.open(tmp_path / "d.gz", "wb") as f:
        f.write(body.encode())
    lines = db.read_text(str(tmp_path / "*.txt")).compute(scheduler="sync")
    monkeypatch.setattr("daskburst.data.sources.blocksize", lambda paths: None if any(
        p.endswith(".gz") for p in paths) else "1KiB")  # fmt: skip
    parts = wikistats_parts(str(tmp_path / "*.txt"), seed=1)
    assert len(parts) > 2 and all(isinstance(p, TextPart) for p in parts)
    matched = sum(1 for ln in lines if _tutorial(ln, "Obama", "en")[1])
    assert scan_parts(parts, "Obama", "en")[:2] == (len(lines), matched)
    (gz,) = wikistats_parts(str(tmp_path / "d.gz"), seed=1)
    assert scan_parts([gz], "Obama", "en") == _tutorial(body, "Obama", "en")


def test_a_bad_utf8_file_fails_loudly(tmp_path) -> None:
    (tmp_path / "bad.txt").write_bytes(b"20090505 000000 en Obama\xff 1 1\n")
    (part,) = wikistats_parts(str(tmp_path / "bad.txt"), seed=1)
    with pytest.raises(UnicodeDecodeError):
        scan_parts([part], "Obama", "en")


def test_gzip_inputs_are_read_with_isal_and_without_it_give_the_same_answer(tmp_path) -> None:
    """ISA-L inflates the .gz inputs when installed (a dependency); without it, plain zlib
    reads the same bytes: the run's answer does not depend on the inflater."""
    import json
    import subprocess
    import sys

    from daskburst.data.wikistats import inflater

    body = TEXT * 2000
    with gzip.open(tmp_path / "d.gz", "wb") as f:
        f.write(body.encode())
    (gz,) = wikistats_parts(str(tmp_path / "d.gz"), seed=1)
    assert inflater() == "isal"
    with_isal = scan_parts([gz], "Obama", "en")
    assert with_isal == _tutorial(body, "Obama", "en")
    without = (
        "import json, sys\n"
        "sys.modules['isal'] = None  # as if not installed: importing it fails\n"
        "from daskburst.data.sources import wikistats_parts\n"
        "from daskburst.data.wikistats import inflater\n"
        "from daskburst.workloads.bag import scan_bytes_of\n"
        f"(gz,) = wikistats_parts({str(tmp_path / 'd.gz')!r}, seed=1)\n"
        "print(json.dumps([inflater(), scan_bytes_of(gz, 'Obama', 'en')]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", without], capture_output=True, text=True, timeout=120, check=True
    )
    name, answer = json.loads(out.stdout)
    assert name == "zlib"
    assert tuple(answer[:2]) == with_isal[:2] and answer[2] == list(with_isal[2])
