"""Worker plugins for user code (imported on the workers, so keep this module small)."""

from __future__ import annotations

import os
import sys
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin


class SharedPath(WorkerPlugin):
    """Put a directory of a shared filesystem first on each worker's ``sys.path``.

    For worker jobs that see the client's filesystem (SLURM): nothing is copied.
    """

    def __init__(self, path: str) -> None:
        self.path = path

    def setup(self, worker: Any) -> None:
        if not os.path.isdir(self.path):
            raise FileNotFoundError(
                f"{self.path}: not visible on worker {worker.address}; the working directory "
                "must be on a filesystem the compute nodes share"
            )
        if self.path not in sys.path:
            sys.path.insert(0, self.path)
