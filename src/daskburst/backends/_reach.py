"""Wait until a Dask scheduler answers a real handshake, or say why it does not.

Two things can stand between a client and a scheduler that is starting up:

- the address refuses or does not resolve (the scheduler pod is not up yet, or the host or
  port is wrong); a TCP connect tells which, for the message;
- something else answers. A client that reaches a brand-new Kubernetes Service before
  kube-proxy has programmed it talks to whatever the node's default route leads to; on one
  VM kind here that answers ``HTTP/1.1 400 Bad Request``, which Dask reads as a message
  length (``MemoryError: Unable to allocate 3.07 EiB``). Elsewhere the connect times out.

So the first contact is a TCP connect and then a full ``identity`` round trip, both retried
on any error until ``daskburst.connect-timeout``, and only then does a Client connect.
"""

from __future__ import annotations

import asyncio
import socket
import time

from daskburst.errors import BackendError


async def _identity(address: str, timeout: float) -> None:
    from distributed.core import rpc

    async with rpc(address, timeout=timeout) as scheduler:
        await asyncio.wait_for(scheduler.identity(), timeout)


def _tcp_reason(host: str, port: int, timeout: float) -> str | None:
    """Return why a TCP connection fails, or None when it opens."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except socket.gaierror as exc:
        return f"cannot resolve host {host!r} ({exc.strerror})"
    except ConnectionRefusedError:
        return "connection refused"
    except OSError as exc:
        return exc.strerror or type(exc).__name__


def wait_reachable(address: str, where: str, timeout: float) -> float:
    """Block until the scheduler at ``address`` answers ``identity``.

    Args:
        address: A validated scheduler address.
        where: Where the address came from, for the message (``--address``, a Service...).
        timeout: Seconds until giving up (``daskburst.connect-timeout``).

    Returns:
        Seconds waited.

    Raises:
        BackendError: Naming the address, its source and the last reason, at the deadline.
    """
    from distributed.comm import get_address_host_port
    from distributed.comm.addressing import parse_address

    scheme, _ = parse_address(address)
    if scheme not in ("tcp", "tls", "ws", "wss"):
        return 0.0  # inproc/ucx: leave it to distributed
    host, port = get_address_host_port(address)
    started = time.monotonic()
    deadline = started + timeout
    delay = 0.1
    while True:
        left = deadline - time.monotonic()
        reason = _tcp_reason(host, port, max(0.1, min(2.0, left)))
        if reason is None:
            try:
                asyncio.run(_identity(address, timeout=max(0.5, min(5.0, left))))
                return time.monotonic() - started
            except (Exception, MemoryError) as exc:  # noqa: BLE001 - see the module docstring
                reason = (
                    "it accepts connections but does not answer as a Dask scheduler "
                    f"({type(exc).__name__}: {str(exc)[:200]})"
                )
        left = deadline - time.monotonic()
        if left <= 0:
            raise BackendError(
                f"cannot reach scheduler at {address!r} ({where}) within {timeout:g} s: "
                f"{reason} (daskburst.connect-timeout)"
            )
        time.sleep(min(delay, left))
        delay = min(delay * 2, 1.0)
