"""bag: count Wikipedia page-count lines and find the ones whose title matches a regex."""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from types import ModuleType
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from daskburst.data import shown
from daskburst.data.parts import TextPart
from daskburst.data.sources import (
    generated,
    sample_size,
    wikistats_parts,
    wikistats_problem,
)
from daskburst.errors import UserError
from daskburst.workloads._base import (
    Param,
    Plan,
    Workload,
    generated_input_estimate,
    input_source,
    optional_text,
    text,
    with_digest,
)

SAMPLE_SIZE = 5

compiled: ModuleType | None
try:  # the compiled scanner (_scan.c), built with the wheel where a C compiler is found
    from daskburst.workloads import _scan as compiled
except ImportError:  # pragma: no cover - the numpy scan below gives the same answers
    compiled = None


def find(line: str, regex: str = "Obama", language: str | None = "en") -> bool:
    """The tutorial's filter: title (field 4) matches ``regex`` and language is ``language``.

    Lines with fewer than six space-separated fields never match.

    Args:
        line: One log line.
        regex: Pattern searched in the page title.
        language: Required language code, or None for any.

    Returns:
        Whether the line matches.
    """
    vals = line.split(" ")
    if len(vals) < 6:
        return False
    if language is not None and vals[2] != language:
        return False
    return re.search(regex, vals[3]) is not None


def translate_newlines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    r"""Turn ``\r\n`` and a lone ``\r`` into ``\n``, as Python reads text (newline=None).

    A ``\r`` ending a chunk waits for the next one, which may start with ``\n``.
    """
    held = False
    for chunk in chunks:
        chunk, held = translate_chunk(chunk, held)
        yield chunk
    if held:
        yield b"\n"


def translate_chunk(chunk: bytes, held: bool) -> tuple[bytes, bool]:
    r"""One chunk of :func:`translate_newlines`: the chunk, and whether its last ``\r`` waits.

    ``held``: the chunk before this one ended in a ``\r`` that waited.
    """
    if held:
        chunk = b"\r" + chunk
        held = False
    if b"\r" in chunk:
        if chunk.endswith(b"\r"):
            chunk, held = chunk[:-1], True
        chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    return chunk, held


def lines_holding(data: bytes, start: int, stop: int, needle: bytes) -> Iterator[tuple[int, int]]:
    """Yield ``(begin, end)`` of each line of ``data[start:stop]`` holding ``needle``, once."""
    find, rfind = data.find, data.rfind
    pos = find(needle, start, stop)
    while pos != -1:
        end = find(b"\n", pos, stop)
        if end == -1:
            end = stop
        yield rfind(b"\n", start, pos) + 1 or start, end
        pos = find(needle, end + 1, stop)


#: Bytes :func:`title_lines` looks at on each side of a hit: the start of a line up to the
#: title, and two more fields after it. A line longer than that is tested on its own.
WINDOW = 64


def title_lines(
    data: bytes,
    start: int,
    stop: int,
    needle: bytes,
    code: bytes | None,
    accepts: Callable[[bytes], bool],
) -> np.ndarray:
    r"""Find the lines of ``data[start:stop]`` whose title holds ``needle``, all at once.

    The lines are those ``accepts`` takes (six fields, language ``code``, ``needle`` in
    the title), tested without a Python step per line: numpy finds the needle's rarest
    byte, keeps the places where the whole needle is, and reads the :data:`WINDOW`
    bytes on each side of every one: a hit is in the title when exactly three spaces
    stand between the line's start and it, and two more before the line's end. The
    language is the field before the title. Hits too close to the ends of ``data``, or
    in a line longer than the windows, are tested by ``accepts``.

    Args:
        data: Text with ``\n`` line ends (``data[start - 1]`` and ``data[stop]`` are
            line ends or outside ``data``).
        start: First byte of the first whole line.
        stop: End of the last line.
        needle: The literal searched in the title: no space or newline in it.
        code: Language, or None for any: no space or newline in it.
        accepts: The one-line test, for the lines tested on their own.

    Returns:
        The offsets of the matching lines' first bytes, ascending.
    """
    size, w = len(needle), WINDOW
    a = np.frombuffer(data, dtype=np.uint8)
    if stop - start < size:
        return np.empty(0, dtype=np.intp)
    seen = np.bincount(a[start : start + (1 << 16)], minlength=256)
    rare = int(np.argmin(seen[list(needle)]))
    hits = np.flatnonzero(a[start + rare : stop - size + 1 + rare] == needle[rare]) + start
    for i in range(size):
        if i != rare and hits.size:
            hits = hits[a[hits + i] == needle[i]]
    if hits.size * w > stop - start:  # about a hit a line: a step per line costs less
        lines = lines_holding(data, start, stop, needle)
        return np.array([b for b, e in lines if accepts(data[b:e])], dtype=np.intp)
    near_ends = (hits < start + w) | (hits + size + w > a.size)
    alone = [hits[near_ends]]
    hits = hits[~near_ends]
    found = [np.empty(0, dtype=np.intp)]
    if hits.size:
        windows = sliding_window_view(a, w)
        cols = np.arange(w)

        before = windows[hits - w]  # the w bytes before each hit
        newline = before == 10
        line_col = w - 1 - np.argmax(newline[:, ::-1], axis=1)  # its line's newline before it
        spaces = (before == 32) & (cols > line_col[:, None])
        ok = np.count_nonzero(spaces, axis=1) == 3  # fields 0, 1, 2 before it: in the title
        starts = newline.any(axis=1)  # else the line began before the window
        alone.append(hits[~starts])
        ok &= starts
        if code is not None:  # field 2: a space, the code, the space before the title
            space = hits - 1 - np.argmax(spaces[:, ::-1], axis=1) - len(code) - 1
            ok &= space >= 0
            space = np.where(ok, space, 0)
            ok &= a[space] == 32
            for i, byte in enumerate(code):
                ok &= a[space + 1 + i] == byte

        after = windows[hits + size]  # the w bytes after each hit
        newline = after == 10
        ends = newline.any(axis=1)
        end_col = np.where(ends, np.argmax(newline, axis=1), w)
        two_more = np.count_nonzero((after == 32) & (cols < end_col[:, None]), axis=1) >= 2
        sure = ends | two_more  # else the line goes on past the window with one field
        alone.append(hits[~sure])
        ok &= two_more

        found.append(hits[ok] - w + line_col[ok] + 1)
    end = start
    for pos in np.unique(np.concatenate(alone)).tolist():
        if pos < end:
            continue  # a line already tested
        begin = data.rfind(b"\n", start, pos) + 1 or start
        end = data.find(b"\n", pos, stop)
        end = stop if end == -1 else end
        if accepts(data[begin:end]):
            found.append(np.array([begin]))
    return np.unique(np.concatenate(found))


def _newlines(chunk: bytes) -> int:
    # numpy counts a byte about four times faster than bytes.count.
    return int(np.count_nonzero(np.frombuffer(chunk, dtype=np.uint8) == 10))


def scan_bytes(
    chunks: Iterable[bytes], regex: str, language: str | None
) -> tuple[int, int, list[str]]:
    r"""Count the lines of one UTF-8 text and the ones ``find`` accepts, reading it in chunks.

    Lines are those of reading the text as a file with universal newlines (as
    ``dask.bag.read_text`` does): each ends at a ``\n``, ``\r\n`` or ``\r``, and a last
    piece without one is a line too; invalid UTF-8 anywhere raises ``UnicodeDecodeError``.
    Lines are never made one by one: a chunk's are counted in one pass. A literal pattern
    is found in the titles of a whole chunk at once, by the compiled scanner
    (:data:`compiled`, ``_scan.c``) or, where it was not built, by numpy
    (:func:`title_lines`); otherwise only lines holding `` LANGUAGE `` are split and
    tested, one by one. With a literal the compiled scan takes about a quarter of the time
    ISA-L takes to inflate the input, the numpy one a little longer than ISA-L; any other
    pattern costs a Python step per line in the language (about ten times as long).

    Args:
        chunks: The text's bytes, in order, in pieces of any size.
        regex: Pattern searched in the title.
        language: Language code, or None for any.

    Returns:
        ``(lines, matches, first matches)`` with at most five samples, newline stripped.
    """
    search = re.compile(regex).search
    literal = regex if regex and re.escape(regex) == regex else None
    text_needle = literal or (f" {language} " if language is not None else None)
    needle = text_needle.encode() if text_needle is not None else None
    utf8 = codecs.getincrementaldecoder("utf-8")()
    total = matched = 0
    sample: list[str] = []
    scanner = compiled

    # Tested as bytes: a space is one byte in UTF-8 and never part of another character,
    # so the fields are the same, and a literal is in the title's bytes when it is in the
    # title (the text is valid UTF-8: checked chunk by chunk below).
    in_title = needle if literal is not None else None  # the needle is the literal then
    code = language.encode() if language is not None else None
    at_once = in_title is not None and not {32, 10} & set(code or b"")

    def accepts(raw: bytes) -> bool:
        vals = raw.split(b" ", 5)
        if len(vals) != 6 or (code is not None and vals[2] != code):
            return False
        if in_title is not None:
            return in_title in vals[3]
        return search(vals[3].decode()) is not None

    def test(raw: bytes) -> None:
        nonlocal matched
        if accepts(raw):
            matched += 1
            if len(sample) < SAMPLE_SIZE:
                sample.append(raw.decode())

    def scan(data: bytes, start: int, stop: int) -> None:
        """Test the lines of ``data[start:stop]`` (whole lines, ``stop`` at a line end)."""
        if needle is None:
            for raw in data[start:stop].split(b"\n"):
                test(raw)
            return
        if at_once and in_title is not None:
            nonlocal matched
            want = SAMPLE_SIZE - len(sample)
            if scanner is not None:
                count, first = scanner.title_lines(data, start, stop, in_title, code, want)
            else:
                starts = title_lines(data, start, stop, in_title, code, accepts)
                count, first = starts.size, starts[:want].tolist()
            matched += count
            for begin in first:
                end = data.find(b"\n", begin, stop)
                sample.append(data[begin : stop if end == -1 else end].decode())
            return
        for begin, end in lines_holding(data, start, stop, needle):
            test(data[begin:end])

    def pieces() -> Iterator[tuple[bytes, int, bool]]:
        r"""Yield each chunk with ``\n`` line ends, its ``\n`` count, and if it is ASCII.

        The count is -1 where the chunk was not counted yet (the numpy scan counts later).
        """
        if scanner is None:
            for chunk in translate_newlines(chunks):
                yield chunk, -1, chunk.isascii()
            return
        held = False
        for chunk in chunks:
            lines, ascii, cr = scanner.line_stats(chunk)  # one pass for the three
            if cr or held:
                chunk, held = translate_chunk(chunk, held)
                lines, ascii, _ = scanner.line_stats(chunk)
            yield chunk, lines, ascii
        if held:
            yield b"\n", 1, True

    carry = b""  # the start of a line that continues in the next chunk
    for chunk, lines, ascii in pieces():
        if not ascii or utf8.getstate()[0]:
            utf8.decode(chunk)  # strict: raises at the first invalid byte
        last = chunk.rfind(b"\n")
        if last == -1:
            carry += chunk
            continue
        first = chunk.find(b"\n")
        total += lines if lines >= 0 else _newlines(chunk)
        line = carry + chunk[:first]
        if needle is None or needle in line:
            test(line)
        if first < last:
            scan(chunk, first + 1, last)
        carry = chunk[last + 1 :]
    utf8.decode(b"", final=True)  # a text cut inside a character
    if carry:
        total += 1
        if needle is None or needle in carry:
            test(carry)
    return total, matched, sample


def scan_bytes_of(part: Any, regex: str, language: str | None) -> tuple[int, int, list[str]]:
    """Scan one input part (:mod:`daskburst.data.parts`): a task of the bag."""
    return scan_bytes(part.chunks(), regex, language)


def combine(parts: Iterable[tuple[int, int, list[str]]]) -> tuple[int, int, list[str]]:
    """Merge per-partition results in partition order (``parts`` may be a generator)."""
    parts = list(parts)
    total = sum(p[0] for p in parts)
    matched = sum(p[1] for p in parts)
    sample = [s for p in parts for s in p[2]][:SAMPLE_SIZE]
    return total, matched, sample


def parse_regex(flag: str, value: Any) -> str:
    """Validate a regular expression."""
    pattern = text(flag, value)
    try:
        re.compile(pattern)
    except re.error as exc:
        raise UserError(
            f"{flag} {pattern!r}: expected a valid regular expression ({exc})"
        ) from None
    return pattern


def _derive(params: dict[str, Any]) -> dict[str, Any]:
    # The size of generated data decides the numbers: it stays in the parameters
    # (and the run record) for sample and synthetic input, and only then.
    if generated(params["input"]):
        return params
    return {k: v for k, v in params.items() if k != "sample"}


def input_files(parts: Sequence[Any]) -> list[str]:
    """The files ``parts`` read, once each, in order (generated parts read none)."""
    names = [shown(part.file.full_name) for part in parts if isinstance(part, TextPart)]
    return list(dict.fromkeys(names))


def _build(params: dict[str, Any], seed: int) -> Plan:
    import dask

    regex, language = params["regex"], params["language"]
    parts = wikistats_parts(params["input"], seed, params.get("sample"))
    # Both outputs come from ONE pass: each task reads its part and returns (count,
    # matches, sample); one task merges them in input order. (A dask.bag reduction over
    # the parts ran twice the tasks: 0.170 s against 0.152 s for 8 files on 2 cores.)
    scan = dask.delayed(scan_bytes_of, pure=True)
    summary = dask.delayed(combine, pure=True)([scan(p, regex, language) for p in parts])

    def finalize(values: Sequence[Any]) -> dict[str, Any]:
        total, matched, sample = values[0]
        return with_digest({"lines": total, "matches": matched, "first_matches": sample})

    return Plan(
        collections=[summary],
        finalize=finalize,
        explain=lambda: wikistats_problem(params["input"], seed, params.get("sample")),
        inputs=input_files(parts),
    )


BAG = Workload(
    name="bag",
    summary="count page-count log lines and the ones whose title matches --regex in --language",
    params=(
        Param("input", input_source, "glob/URL of .gz or text files, 'sample' or 'synthetic'"),
        Param("regex", parse_regex, "regular expression searched in the page title"),
        Param("language", optional_text, "language code to match ('' for any)"),
        Param(
            "sample",
            sample_size("wikistats"),
            "size of sample/synthetic input: LINES,FILES",
            key="sample.wikistats",
        ),
    ),
    build=_build,
    derive=_derive,
    # A generated file is made whole in its task: its text (about 46 bytes a line) and
    # its gzip stream, then scanned.
    estimate=lambda p, parallel: generated_input_estimate(p, parallel, "lines", 100, 1),
    examples=(
        "daskburst run bag --input 'wikistats/part-0000*gz' --regex Obama --backend processes",
    ),
)
