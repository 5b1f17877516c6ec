"""bag: count Wikipedia page-count lines and find the ones whose title matches a regex."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from daskburst.data.sources import generated, sample_size, wikistats_bag, wikistats_problem
from daskburst.errors import UserError
from daskburst.workloads._base import (
    Param,
    Plan,
    Workload,
    input_source,
    optional_text,
    text,
    with_digest,
)

SAMPLE_SIZE = 5


def find(line: str, regex: str = "Obama", language: str | None = "en") -> bool:
    """The tutorial's filter: title (field 4) matches ``regex`` and language is ``language``.

    Lines with fewer than six space-separated fields never match.

    Args:
        line: One log line.
        regex: Pattern searched in the page title.
        language: Required language code, or None for any.

    Returns:
        Whether the line matches.
    """
    vals = line.split(" ")
    if len(vals) < 6:
        return False
    if language is not None and vals[2] != language:
        return False
    return re.search(regex, vals[3]) is not None


def scan_partition(
    lines: Iterable[str], regex: str, language: str | None
) -> tuple[int, int, list[str]]:
    """Count lines and matches of one partition in a single pass.

    Equivalent to ``find`` on every line, but cheaper: when the pattern is a
    plain literal, lines that do not contain it anywhere are skipped before
    splitting (a necessary condition for the title to contain it).

    Args:
        lines: The partition's lines.
        regex: Pattern searched in the title.
        language: Language code, or None for any.

    Returns:
        ``(lines, matches, first matches)`` with at most five samples, newline stripped.
    """
    pattern = re.compile(regex)
    literal = regex if re.escape(regex) == regex else None
    search = pattern.search
    total = 0
    matched = 0
    sample: list[str] = []
    for line in lines:
        total += 1
        if literal is not None and literal not in line:
            continue
        vals = line.split(" ")
        if len(vals) < 6:
            continue
        if language is not None and vals[2] != language:
            continue
        if search(vals[3]) is None:
            continue
        matched += 1
        if len(sample) < SAMPLE_SIZE:
            sample.append(line.rstrip("\r\n"))
    return total, matched, sample


def combine(parts: Iterable[tuple[int, int, list[str]]]) -> tuple[int, int, list[str]]:
    """Merge per-partition results in partition order (``parts`` may be a generator)."""
    parts = list(parts)
    total = sum(p[0] for p in parts)
    matched = sum(p[1] for p in parts)
    sample = [s for p in parts for s in p[2]][:SAMPLE_SIZE]
    return total, matched, sample


def parse_regex(flag: str, value: Any) -> str:
    """Validate a regular expression."""
    pattern = text(flag, value)
    try:
        re.compile(pattern)
    except re.error as exc:
        raise UserError(
            f"{flag} {pattern!r}: expected a valid regular expression ({exc})"
        ) from None
    return pattern


def _derive(params: dict[str, Any]) -> dict[str, Any]:
    # The size of generated data decides the numbers: it stays in the parameters
    # (and the run record) for sample and synthetic input, and only then.
    if generated(params["input"]):
        return params
    return {k: v for k, v in params.items() if k != "sample"}


def _build(params: dict[str, Any], seed: int) -> Plan:
    regex, language = params["regex"], params["language"]
    lines = wikistats_bag(params["input"], seed, params.get("sample"))
    # Both outputs come from ONE pass: per-partition (count, matches, sample), then merge.
    summary = lines.reduction(
        lambda part: scan_partition(part, regex, language),
        combine,
        split_every=16,
    )

    def finalize(values: Sequence[Any]) -> dict[str, Any]:
        total, matched, sample = values[0]
        return with_digest({"lines": total, "matches": matched, "first_matches": sample})

    return Plan(
        collections=[summary],
        finalize=finalize,
        explain=lambda: wikistats_problem(params["input"]),
    )


BAG = Workload(
    name="bag",
    summary="count page-count log lines and the ones whose title matches --regex in --language",
    params=(
        Param("input", input_source, "glob/URL of .gz or text files, 'sample' or 'synthetic'"),
        Param("regex", parse_regex, "regular expression searched in the page title"),
        Param("language", optional_text, "language code to match ('' for any)"),
        Param(
            "sample",
            sample_size("wikistats"),
            "size of sample/synthetic input: LINES,FILES",
            key="sample.wikistats",
        ),
    ),
    build=_build,
    derive=_derive,
    examples=(
        "daskburst run bag --input 'wikistats/part-0000*gz' --regex Obama --backend processes",
    ),
)
