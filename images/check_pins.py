"""Fail the image build when an installed distribution drifts from the constraints file.

Run with the image's Python: ``python check_pins.py CONSTRAINTS VERSION``. Every installed
distribution except the installer itself must be pinned in CONSTRAINTS at exactly the
installed version, and daskburst must be at VERSION, so the client, the scheduler and the
workers built from one commit never disagree on versions.
"""

from __future__ import annotations

import re
import sys
from importlib.metadata import distributions

UNPINNED = {"pip", "setuptools", "wheel"}


def canonical(name: str) -> str:
    """Return the PEP 503 normalized form of a distribution name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def main(constraints_path: str, version: str) -> int:
    """Compare installed distributions with the pins; print each problem and return 1 if any."""
    pins: dict[str, str] = {}
    with open(constraints_path, encoding="utf-8") as fh:
        for line in fh:
            line = line.split("#", 1)[0].strip()
            if "==" in line:
                name, _, pinned = line.partition("==")
                pins[canonical(name.split("[", 1)[0])] = pinned.split(";", 1)[0].strip()
    problems = []
    for dist in distributions():
        name, installed = canonical(dist.metadata["Name"]), dist.version
        if name in UNPINNED:
            continue
        expected = version if name == "daskburst" else pins.get(name)
        if expected != installed:
            problems.append(f"{name}=={installed} installed, expected {expected or 'no such pin'}")
    for problem in sorted(problems):
        print(f"check_pins: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
