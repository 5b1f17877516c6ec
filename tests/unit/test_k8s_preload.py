"""The worker pods' preload: wait for the scheduler to listen, never fail the worker."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import dask
from distributed import Scheduler, Worker
from distributed.utils import open_port

from daskburst.k8s_preload import dask_setup


def _worker(address: str) -> SimpleNamespace:
    return SimpleNamespace(scheduler=SimpleNamespace(address=address))


def test_it_returns_once_the_scheduler_listens_and_not_before() -> None:
    port = open_port()

    async def main() -> None:
        waiting = asyncio.create_task(dask_setup(_worker(f"tcp://127.0.0.1:{port}")))
        await asyncio.sleep(0.5)  # ten refused attempts
        assert not waiting.done()
        server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", port)
        async with server:
            await asyncio.wait_for(waiting, 10)

    asyncio.run(main())


def test_it_gives_up_quietly_at_the_connect_timeout() -> None:
    port = open_port()
    with dask.config.set({"distributed.comm.timeouts.connect": "0.3s"}):
        asyncio.run(asyncio.wait_for(dask_setup(_worker(f"tcp://127.0.0.1:{port}")), 10))


def test_other_protocols_are_left_to_distributed() -> None:
    asyncio.run(asyncio.wait_for(dask_setup(_worker("inproc://10.0.0.1/1/2")), 1))


def test_a_worker_with_it_registers_with_a_scheduler_started_after_it() -> None:
    port = open_port()

    async def main() -> None:
        worker = Worker(f"tcp://127.0.0.1:{port}", preload=["daskburst.k8s_preload"],
                        nthreads=1, dashboard=False)  # fmt: skip
        starting = asyncio.ensure_future(worker)
        await asyncio.sleep(0.5)
        assert not starting.done()
        async with Scheduler(port=port, dashboard=False) as scheduler:
            await asyncio.wait_for(starting, 30)
            assert worker.address in scheduler.workers
            await worker.close()

    asyncio.run(main())
