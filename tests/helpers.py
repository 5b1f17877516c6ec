"""Helpers shared by the test suites."""

from __future__ import annotations

import os

import pytest


def in_ci() -> bool:
    """Return True when running under CI (``CI=true``)."""
    return os.environ.get("CI", "").lower() == "true"


def require(ok: bool, why: str) -> None:
    """Skip the test when a prerequisite is missing; in CI, fail instead.

    Args:
        ok: Whether the prerequisite is present.
        why: What is missing and how to get it (e.g. "run `make slurm-up`").
    """
    if ok:
        return
    if in_ci():
        pytest.fail(f"CI=true but prerequisite missing: {why}", pytrace=False)
    pytest.skip(why)
