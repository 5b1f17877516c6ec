"""Follow a DaskJob to its end: what its runner, cluster and record say, API outages ridden out."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TextIO

from daskburst.errors import BackendError
from daskburst.k8s._manifests import (
    TERMINAL,
    job_phase,
    parse_result,
)
from daskburst.k8s._objects import Echo, dask_object, delete_object, to_stderr
from daskburst.k8s._wait import Clock, SystemClock, WaitTimeoutError, transient, wait_for

#: Seconds the API server may not answer while a job is followed (an API server restart).
API_GRACE = 120.0


class JobView(Protocol):
    """What waiting on a job reads from the cluster (a fake in unit tests)."""

    def phase(self, name: str) -> str:
        """Return the DaskJob's jobStatus (``Pending`` if unset)."""
        ...

    def workers(self, name: str) -> int:
        """Return the number of running worker pods of the job's cluster."""
        ...

    def runner(self, name: str) -> dict[str, Any] | None:
        """Return the runner pod's state (:func:`runner_state`); None while there is none."""
        ...

    def runner_log(self, name: str) -> str:
        """Return the runner pod's log so far ("" before it exists)."""
        ...

    def scheduler_log(self, name: str) -> str:
        """Return the scheduler pod's log so far ("" when it is gone)."""
        ...

    def delete(self, name: str) -> None:
        """Delete the DaskJob (its cluster and pods go with it)."""
        ...


def runner_state(pod: Mapping[str, Any]) -> dict[str, Any]:
    """Summarize a runner pod: ``phase``, ``reason`` and ``exit_code`` (pure).

    ``reason`` is the pod's own (``DeadlineExceeded`` when its time limit passed, ``Evicted``)
    or the container's (``Error``, ``OOMKilled``, ``Completed``).
    """
    status = pod.get("status") or {}
    state: dict[str, Any] = {"phase": status.get("phase", ""), "reason": status.get("reason")}
    for cs in status.get("containerStatuses") or []:
        terminated = (cs.get("state") or {}).get("terminated")
        if terminated:
            state["exit_code"] = terminated.get("exitCode")
            state["reason"] = state["reason"] or terminated.get("reason")
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        state["reason"] = state["reason"] or "Deleted"
    return state


@dataclass
class JobOutcome:
    """How a submitted job ended."""

    name: str
    phase: str
    peak_workers: int = 0
    result: dict[str, Any] | None = None
    runner_log: str = ""
    events: list[str] = field(default_factory=list)
    #: Why the runner ended: DeadlineExceeded, Evicted, Deleted, Error, OOMKilled, Completed.
    reason: str | None = None
    exit_code: int | None = None

    @property
    def ok(self) -> bool:
        """Whether the job succeeded."""
        return self.phase == "Successful"

    @property
    def timed_out(self) -> bool:
        """Whether the runner was ended by its time limit."""
        return self.reason == "DeadlineExceeded"


#: Polls without a runner pod, while the job runs, before it counts as deleted.
RUNNER_GONE_POLLS = 5


def wait_job(
    view: JobView,
    name: str,
    timeout: float,
    clock: Clock | None = None,
    interval: float | None = None,
    stream: TextIO | None = None,
    artifacts: Path | None = None,
    api_grace: float = API_GRACE,
    echo: Echo = to_stderr,
) -> JobOutcome:
    """Follow a DaskJob until it succeeds or fails; delete it on timeout.

    Streams new runner log lines to ``stream``, records the peak number of workers and why
    the runner ended, and keeps the latest scheduler log in ``artifacts`` (the operator
    deletes the scheduler as soon as the runner finishes, so it is saved while the job runs).
    A runner pod that disappears while the job runs (deleted, or its node lost) fails the
    job: the operator would wait for it forever, so the DaskJob is deleted.

    Args:
        view: Reads the cluster.
        name: The DaskJob.
        timeout: Seconds before giving up.
        clock: Time source.
        interval: Seconds between polls (default: ``daskburst.kubernetes.poll-interval``).
        stream: Where runner log lines go as they appear (None: nowhere).
        artifacts: Directory for ``runner.log``, ``scheduler.log`` and ``result.json``.
        api_grace: Seconds the API server may fail to answer (no connection, a timeout, a
            5xx or 429: a restart, an upgrade, a load balancer) before following ends.
        echo: Where notes on an unanswering API server go.

    Returns:
        The outcome (phase ``Successful`` or ``Failed``).

    Raises:
        BackendError: On timeout, after deleting the job; when the API server has not
            answered for ``api_grace`` seconds (the job is left as it is).
    """
    clock = clock or SystemClock()
    outcome = JobOutcome(name=name, phase="")
    printed = 0
    seen_runner = False
    gone = 0
    if artifacts is not None:
        artifacts.mkdir(parents=True, exist_ok=True)

    def poll() -> str | None:
        nonlocal printed, seen_runner, gone
        phase = view.phase(name)
        if phase != outcome.phase:
            outcome.events.append(phase)
            outcome.phase = phase
        outcome.peak_workers = max(outcome.peak_workers, view.workers(name))
        runner = view.runner(name)
        if runner is not None:
            seen_runner, gone = True, 0
            outcome.reason = runner.get("reason") or outcome.reason
            outcome.exit_code = runner.get("exit_code", outcome.exit_code)
        elif seen_runner and phase not in TERMINAL:
            gone += 1
            if gone >= RUNNER_GONE_POLLS:
                outcome.reason = "Deleted"
                view.delete(name)
                outcome.phase = "Failed"
                outcome.events.append("Failed")
                return "Failed"
        if artifacts is not None:
            sched = view.scheduler_log(name)
            if sched:
                (artifacts / "scheduler.log").write_text(sched)
        log = view.runner_log(name)
        lines = log.splitlines(keepends=True)
        if stream is not None and len(lines) > printed:
            stream.write("".join(lines[printed:]))
            stream.flush()
        printed = max(printed, len(lines))
        outcome.runner_log = log or outcome.runner_log
        return phase if phase in TERMINAL else None

    failing_since: float | None = None

    def guarded() -> str | None:
        nonlocal failing_since
        try:
            ended = poll()
        except Exception as exc:
            if not transient(exc):
                raise
            why = " ".join(f"{type(exc).__name__}: {exc}".split())
            now = clock.monotonic()
            if failing_since is None:
                failing_since = now
                echo(f"kubernetes: the API server did not answer ({why}); "
                     f"trying again for up to {api_grace:g} s")  # fmt: skip
            elif now - failing_since >= api_grace:
                raise BackendError(
                    f"kubernetes: the API server has not answered for {now - failing_since:.0f} s "
                    f"while following daskjob/{name} ({why}); the job was left as it is: "
                    "`daskburst k8s status` once the API server is back"
                ) from None
            return None
        if failing_since is not None:
            echo(f"kubernetes: the API server answers again after "
                 f"{clock.monotonic() - failing_since:.0f} s")  # fmt: skip
            failing_since = None
        return ended

    try:
        wait_for(guarded, timeout, f"DaskJob {name}", interval=interval, clock=clock)
    except WaitTimeoutError as exc:
        view.delete(name)
        raise BackendError(f"{exc}; deleted the job") from None
    # The final log lines may arrive after the phase flipped.
    runner = None
    try:
        outcome.runner_log = view.runner_log(name) or outcome.runner_log
        runner = view.runner(name)
    except Exception as exc:
        if not transient(exc):
            raise
        echo(f"kubernetes: the last runner log lines could not be read ({type(exc).__name__})")
    if runner is not None:
        outcome.reason = runner.get("reason") or outcome.reason
        outcome.exit_code = runner.get("exit_code", outcome.exit_code)
    lines = outcome.runner_log.splitlines(keepends=True)
    if stream is not None and len(lines) > printed:
        stream.write("".join(lines[printed:]))
    outcome.result = parse_result(outcome.runner_log)
    if artifacts is not None:
        (artifacts / "runner.log").write_text(outcome.runner_log)
        if outcome.result is not None:
            (artifacts / "result.json").write_text(json.dumps(outcome.result, indent=2) + "\n")
    return outcome


class Kr8sJobView:
    """:class:`JobView` on a real API server through kr8s."""

    def __init__(self, namespace: str, api: Any = None) -> None:
        self.namespace = namespace
        self.api = api

    def _pods(self, name: str, component: str) -> list[Any]:
        import kr8s

        return list(
            kr8s.get(
                "pods",
                namespace=self.namespace,
                label_selector={"dask.org/cluster-name": name, "dask.org/component": component},
                api=self.api,
            )
        )

    @staticmethod
    def _log(pods: list[Any]) -> str:
        import kr8s

        for pod in pods:
            try:
                return "\n".join(pod.logs()) + "\n"
            except (kr8s.ServerError, kr8s.NotFoundError):
                continue
        return ""

    def phase(self, name: str) -> str:
        """Return the DaskJob's jobStatus."""
        import kr8s

        obj = dask_object("DaskJob", name, self.namespace, self.api)
        try:
            obj.refresh()
        except kr8s.NotFoundError:
            raise BackendError(f"DaskJob {self.namespace}/{name} was deleted") from None
        return job_phase(obj.raw)

    def workers(self, name: str) -> int:
        """Count running worker pods."""
        pods = self._pods(name, "worker")
        return sum(1 for p in pods if p.raw.get("status", {}).get("phase") == "Running")

    def runner(self, name: str) -> dict[str, Any] | None:
        """Return the runner pod's state."""
        pods = self._pods(name, "job-runner")
        return runner_state(pods[0].raw) if pods else None

    def runner_log(self, name: str) -> str:
        """Return the runner's log."""
        return self._log(self._pods(name, "job-runner"))

    def scheduler_log(self, name: str) -> str:
        """Return the scheduler's log."""
        return self._log(self._pods(name, "scheduler"))

    def delete(self, name: str) -> None:
        """Delete the DaskJob."""
        delete_object("DaskJob", name, self.namespace, self.api)
