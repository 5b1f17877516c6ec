"""Polling with a deadline, on an injectable clock (so tests never sleep)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol, TypeVar

from daskburst.k8s._settings import poll_interval

T = TypeVar("T")


class Clock(Protocol):
    """What waiting needs from time."""

    def monotonic(self) -> float:
        """Return seconds from an arbitrary fixed point."""
        ...

    def sleep(self, seconds: float) -> None:
        """Block for ``seconds``."""
        ...


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        """Return :func:`time.monotonic`."""
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        """Call :func:`time.sleep`."""
        time.sleep(seconds)


class WaitTimeoutError(TimeoutError):
    """The condition did not hold before the deadline."""


def wait_for(
    check: Callable[[], T | None],
    timeout: float,
    what: str,
    interval: float | None = None,
    clock: Clock | None = None,
) -> T:
    """Call ``check`` until it returns something other than None, or time runs out.

    ``check`` runs at least once, even with ``timeout=0``.

    Args:
        check: Returns None while waiting, the result when done. Exceptions propagate.
        timeout: Seconds until giving up.
        what: What is awaited, for the error message.
        interval: Seconds between calls (default: ``daskburst.kubernetes.poll-interval``).
        clock: Time source (default: :class:`SystemClock`).

    Returns:
        The first non-None value of ``check()``.

    Raises:
        WaitTimeoutError: When the deadline passes first.
    """
    clock = clock or SystemClock()
    interval = poll_interval() if interval is None else interval
    deadline = clock.monotonic() + timeout
    while True:
        result = check()
        if result is not None:
            return result
        left = deadline - clock.monotonic()
        if left <= 0:
            raise WaitTimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        clock.sleep(min(interval, left))


def transient(exc: BaseException) -> bool:
    """Whether an API error may pass by itself: no answer, a timeout, a 5xx or a 429."""
    import httpx
    import kr8s

    if isinstance(exc, httpx.TransportError | kr8s.APITimeoutError | kr8s.ConnectionClosedError):
        return True
    if isinstance(exc, kr8s.ServerError):
        status = getattr(exc.response, "status_code", None)
        return status is None or status >= 500 or status == 429
    return False
