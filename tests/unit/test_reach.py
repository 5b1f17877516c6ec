"""First contact with a scheduler: retried until it answers, whatever answers meanwhile."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from daskburst.backends._reach import wait_reachable
from daskburst.errors import BackendError


@pytest.fixture
def http_400() -> Iterator[str]:
    """A peer that answers every connection like a misrouted HTTP server would."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n" * 64)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"tcp://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join()
    server.close()


def test_a_non_dask_answer_is_retried_then_explained_not_a_memory_error(http_400: str) -> None:
    # distributed reads "HTTP/1.1" as a message length and tries to allocate exabytes.
    with pytest.raises(BackendError) as info:
        wait_reachable(http_400, "a Service", 1.5)
    message = str(info.value)
    assert "does not answer as a Dask scheduler" in message
    assert "(a Service) within 1.5 s" in message


def test_a_real_scheduler_answers() -> None:
    from distributed import LocalCluster

    with LocalCluster(n_workers=0, processes=False, dashboard_address=None) as cluster:
        assert wait_reachable(cluster.scheduler_address, "test", 10) < 10
