"""array: row means of a big random normal matrix, never materialized whole."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from daskburst import config
from daskburst.errors import InternalError, UserError
from daskburst.workloads._base import (
    Estimate,
    Param,
    Plan,
    Workload,
    positive_int,
    with_digest,
)


def parse_chunks(flag: str, value: Any) -> str | tuple[int, int]:
    """Parse ``--chunks``: ``auto`` or ``R,C`` with positive integers.

    Args:
        flag: The flag, for the error message.
        value: ``"auto"``, ``"R,C"`` or a pair.

    Returns:
        ``"auto"`` or ``(R, C)``.

    Raises:
        UserError: When malformed.
    """
    if value is None or str(value).strip().lower() == "auto":
        return "auto"
    parts = value.split(",") if isinstance(value, str) else list(value)
    if len(parts) != 2:
        raise UserError(f"{flag} {value!r}: expected 'auto' or R,C with two positive integers")
    try:
        r, c = (positive_int(flag, p) for p in parts)
    except UserError:
        raise UserError(
            f"{flag} {value!r}: expected 'auto' or R,C with two positive integers"
        ) from None
    return r, c


def chunk_bytes() -> int:
    """Return ``daskburst.array.chunk-bytes``: the bytes of one chunk for ``chunks: auto``."""
    return config.get_int("array.chunk-bytes", minimum=8)


def chunk_shape(rows: int, cols: int, chunks: str | tuple[int, int]) -> tuple[int, int]:
    """Resolve the chunk shape: ``auto`` = row blocks spanning all columns.

    Whole-row chunks make each row mean a single in-chunk reduction (no tree of
    partial sums across column chunks) and keep memory at one chunk per thread.
    When a single row is larger than ``daskburst.array.chunk-bytes``, ``auto``
    splits the columns too, so that a chunk never exceeds that size.

    Args:
        rows: Matrix rows.
        cols: Matrix columns.
        chunks: ``"auto"`` or ``(R, C)``.

    Returns:
        ``(R, C)`` clipped to the matrix.
    """
    if chunks == "auto":
        target = chunk_bytes()
        c = min(cols, max(1, target // 8))
        r = max(1, target // (8 * c))
        return min(r, rows), c
    if isinstance(chunks, str):
        raise InternalError(f"array: unresolved chunks {chunks!r}")
    r, c = chunks
    return min(r, rows), min(c, cols)


def _derive(params: dict[str, Any]) -> dict[str, Any]:
    # Record the chunk shape the graph uses: it decides the random numbers.
    r, c = chunk_shape(params["rows"], params["cols"], params["chunks"])
    return {**params, "chunks": [r, c]}


def _estimate(params: dict[str, Any], parallel: int) -> Estimate:
    rows, cols = params["rows"], params["cols"]
    r, c = params["chunks"]
    blocks = -(-rows // r) * -(-cols // c)
    # Each block: one task drawing it and one reducing it; column blocks add a tree.
    tasks = 2 * blocks + (blocks if c < cols else 0)
    # In flight: a block and its partial means per running task; in the client: the
    # row means twice (gathered, then made contiguous).
    memory = min(parallel, blocks) * 8 * r * c * 2 + 16 * rows
    return Estimate(tasks=tasks, memory=memory, draws=rows * cols)


def _build(params: dict[str, Any], seed: int) -> Plan:
    rows, cols = params["rows"], params["cols"]
    r, c = chunk_shape(rows, cols, tuple(params["chunks"]))
    import dask.array as da  # a third of a second: only for this workload, not every run

    rng = da.random.default_rng(seed)
    x = rng.standard_normal(size=(rows, cols), chunks=(r, c))
    means = x.mean(axis=1)

    def finalize(values: Sequence[Any]) -> dict[str, Any]:
        row_means = np.ascontiguousarray(values[0], dtype="<f8")
        if row_means.shape != (rows,):
            raise InternalError(f"array: expected {rows} row means, got shape {row_means.shape}")
        result = {
            "rows": rows,
            "cols": cols,
            "chunks": [r, c],
            "first": [float(v) for v in row_means[:5]],
            "mean_of_row_means": float(row_means.mean()),
        }
        out = with_digest(result)
        out["digest"] = hashlib.sha256(row_means.tobytes()).hexdigest()
        return out

    return Plan(collections=[means], finalize=finalize)


ARRAY = Workload(
    name="array",
    summary="row means of a rows x cols standard-normal matrix (dask.array, chunked)",
    params=(
        Param("rows", positive_int, "matrix rows"),
        Param("cols", positive_int, "matrix columns"),
        Param("chunks", parse_chunks, "chunk shape R,C, or auto (whole-row blocks)"),
    ),
    build=_build,
    derive=_derive,
    estimate=_estimate,
    examples=(
        "daskburst run array --rows 40000 --cols 40000 --chunks 2500,40000 --backend threads",
    ),
)
