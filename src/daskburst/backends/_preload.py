"""Worker preload for the LocalCluster daskburst starts: Ctrl-C is the parent's business.

Ctrl-C in a terminal reaches every process of the foreground group. The parent
shuts its cluster down; workers that also took the signal would print a
``KeyboardInterrupt`` traceback each.
"""

from __future__ import annotations

import signal
import threading
from typing import Any


def dask_setup(worker: Any) -> None:
    """Ignore SIGINT in this worker process (distributed calls this at worker start)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
