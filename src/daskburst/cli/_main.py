"""The ``daskburst`` parser and the exit codes of every command.

Exit codes: 0 success, 1 failure while running, 2 user error (one line on
stderr naming the bad value; ``--debug`` adds the traceback), 130 on Ctrl-C.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import traceback
import warnings
from collections.abc import Sequence
from typing import Any

from daskburst import config
from daskburst._version import __version__
from daskburst.cli import _k8s_args, bench, data, run, slurm
from daskburst.cli._args import PROG, Parser, common
from daskburst.errors import (
    DaskburstError,
    InternalError,
    Terminated,
    UserError,
    signals_unwind,
)


def build_parser() -> Parser:
    """Return the full argument parser (every command group)."""
    parser = Parser(
        prog=PROG,
        description="Run the tutorial's Dask workloads anywhere: laptop, SLURM, Kubernetes.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    common(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for group in (run, data, slurm, _k8s_args, bench):
        group.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``daskburst`` command.

    Args:
        argv: Arguments (default: ``sys.argv[1:]``).

    Returns:
        The exit code.
    """
    with warnings.catch_warnings(), signals_unwind():
        warnings.showwarning = _show_warning
        return _main(argv)


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    if issubclass(category, config.ConfigWarning):
        sys.stderr.write(f"{PROG}: warning: {message}\n")
    else:
        _SHOW_WARNING(message, category, filename, lineno, file, line)


_SHOW_WARNING = warnings.showwarning


def _drop_interrupted_sync_cancel(record: logging.LogRecord) -> bool:
    """Drop tornado's log of distributed's ``sync()`` failing to cancel what never started.

    Ctrl-C or SIGTERM in the instant between ``sync()`` scheduling a coroutine and the
    coroutine creating its future makes ``sync``'s ``cancel`` callback read the unassigned
    ``future`` (``NameError: cannot access free variable 'future'``, distributed/utils.py).
    There was nothing to cancel yet; the run is already being torn down, and the one line
    daskburst prints says so. Any other error is kept.
    """
    exc = record.exc_info[1] if record.exc_info else None
    if not isinstance(exc, NameError) or "'future'" not in str(exc):
        return True
    frames = traceback.extract_tb(exc.__traceback__)
    last = frames[-1] if frames else None
    return not (
        last is not None
        and last.name == "cancel"
        and last.filename.replace("\\", "/").endswith("distributed/utils.py")
    )


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    argv, script_args = run.route(sys.argv[1:] if argv is None else argv)
    if not slurm.asks_for_slurm(argv):
        slurm.hide_slurm_flags(parser)
    if script_args is not None:
        # Where a script's own flags go, added to every parser's "unrecognized arguments".
        Parser.unrecognized_hint = run.SCRIPT_ARGS_HINT
    try:
        args = parser.parse_args(argv)
    finally:
        Parser.unrecognized_hint = ""
    if script_args is not None:
        args.script_args = script_args
    debug = bool(getattr(args, "debug", False))
    if debug:
        logging.basicConfig(level=logging.DEBUG)
    else:
        # distributed logs every worker (dis)connection at INFO; users want results.
        for name in ("distributed", "dask_jobqueue", "dask_kubernetes", "kr8s"):
            logging.getLogger(name).setLevel(logging.WARNING)
    tornado_log = logging.getLogger("tornado.application")
    if _drop_interrupted_sync_cancel not in tornado_log.filters:
        tornado_log.addFilter(_drop_interrupted_sync_cancel)
    if not getattr(args, "func", None):
        # No command is a usage error: the help goes where errors go.
        parser.print_help(sys.stderr)
        return 2
    try:
        config.warn_unknown_keys()
        return int(args.func(args) or 0)
    except UserError as exc:
        if debug:
            traceback.print_exc()
        sys.stderr.write(f"{PROG}: error: {exc}\n")
        return 2
    except Terminated:
        sys.stderr.write(f"{PROG}: terminated (SIGTERM); stopped everything it started\n")
        return 143
    except KeyboardInterrupt:
        # Every backend and output directory was closed on the way out.
        sys.stderr.write(f"{PROG}: interrupted; stopped everything it started\n")
        return 130
    except BrokenPipeError:
        # `daskburst workloads | head -1`: the reader has gone; say nothing, as `cat` does.
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except InternalError as exc:
        if debug:
            traceback.print_exc()
        sys.stderr.write(
            f"{PROG}: internal error: {exc} (a bug in daskburst; please report it with the "
            "output of --debug)\n"
        )
        return 1
    except DaskburstError as exc:
        if debug:
            traceback.print_exc()
        sys.stderr.write(f"{PROG}: failed: {exc}\n")
        return 1
    except Exception as exc:  # noqa: BLE001 - the CLI turns any failure into exit 1
        if debug:
            traceback.print_exc()
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        sys.stderr.write(f"{PROG}: failed: {type(exc).__name__}: {first} (rerun with --debug)\n")
        return 1
