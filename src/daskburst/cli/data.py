"""``daskburst data ...``: generate synthetic inputs or convert them."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from daskburst import config
from daskburst.cli._args import Parser, common, int_arg, progress_wanted, seed_flag
from daskburst.errors import UserError


def _positive(flag: str, value: int) -> int:
    if value < 1:
        raise UserError(f"{flag} {value}: expected a positive integer")
    return value


def _check_out(out: str, force: bool) -> Path:
    """Check ``--out``: a new or empty directory, or daskburst's own output with ``--force``.

    ``--force`` replaces a directory only when everything in it is what ``daskburst data``
    wrote there (its marker file lists it): never a user's own files. The current directory,
    a directory above it, the home directory and ``/`` are refused outright.
    """
    from daskburst.data import MARKER, foreign_files

    expected = "expected a directory of its own for the data, e.g. --out data/airline"
    if not out.strip():
        raise UserError(f"--out {out!r}: empty; {expected}")
    path = Path(out).expanduser()
    resolved = path.resolve()
    here = Path.cwd().resolve()
    if resolved == here or resolved in here.parents or resolved == Path.home().resolve():
        what = "the home directory" if resolved == Path.home().resolve() else (
            "the current directory" if resolved == here else "a directory above this one"
        )  # fmt: skip
        raise UserError(f"--out {out!r}: is {what}; {expected}")
    if path.exists() and not path.is_dir():
        raise UserError(f"--out {out!r}: exists and is not a directory; expected a directory")
    _check_writable(out, resolved)
    if path.is_dir() and any(path.iterdir()):
        if not force:
            raise UserError(
                f"--out {out!r}: already holds files; expected a new or empty directory "
                "(--force replaces daskburst's own output)"
            )
        foreign = foreign_files(path)
        if foreign:
            raise UserError(
                f"--out {out!r}: holds {len(foreign)} file(s) daskburst did not write there "
                f"(e.g. {foreign[0]}); --force replaces only daskburst's own output (listed in "
                f"its {MARKER}): expected a new or empty directory"
            )
    return path


def _check_writable(out: str, resolved: Path) -> None:
    """The output is written beside ``--out`` (then renamed): its parent must take files."""
    import tempfile

    parent = next(p for p in resolved.parents if p.exists())
    if resolved.parent.exists() and not resolved.parent.is_dir():
        raise UserError(f"--out {out!r}: {str(resolved.parent)!r} is not a directory")
    try:
        tempfile.TemporaryDirectory(prefix=".daskburst-probe.", dir=parent).cleanup()
    except OSError as exc:
        raise UserError(
            f"--out {out!r}: cannot write in {str(parent)!r} ({exc.strerror or exc}); expected "
            "a directory you can write in"
        ) from None


def _data_session(args: argparse.Namespace) -> Any:
    from daskburst.backends import BackendOptions, open_backend

    return open_backend(
        args.backend,
        BackendOptions(workers=args.workers, progress=progress_wanted(args.progress)),
    )


def _write_data(args: argparse.Namespace, kind: str, size_flag: str, size: int) -> int:
    from daskburst.data import airline, replacing_directory, write_marker
    from daskburst.data.sources import airline_tasks, wikistats_tasks

    total = _positive(size_flag, size)
    files = _positive("--files", args.files)
    if files > total:
        raise UserError(f"--files {files}: expected at most {size_flag} ({total}) files")
    seed = config.master_seed(args.seed)
    out = _check_out(args.out, args.force)
    counts = airline.rows_per_file(total, files)
    # The files appear in --out all at once, complete; on failure or Ctrl-C nothing does.
    with replacing_directory(out) as tmp, _data_session(args) as session:
        if kind == "airline":
            tasks = airline_tasks(tmp, counts, seed, args.compression)
        else:
            tasks = wikistats_tasks(tmp, counts, seed)
        (paths,) = session.compute([tasks])
        write_marker(tmp, kind)
    print(f"wrote {len(paths)} {kind} files ({total} {size_flag[2:]}) to {out}")
    return 0


def _cmd_data_airline(args: argparse.Namespace) -> int:
    return _write_data(args, "airline", "--rows", args.rows)


def _cmd_data_wikistats(args: argparse.Namespace) -> int:
    return _write_data(args, "wikistats", "--lines", args.lines)


def _cmd_data_to_parquet(args: argparse.Namespace) -> int:
    from daskburst.data import explained, replacing_directory, write_marker
    from daskburst.data.sources import to_parquet_graph, to_parquet_problem

    out = _check_out(args.out, args.force)
    with replacing_directory(out) as tmp:
        graph = to_parquet_graph(args.input, tmp)
        with _data_session(args) as session:
            explained(lambda: session.compute([graph]), lambda: to_parquet_problem(args.input))
        write_marker(tmp, "parquet")
    print(f"wrote Parquet data set {out}")
    return 0


# ---- parser ----------------------------------------------------------------------------------


def register(sub: Any) -> None:
    """Add ``data airline``, ``data wikistats`` and ``data to-parquet``.

    Args:
        sub: The ``add_subparsers()`` object of the main parser.
    """
    data = sub.add_parser("data", help="generate synthetic inputs or convert them")
    common(data)
    dsub = data.add_subparsers(dest="data_command", metavar="KIND", parser_class=Parser)
    air = dsub.add_parser("airline", help="airline on-time CSV files (ASA Data Expo 2009 schema)")
    air.add_argument(
        "--rows",
        type=int_arg("--rows"),
        required=True,
        metavar="N",
        help="rows in all files together (2e6 and 2_000_000 work too)",
    )
    air.add_argument("--compression", choices=("bz2", "none"), default="bz2",
                     help="bz2 (.csv.bz2, as the tutorial's files) or none (.csv) "
                     "(default: %(default)s)")  # fmt: skip
    air.set_defaults(func=_cmd_data_airline)
    wiki = dsub.add_parser("wikistats", help="Wikipedia page-count log files (.gz)")
    wiki.add_argument("--lines", type=int_arg("--lines"), required=True, metavar="N",
                      help="log lines in all files together")  # fmt: skip
    wiki.set_defaults(func=_cmd_data_wikistats)
    for dp in (air, wiki):
        common(dp)
        dp.add_argument(
            "--out",
            required=True,
            metavar="DIR",
            help="new (or empty) directory to write the files into",
        )
        dp.add_argument(
            "--files",
            type=int_arg("--files"),
            default=4,
            metavar="F",
            help="number of files (default: %(default)s)",
        )
        seed_flag(dp, "data seed")
    pq = dsub.add_parser("to-parquet", help="convert airline CSV files to Parquet once")
    common(pq)
    pq.add_argument(
        "--input", required=True, metavar="GLOB", help="airline CSV files (.csv or .csv.bz2)"
    )
    pq.add_argument("--out", required=True, metavar="DIR",
                    help="new (or empty) directory for the Parquet data set")  # fmt: skip
    pq.set_defaults(func=_cmd_data_to_parquet)
    for dp in (air, wiki, pq):
        dp.add_argument(
            "--force",
            action="store_true",
            help="replace --out when it holds what daskburst data wrote there (never other files)",
        )
        dp.add_argument(
            "--backend", default="processes", help="where to generate (default: %(default)s)"
        )
        dp.add_argument(
            "--workers",
            type=int_arg("--workers"),
            default=None,
            metavar="N",
            help="parallel writers (default: one per core)",
        )
        dp.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="progress on stderr (default: when stderr is a terminal)")  # fmt: skip
    data.set_defaults(
        func=lambda a: data.error("missing KIND; expected airline, wikistats or to-parquet")
    )
