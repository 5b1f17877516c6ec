"""Write generated files, or check them (``--check``), for the scripts/*/render_*.py tools."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from pathlib import Path


def write_or_check(
    outputs: Mapping[Path, str],
    strays: Iterable[Path],
    root: Path,
    check: bool,
    make_target: str,
    mode: int | None = None,
) -> int:
    """Bring every file of ``outputs`` up to date and delete ``strays``, or only list them.

    Args:
        outputs: Each generated file and its text.
        strays: Files that look generated but are no longer.
        root: Paths are printed relative to it.
        check: Change nothing; fail if anything differs.
        make_target: The make target that regenerates, named in the failure line.
        mode: Permission bits for written files (e.g. 0o755), else left as created.

    Returns:
        The exit code: 1 when ``check`` found a difference, else 0.
    """
    stale = []
    for path, text in outputs.items():
        current = path.read_text() if path.exists() else None
        if current == text:
            continue
        if check:
            stale.append(str(path.relative_to(root)))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            if mode is not None:
                path.chmod(mode)
            print(f"wrote {path.relative_to(root)}")
    for path in strays:
        if check:
            stale.append(f"{path.relative_to(root)} (no longer generated)")
        else:
            path.unlink()
            print(f"removed {path.relative_to(root)}")
    if stale:
        print(f"out of date (run `make {make_target}`): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0
