"""The ``daskburst`` command line.

Exit codes: 0 success, 1 failure while running, 2 user error (one line on
stderr naming the bad value; ``--debug`` adds the traceback), 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from daskburst import config
from daskburst._cli_slurm import add_slurm_arguments, slurm_extra
from daskburst._version import __version__
from daskburst.backends import BACKENDS
from daskburst.errors import DaskburstError, InternalError, UserError
from daskburst.workloads import WORKLOADS

PROG = "daskburst"
_PLUGINS = ("daskburst._cli_slurm", "daskburst._cli_k8s", "daskburst._cli_bench")


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line and exit code 2."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{PROG}: error: {message} (see `{self.prog} --help`)\n")
        raise SystemExit(2)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")


def _backend_flags(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("where it runs")
    g.add_argument(
        "--backend",
        metavar="NAME",
        help=f"one of {', '.join(BACKENDS)} (default: daskburst.backend = {config.get('backend')})",
    )
    g.add_argument("--workers", type=_int_arg("--workers"), metavar="N", help="number of workers")
    g.add_argument(
        "--threads-per-worker",
        type=_int_arg("--threads-per-worker"),
        metavar="T",
        help="threads per worker process (cluster backends)",
    )
    g.add_argument("--adapt", metavar="MIN:MAX", help="adaptive scaling between MIN and MAX")
    g.add_argument("--address", metavar="ADDR", help="scheduler address for --backend address")
    g.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on stderr (default: when stderr is a terminal)",
    )


def _int_arg(flag: str) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:  # 2e6 and 1_000 too, as for workload parameters
            return config.parse_int(flag, text, minimum=-(2**63))
        except UserError:
            raise argparse.ArgumentTypeError(f"{text!r}: expected an integer") from None

    parse.__name__ = flag
    return parse


def _progress_wanted(flag: bool | None) -> str:
    """Return the progress mode: ``bar``, ``lines`` (stderr is not a terminal) or ``off``."""
    if flag is not None:
        return "bar" if flag else "off"
    setting = config.get_choice("progress", ("auto", "true", "false"))
    if setting == "auto":
        return "bar" if sys.stderr.isatty() else "lines"
    return "bar" if setting == "true" else "off"


# ---- workloads / run -----------------------------------------------------------------------


def _cmd_workloads(args: argparse.Namespace) -> int:
    for w in WORKLOADS.values():
        print(f"{w.name}: {w.summary}")
        defaults = w.defaults()
        for p in w.params:
            print(f"    {p.flag:<14} {p.help} (default: {defaults[p.name]})")
        for ex in w.examples:
            print(f"    e.g. {ex}")
        print()
    print(f"backends: {', '.join(BACKENDS)}")
    return 0


def _short(value: Any, limit: int = 70) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def summarize(record: dict[str, Any]) -> str:
    """Return the human summary of a run record (a few lines)."""
    result = record["result"]
    n = record["workers"]
    lines = [
        f"{record['workload']} on {record['backend']} ({n} worker{'s' if n != 1 else ''}): "
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
    return "\n".join(lines)


def _cmd_run(args: argparse.Namespace) -> int:
    from daskburst.runner import check_output, execute, write_json_atomic

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
        progress=_progress_wanted(args.progress),
        visualize_to=args.visualize,
        on_start=on_start,
        backend_extra=slurm_extra(args),
        **params,
    )
    if args.output:
        write_json_atomic(args.output, record)
    if args.output not in ("-", "/dev/stdout"):
        print(summarize(record))
    return 0


# ---- demo ------------------------------------------------------------------------------------

DEMO: tuple[tuple[str, dict[str, Any]], ...] = (
    ("calc-mean", {"replicates": 8, "n": 20_000_000}),
    ("calc-mean-sweep", {"replicates": 5, "n": 5_000_000}),
    ("array", {"rows": 20_000, "cols": 20_000}),
    ("bag", {}),
    ("dataframe", {}),
)


def _cmd_demo(args: argparse.Namespace) -> int:
    from daskburst.backends import BackendOptions, open_backend
    from daskburst.backends._base import check_options, resolve_adapt
    from daskburst.runner import compute, prepare

    rows: list[tuple[str, str, str, str]] = []
    opts = BackendOptions(
        workers=args.workers,
        threads_per_worker=args.threads_per_worker,
        adapt=resolve_adapt(args.adapt),
        address=args.address,
        progress=_progress_wanted(args.progress),
    )
    backend = args.backend or (None if args.address else "local")
    check_options(backend, opts)
    print("preparing inputs (generated once into the cache directory) ...", flush=True)
    parallel = config.get_optional_int("workers", args.workers, flag="--workers")
    prepared = [prepare(name, seed=args.seed, parallel=parallel, **params) for name, params in DEMO]
    with open_backend(backend, opts) as session:
        where = f"{session.backend} ({session.workers} workers)"
        print(f"running {len(DEMO)} workloads on {where}", flush=True)
        if session.dashboard_link:
            print(f"dashboard: {session.dashboard_link}", flush=True)
        for prep in prepared:
            start = time.perf_counter()
            result = compute(prep, session)
            seconds = time.perf_counter() - start
            rows.append(
                (prep.workload.name, f"{seconds:.2f}", _headline(result), result["digest"][:12])
            )
            print(f"  done: {prep.workload.name} in {seconds:.2f} s", flush=True)
    header = ("workload", "seconds", "result", "digest")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    print()
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


# ---- data ------------------------------------------------------------------------------------


def _positive(flag: str, value: int) -> int:
    if value < 1:
        raise UserError(f"{flag} {value}: expected a positive integer")
    return value


def _check_out(out: str, force: bool) -> Path:
    """Check ``--out``: a new or empty directory, or any directory with ``--force``."""
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise UserError(f"--out {out!r}: exists and is not a directory; expected a directory")
    if path.is_dir() and any(path.iterdir()) and not force:
        raise UserError(
            f"--out {out!r}: already holds files; expected a new or empty directory "
            "(--force replaces it)"
        )
    return path


def _data_session(args: argparse.Namespace) -> Any:
    from daskburst.backends import BackendOptions, open_backend

    return open_backend(
        args.backend or "processes",
        BackendOptions(workers=args.workers, progress=_progress_wanted(args.progress)),
    )


def _write_data(args: argparse.Namespace, kind: str, size_flag: str, size: int) -> int:
    from daskburst.data import airline
    from daskburst.data._io import replacing_directory
    from daskburst.data.sources import airline_tasks, wikistats_tasks

    total = _positive(size_flag, size)
    files = _positive("--files", args.files)
    if files > total:
        raise UserError(f"--files {files}: expected at most {size_flag} ({total}) files")
    seed = config.get_int("seed", args.seed, flag="--seed", minimum=0)
    out = _check_out(args.out, args.force)
    counts = airline.rows_per_file(total, files)
    # The files appear in --out all at once, complete; on failure or Ctrl-C nothing does.
    with replacing_directory(out) as tmp, _data_session(args) as session:
        if kind == "airline":
            tasks = airline_tasks(tmp, counts, seed, args.compression)
        else:
            tasks = wikistats_tasks(tmp, counts, seed)
        (paths,) = session.compute([tasks])
    print(f"wrote {len(paths)} {kind} files ({total} {size_flag[2:]}) to {out}")
    return 0


def _cmd_data_airline(args: argparse.Namespace) -> int:
    return _write_data(args, "airline", "--rows", args.rows)


def _cmd_data_wikistats(args: argparse.Namespace) -> int:
    return _write_data(args, "wikistats", "--lines", args.lines)


def _cmd_data_to_parquet(args: argparse.Namespace) -> int:
    from daskburst.data._inputs import explained
    from daskburst.data._io import replacing_directory
    from daskburst.data.sources import to_parquet_graph, to_parquet_problem

    out = _check_out(args.out, args.force)
    with replacing_directory(out) as tmp:
        graph = to_parquet_graph(args.input, tmp)
        with _data_session(args) as session:
            explained(lambda: session.compute([graph]), lambda: to_parquet_problem(args.input))
    print(f"wrote Parquet data set {out}")
    return 0


# ---- parser ----------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """Return the full argument parser (including plugin subcommands)."""
    parser = _Parser(
        prog=PROG,
        description="Run the tutorial's Dask workloads anywhere: laptop, SLURM, Kubernetes.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _common(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("workloads", help="list workloads, their parameters and defaults")
    _common(p)
    p.set_defaults(func=_cmd_workloads)

    run = sub.add_parser("run", help="run a workload on a backend")
    _common(run)
    wsub = run.add_subparsers(dest="workload", metavar="WORKLOAD", parser_class=_Parser)
    for w in WORKLOADS.values():
        wp = wsub.add_parser(w.name, help=w.summary, description=w.summary)
        _common(wp)
        g = wp.add_argument_group("workload parameters")
        for prm in w.params:
            g.add_argument(prm.flag, dest=prm.name, metavar="VALUE", help=prm.help)
        _backend_flags(wp)
        o = wp.add_argument_group("run options")
        o.add_argument("--seed", help="master seed (default: daskburst.seed)")
        o.add_argument("--output", metavar="FILE.json", help="write the run record as JSON")
        o.add_argument("--visualize", metavar="FILE.svg", help="write the task graph (graphviz)")
        add_slurm_arguments(wp)
        wp.set_defaults(func=_cmd_run)
    run.set_defaults(
        func=lambda a: run.error("missing WORKLOAD; expected one of " + ", ".join(WORKLOADS))
    )

    demo = sub.add_parser("demo", help="run all workloads at demo sizes and print a table")
    _common(demo)
    _backend_flags(demo)
    demo.add_argument("--seed", type=_int_arg("--seed"), default=None)
    demo.set_defaults(func=_cmd_demo)

    data = sub.add_parser("data", help="generate synthetic inputs or convert them")
    _common(data)
    dsub = data.add_subparsers(dest="data_command", metavar="KIND", parser_class=_Parser)
    air = dsub.add_parser("airline", help="airline on-time CSV files (ASA Data Expo 2009 schema)")
    air.add_argument("--rows", type=_int_arg("--rows"), required=True)
    air.add_argument("--compression", choices=("bz2", "none"), default="bz2")
    air.set_defaults(func=_cmd_data_airline)
    wiki = dsub.add_parser("wikistats", help="Wikipedia page-count log files (.gz)")
    wiki.add_argument("--lines", type=_int_arg("--lines"), required=True)
    wiki.set_defaults(func=_cmd_data_wikistats)
    for dp in (air, wiki):
        _common(dp)
        dp.add_argument("--out", required=True, metavar="DIR")
        dp.add_argument("--files", type=_int_arg("--files"), default=4)
        dp.add_argument("--seed", type=_int_arg("--seed"), default=None)
    pq = dsub.add_parser("to-parquet", help="convert airline CSV files to Parquet once")
    _common(pq)
    pq.add_argument("--input", required=True, metavar="GLOB")
    pq.add_argument("--out", required=True, metavar="DIR")
    pq.set_defaults(func=_cmd_data_to_parquet)
    for dp in (air, wiki, pq):
        dp.add_argument(
            "--force", action="store_true", help="replace --out if it already holds files"
        )
        dp.add_argument("--backend", default=None, help="where to generate (default: processes)")
        dp.add_argument("--workers", type=_int_arg("--workers"), default=None)
        dp.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None)
    data.set_defaults(
        func=lambda a: data.error("missing KIND; expected airline, wikistats or to-parquet")
    )

    for module_name in _PLUGINS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``daskburst`` command.

    Args:
        argv: Arguments (default: ``sys.argv[1:]``).

    Returns:
        The exit code.
    """
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        return _main(argv)


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    if issubclass(category, config.ConfigWarning):
        sys.stderr.write(f"{PROG}: warning: {message}\n")
    else:
        _SHOW_WARNING(message, category, filename, lineno, file, line)


_SHOW_WARNING = warnings.showwarning


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = bool(getattr(args, "debug", False))
    if debug:
        logging.basicConfig(level=logging.DEBUG)
    else:
        # distributed logs every worker (dis)connection at INFO; users want results.
        for name in ("distributed", "dask_jobqueue", "dask_kubernetes", "kr8s"):
            logging.getLogger(name).setLevel(logging.WARNING)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        config.warn_unknown_keys()
        return int(args.func(args) or 0)
    except UserError as exc:
        if debug:
            traceback.print_exc()
        sys.stderr.write(f"{PROG}: error: {exc}\n")
        return 2
    except KeyboardInterrupt:
        # Every backend and output directory was closed on the way out.
        sys.stderr.write(f"{PROG}: interrupted; stopped everything it started\n")
        return 130
    except InternalError as exc:
        if debug:
            traceback.print_exc()
        sys.stderr.write(
            f"{PROG}: internal error: {exc} (a bug in daskburst; please report it with the "
            "output of --debug)\n"
        )
        return 1
    except DaskburstError as exc:
        if debug:
            traceback.print_exc()
        sys.stderr.write(f"{PROG}: failed: {exc}\n")
        return 1
    except Exception as exc:  # noqa: BLE001 - the CLI turns any failure into exit 1
        if debug:
            traceback.print_exc()
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        sys.stderr.write(f"{PROG}: failed: {type(exc).__name__}: {first} (rerun with --debug)\n")
        return 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
