"""Pieces every ``daskburst`` command group shares: the parser class and common flags."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any, NoReturn

from daskburst import config
from daskburst.backends import BACKENDS, BackendOptions
from daskburst.errors import UserError

PROG = "daskburst"


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line and exit code 2."""

    #: Added to "unrecognized arguments" errors (e.g. where a script's arguments go).
    unrecognized_hint = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # `--rep 3` must not quietly mean --replicates: a later flag could change its meaning.
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def parse_known_args(  # type: ignore[override]
        self, args: Any = None, namespace: Any = None
    ) -> tuple[argparse.Namespace, list[str]]:
        args = list(sys.argv[1:] if args is None else args)
        self._refuse_repeats(args[: args.index("--")] if "--" in args else args)
        ns, rest = super().parse_known_args(args, namespace)
        if rest and self.prog != PROG and not self._subparsers:
            # A subcommand's unknown flag, reported with the subcommand's help (argparse
            # would hand it to the top parser, which points at the top-level help).
            self.error(f"unrecognized arguments: {' '.join(rest)}")
        return ns, rest

    def _refuse_repeats(self, args: list[str]) -> None:
        """A flag given twice would silently keep its last value: refuse it."""
        for action in self._actions:
            if not action.option_strings or isinstance(
                action, argparse._AppendAction | argparse._CountAction | argparse._HelpAction
            ):
                continue
            names = tuple(action.option_strings)
            given = [a for a in args if a in names or a.startswith(tuple(f"{n}=" for n in names))]
            if len(given) > 1:
                self.error(
                    f"{names[-1]} given {len(given)} times ({', '.join(given)}); expected once"
                )

    def error(self, message: str) -> NoReturn:
        if self.unrecognized_hint and message.startswith("unrecognized arguments"):
            message = f"{message}; {self.unrecognized_hint}"
        if message.endswith("expected one argument"):
            # `--means -1,0`: argparse takes -1,0 for a flag.
            message += " (a value that starts with '-' goes as --flag=VALUE, e.g. --means=-1,0)"
        sys.stderr.write(f"{PROG}: error: {message} (see `{self.prog} --help`)\n")
        raise SystemExit(2)


class ScriptArgsParser(Parser):
    """A subcommand parser that gives everything after the first ``--`` to the script.

    argparse fills every positional at the first one it meets, so ``SCRIPT --wait -- ARGS``
    would leave ARGS unrecognized.
    """

    def parse_known_args(  # type: ignore[override]
        self, args: Any = None, namespace: Any = None
    ) -> tuple[argparse.Namespace, list[str]]:
        args = list(sys.argv[1:] if args is None else args)
        tail: list[str] = []
        if "--" in args:
            cut = args.index("--")
            args, tail = args[:cut], args[cut + 1 :]
        ns, rest = super().parse_known_args(args, namespace)
        ns.script_args = [*(getattr(ns, "script_args", None) or []), *tail]
        return ns, rest


def script_parser(sub: Any, name: str, **kwargs: Any) -> argparse.ArgumentParser:
    """``sub.add_parser`` with :class:`ScriptArgsParser` (argparse takes one class for all)."""
    default = sub._parser_class
    sub._parser_class = ScriptArgsParser
    try:
        return sub.add_parser(name, **kwargs)  # type: ignore[no-any-return]
    finally:
        sub._parser_class = default


def common(parser: argparse.ArgumentParser, top: bool = False) -> None:
    """Add ``--debug``, which every command and subcommand accepts.

    The top parser's (``top``) is False unless given; a subcommand's leaves what the top
    parser set (``daskburst --debug k8s status`` and ``daskburst k8s status --debug`` are one).
    """
    parser.add_argument(
        "--debug",
        action="store_true",
        default=False if top else argparse.SUPPRESS,
        help="show tracebacks and debug logs",
    )


def workdir_flag(parser: Any) -> None:
    """Add ``--workdir DIR``: the directory a script brings along (run, k8s, slurm submit)."""
    parser.add_argument(
        "--workdir",
        metavar="DIR",
        help="directory importable on every worker, shipped with the script unless the workers "
        "share it (default: the script's own; see daskburst.user-code)",
    )


def seed_flag(parser: Any, what: str = "master seed", default: str | None = None) -> None:
    """Add ``--seed S``, the master seed, to a parser or an argument group.

    Args:
        parser: A parser or an argument group.
        what: What the seed seeds, for the help.
        default: The default shown in the help (default: ``daskburst.seed``'s value).
    """
    shown = default or config.shown("daskburst.seed")
    parser.add_argument(
        "--seed",
        type=int_arg("--seed", minimum=0),
        metavar="S",
        help=f"{what} (default: {shown})",
    )


def backend_flags(parser: argparse.ArgumentParser) -> None:
    """Add the "where it runs" flags of ``run`` and ``demo``."""
    g = parser.add_argument_group("where it runs")
    g.add_argument(
        "--backend",
        metavar="NAME",
        help=f"one of {', '.join(BACKENDS)} (default: {config.shown('daskburst.backend')})",
    )
    g.add_argument(
        "--workers",
        type=int_arg("--workers"),
        metavar="N",
        help="number of workers; null: one per core "
        f"(default: {config.shown('daskburst.workers')})",
    )
    g.add_argument(
        "--threads-per-worker",
        type=int_arg("--threads-per-worker"),
        metavar="T",
        help="threads per worker process (cluster backends) "
        f"(default: {config.shown('daskburst.threads-per-worker')})",
    )
    g.add_argument(
        "--adapt",
        metavar="MIN:MAX",
        help=f"adaptive scaling between MIN and MAX (default: {config.shown('daskburst.adapt')})",
    )
    g.add_argument(
        "--address",
        metavar="ADDR",
        help="scheduler address for --backend address; null: $DASK_SCHEDULER_ADDRESS "
        f"(default: {config.shown('daskburst.address')})",
    )
    g.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress on stderr: a bar on a terminal, else a line every "
        "daskburst.progress-interval seconds (default: on)",
    )


def backend_options(
    args: argparse.Namespace, extra: dict[str, Any] | None = None
) -> BackendOptions:
    """The :class:`BackendOptions` of the flags :func:`backend_flags` added (validated)."""
    from daskburst.backends import resolve_adapt

    return BackendOptions(
        workers=args.workers,
        threads_per_worker=args.threads_per_worker,
        adapt=resolve_adapt(args.adapt),
        address=args.address,
        progress=progress_wanted(args.progress),
        extra=dict(extra or {}),
    )


def int_arg(flag: str, minimum: int | None = None) -> Callable[[str], int]:
    """Return an argparse ``type`` for an integer flag (``2e6`` and ``1_000`` too).

    Args:
        flag: The flag, for the error.
        minimum: The least value accepted (default: any integer; the setting it overrides
            checks its own range).
    """
    expected = "an integer" if minimum is None else f"an integer >= {minimum}"

    def parse(text: str) -> int:
        try:  # 2e6 and 1_000 too, as for workload parameters
            return config.parse_int(flag, text, minimum=-(2**63) if minimum is None else minimum)
        except UserError:
            raise argparse.ArgumentTypeError(f"{text!r}: expected {expected}") from None

    parse.__name__ = flag
    return parse


def progress_wanted(flag: bool | None) -> str:
    """Return the progress mode: ``bar``, ``lines`` (stderr is not a terminal) or ``off``.

    A bar redraws itself with carriage returns: into a file or a pipe it would be one
    endless line, so there progress is always lines.
    """
    if flag is not None:
        wanted = "on" if flag else "off"
    else:
        setting = config.get_choice("progress", ("auto", "true", "false"))
        wanted = "off" if setting == "false" else "on"
    if wanted == "off":
        return "off"
    return "bar" if sys.stderr.isatty() else "lines"
