"""Atomic file writes: a reader never sees a half-written file."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path


def special_file(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` exists and is neither a regular file nor a directory.

    ``/dev/null``, ``/dev/stderr``, a FIFO or a shell's ``>(...)``: written in place, never
    replaced by a file of their name.
    """
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same directory, then rename.

    A device or a pipe (:func:`special_file`) is written in place instead.

    Args:
        path: Destination file; its directory must exist.
        data: The content.
    """
    dest = Path(path)
    if special_file(dest):
        with open(dest, "wb") as f:
            f.write(data)
        return
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary sibling directory that becomes ``path`` only on success.

    If ``path`` appeared meanwhile (another process won the race), the
    temporary directory is discarded and the existing one kept.

    Args:
        path: The final directory.

    Yields:
        The temporary directory to fill.
    """
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
    try:
        yield tmp
        try:
            os.rename(tmp, dest)
        except OSError:
            if not dest.is_dir():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def replacing_directory(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary sibling directory that replaces ``path`` only on success.

    Readers see the old directory (or none) until the new one is complete; on an
    error or Ctrl-C the temporary directory is removed and ``path`` is untouched.
    An existing ``path`` is moved aside, the new one renamed into place, and the old
    one deleted.

    Args:
        path: The final directory (may exist; the caller decides whether it may be replaced).

    Yields:
        The temporary directory to fill.
    """
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it private
        if dest.is_dir() and any(dest.iterdir()):
            old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".old", dir=dest.parent))
            os.rename(dest, old / dest.name)
            os.rename(tmp, dest)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, dest)  # over an empty directory, too
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


#: Written into every directory ``daskburst data`` fills: what it wrote there. ``--force``
#: replaces a directory only when this file lists everything in it.
MARKER = ".daskburst-output.json"


def write_marker(directory: Path, kind: str) -> None:
    """Record in ``directory`` that daskburst wrote it, and which files (call it last)."""
    from daskburst._version import __version__

    files = sorted(
        p.relative_to(directory).as_posix()
        for p in directory.rglob("*")
        if p.is_file() and p.name != MARKER
    )
    payload = {"written_by": f"daskburst {__version__}", "kind": kind, "files": files}
    write_bytes_atomic(directory / MARKER, (json.dumps(payload, indent=1) + "\n").encode())


def foreign_files(directory: Path) -> list[str]:
    """Files in ``directory`` that daskburst's marker does not list (all, without a marker).

    Returns:
        Relative paths, sorted; empty when daskburst wrote everything there.
    """
    present = sorted(
        p.relative_to(directory).as_posix()
        for p in directory.rglob("*")
        if (p.is_file() or p.is_symlink()) and p.name != MARKER
    )
    try:
        listed = set(json.loads((directory / MARKER).read_text())["files"])
    except (OSError, ValueError, KeyError, TypeError):
        return present or [MARKER + " (missing)"]
    return [p for p in present if p not in listed]
