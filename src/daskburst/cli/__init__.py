"""The ``daskburst`` command line: one module per command group.

- :mod:`~daskburst.cli.run`: ``workloads``, ``run WORKLOAD``, ``demo``
- :mod:`~daskburst.cli.data`: ``data airline|wikistats|to-parquet``
- :mod:`~daskburst.cli.slurm`: ``slurm job-script|runner``
- :mod:`~daskburst.cli.k8s`: ``k8s install|submit|status|results|gc|delete|uninstall``
- :mod:`~daskburst.cli.bench`: ``bench``

Exit codes: 0 success, 1 failure while running, 2 user error (one line on
stderr naming the bad value; ``--debug`` adds the traceback), 130 on Ctrl-C.
"""

from daskburst.cli._main import build_parser, main
from daskburst.cli.run import summarize

__all__ = ["build_parser", "main", "summarize"]
