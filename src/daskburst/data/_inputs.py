"""Input files: find them from a glob, path or URL, and say which one is bad and why.

Reading happens inside tasks, on any backend; an error there names no file
(``EOFError: Compressed file ended before the end-of-stream marker was
reached``). When a run fails, :func:`find_problem` reads the inputs again in this
process, one file at a time, and returns one line naming the first bad file and
what is wrong with it.
"""

from __future__ import annotations

import gzip
import lzma
import os
import stat
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import fsspec
from fsspec.implementations.local import LocalFileSystem

from daskburst.errors import UserError

_MAGIC = "*?["
_COMPRESSION = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz"}
#: Errors that a bad input file raises while it is read or parsed.
DATA_ERRORS: tuple[type[BaseException], ...] = (
    EOFError,
    OSError,
    ValueError,
    UnicodeError,
    zlib.error,
    lzma.LZMAError,
)


@dataclass(frozen=True)
class Inputs:
    """The files an input names: a list of files, or one Parquet data set directory."""

    paths: list[str]
    directory: str | None = None


def shown(path: str) -> str:
    """A path as the user knows it: local files without ``file://``."""
    return path.removeprefix("file://")


def _names(fs: Any, paths: Sequence[str], what: str = "--input") -> list[str]:
    if isinstance(fs, LocalFileSystem):
        for p in paths:
            # A FIFO or a device would block the read (or never end): refuse it now.
            try:
                mode = os.stat(p).st_mode
            except OSError:
                continue  # gone or unreadable: reading it says so, naming it
            if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                raise UserError(
                    f"{what} {str(p)!r}: not a regular file (a FIFO, socket or device); "
                    "expected files on disk"
                )
        return [str(p) for p in paths]
    return [fs.unstrip_protocol(p) for p in paths]


def _is_marker(path: str) -> bool:
    from daskburst.data._io import MARKER

    return path.rsplit("/", 1)[-1] == MARKER


def find_files(pattern: str, what: str, expected: str, parquet_dir: bool = False) -> Inputs:
    """Return the files ``pattern`` names, or fail with what was expected.

    Args:
        pattern: A glob (``*``, ``?``, ``[01]``), a file, a directory or an fsspec URL.
        what: The flag, for messages (``--input``).
        expected: What a valid input is, for messages.
        parquet_dir: Accept a directory holding ``.parquet`` files (a Parquet data set
            as ``daskburst data to-parquet`` writes it).

    Returns:
        The sorted matching files; for a Parquet directory also the directory.

    Raises:
        UserError: When nothing matches, the path does not exist, or it is a directory
            that is not accepted.
    """
    try:
        fs, path = fsspec.core.url_to_fs(pattern)
    except (ImportError, ValueError) as exc:
        raise UserError(f"{what} {pattern!r}: cannot open ({exc}); expected {expected}") from None
    try:
        return _find(fs, path, pattern, what, expected, parquet_dir)
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - fsspec's filesystems (HTTP, S3...) raise many kinds
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise UserError(
            f"{what} {pattern!r}: cannot reach it ({type(exc).__name__}: {text}); expected "
            f"{expected}"
        ) from None


def _find(fs: Any, path: str, pattern: str, what: str, expected: str, parquet_dir: bool) -> Inputs:
    if any(c in path for c in _MAGIC):
        # DIR/* of a directory `daskburst data` wrote: its marker is no input.
        matches = sorted(p for p in fs.glob(path) if not fs.isdir(p) and not _is_marker(p))
        if not matches:
            raise UserError(
                f"{what} {pattern!r}: no file matches; expected a glob of existing files"
            )
        return Inputs(_names(fs, matches, what))
    if fs.isdir(path):
        found = sorted(p for p in fs.find(path) if p.endswith(".parquet"))
        if parquet_dir and found:
            return Inputs(_names(fs, found, what), directory=_names(fs, [path], what)[0])
        raise UserError(
            f"{what} {pattern!r}: is a directory"
            + (" without .parquet files" if parquet_dir else "")
            + f"; expected {expected}"
        )
    if not fs.exists(path):
        raise UserError(f"{what} {pattern!r}: no such file; expected {expected}")
    return Inputs(_names(fs, [path], what))


def describe(exc: BaseException, path: str) -> str:
    """Say in a few words what an error raised while reading ``path`` means."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    kind = next((k for s, k in _COMPRESSION.items() if path.endswith(s)), "")
    if isinstance(exc, EOFError):
        return f"truncated: the {kind or 'compressed'} data ends early ({text})"
    if isinstance(exc, gzip.BadGzipFile | zlib.error):
        return f"not valid gzip data ({text})"
    if isinstance(exc, lzma.LZMAError):
        return f"not valid xz data ({text})"
    if isinstance(exc, OSError) and kind == "bz2":
        return f"not valid bz2 data ({text})"
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 text ({text})"
    return text


def is_data_error(exc: BaseException) -> bool:
    """Whether ``exc`` may come from a bad input file (not from the cluster or daskburst)."""
    if type(exc).__module__.split(".")[0] in ("distributed", "daskburst"):
        return False  # lost workers, closed connections, our own errors
    return isinstance(exc, DATA_ERRORS)


def _read_all(path: str, encoding: str) -> None:
    with fsspec.open(path, "rt", compression="infer", encoding=encoding) as f:
        while f.read(1 << 22):
            pass


def text_problem(paths: Sequence[str], what: str, encoding: str = "utf-8") -> UserError | None:
    """Return the first file that cannot be read as text, as a one-line error, else None."""
    for path in paths:
        try:
            _read_all(path, encoding)
        except DATA_ERRORS as exc:
            return UserError(f"{what} {shown(path)!r}: {describe(exc, path)}")
    return None


def _field_count_problem(path: str, encoding: str) -> str | None:
    """Count the rows whose number of fields is not the header's (quotes understood)."""
    import pyarrow.csv as pacsv

    bad: list[Any] = []

    def keep(row: Any) -> str:
        bad.append(row)
        return "skip"

    with fsspec.open(path, "rb", compression="infer") as f:
        first = f.readline().decode(encoding).split(",", 1)[0].strip().strip('"')
        f.seek(0)
        pacsv.read_csv(
            f,
            # One thread: the rows' line numbers are known only then.
            read_options=pacsv.ReadOptions(encoding=encoding, use_threads=False),
            parse_options=pacsv.ParseOptions(invalid_row_handler=keep),
            convert_options=pacsv.ConvertOptions(include_columns=[first]),
        )
    if not bad:
        return None
    row = bad[0]
    where = f"line {row.number}" if row.number is not None else "a row"
    return (
        f"{len(bad)} row(s) with a number of fields other than the header's "
        f"{row.expected_columns} (first: {where}, {row.actual_columns} fields); expected one "
        "field per column"
    )


def _csv_problem(path: str, read_csv: dict[str, Any], numeric: Sequence[str]) -> str | None:
    import pandas as pd

    fields = _field_count_problem(path, read_csv.get("encoding", "utf-8"))
    if fields is not None:
        return fields
    # pandas' C parser: the only one that reads in chunks (the file may be large).
    as_text = {**read_csv, "dtype": {c: "str" for c in numeric}, "engine": "c"}
    line = 1  # the header
    with fsspec.open(path, "rb", compression="infer") as f:
        for chunk in pd.read_csv(f, chunksize=1 << 16, **as_text):
            for column in numeric:
                values = chunk[column]
                bad = values.notna() & pd.to_numeric(values, errors="coerce").isna()
                if bad.any():
                    first = int(bad.to_numpy().argmax())
                    return (
                        f"column {column} holds {values.iloc[first]!r} on line "
                        f"{line + 1 + first}; expected a number or NA"
                    )
            line += len(chunk)
    return None


def _parquet_problem(path: str, columns: Sequence[str], numeric: Sequence[str]) -> str | None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    with fsspec.open(path, "rb") as f:
        table = pq.read_table(f, columns=list(columns))
    for column in numeric:
        kind = table.schema.field(column).type
        if not (pa.types.is_integer(kind) or pa.types.is_floating(kind)):
            return f"column {column} has type {kind}; expected numbers"
    return None


def airline_problem(
    paths: Sequence[str], what: str, read_csv: dict[str, Any], numeric: Sequence[str]
) -> UserError | None:
    """Return the first airline file that cannot be read or parsed, as a one-line error.

    Args:
        paths: ``.csv`` (optionally compressed) or ``.parquet`` files.
        what: The flag, for the message.
        read_csv: The ``pandas.read_csv`` arguments the workload reads them with.
        numeric: Columns that must hold numbers.

    Returns:
        The error, or None when every file reads (the failure was elsewhere).
    """
    columns = read_csv.get("usecols") or []
    for path in paths:
        try:
            if path.endswith(".parquet"):
                problem = _parquet_problem(path, columns, numeric)
            else:
                problem = _csv_problem(path, read_csv, numeric)
        except DATA_ERRORS as exc:
            problem = describe(exc, path)
        if problem:
            return UserError(f"{what} {shown(path)!r}: {problem}")
    return None


def explained(action: Callable[[], Any], problem: Callable[[], UserError | None]) -> Any:
    """Run ``action``; when it fails on a bad input file, raise ``problem()``'s error instead.

    Args:
        action: Builds or computes something that reads the inputs.
        problem: Finds the bad file (e.g. :func:`airline_problem` bound to the inputs).

    Returns:
        What ``action`` returns.

    Raises:
        UserError: Naming the bad file, when ``problem`` finds one; else the original error.
    """
    try:
        return action()
    except Exception as exc:
        if not is_data_error(exc):
            raise
        found = problem()
        if found is None:
            raise
        raise found from exc
