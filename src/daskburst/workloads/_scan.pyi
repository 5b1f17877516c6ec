"""The bag's compiled scanner (_scan.c): the same answers as the numpy scan in bag.py."""

def line_stats(data: bytes, /) -> tuple[int, bool, bool]:
    r"""Count the ``\n`` bytes of ``data``; tell whether all are ASCII and one is ``\r``."""

def title_lines(
    data: bytes, start: int, stop: int, needle: bytes, code: bytes | None, want: int, /
) -> tuple[int, list[int]]:
    """Count the lines of ``data[start:stop]`` with ``needle`` in field 3.

    Field 2 must equal ``code`` when it is given. Returns the count and the first ``want``
    (at most 64) lines' starts.
    """
