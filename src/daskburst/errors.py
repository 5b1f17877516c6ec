"""The exceptions daskburst raises.

``UserError`` is for mistakes the user can fix (bad flags, missing files, bad
configuration): the CLI prints its message as one line and exits with code 2.
Anything else that goes wrong while running is a failure (exit code 1):
``BackendError`` when a backend cannot start or loses its workers,
``InternalError`` when daskburst itself is wrong (a bug to report).
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any


class DaskburstError(Exception):
    """Base class of all daskburst errors."""

    exit_code = 1


class UserError(DaskburstError, ValueError):
    """Bad input: the message names the value and what was expected."""

    exit_code = 2


class BackendError(DaskburstError, RuntimeError):
    """A backend could not start or lost its workers."""

    exit_code = 1


class Terminated(KeyboardInterrupt):
    """SIGTERM (``scancel``, Kubernetes, ``timeout``): unwinds like Ctrl-C, exit code 143.

    Raised in the main thread by the CLI's signal handler, so every ``with`` block that
    stops a cluster, a pool or a temporary directory on Ctrl-C does the same here.
    """


@contextlib.contextmanager
def signals_unwind() -> Iterator[None]:
    """SIGTERM raises :class:`Terminated` in the main thread in the block; no signal is lost.

    SIGTERM is taken only once: a second SIGTERM during the clean-up is ignored, so the
    clean-up finishes. Ctrl-C raises ``KeyboardInterrupt`` as always.

    Python raises a signal handler's exception wherever the main thread happens to be. In a
    garbage-collection callback (distributed registers one) or a ``__del__`` method it is
    printed as "Exception ignored" and dropped, and the run would go on as if Ctrl-C had never
    been pressed. Such a dropped interrupt is sent to the main thread again, 50 ms later,
    outside the callback that swallowed it.

    Outside the main thread (where no signal handler can be set) it does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminated(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise Terminated()

    def send_again(unraisable: Any) -> None:
        exc = unraisable.exc_value
        if not isinstance(exc, KeyboardInterrupt) or threading.current_thread() is not main:
            previous_hook(unraisable)
            return
        signum = signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT
        if signum == signal.SIGTERM:
            # The handler stopped listening when it raised the Terminated that was lost.
            signal.signal(signal.SIGTERM, terminated)
        # Not from here: a handler run inside this hook would be swallowed the same way.
        again = threading.Timer(0.05, signal.pthread_kill, (main.ident, signum))
        again.daemon = True
        again.start()

    main = threading.main_thread()
    previous_hook = sys.unraisablehook
    previous = signal.signal(signal.SIGTERM, terminated)
    sys.unraisablehook = send_again
    try:
        yield
    finally:
        sys.unraisablehook = previous_hook
        signal.signal(signal.SIGTERM, previous)


class InternalError(DaskburstError, RuntimeError):
    """daskburst broke one of its own invariants: a bug, never the user's input."""

    exit_code = 1


def yaml_problem(exc: Any) -> str:
    """Describe a ``yaml.YAMLError`` in one line: what is wrong and where."""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"{problem}{where}"
