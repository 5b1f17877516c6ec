"""User code as a workload: ``daskburst run my_analysis.py`` on every backend.

- :mod:`._target`: which script or ``module:function``, checked before anything starts;
- :mod:`daskburst.workdir`: the files that travel with it, bounded, with their digest;
- :mod:`._scan`: lines that pick their own scheduler (warned about);
- :mod:`._run`: the backend as the default scheduler while the script runs.
"""

from __future__ import annotations

from daskburst.usercode._run import (
    SHIP_MODES,
    UserRun,
    execute_user_code,
    missing_module_hint,
    output_dir,
    pack_outputs,
    prepare,
    seed,
    ship_mode,
    unpack_outputs,
)
from daskburst.usercode._scan import Override, scan_source
from daskburst.usercode._target import Target, looks_like_target, resolve
from daskburst.workdir import MOUNT_PATH, Workdir, WorkFile, collect, zip_bytes

__all__ = [
    "MOUNT_PATH",
    "SHIP_MODES",
    "Override",
    "Target",
    "UserRun",
    "WorkFile",
    "Workdir",
    "collect",
    "execute_user_code",
    "looks_like_target",
    "missing_module_hint",
    "output_dir",
    "pack_outputs",
    "prepare",
    "resolve",
    "scan_source",
    "seed",
    "ship_mode",
    "unpack_outputs",
    "zip_bytes",
]
