"""Synthetic Wikipedia page-count logs: ``YYYYMMDD HHMMSS lang page_title count bytes``.

Zipf-like counts over several languages, a sprinkling of Obama titles, and a
few malformed short lines (fewer than six fields), gzip-compressed with a fixed
header so the bytes are deterministic; and how .gz inputs are read back.
"""

from __future__ import annotations

import gzip
import io
from typing import Any

import numpy as np

from daskburst.rng import stream

LANGUAGES = ("en", "de", "fr", "ja", "es", "ru", "it", "pl", "pt", "nl", "zh", "sv", "en.b")
_LANG_WEIGHTS = np.array([40, 9, 8, 7, 6, 5, 5, 4, 4, 3, 3, 2, 1], dtype=float)
_WORDS = (
    "Main_Page", "United_States", "Barack", "Obama", "Election", "2008", "John", "McCain",
    "Sarah", "Palin", "Financial", "crisis", "Olympics", "Beijing", "Google", "Wikipedia",
    "Linux", "Python", "Music", "Film", "History", "of", "the", "World", "War", "II",
    "List", "Album", "Band", "River", "City", "County", "School", "Football", "Club",
    "Paris", "Berlin", "Tokyo", "Moscow", "Science", "Physics", "Chemistry", "Biology",
)  # fmt: skip
_PREFIXES = ("", "", "", "", "", "Talk:", "File:", "Image:", "Special:FilePath/", "Category:")


def file_name(index: int) -> str:
    """Return the name of file ``index`` (``part-00000.gz`` style, like the tutorial's)."""
    return f"part-{index:05d}.gz"


def text_bytes(index: int, lines: int, seed: int) -> bytes:
    r"""Return file ``index`` as uncompressed text, one record a line.

    Args:
        index: File number; selects the random stream ``(seed, (2, index))`` and the hour.
        lines: Lines in this file.
        seed: Master seed.

    Returns:
        UTF-8 text, every line ending in ``\\n``.
    """
    rng = stream(seed, (2, index))
    day = 1 + (index // 24) % 28
    hour = index % 24
    stamp = f"200811{day:02d} {hour:02d}0000"
    n = lines
    langs = np.asarray(LANGUAGES)[
        rng.choice(len(LANGUAGES), n, p=_LANG_WEIGHTS / _LANG_WEIGHTS.sum())
    ]
    words = np.asarray(_WORDS)
    k = rng.integers(1, 4, n)
    w = rng.integers(0, len(words), (n, 3))
    prefix = np.asarray(_PREFIXES)[rng.integers(0, len(_PREFIXES), n)]
    obama = rng.random(n) < 0.004
    counts = np.minimum(rng.zipf(1.7, n), 500000)
    sizes = counts * rng.integers(800, 60000, n)
    broken = rng.random(n) < 0.001
    out = io.StringIO()
    for i in range(n):
        title = "_".join(words[w[i, : k[i]]])
        if obama[i]:
            title = title + "_Barack_Obama" if k[i] > 1 else "Obama"
        title = prefix[i] + title + (f"_{i % 97}" if k[i] == 3 else "")
        if broken[i]:
            out.write(f"{stamp} {langs[i]} {title}\n")  # malformed: only 5 fields
        else:
            out.write(f"{stamp} {langs[i]} {title} {counts[i]} {sizes[i]}\n")
    return out.getvalue().encode("utf-8")


def gzip_bytes(data: bytes) -> bytes:
    """Gzip ``data`` deterministically (no timestamp or file name in the header)."""
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=6, mtime=0, filename="") as f:
        f.write(data)
    return buf.getvalue()


def file_bytes(index: int, lines: int, seed: int) -> bytes:
    """Return file ``index`` gzip-compressed, as written to disk."""
    return gzip_bytes(text_bytes(index, lines, seed))


def inflater() -> str:
    """Name the inflater .gz inputs are read with: "isal" (ISA-L) or "zlib".

    fsspec (which opens every input) reads gzip with ISA-L's ``isal.igzip`` when the
    ``isal`` package is installed, else with the standard ``gzip`` module: the same bytes
    either way, ISA-L about 3x faster.
    """
    from fsspec.compression import compr

    return "isal" if getattr(compr.get("gzip"), "__name__", "") == "isal" else "zlib"


def open_gzip(path: str) -> Any:
    """Open a local gzip file for reading as the bag's tasks do (see :func:`inflater`)."""
    import fsspec

    return fsspec.open(path, mode="rb", compression="gzip").open()
