"""The ``daskburst`` console command: :func:`daskburst.cli.main` plus what only a process can do.

Importing the command line imports dask, which reads every dask config file; a
malformed one fails there, before :func:`daskburst.cli.main` could report it.
This entry point reports it in one line instead. After Ctrl-C it also exits at
once, without waiting for threads still finishing a task, and so after SIGTERM.
"""

from __future__ import annotations

import os
import re
import signal
import sys
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
        # Ctrl-C or SIGTERM: the cluster and worker processes are already gone; do not
        # wait for the threads of a thread pool to finish the task they are running.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def console() -> None:  # pragma: no cover - the installed `daskburst` script
    """Entry point of the installed script."""
    raise SystemExit(main())
