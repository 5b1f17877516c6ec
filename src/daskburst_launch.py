"""The installed ``daskburst`` script's first module: Ctrl-C before the command is ready.

Importing daskburst imports dask, numpy and pandas (about a second). A Ctrl-C in that time
would print a traceback of the import machinery. Until :func:`daskburst.cli.main` takes
over Ctrl-C, this module's handler ends the process at once with one line and exit code
130: nothing has started yet, so nothing is left behind.

A worker process that multiprocessing spawns (LocalCluster's, the ``processes`` pool's)
runs this script again as ``__mp_main__`` and imports this module first, long before
distributed's preload or the pool's initializer could ignore Ctrl-C; the terminal sends
Ctrl-C to the whole process group, so such a child ignores it from here on (its parent
handles it and stops it) instead of printing a traceback of its start-up.
"""

from __future__ import annotations

import os
import signal
import sys


def _early_interrupt(signum: int, frame: object) -> None:
    sys.stderr.write("daskburst: interrupted\n")
    sys.stderr.flush()
    os._exit(130)


def _is_spawned_child() -> bool:
    """True in a process multiprocessing spawned (its command line, which prepare() keeps)."""
    return "--multiprocessing-fork" in getattr(sys, "orig_argv", ())


if _is_spawned_child():
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def console() -> None:  # pragma: no cover - the installed `daskburst` script
    """Entry point of the installed script."""
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _early_interrupt)
    from daskburst._entry import console as run

    run()
