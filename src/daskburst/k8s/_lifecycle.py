"""Job lifecycle on Kubernetes (pure): time limits, retries, time-to-live, attempts.

What SLURM users expect of a batch job (``sbatch --time``, ``--requeue``, job records after the
fact) built from what Kubernetes already has, with no controller of daskburst's own:

- a time limit is the runner pod's ``activeDeadlineSeconds`` (the kubelet ends the pod, the
  operator then fails the DaskJob and removes its cluster);
- retries are new DaskJobs under derived names, made by ``daskburst k8s submit --wait``;
- a time-to-live is an annotation that ``daskburst k8s gc`` (a CronJob in ``k8s/``) reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from daskburst.errors import UserError

#: Annotations daskburst puts on DaskJobs (readable by `kubectl get -o yaml` too).
PREFIX = "daskburst.io/"
TTL = PREFIX + "ttl-seconds-after-finished"
TIME_LIMIT = PREFIX + "time-limit"
ATTEMPT = PREFIX + "attempt"
SUBMISSION = PREFIX + "submission"
QUEUED_AT = PREFIX + "queued-at"


def parse_retries(text: str | int, what: str = "--retries") -> int:
    """Parse a retry count (0 to 100).

    Raises:
        UserError: For anything else.
    """
    try:
        n = int(str(text).strip())
    except ValueError:
        n = -1
    if not 0 <= n <= 100:
        raise UserError(f"{what} {text!r}: expected a whole number of retries from 0 to 100")
    return n


def fmt_duration(seconds: float) -> str:
    """``5400`` -> ``1:30:00`` (SLURM-like), ``59`` -> ``59 s``."""
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds} s"
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}-{hours:02d}:{minutes:02d}:{secs:02d}"
    return f"{hours}:{minutes:02d}:{secs:02d}"


def attempt_name(base: str, attempt: int) -> str:
    """The name of retry ``attempt`` (1 is the first try, named ``base`` itself).

    ``calc-mean-t4k2l1-9f3a0c21`` -> ``calc-mean-t4k2l1-9f3a0c21-r2``, shortened at the front
    of the base so the result still fits the operator's 52 characters.
    """
    from daskburst.k8s._naming import CLUSTER_NAME_MAX

    if attempt <= 1:
        return base
    tail = f"-r{attempt}"
    return base[: CLUSTER_NAME_MAX - len(tail)].rstrip("-") + tail


def with_time_limit(job: dict[str, Any], seconds: int) -> None:
    """Set a DaskJob's time limit (in place).

    The limit is its runner pod's ``activeDeadlineSeconds``, plus an annotation saying so.
    """
    job["spec"]["job"]["spec"]["activeDeadlineSeconds"] = int(seconds)
    job["metadata"].setdefault("annotations", {})[TIME_LIMIT] = fmt_duration(seconds)


def time_limit_of(job: Mapping[str, Any]) -> int | None:
    """Return a DaskJob's time limit in seconds (None: none)."""
    spec = ((job.get("spec") or {}).get("job") or {}).get("spec") or {}
    value = spec.get("activeDeadlineSeconds")
    return int(value) if value is not None else None


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


@dataclass(frozen=True)
class Expired:
    """A finished DaskJob whose time-to-live has passed."""

    name: str
    phase: str
    ended: datetime
    ttl: int

    def describe(self, now: datetime) -> str:
        """One line for ``k8s gc``."""
        age = fmt_duration((now - self.ended).total_seconds())
        return f"daskjob/{self.name} {self.phase} {age} ago (ttl {fmt_duration(self.ttl)})"


def expired(
    jobs: Iterable[Mapping[str, Any]], now: datetime, default_ttl: int | None
) -> list[Expired]:
    """Return the finished jobs whose time-to-live has passed, oldest first.

    A job's own ``daskburst.io/ttl-seconds-after-finished`` annotation wins over
    ``default_ttl``; a job without either is kept. Running jobs are never selected.

    Args:
        jobs: DaskJobs as read from the API.
        now: The current time (UTC).
        default_ttl: Seconds for jobs without the annotation (None: keep them).

    Returns:
        What to delete.
    """
    out = []
    for job in jobs:
        status = job.get("status") or {}
        phase = str(status.get("jobStatus") or "")
        if phase not in ("Successful", "Failed"):
            continue
        annotations = (job.get("metadata") or {}).get("annotations") or {}
        try:
            ttl = int(annotations[TTL]) if TTL in annotations else default_ttl
        except ValueError:
            continue  # an unreadable TTL keeps the job; `k8s status` shows the annotation
        ended = _parse_time(status.get("endTime"))
        if ttl is None or ended is None:
            continue
        if (now - ended).total_seconds() >= ttl:
            out.append(Expired(job["metadata"]["name"], phase, ended, ttl))
    return sorted(out, key=lambda e: e.ended)
