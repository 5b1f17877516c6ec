"""``daskburst workloads``, ``daskburst run WORKLOAD|SCRIPT`` and ``daskburst demo``."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from daskburst import config
from daskburst.backends import BACKENDS, note, resolve_options
from daskburst.catalogue import CATALOGUE
from daskburst.cli._args import (
    PROG,
    Parser,
    backend_flags,
    backend_options,
    common,
    progress_wanted,
    seed_flag,
    workdir_flag,
)
from daskburst.cli.slurm import add_slurm_arguments, slurm_extra
from daskburst.workloads import WORKLOADS

# ---- workloads / run -----------------------------------------------------------------------


def _cmd_workloads(args: argparse.Namespace) -> int:
    for w in WORKLOADS.values():
        print(f"{w.name}: {w.summary}")
        defaults = w.defaults()
        for p in w.params:
            print(f"    {p.flag:<14} {p.help} (default: {_as_flag(defaults[p.name])})")
        for ex in w.examples:
            print(f"    e.g. {ex}")
        print()
    print(f"backends: {', '.join(BACKENDS)}")
    return 0


def _as_flag(value: Any) -> str:
    """A default as it would be typed on the command line (``200000,4``, not a dict)."""
    return "the generated sample" if value is None else config.as_typed(value)


def _short(value: Any, limit: int = 70) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def workers_text(record: dict[str, Any]) -> str:
    """``3 workers``; when fewer ran than asked for: ``3 of 40 workers had work at once``."""
    n = int(record["workers"])
    asked = (record.get("requested") or {}).get("workers")
    text = f"{n} worker{'s' if n != 1 else ''}"
    if isinstance(asked, int) and 0 < n < asked:
        # dask's local schedulers start a worker only for a task that is ready.
        text = f"{n} of {asked} workers had work at once"
    return text


def summarize(record: dict[str, Any]) -> str:
    """Return the human summary of a run record (a few lines)."""
    result = record["result"]
    lines = [
        f"{record['workload']} on {record['backend']} ({workers_text(record)}): "
        f"{record['seconds']:.2f} s"
    ]
    for key, value in result.items():
        if key == "digest":
            continue
        if key == "replicates":
            lines.append(f"  replicates: {len(value)}; first: {_short(value[:2])}")
        elif key == "params":
            lines.append(f"  (mu, sigma) pairs: {len(value)}")
        elif key == "mean_dep_delay_by_dest":
            lines.append(f"  {key}: {len(value)} destinations; {_short(value)}")
        else:
            lines.append(f"  {key}: {_short(value)}")
    lines.append(f"  digest: {result['digest']}")
    if result.get("subset_rows") == 0 and result.get("rows"):
        # A valid but absent code is no error; an empty answer deserves a word.
        lines.append(
            f"  note: no flight of carrier {result.get('carrier')!r} from origin "
            f"{result.get('origin')!r} among the {result['rows']:,} rows (check --carrier "
            "and --origin)"
        )
    return "\n".join(lines)


def _cmd_run(args: argparse.Namespace) -> int:
    from daskburst.execute import check_output, execute, write_json_atomic

    # before computing: a result must not be lost at the end
    check_output(args.output)
    check_output(args.visualize, "--visualize")
    workload = WORKLOADS[args.workload]
    params = {p.name: getattr(args, p.name, None) for p in workload.params}

    def on_start(session: Any) -> None:
        if session.dashboard_link:
            sys.stderr.write(f"dashboard: {session.dashboard_link}\n")

    record = execute(
        args.workload,
        backend=args.backend,
        seed=args.seed,
        workers=args.workers,
        threads_per_worker=args.threads_per_worker,
        adapt=args.adapt,
        address=args.address,
        progress=progress_wanted(args.progress),
        visualize_to=args.visualize,
        on_start=on_start,
        backend_extra=slurm_extra(args),
        command=[PROG, *sys.argv[1:]],
        **params,
    )
    if args.output:
        write_json_atomic(args.output, record)
    if args.output not in ("-", "/dev/stdout"):
        print(summarize(record))
    return 0


# ---- run SCRIPT ----------------------------------------------------------------------------

#: The hidden command ``daskburst run SCRIPT ...`` is routed to (see :func:`route`).
SCRIPT_COMMAND = "run-script"
#: Said when a flag daskburst does not know comes before ``--``.
SCRIPT_ARGS_HINT = "arguments for the script go after --, e.g. `daskburst run my.py -- --n 5`"


def route(argv: Sequence[str]) -> tuple[list[str], list[str] | None]:
    """Send ``run SCRIPT ...`` (not a built-in workload) to the script command.

    Everything after the first ``--`` belongs to the script, whatever it looks like.

    Returns:
        ``(arguments for the parser, the script's arguments or None)``.
    """
    argv = list(argv)
    at = next((i for i, a in enumerate(argv) if not a.startswith("-")), None)
    if at is None or argv[at] != "run" or at + 1 >= len(argv):
        return argv, None
    target = argv[at + 1]
    if target.startswith("-") or (target in WORKLOADS and not Path(target).is_file()):
        return argv, None
    rest = argv[at + 2 :]
    script_args: list[str] = []
    if "--" in rest:
        cut = rest.index("--")
        rest, script_args = rest[:cut], rest[cut + 1 :]
    return [*argv[:at], SCRIPT_COMMAND, target, *rest], script_args


def _cmd_run_script(args: argparse.Namespace) -> int:
    from daskburst.backends import check_options
    from daskburst.execute import check_output, write_json_atomic
    from daskburst.usercode import execute_user_code, prepare, ship_mode

    check_output(args.output)
    extra = slurm_extra(args)
    if args.image:
        extra["image"] = args.image
    options = backend_options(args, extra)
    backend = check_options(args.backend, options)
    ship = ship_mode(backend, args.ship)
    user_run = prepare(
        args.target,
        args.script_args or [],
        workdir=args.workdir,
        ship=ship,
        workloads=list(WORKLOADS),
    )
    if user_run.workdir is not None and ship != "off":
        wd = user_run.workdir
        how = (
            "is imported in place by the workers (shared filesystem)"
            if ship == "shared"
            else f"travels with the script ({ship}): {wd.compressed:,} bytes compressed"
        )
        sys.stderr.write(f"{PROG}: {wd.root} ({len(wd.files)} files) {how}\n")

    def on_start(session: Any) -> None:
        if session.dashboard_link:
            sys.stderr.write(f"dashboard: {session.dashboard_link}\n")

    status, record = execute_user_code(
        user_run, backend=backend, options=options, ship=ship, seed=args.seed, on_start=on_start,
        command=[PROG, *sys.argv[1:]],
    )  # fmt: skip
    if args.output:
        write_json_atomic(args.output, record)
    sys.stderr.write(
        f"{PROG}: {user_run.target.name} on {record['backend']} ({workers_text(record)})"
        f": {record['seconds']:.2f} s, exit {status}\n"
    )
    return status


def _register_script(sub: Any) -> None:
    p = sub.add_parser(
        SCRIPT_COMMAND,
        prog=f"{PROG} run",
        usage=f"{PROG} run SCRIPT.py|package.module:function [options] [-- SCRIPT ARGS]",
        description="Run your own Dask code with the chosen backend as the default scheduler: "
        "dask.compute, .compute(), .persist(), Client() and get_client() in it all use the "
        "backend. The script's directory (or --workdir) travels with it to the workers.",
    )
    common(p)
    p.add_argument("target", metavar="SCRIPT", help="a Python script, or package.module:function")
    backend_flags(p)
    o = p.add_argument_group("your code")
    workdir_flag(o)
    o.add_argument(
        "--ship",
        metavar="MODE",
        help="how DIR reaches the workers: auto, upload, shared, off "
        f"(default: {config.shown('daskburst.user-code.ship')})",
    )
    o.add_argument("--image", metavar="IMAGE", help="worker image (--backend kubernetes)")
    seed_flag(o, "master seed, daskburst.seed() in the script")
    o.add_argument("--output", metavar="FILE.json", help="write the run record as JSON")
    add_slurm_arguments(p)
    p.set_defaults(func=_cmd_run_script, script_args=[])


# ---- demo ------------------------------------------------------------------------------------

#: The workloads ``daskburst demo`` runs, and their sizes: the catalogue's ``demo`` presets.
DEMO: tuple[tuple[str, dict[str, Any]], ...] = tuple(
    (p.workload, dict(p.demo)) for p in CATALOGUE if p.demo is not None
)


def _cmd_demo(args: argparse.Namespace) -> int:
    from daskburst.backends import check_options, open_backend
    from daskburst.execute import compute, prepare

    rows: list[tuple[str, str, str, str]] = []
    opts = backend_options(args)
    backend = check_options(args.backend, opts)
    # Status on stderr, as `run` does; the table on stdout.
    note("preparing inputs (generated once into the cache directory) ...")
    resolved = resolve_options(opts)
    prepared = [
        prepare(name, seed=args.seed, parallel=resolved.workers, **params) for name, params in DEMO
    ]
    with open_backend(backend, resolved) as session:
        where = f"{session.backend} ({session.workers} workers)"
        note(f"running {len(DEMO)} workloads on {where}")
        if session.dashboard_link:
            note(f"dashboard: {session.dashboard_link}")
        for prep in prepared:
            start = time.perf_counter()
            result = compute(prep, session)
            seconds = time.perf_counter() - start
            rows.append(
                (prep.workload.name, f"{seconds:.2f}", _headline(result), result["digest"][:12])
            )
            note(f"  done: {prep.workload.name} in {seconds:.2f} s")
    header = ("workload", "seconds", "result", "digest")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    for r in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    return 0


def _headline(result: dict[str, Any]) -> str:
    if "replicates" in result:
        reps = result["replicates"]
        return f"{len(reps)} replicates, mean of means {sum(r[0] for r in reps) / len(reps):+.2e}"
    if "params" in result:
        return f"{sum(len(g['replicates']) for g in result['params'])} replicates over " + (
            f"{len(result['params'])} (mu, sigma) pairs"
        )
    if "mean_of_row_means" in result:
        return f"{result['rows']} row means, overall {result['mean_of_row_means']:+.2e}"
    if "matches" in result:
        return f"{result['lines']} lines, {result['matches']} matches"
    if "dep_delay_max" in result:
        return (
            f"{result['rows']} flights, DepDelay {result['dep_delay_min']:.0f}.."
            f"{result['dep_delay_max']:.0f}, {len(result['mean_dep_delay_by_dest'])} dests"
        )
    return ""


# ---- parser ----------------------------------------------------------------------------------


def register(sub: Any) -> None:
    """Add ``workloads``, ``run`` and ``demo``.

    Args:
        sub: The ``add_subparsers()`` object of the main parser.
    """
    p = sub.add_parser("workloads", help="list workloads, their parameters and defaults")
    common(p)
    p.set_defaults(func=_cmd_workloads)

    run = sub.add_parser(
        "run",
        help="run a workload, or your own script, on a backend",
        usage=f"{PROG} run WORKLOAD [options] | {PROG} run SCRIPT.py [options] [-- ARGS]",
        description="Run a built-in workload (below), or your own Dask script: "
        f"`{PROG} run my_analysis.py --backend local -- ARGS` (see `{PROG} run SCRIPT.py --help`).",
    )
    common(run)
    wsub = run.add_subparsers(dest="workload", metavar="WORKLOAD", parser_class=Parser)
    for w in WORKLOADS.values():
        wp = wsub.add_parser(
            w.name, help=w.summary, description=w.summary, prog=f"{PROG} run {w.name}"
        )
        common(wp)
        g = wp.add_argument_group("workload parameters")
        for prm in w.params:
            g.add_argument(
                prm.flag,
                dest=prm.name,
                metavar="VALUE",
                help=f"{prm.help} (default: {config.shown('daskburst.' + w.key(prm))})",
            )
        backend_flags(wp)
        o = wp.add_argument_group("run options")
        seed_flag(o)
        o.add_argument("--output", metavar="FILE.json", help="write the run record as JSON")
        o.add_argument("--visualize", metavar="FILE.svg", help="write the task graph (graphviz)")
        add_slurm_arguments(wp)
        wp.set_defaults(func=_cmd_run)
    run.set_defaults(
        func=lambda a: run.error(
            "missing WORKLOAD or SCRIPT; expected one of " + ", ".join(WORKLOADS) + ", or a script"
        )
    )
    _register_script(sub)

    demo = sub.add_parser("demo", help="run all workloads at demo sizes and print a table")
    common(demo)
    backend_flags(demo)
    seed_flag(demo)
    demo.set_defaults(func=_cmd_demo)
