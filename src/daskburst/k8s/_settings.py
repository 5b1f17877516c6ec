"""The ``daskburst.kubernetes.*`` durations, each read from config here and nowhere else.

A function's ``None`` argument means "the setting": the CLI passes its flag through
unchanged, so a flag and the setting are resolved in one step, by one rule.
"""

from __future__ import annotations

from daskburst import config


def job_timeout(given: float | None = None) -> float:
    """Seconds a submitted job may take, queued or running, before it is deleted."""
    return config.get_seconds("kubernetes.job-timeout", given, flag="--timeout")


def install_timeout(given: float | None = None) -> float:
    """Seconds ``k8s install`` waits for the CRDs and the operator."""
    return config.get_seconds("kubernetes.install-timeout", given, flag="--timeout")


def retry_backoff(given: float | None = None) -> float:
    """Seconds before the first resubmission of a failed job (doubled for each next one)."""
    return config.get_seconds("kubernetes.retry-backoff", given)


def poll_interval() -> float:
    """Seconds between two looks at the API server while waiting for something."""
    return config.get_seconds("kubernetes.poll-interval")


def queue_interval() -> float:
    """Seconds between two checks of a queued job's room under the namespace's quotas."""
    return config.get_seconds("kubernetes.queue-interval")
