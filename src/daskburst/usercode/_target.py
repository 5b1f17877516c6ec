"""What the user asked to run: a script file, or ``package.module:function`` (pure checks).

Everything here runs before any backend starts, so a typo, a directory or a syntax error
fails in one line with exit code 2 instead of after a cluster came up.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from daskburst.errors import UserError

#: ``package.module:function`` (dotted module, one attribute name).
_ENTRY = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


@dataclass(frozen=True)
class Target:
    """A user's script (``path``) or installed function (``module:function``)."""

    text: str
    path: Path | None = None
    module: str | None = None
    function: str | None = None
    #: The sha256 of the script's bytes as compiled (None for a function).
    sha256: str | None = None

    @property
    def is_script(self) -> bool:
        """Whether this is a script file (else an installed function)."""
        return self.path is not None

    @property
    def name(self) -> str:
        """The script's file name, or ``module:function``."""
        return self.path.name if self.path is not None else self.text


def looks_like_target(text: str) -> bool:
    """Whether ``text`` names user code rather than a built-in workload or a flag."""
    if text.startswith("-"):
        return False
    return text.endswith(".py") or "/" in text or bool(_ENTRY.match(text)) or Path(text).exists()


def resolve(text: str, workloads: tuple[str, ...] | list[str] = ()) -> Target:
    """Check a script path or ``module:function`` and return what to run.

    Args:
        text: As given after ``daskburst run``.
        workloads: Names of the built-in workloads, which a file may not shadow.

    Returns:
        The target; a script is compiled here (syntax errors are found before any
        cluster starts), a function is imported and checked to be callable.

    Raises:
        UserError: For a missing file, a directory, a syntax error, a name that is both a
            workload and a file, or a function that does not import or is not callable.
    """
    path = Path(text)
    if text in workloads:
        if path.exists():
            raise UserError(
                f"run {text!r}: both the built-in workload {text!r} and the file {text!r} "
                f"here; expected ./{text} for the file, or run from another directory for "
                "the workload"
            )
        raise UserError(f"run {text!r}: a built-in workload, not a script")  # caller's bug
    if path.is_dir():
        raise UserError(
            f"run {text!r}: is a directory; expected a Python script (--workdir DIR ships a "
            "directory along with it)"
        )
    if path.exists():
        return _script(path)
    if _ENTRY.match(text):
        return _function(text)
    if text.endswith(".py") or os.sep in text:
        raise UserError(f"run {text!r}: no such file; expected a Python script")
    raise UserError(
        f"run {text!r}: no such workload or file; expected one of {', '.join(workloads)}, "
        "a Python script, or package.module:function"
    )


def _script(path: Path) -> Target:
    try:
        source = path.read_bytes()
    except OSError as exc:
        raise UserError(f"run {str(path)!r}: cannot read it ({exc.strerror})") from None
    try:
        compile(source, str(path), "exec", dont_inherit=True)
    except SyntaxError as exc:
        where = f"{path}:{exc.lineno}" if exc.lineno else str(path)
        raise UserError(f"{where}: {exc.msg}; expected a Python script that compiles") from None
    except ValueError as exc:  # e.g. null bytes: not a Python script at all
        raise UserError(f"run {str(path)!r}: {exc}; expected a Python script") from None
    return Target(text=str(path), path=path.resolve(), sha256=hashlib.sha256(source).hexdigest())


def _function(text: str) -> Target:
    module_name, _, attr = text.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UserError(
            f"run {text!r}: module {module_name!r} does not import ({exc}); expected an "
            "installed module (or a script path)"
        ) from None
    obj: Any = getattr(module, attr, None)
    if obj is None:
        raise UserError(f"run {text!r}: module {module_name!r} has no attribute {attr!r}")
    if not callable(obj):
        raise UserError(
            f"run {text!r}: {attr!r} is a {type(obj).__name__}, not callable; expected a function"
        )
    return Target(text=text, module=module_name, function=attr)
