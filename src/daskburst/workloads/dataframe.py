"""dataframe: delay statistics of the airline on-time data, all in one graph."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from daskburst.data.sources import (
    airline_frame,
    airline_input_problem,
    generated,
    sample_size,
)
from daskburst.errors import UserError
from daskburst.workloads._base import (
    Param,
    Plan,
    Workload,
    generated_input_estimate,
    input_source,
    text,
    with_digest,
)

COLUMNS = ("UniqueCarrier", "Origin", "Dest", "DepDelay")


def parse_code(flag: str, value: Any) -> str:
    """Validate a carrier or airport code (2-4 letters or digits)."""
    code = text(flag, value).strip().upper()
    if not (2 <= len(code) <= 4 and code.isalnum()):
        raise UserError(f"{flag} {value!r}: expected a 2-4 character code such as UA or SFO")
    return code


def _derive(params: dict[str, Any]) -> dict[str, Any]:
    # The size of generated data decides the numbers: it stays in the parameters
    # (and the run record) for sample and synthetic input, and only then.
    if generated(params["input"]):
        return params
    return {k: v for k, v in params.items() if k != "sample"}


def _build(params: dict[str, Any], seed: int) -> Plan:
    air, files = airline_frame(params["input"], seed, COLUMNS, params.get("sample"))
    delay = air.DepDelay
    sub = air[(air.UniqueCarrier == params["carrier"]) & (air.Origin == params["origin"])]
    by_dest = sub.groupby("Dest").DepDelay.mean()
    # One graph: the reads are shared by every aggregate below.
    collections = [delay.max(), delay.min(), by_dest, delay.size, sub.DepDelay.size]

    def finalize(values: Sequence[Any]) -> dict[str, Any]:
        dmax, dmin, means, rows, sub_rows = values
        by = {
            str(k): (float(v) if not math.isnan(v) else None)
            for k, v in sorted(means.to_dict().items())
        }
        return with_digest(
            {
                "rows": int(rows),
                "subset_rows": int(sub_rows),
                "carrier": params["carrier"],
                "origin": params["origin"],
                "dep_delay_max": float(dmax),
                "dep_delay_min": float(dmin),
                "mean_dep_delay_by_dest": by,
            }
        )

    return Plan(
        collections=collections,
        finalize=finalize,
        explain=lambda: airline_input_problem(params["input"], COLUMNS, seed, params.get("sample")),
        inputs=files,
    )


DATAFRAME = Workload(
    name="dataframe",
    summary="max/min DepDelay and mean DepDelay by Dest for a carrier and origin (one graph)",
    params=(
        Param(
            "input",
            input_source,
            "glob/URL of .csv, .csv.bz2 or .parquet, 'sample' or 'synthetic'",
        ),
        Param("carrier", parse_code, "UniqueCarrier code"),
        Param("origin", parse_code, "Origin airport code"),
        Param(
            "sample",
            sample_size("airline"),
            "size of sample/synthetic input: ROWS,FILES",
            key="sample.airline",
        ),
    ),
    build=_build,
    derive=_derive,
    # A generated file whole in its task: its CSV text (about 100 bytes a row), its bz2
    # stream, and the frame pandas reads from it (29 columns).
    estimate=lambda p, parallel: generated_input_estimate(p, parallel, "rows", 400),
    examples=("daskburst run dataframe --input 'AirlineData/*.csv.bz2' --carrier UA --origin SFO",),
)
