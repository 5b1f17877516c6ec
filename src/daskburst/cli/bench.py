"""``daskburst bench``: measure the workloads against the machine's limit."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from daskburst.bench import SECTIONS, run_bench, summary_markdown
from daskburst.cli._args import common
from daskburst.errors import UserError


def _cmd_bench(args: argparse.Namespace) -> int:
    only = None
    if args.only:
        only = {s.strip() for s in args.only.split(",") if s.strip()}
        bad = sorted(only - set(SECTIONS))
        if bad:
            raise UserError(f"--only {bad[0]!r}: expected sections from {', '.join(SECTIONS)}")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {args.out!r}: exists and is not a directory")
    report = run_bench(out, quick=args.quick, only=only)
    print(summary_markdown(report))
    print(f"wrote {out / 'bench.json'}, {out / 'summary.md'} and charts")
    return 0


def register(subparsers: Any) -> None:
    """Add the ``bench`` command."""
    p = subparsers.add_parser("bench", help="benchmark every workload against the machine's limit")
    p.add_argument("--quick", action="store_true", help="small sizes (under 10 min on 2 cores)")
    p.add_argument("--out", default="bench-out", metavar="DIR", help="output directory")
    p.add_argument("--only", metavar="LIST", help=f"comma-separated sections: {','.join(SECTIONS)}")
    common(p)
    p.set_defaults(func=_cmd_bench)
