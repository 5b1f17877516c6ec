"""The working directory that travels with a user's script: which files, how big, its digest.

The selection is made once, here; every backend ships exactly these files (distributed's
``UploadDirectory`` to a cluster's workers, a ConfigMap to a DaskJob's pods), and the run
record says what went (count, bytes, sha256). Skipped: version control, caches,
virtualenvs, and whatever ``daskburst.user-code.exclude`` names (data files by default:
data belongs on storage the workers read, not in the code).
"""

from __future__ import annotations

import fnmatch
import hashlib
import io
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dask.utils import format_bytes

from daskburst import config
from daskburst.errors import UserError

#: Directory names never shipped: version control, caches, virtualenvs, build output.
SKIP_DIRS = frozenset(
    {".git", ".hg", ".svn", "__pycache__", ".venv", "venv", ".tox", ".nox", ".mypy_cache",
     ".pytest_cache", ".ruff_cache", ".ipynb_checkpoints", "node_modules", ".eggs", "build",
     "dist", "dask-worker-space", ".daskburst"}
)  # fmt: skip
#: Where a DaskJob's pods mount the shipped directory (runner and workers alike).
MOUNT_PATH = "/opt/daskburst/workdir"


@dataclass(frozen=True)
class WorkFile:
    """One shipped file: its path relative to the working directory, and its bytes."""

    relpath: str
    data: bytes

    @property
    def sha256(self) -> str:
        """The file's sha256."""
        return hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True)
class Workdir:
    """The selected files of a working directory."""

    root: Path
    files: tuple[WorkFile, ...]
    skipped: int
    compressed: int

    @property
    def bytes(self) -> int:
        """Total size of the files, uncompressed."""
        return sum(len(f.data) for f in self.files)

    @property
    def sha256(self) -> str:
        """One digest of every shipped path and its content (order-independent)."""
        h = hashlib.sha256()
        for f in sorted(self.files, key=lambda f: f.relpath):
            h.update(f"{f.relpath}\0{f.sha256}\n".encode())
        return h.hexdigest()

    def relpaths(self) -> frozenset[str]:
        """The shipped paths, relative to :attr:`root`, with ``/`` separators."""
        return frozenset(f.relpath for f in self.files)

    def summary(self, how: str) -> dict[str, Any]:
        """What went, for the run record."""
        return {
            "path": str(self.root),
            "how": how,
            "files": len(self.files),
            "bytes": self.bytes,
            "compressed_bytes": self.compressed,
            "skipped": self.skipped,
            "sha256": self.sha256,
        }


def max_bytes() -> int:
    """``daskburst.user-code.max-bytes`` in bytes.

    Raises:
        UserError: When it is not a positive size such as ``1MiB``.
    """
    return config.get_bytes("user-code.max-bytes")


def _patterns() -> tuple[str, ...]:
    value = config.get("user-code.exclude")
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise UserError(
            f"{config.label('user-code.exclude')} {value!r}: expected a list of patterns "
            "such as ['*.csv', 'data']"
        )
    return tuple(value)


def _is_virtualenv(path: Path) -> bool:
    return (path / "pyvenv.cfg").is_file() or (path / "conda-meta").is_dir()


def _excluded(name: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatch(name, p) for p in patterns)


def collect(
    root: str | os.PathLike[str], flag: str = "--workdir", *, limit: int | None = -1
) -> Workdir:
    """Select the files of ``root`` to ship and check them against the size limit.

    Symbolic links are followed only when they stay inside ``root``.

    Args:
        root: The working directory.
        flag: How the user named it, for messages.
        limit: Most compressed bytes (-1: ``daskburst.user-code.max-bytes``; None: no limit,
            for a filesystem the workers share).

    Returns:
        The selection, with its compressed size (zip, deflate: what is sent).

    Raises:
        UserError: When ``root`` is not a directory, or the selection is over
            ``daskburst.user-code.max-bytes`` compressed.
    """
    base = Path(root)
    if not base.is_dir():
        raise UserError(f"{flag} {str(root)!r}: not a directory; expected the script's directory")
    base = base.resolve()
    if limit == -1:
        limit = max_bytes()
    patterns = _patterns()
    files: list[WorkFile] = []
    skipped = 0
    total = 0
    for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
        here = Path(dirpath)
        keep = []
        for d in sorted(dirnames):
            sub = here / d
            if d in SKIP_DIRS or _excluded(d, patterns) or _is_virtualenv(sub):
                skipped += 1
            elif sub.is_symlink() and not sub.resolve().is_relative_to(base):
                skipped += 1
            else:
                keep.append(d)
        dirnames[:] = keep
        for name in sorted(filenames):
            path = here / name
            if name.endswith((".pyc", ".pyo")) or _excluded(name, patterns):
                skipped += 1
                continue
            if not path.is_file() or not path.resolve().is_relative_to(base):
                skipped += 1  # sockets, broken links, links out of the directory
                continue
            size = path.stat().st_size
            total += size
            if limit is not None and total > 64 * limit:
                # Far over the limit whatever it compresses to: say so without reading it all.
                _too_big(flag, root, f"over {format_bytes(total)} uncompressed", limit)
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise UserError(f"{flag}: cannot read {str(path)!r} ({exc.strerror})") from None
            files.append(WorkFile(path.relative_to(base).as_posix(), data))
    compressed = len(zip_bytes(files))
    if limit is not None and compressed > limit:
        _too_big(flag, root, f"{format_bytes(compressed)} compressed", limit)
    return Workdir(base, tuple(files), skipped, compressed)


def _too_big(flag: str, root: Any, size: str, limit: int) -> None:
    raise UserError(
        f"{flag} {str(root)!r}: {size}, over the {format_bytes(limit)} limit "
        "(daskburst.user-code.max-bytes); expected a smaller working directory (--workdir "
        "with only the code; data belongs on storage the workers read), or the code built "
        "into an image: `make user-image` and --image (docs/your-code.md)"
    )


def zip_bytes(files: tuple[WorkFile, ...] | list[WorkFile]) -> bytes:
    """The files as one zip archive (deflate), in a stable order with fixed timestamps."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for f in sorted(files, key=lambda f: f.relpath):
            info = zipfile.ZipInfo(f.relpath, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            z.writestr(info, f.data)
    return buf.getvalue()
