"""The workloads ("what"): pure functions of their parameters and a seed."""

from __future__ import annotations

from daskburst.errors import UserError
from daskburst.workloads._base import Param, Plan, Workload, canonical_json, digest_of
from daskburst.workloads.array import ARRAY
from daskburst.workloads.bag import BAG
from daskburst.workloads.dataframe import DATAFRAME
from daskburst.workloads.replicates import CALC_MEAN, CALC_MEAN_SWEEP

WORKLOADS: dict[str, Workload] = {
    w.name: w for w in (CALC_MEAN, CALC_MEAN_SWEEP, ARRAY, BAG, DATAFRAME)
}


def get_workload(name: str) -> Workload:
    """Return the workload called ``name``.

    Raises:
        UserError: For an unknown name.
    """
    try:
        return WORKLOADS[name]
    except KeyError:
        raise UserError(f"workload {name!r}: expected one of {', '.join(WORKLOADS)}") from None


__all__ = [
    "WORKLOADS",
    "Param",
    "Plan",
    "Workload",
    "canonical_json",
    "digest_of",
    "get_workload",
]
