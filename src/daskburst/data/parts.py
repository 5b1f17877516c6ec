"""The pieces of a text input that the bag's tasks each read by themselves, as bytes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import dask.system
import fsspec
from fsspec.utils import read_block

from daskburst import config
from daskburst.data import wikistats
from daskburst.errors import UserError

#: Bytes a part hands the scanner at a time: large enough that the per-chunk Python work is
#: noise, small enough to bound a task's memory whatever the size of the file.
CHUNK_BYTES = 1 << 22


@dataclass(frozen=True)
class TextPart:
    """A piece of a text input a task reads by itself, as bytes, never whole.

    ``length`` None: the whole file, decompressed and streamed (compressed files cannot be
    split); else the lines starting in ``[offset, offset + length)`` of an uncompressed
    file, as ``dask.bag.read_text`` splits it. Decoding (strict UTF-8) and newlines are
    the reader's business (:func:`daskburst.workloads.bag.scan_bytes`).
    """

    file: Any  # fsspec OpenFile (mode "rb", compression inferred): small and picklable
    offset: int = 0
    length: int | None = None
    read_ahead: str = "off"  # inflate a .gz file in a thread of its own: on, off, auto
    files: int = 1  # files the run reads (for auto)

    def chunks(self) -> Iterator[bytes]:
        """Yield the part's bytes in order, in pieces of up to :data:`CHUNK_BYTES`."""
        if self.length is None:
            with self._open() as f:
                while chunk := f.read(CHUNK_BYTES):
                    yield chunk
            return
        with self.file as raw:
            yield read_block(raw, self.offset, self.length, delimiter=b"\n")

    @contextmanager
    def _open(self) -> Iterator[Any]:
        """Open the whole file, decompressed as its name says.

        With read-ahead, a .gz file's next chunk is inflated (by ISA-L's
        ``igzip_threaded``, which drops the GIL) while the caller works on this one, so
        one file keeps two cores busy; ``auto`` does so when the run reads fewer files
        than the cores this process may use (``dask.system.CPU_COUNT``: affinity and cgroup
        quota, so a pod with a one-CPU limit or a SLURM job bound to one core never does).
        The same bytes either way.
        """
        ahead = self.read_ahead == "on" or (
            self.read_ahead == "auto" and self.files < dask.system.CPU_COUNT
        )
        if not (ahead and self.file.compression == "gzip"):
            with self.file as f:
                yield f
            return
        from isal import igzip_threaded

        raw = fsspec.core.OpenFile(self.file.fs, self.file.path, mode="rb")
        with (
            raw as r,
            igzip_threaded.open(  # type: ignore[no-untyped-call]
                r, "rb", threads=1, block_size=CHUNK_BYTES
            ) as f,
        ):
            yield f


@dataclass(frozen=True)
class SyntheticPart:
    """File ``index`` of the generated page-count sample, made inside the task."""

    index: int
    lines: int
    seed: int

    def chunks(self) -> Iterator[bytes]:
        """Yield the file's bytes (one piece: a sample file is small)."""
        yield wikistats.text_bytes(self.index, self.lines, self.seed)


def read_ahead() -> str:
    """``daskburst.gzip-read-ahead`` as on, off or auto; off without ISA-L to do it."""
    value = config.get("gzip-read-ahead")
    if value not in (True, False, "auto"):
        raise UserError(f"daskburst.gzip-read-ahead {value!r}: expected auto, true or false")
    if wikistats.inflater() != "isal":
        return "off"
    return "auto" if value == "auto" else "on" if value else "off"
