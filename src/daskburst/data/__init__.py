"""Synthetic inputs in the tutorial's formats, and the sources workloads read.

The generators are pure functions of (file index, size, seed) returning the
bytes of one file, so the same data can be written to disk (``daskburst data``)
or produced inside the tasks of a cluster that shares no filesystem
(``--input synthetic``), with identical results.
"""

from daskburst.data._inputs import explained, shown
from daskburst.data._io import (
    MARKER,
    foreign_files,
    replacing_directory,
    special_file,
    write_bytes_atomic,
    write_marker,
)

__all__ = [
    "MARKER",
    "explained",
    "foreign_files",
    "replacing_directory",
    "shown",
    "special_file",
    "write_bytes_atomic",
    "write_marker",
]
