"""SLURM control: ask ``sbatch``/``squeue``/``scancel``/``sinfo``, watch a cluster's worker jobs.

- a pre-flight ``sbatch --test-only`` of the worker job script, so a partition that
  does not exist or memory no node has fails at once with one line;
- a watchdog that fails the run when SLURM says a worker job can never start
  (``daskburst.slurm.fatal-reasons``) or when no worker connects within
  ``daskburst.worker-timeout`` seconds, instead of waiting forever.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from typing import Any

from daskburst.errors import BackendError, UserError
from daskburst.slurm._jobs import _one_line, slurm_setting

logger = logging.getLogger(__name__)


def _run(cmd: Sequence[str], timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            list(cmd), capture_output=True, text=True, timeout=timeout, check=False
        )
    except FileNotFoundError:
        raise BackendError(
            f"{cmd[0]} not found: backend 'slurm' needs the SLURM client commands "
            "(sbatch, squeue, scancel) on PATH; for a local test cluster run `make slurm-up`"
        ) from None
    except subprocess.TimeoutExpired:
        raise BackendError(f"{' '.join(cmd[:2])} did not answer within {timeout:g} s") from None


def preflight(script: str, what: str = "the worker job") -> None:
    """Ask SLURM whether it would accept a job, without submitting it.

    Args:
        script: The job script.
        what: The job, for the message.

    Raises:
        UserError: When ``sbatch --test-only`` rejects it (unknown partition or
            account, more memory or CPUs than any node has, bad time limit, ...).
        BackendError: When sbatch is missing or does not answer.
    """
    with tempfile.NamedTemporaryFile("w", suffix=".sbatch", prefix="daskburst-") as f:
        f.write(script)
        f.flush()
        proc = _run(["sbatch", "--test-only", f.name])
    if proc.returncode != 0:
        raise UserError(
            f"SLURM rejects {what} ({job_header(script)}): {_one_line(proc.stderr or proc.stdout)}"
        )


def job_header(script: str) -> str:
    """The ``#SBATCH`` options of a job script but its name, as one line (for messages)."""
    return " ".join(
        line.removeprefix("#SBATCH ").strip()
        for line in script.splitlines()
        if line.startswith("#SBATCH") and not line.startswith("#SBATCH -J")
    )


def squeue(job_ids: Sequence[str]) -> dict[str, tuple[str, str]]:
    """Return ``{job_id: (state, reason)}`` for those of ``job_ids`` still known to SLURM.

    Args:
        job_ids: SLURM job ids.

    Returns:
        State (``PENDING``, ``RUNNING``, ...) and reason for each queued job.
    """
    if not job_ids:
        return {}
    proc = _run(["squeue", "-h", "-j", ",".join(job_ids), "-o", "%i|%T|%r"])
    jobs: dict[str, tuple[str, str]] = {}
    for line in proc.stdout.splitlines():
        parts = line.strip().split("|")
        if len(parts) == 3:
            jobs[parts[0]] = (parts[1], parts[2])
    return jobs


def cancel(job_ids: Sequence[str]) -> None:
    """Cancel the given SLURM jobs that are still queued or running.

    Args:
        job_ids: SLURM job ids.
    """
    alive = [j for j, (state, _) in squeue(job_ids).items() if state not in ("COMPLETED",)]
    if alive:
        logger.info("cancelling leftover SLURM jobs %s", ", ".join(alive))
        _run(["scancel", *alive])


def controller_answers() -> bool:
    """Whether a SLURM controller answers here (``sinfo`` lists something)."""
    if shutil.which("sinfo") is None:
        return False
    proc = subprocess.run(["sinfo", "-h"], capture_output=True, text=True, check=False, timeout=10)
    return proc.returncode == 0 and bool(proc.stdout.strip())


def queued_jobs(user: str | None = None) -> int:
    """Return how many jobs of ``user`` (default: ``$USER``, else root) are in SLURM's queue."""
    proc = subprocess.run(
        ["squeue", "-h", "-u", user or os.environ.get("USER", "root"), "-o", "%i"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return len(proc.stdout.split())


class Watchdog(threading.Thread):
    """Fail the run when worker jobs can never start or no worker ever connects."""

    def __init__(self, cluster: Any, client: Any, timeout: float) -> None:
        super().__init__(name="daskburst-slurm-watchdog", daemon=True)
        self.cluster = cluster
        self.client = client
        self.timeout = timeout
        self.interval = float(slurm_setting("poll-interval"))
        self.fatal = set(slurm_setting("fatal-reasons") or [])
        self.error: str | None = None
        self.seen: set[str] = set()
        self._stop_event = threading.Event()
        self._waiting_since: float | None = None

    def job_ids(self) -> list[str]:
        for _ in range(3):
            try:
                jobs = list(self.cluster.workers.values())
                break
            except RuntimeError:  # dict changed size during iteration
                continue
        else:
            return sorted(self.seen)
        ids = [str(j.job_id) for j in jobs if getattr(j, "job_id", None)]
        self.seen.update(ids)
        return ids

    def check(self) -> None:
        ids = self.job_ids()
        jobs = squeue(ids)
        for job_id, (state, reason) in sorted(jobs.items()):
            if state == "PENDING" and reason.split(",")[0] in self.fatal:
                self.fail(
                    f"SLURM worker job {job_id} cannot start: {reason} "
                    f"(check the partition/node with `sinfo`, or daskburst.slurm.fatal-reasons)"
                )
                return
        requested = len(self.cluster.workers)
        connected = len(self.cluster.scheduler_info.get("workers", {}))
        if requested and not connected:
            now = time.monotonic()
            if self._waiting_since is None:
                self._waiting_since = now
            elif now - self._waiting_since > self.timeout:
                pending = ", ".join(f"{j} {s} ({r})" for j, (s, r) in sorted(jobs.items()))
                self.fail(
                    f"no SLURM worker connected within {self.timeout:g} s "
                    f"(jobs: {pending or 'none queued; see the worker job logs'}; "
                    "raise daskburst.worker-timeout if the queue is just slow)"
                )
        else:
            self._waiting_since = None

    def fail(self, message: str) -> None:
        self.error = message
        self._stop_event.set()
        # Closing the client makes a blocked gather() raise at once.
        with contextlib.suppress(Exception):
            self.client.close()

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            try:
                self.check()
            except Exception:  # a flaky squeue must not kill the watchdog
                logger.debug("slurm watchdog check failed", exc_info=True)

    def stop(self) -> None:
        self._stop_event.set()
        if self.is_alive():
            self.join(timeout=5)
        self.job_ids()

    def raise_if_failed(self) -> None:
        if self.error:
            raise BackendError(self.error)
