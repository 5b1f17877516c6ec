"""The ``daskburst`` console command: :func:`daskburst.cli.main` plus what only a process can do.

Importing the command line imports dask, which reads every dask config file; a
malformed one fails there, before :func:`daskburst.cli.main` could report it.
This entry point reports it in one line instead. After Ctrl-C it also exits at
once, without waiting for threads still finishing a task, and so after SIGTERM.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import signal
import sys
import threading
from collections.abc import Sequence

PROG = "daskburst"
_DASK_FILE = re.compile(r"A dask config file at '(?P<path>[^']+)' is malformed")


def _config_error(exc: ValueError) -> str | None:
    """Return a one-line message for a malformed configuration file, else None."""
    from daskburst.errors import UserError

    if isinstance(exc, UserError):
        return str(exc)
    match = _DASK_FILE.search(str(exc))
    if match is None:
        return None
    path = match.group("path")
    import yaml

    from daskburst.errors import yaml_problem

    problem = "not a mapping at the top level"
    try:
        with open(path) as f:
            yaml.safe_load(f)
    except yaml.YAMLError as yexc:
        problem = f"invalid YAML ({yaml_problem(yexc)})"
    except UnicodeDecodeError as uexc:
        problem = f"not UTF-8 text (byte {uexc.start} is {uexc.object[uexc.start]:#04x})"
    except OSError as oexc:
        problem = oexc.strerror or str(oexc)
    given = os.environ.get("DASK_CONFIG")
    where = " (DASK_CONFIG)" if given and path.startswith(given) else ""
    return f"dask config file {path!r}{where}: {problem}; expected a YAML mapping"


# How long the exit handlers may take after Ctrl-C or SIGTERM before the process ends anyway.
EXIT_HANDLERS_TIMEOUT = 10.0


def _exit_now(code: int) -> None:
    """End the process with ``code`` after Ctrl-C or SIGTERM, without waiting for busy threads.

    The cluster and worker processes are already gone, but a thread pool's threads may
    still be finishing the task they were running, and a normal exit would wait for
    them. The exit handlers still run (multiprocessing's removes the semaphores of the
    worker processes' queues, which its resource tracker would otherwise report as
    leaked), bounded by :data:`EXIT_HANDLERS_TIMEOUT`; a second Ctrl-C skips them.
    """
    handlers = threading.Thread(target=atexit._run_exitfuncs, name="daskburst-exit", daemon=True)
    handlers.start()
    with contextlib.suppress(KeyboardInterrupt):
        handlers.join(EXIT_HANDLERS_TIMEOUT)
    with contextlib.suppress(OSError):
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit code (see :func:`daskburst.cli.main`)."""
    try:
        from daskburst.cli import main as cli_main
    except ValueError as exc:
        message = _config_error(exc)
        if message is None:
            raise
        sys.stderr.write(f"{PROG}: error: {message}\n")
        return 2
    except KeyboardInterrupt:
        # Ctrl-C while the modules load: nothing started yet.
        sys.stderr.write(f"{PROG}: interrupted\n")
        return 130
    if getattr(signal.getsignal(signal.SIGINT), "__module__", None) == "daskburst_launch":
        # The script's launcher held Ctrl-C while daskburst was imported; from here on
        # the command line handles it (KeyboardInterrupt, clean-up, exit code 130).
        signal.signal(signal.SIGINT, signal.default_int_handler)
    code = cli_main(argv)
    if code in (130, 143):
        _exit_now(code)
    return code


def console() -> None:  # pragma: no cover - the installed `daskburst` script
    """Entry point of the installed script."""
    raise SystemExit(main())
