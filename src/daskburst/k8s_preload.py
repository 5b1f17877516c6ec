"""Worker preload of daskburst's worker pods: register the moment the scheduler listens.

A DaskJob starts its scheduler, workers and runner at once, and a worker is often up
before its scheduler. distributed then retries the connection with a backoff that doubles
from 10 ms (``distributed.comm.core.connect``), so a worker whose scheduler comes up 0.4 s
after it registers 0.5 to 1 s later still, and the job waits for it. Here the worker tries
a plain TCP connection every 50 ms first, before distributed's own first attempt; that
happens right after this preload (``Worker.start``).

Nothing here can fail the worker: past ``distributed.comm.timeouts.connect`` it leaves
the rest to distributed, which reports an unreachable scheduler as it always does.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

#: Seconds between attempts: at most this late after the scheduler listens.
POLL = 0.05


async def dask_setup(worker: Any) -> None:
    """Wait until the worker's scheduler accepts a TCP connection (or give up quietly)."""
    import dask
    from dask.utils import parse_timedelta
    from distributed.comm import get_address_host_port, parse_address

    address = worker.scheduler.address
    if parse_address(address)[0] != "tcp":
        return
    host, port = get_address_host_port(address)
    limit = parse_timedelta(dask.config.get("distributed.comm.timeouts.connect"), "s")
    deadline = time.monotonic() + float(limit or 0)
    while time.monotonic() < deadline:
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 1.0)
        except (TimeoutError, OSError):
            await asyncio.sleep(POLL)
            continue
        writer.close()
        return
