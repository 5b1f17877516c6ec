"""What a workload is: typed parameters, a graph builder, and a canonical digest.

A workload never computes anything itself and never chooses a scheduler: it
returns a :class:`Plan` (the dask collections to compute in ONE call, and a
function turning their values into the result). :mod:`daskburst.execute` decides where.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from daskburst import config
from daskburst.errors import UserError


@dataclass(frozen=True)
class Param:
    """One workload parameter: its CLI flag, parser and config default.

    ``key`` names the config key below ``daskburst`` when it is not
    ``<workload>.<name>``: a tuning setting shared by workloads (e.g.
    ``stream-chunk``) that changes the numbers, so it is resolved with the other
    parameters, passed to the tasks and recorded in the run record's ``params``.
    """

    name: str
    parse: Callable[[str, Any], Any]
    help: str
    key: str = ""

    @property
    def flag(self) -> str:
        """The command-line flag, e.g. ``--replicates``."""
        return "--" + self.name.replace("_", "-")


@dataclass(frozen=True)
class Plan:
    """The dask collections to compute together, and how to finish the result.

    ``explain`` (optional), called after the computation failed, looks for a bad
    input file and returns a one-line error naming it (None when there is none).
    ``inputs`` are the files the graph reads, as found (the run record lists them).
    """

    collections: Sequence[Any]
    finalize: Callable[[Sequence[Any]], dict[str, Any]]
    explain: Callable[[], UserError | None] | None = None
    inputs: Sequence[str] = ()


@dataclass(frozen=True)
class Estimate:
    """What a run will need, known before its graph is built.

    Attributes:
        tasks: Tasks in the graph (an upper bound).
        memory: Bytes held at once on this machine (tasks in flight and results).
        draws: Random numbers drawn (their count bounds the run's time).
    """

    tasks: int
    memory: int
    draws: int = 0


def generated_input_estimate(
    params: dict[str, Any], parallel: int, unit: str, bytes_per_unit: int, tasks_per_file: int
) -> Estimate:
    """Size a run whose input is generated (``sample``/``synthetic``); read input streams.

    One task makes (or reads) one generated file whole: its bytes, about
    ``bytes_per_unit`` per line or row, are held at once in every running task. The
    graph has ``tasks_per_file`` tasks per file and one that merges them.

    Args:
        params: Resolved parameters; ``sample`` is ``{unit: N, "files": F}`` only when the
            input is generated.
        parallel: Tasks that may run at once.
        unit: ``lines`` or ``rows``.
        bytes_per_unit: Bytes held per line or row while a file is made and read.
        tasks_per_file: The graph's tasks for each file.
    """
    sample = params.get("sample")
    if not isinstance(sample, dict):
        return Estimate(tasks=1, memory=0)
    total, files = int(sample[unit]), max(1, int(sample["files"]))
    per_file = -(-total // files) * bytes_per_unit
    return Estimate(tasks=tasks_per_file * files + 1, memory=min(parallel, files) * per_file)


@dataclass(frozen=True)
class Workload:
    """A named workload: parameters and a pure ``build(params, seed) -> Plan``.

    ``derive`` (optional) completes the parsed parameters with what the graph will
    really use (e.g. the chunk shape ``auto`` resolves to), so that the run record
    shows every setting that affects the numbers. ``estimate`` (optional) sizes the
    run from the parameters and the number of tasks that run at once.
    """

    name: str
    summary: str
    params: tuple[Param, ...]
    build: Callable[[dict[str, Any], int], Plan]
    config_key: str = ""
    examples: tuple[str, ...] = field(default_factory=tuple)
    derive: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    estimate: Callable[[dict[str, Any], int], Estimate] | None = None

    def key(self, param: Param) -> str:
        """The config key (below ``daskburst``) that holds ``param``'s default."""
        return param.key or f"{self.config_key or self.name}.{param.name.replace('_', '-')}"

    def resolve(self, given: dict[str, Any]) -> dict[str, Any]:
        """Fill unset parameters from dask config and validate every value.

        Args:
            given: Explicit values (strings from the CLI or Python values); None = unset.

        Returns:
            All parameters, parsed.

        Raises:
            UserError: For unknown or invalid parameters.
        """
        known = {p.name for p in self.params}
        unknown = sorted(set(given) - known)
        if unknown:
            raise UserError(
                f"workload {self.name!r} has no parameter {unknown[0]!r}; "
                f"expected one of {', '.join(sorted(known))}"
            )
        out: dict[str, Any] = {}
        for p in self.params:
            key = self.key(p)
            explicit = given.get(p.name)
            value = config.get(key, override_with=explicit)
            # A value from config is named with its setting and source, like a flag.
            out[p.name] = p.parse(config.label(key, p.flag, explicit), value)
        return self.derive(out) if self.derive is not None else out

    def defaults(self) -> dict[str, Any]:
        """Return the configured default of every parameter (unparsed)."""
        return {p.name: config.get(self.key(p)) for p in self.params}


# ---- parameter parsers: each names the flag and the bad value ---------------------------


def positive_int(flag: str, value: Any) -> int:
    """Parse a positive integer (accepts ``1e6`` and ``1_000_000``).

    Args:
        flag: The flag, for the error message.
        value: Text or number.

    Returns:
        The integer.

    Raises:
        UserError: When it is not a positive whole number.
    """
    return config.parse_int(flag, value, 1)


def float_list(flag: str, value: Any) -> list[float]:
    """Parse ``"0,0,1,1"`` (or a sequence) into floats.

    Args:
        flag: The flag, for the error message.
        value: Comma-separated text or a sequence of numbers.

    Returns:
        The list of finite floats (at least one).

    Raises:
        UserError: When an item is not a finite number or the list is empty.
    """
    items = value.split(",") if isinstance(value, str) else list(value)
    try:
        out = [float(x) for x in items]
    except (TypeError, ValueError):
        raise UserError(
            f"{flag} {value!r}: expected comma-separated numbers, e.g. 0,0,1,1"
        ) from None
    if not out or not all(math.isfinite(x) for x in out):
        raise UserError(f"{flag} {value!r}: expected comma-separated finite numbers")
    return out


def text(flag: str, value: Any) -> str:
    """Parse free text (None becomes the empty string)."""
    return "" if value is None else str(value)


def optional_text(flag: str, value: Any) -> str | None:
    """Parse optional text (None or empty stays None)."""
    return None if value in (None, "") else str(value)


def input_source(flag: str, value: Any) -> str:
    """Parse an input: a glob, path or URL, ``sample`` or ``synthetic``; unset means ``sample``.

    An explicitly empty value is an error, not the sample: in a batch script it is
    usually a variable that was never set.

    Raises:
        UserError: For an empty or blank value.
    """
    if value is None:
        return "sample"
    text = str(value)
    if not text.strip():
        raise UserError(
            f"{flag} {text!r}: expected a glob, path or URL of input files, 'sample' or "
            "'synthetic' (leave it out for the generated sample)"
        )
    return text


# ---- digest --------------------------------------------------------------------------------


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if hasattr(obj, "item"):  # numpy scalars
        return _jsonable(obj.item())
    return obj


def canonical_json(obj: Any) -> str:
    """Serialize a result canonically: sorted keys, no spaces, exact float reprs, no NaN.

    Args:
        obj: Nested dicts/lists of numbers and strings (numpy scalars allowed).

    Returns:
        The JSON text; equal results give equal text on every machine.
    """
    return json.dumps(_jsonable(obj), sort_keys=True, separators=(",", ":"), allow_nan=False)


def digest_of(obj: Any) -> str:
    """Return the sha256 hex digest of ``canonical_json(obj)``."""
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()


def with_digest(result: dict[str, Any]) -> dict[str, Any]:
    """Return ``result`` made JSON-safe, plus ``digest`` over everything else in it."""
    clean = _jsonable(result)
    clean["digest"] = digest_of(clean)
    return dict(clean)
