"""Worker preload for the LocalCluster daskburst starts.

- Ctrl-C is the parent's business: a terminal sends it to every process of the
  foreground group. The parent shuts its cluster down; workers that also took the
  signal would print a ``KeyboardInterrupt`` traceback each.
- A failing task is reported once, by the client (one line naming the problem);
  the worker's own "Compute Failed" log with the task's traceback would print it
  again, on the same terminal.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any


class _NoTaskFailures(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Compute Failed")


def dask_setup(worker: Any) -> None:
    """Set up this worker process (distributed calls this at worker start)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.getLogger("distributed.worker").addFilter(_NoTaskFailures())
