"""Worker preload for the LocalCluster daskburst starts (``--backend local``).

- Ctrl-C is the parent's business: a terminal sends it to every process of the
  foreground group. The parent shuts its cluster down; workers that also took the
  signal would print a ``KeyboardInterrupt`` traceback each.
- A failing task is reported once, by the client (one line naming the problem);
  the worker's own "Compute Failed" log with the task's traceback would print it
  again, on the same terminal.
- A worker that is being closed drops its connections, and a heartbeat already on
  its way then fails: distributed logs that at ERROR with two tracebacks, though
  nothing went wrong (seen after Ctrl-C, when the parent closes its cluster). While
  the worker runs, a failed heartbeat is still shown.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

_HEARTBEAT_FAILED = "Failed to communicate with scheduler during heartbeat"


class _QuietWorker(logging.Filter):
    """Drop a worker's log records that repeat or misreport what the client shows."""

    def __init__(self, worker: Any) -> None:
        super().__init__()
        self.worker = worker

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        if message.startswith("Compute Failed"):
            return False
        if message.startswith(_HEARTBEAT_FAILED):
            return not self._closing()
        return True

    def _closing(self) -> bool:
        from distributed.core import Status

        return self.worker.status in (Status.closing, Status.closed, Status.closing_gracefully)


def dask_setup(worker: Any) -> None:
    """Set up this worker process (distributed calls this at worker start)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.getLogger("distributed.worker").addFilter(_QuietWorker(worker))
