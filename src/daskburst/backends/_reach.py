"""Wait until a Dask scheduler answers a real handshake, whatever the network does meanwhile.

A client that reaches a brand-new Kubernetes Service before kube-proxy has programmed it
talks to whatever the node's default route leads to. On some networks that answers (one VM
kind here replies ``HTTP/1.1 400 Bad Request``), and Dask reads those bytes as a message
length: ``MemoryError: Unable to allocate 3.07 EiB``. Elsewhere the connect times out and is
retried. So the first contact is a full ``identity`` round trip, retried on *any* error until
the deadline, and only then does a Client connect.
"""

from __future__ import annotations

import asyncio
import time

from daskburst.errors import BackendError


async def _identity(address: str, timeout: float) -> None:
    from distributed.core import rpc

    async with rpc(address, timeout=timeout) as scheduler:
        await asyncio.wait_for(scheduler.identity(), timeout)


def wait_reachable(address: str, timeout: float, what: str, interval: float = 0.5) -> float:
    """Block until the scheduler at ``address`` answers ``identity``.

    Args:
        address: ``tcp://host:port``.
        timeout: Seconds until giving up.
        what: What is awaited, for the error message.
        interval: Seconds between attempts.

    Returns:
        Seconds waited.

    Raises:
        BackendError: With the last error, when the deadline passes.
    """
    started = time.monotonic()
    last: BaseException | None = None
    while True:
        try:
            asyncio.run(_identity(address, timeout=min(5.0, max(timeout, 0.5))))
            return time.monotonic() - started
        except (Exception, MemoryError) as exc:  # noqa: BLE001 - see the module docstring
            last = exc
        if time.monotonic() - started >= timeout:
            detail = f"{type(last).__name__}: {last}" if last else "no answer"
            raise BackendError(
                f"{what}: no Dask scheduler answered at {address} within {timeout:g} s ({detail})"
            )
        time.sleep(interval)
