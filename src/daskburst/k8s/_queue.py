"""Admission into a namespace's ResourceQuota: one job at a time, first come first served.

Two things make it safe with many submitters on many machines:

- **One admission at a time** (:class:`Gate`): a submitter creates its job only while holding
  the namespace's Lease ``daskburst-queue``, taken and released by resourceVersion-guarded
  writes (the API server refuses a write based on a stale read with 409). It holds it from
  the last quota check until the job's first pods exist, i.e. until the quota counts them
  (the quota admission charges a pod as it is created), so nobody else decides on a quota
  that is about to be used. A holder that dies is trusted for :data:`HOLD` seconds only.
- **Order and liveness by the API server's clock**: each ``k8s submit --queue`` waits with a
  marker ConfigMap ``daskburst-queue-<job>``, ordered by its ``creationTimestamp`` (then by
  name), with a heartbeat stamped from the server's ``Date``; a marker whose submitter
  stopped refreshing it (killed, laptop closed) is dropped after :data:`STALE` seconds. No
  submitter's own clock is ever compared with another's.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from daskburst.errors import BackendError, UserError
from daskburst.k8s._apply import create_or_patch, stored, to_object
from daskburst.k8s._lease import server_now
from daskburst.k8s._lifecycle import PREFIX, QUEUED_AT
from daskburst.k8s._manifests import DASK_API, TERMINAL, Manifest, job_phase
from daskburst.k8s._settings import job_timeout, poll_interval, queue_interval
from daskburst.k8s._specs import labels
from daskburst.k8s._submission import job_needs, quota_problems
from daskburst.k8s._wait import Clock, SystemClock, transient

HEARTBEAT = PREFIX + "heartbeat"
STALE = 60.0
COMPONENT = "queue"
#: The Lease whose holder is admitting a job into the namespace.
GATE = "daskburst-queue"
#: Seconds a gate holder is trusted without releasing it (a killed submitter's gate frees).
HOLD = 180
#: Seconds a holder waits for its job's first pods before it lets the next one in anyway.
SETTLE = 120.0
_MICRO = "%Y-%m-%dT%H:%M:%S.%fZ"


def _stamp(now: datetime) -> str:
    return now.strftime(_MICRO)


def _parse(stamp: str) -> datetime | None:
    for fmt in (_MICRO, "%Y-%m-%dT%H:%M:%SZ"):
        try:
            return datetime.strptime(stamp, fmt).replace(tzinfo=UTC)
        except (TypeError, ValueError):
            continue
    return None


def marker(job: str, namespace: str, now: datetime) -> Manifest:
    """Return the queue marker of ``job``, its heartbeat at server time ``now`` (pure)."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": f"daskburst-queue-{job}",
            "namespace": namespace,
            "labels": labels(job, COMPONENT),
            "annotations": {QUEUED_AT: _stamp(now), HEARTBEAT: _stamp(now)},
        },
        "data": {"job": job},
    }


def order(markers: list[Manifest], now: datetime) -> list[str]:
    """Return the queued jobs, first come first (pure).

    First by the server's creation time of each marker, then by name; markers whose
    heartbeat is :data:`STALE` at server time ``now`` are left out.
    """

    def live(m: Manifest) -> bool:
        beat = _parse(m["metadata"].get("annotations", {}).get(HEARTBEAT, ""))
        return beat is not None and (now - beat).total_seconds() < STALE

    alive = [m for m in markers if live(m)]
    alive.sort(key=lambda m: (m["metadata"].get("creationTimestamp", ""), m["metadata"]["name"]))
    return [m["data"]["job"] for m in alive]


def gate_holder(lease: Manifest | None, now: datetime) -> str | None:
    """Who holds the gate at server time ``now``; None when free or expired (pure)."""
    if lease is None:
        return None
    spec = lease.get("spec") or {}
    holder = spec.get("holderIdentity")
    renewed = _parse(str(spec.get("renewTime") or ""))
    if not holder or renewed is None:
        return None
    if now > renewed + timedelta(seconds=int(spec.get("leaseDurationSeconds") or HOLD)):
        return None
    return str(holder)


class Gate:
    """The namespace's admission Lease, held by job ``job`` while it is admitted."""

    def __init__(self, namespace: str, job: str, api: Any = None) -> None:
        self.namespace, self.job, self.api = namespace, job, api
        self.held = False

    def _lease(self) -> Manifest | None:
        return stored("coordination.k8s.io/v1", "Lease", GATE, self.namespace, self.api)

    def _spec(self, now: datetime) -> dict[str, Any]:
        return {"holderIdentity": self.job, "leaseDurationSeconds": HOLD,
                "acquireTime": _stamp(now), "renewTime": _stamp(now)}  # fmt: skip

    def take(self) -> str | None:
        """Take the gate if it is free; return None when taken, else who holds it."""
        import kr8s

        now = server_now(self.api)
        lease = self._lease()
        try:
            if lease is None:
                to_object(
                    {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                     "metadata": {"name": GATE, "namespace": self.namespace,
                                  "labels": labels(GATE, COMPONENT)},
                     "spec": self._spec(now)},
                    self.api,
                ).create()  # fmt: skip
            else:
                holder = gate_holder(lease, now)
                if holder is not None and holder != self.job:
                    return holder
                # Only if nobody wrote it since we read it (else 409).
                to_object(lease, self.api).patch(
                    {
                        "metadata": {"resourceVersion": lease["metadata"]["resourceVersion"]},
                        "spec": self._spec(now),
                    }  # fmt: skip
                )
        except kr8s.ServerError as exc:
            if exc.response is not None and exc.response.status_code == 409:
                return "another submitter"
            raise
        self.held = True
        return None

    def release(self) -> None:
        """Free the gate if this job still holds it (never another's)."""
        if not self.held:
            return
        self.held = False
        with contextlib.suppress(Exception):
            lease = self._lease()
            if lease is not None and (lease.get("spec") or {}).get("holderIdentity") == self.job:
                to_object(lease, self.api).patch(
                    {
                        "metadata": {"resourceVersion": lease["metadata"]["resourceVersion"]},
                        "spec": {"holderIdentity": None},
                    }  # fmt: skip
                )

    def settle(self, pods: int, clock: Clock, echo: Callable[[str], None] | None) -> None:
        """Wait until the job's first ``pods`` pods exist, so that the quota counts them.

        Also done when the job has ended or is gone, or after :data:`SETTLE` seconds. The job
        exists by now: an API error only ends the wait early (one that may pass, e.g.
        no answer, is ridden out until the deadline, with a note), it never fails the
        submission.
        """
        import kr8s

        deadline = clock.monotonic() + SETTLE
        failing_since: float | None = None
        while clock.monotonic() < deadline:
            try:
                job = stored(DASK_API, "DaskJob", self.job, self.namespace, self.api)
                mine = {"dask.org/cluster-name": self.job}
                found = list(kr8s.get("pods", namespace=self.namespace, api=self.api,
                                      label_selector=mine))  # fmt: skip
            except Exception as exc:  # noqa: BLE001 - the job exists: never fail it here
                if not transient(exc):
                    return
                if failing_since is None and echo is not None:
                    why = " ".join(f"{type(exc).__name__}: {exc}".split())
                    echo(f"kubernetes: the API server did not answer ({why}); trying again "
                         f"for up to {deadline - clock.monotonic():.0f} s")  # fmt: skip
                failing_since = failing_since or clock.monotonic()
                clock.sleep(poll_interval())
                continue
            if failing_since is not None and echo is not None:
                echo(f"kubernetes: the API server answers again after "
                     f"{clock.monotonic() - failing_since:.0f} s")  # fmt: skip
            failing_since = None
            if job is None or job_phase(job) in TERMINAL or len(found) >= pods:
                return
            clock.sleep(poll_interval())
        if echo is not None:
            echo(f"daskjob/{self.job}: its pods are not all there after {SETTLE:g} s; "
                 "letting the next job in")  # fmt: skip


def take_gate(gate: Gate, timeout: float, clock: Clock, echo: Callable[[str], None] | None) -> None:
    """Wait up to ``timeout`` seconds for the gate (another job being admitted)."""
    deadline = clock.monotonic() + timeout
    noted = False
    while (holder := gate.take()) is not None:
        if clock.monotonic() > deadline:
            raise BackendError(
                f"daskjob/{gate.job}: {holder} has been admitting its job into {gate.namespace} "
                f"for over {timeout:g} s; gave up without creating it"
            )
        if echo is not None and not noted:
            echo(f"daskjob/{gate.job}: waiting while {holder} is admitted")
            noted = True
        clock.sleep(poll_interval())


def wait_for_room(
    job: Manifest,
    gate: Gate,
    api: Any = None,
    timeout: float | None = None,
    echo: Callable[[str], None] | None = None,
    clock: Clock | None = None,
    interval: float | None = None,
) -> float:
    """Queue ``job`` until it is first in line, holds the gate and fits the quota.

    Returns with the gate held (release it once the job is created, see :func:`admitted`).

    Args:
        job: The DaskJob manifest.
        gate: The namespace's gate, for this job.
        api: A ``kr8s.Api``.
        timeout: Seconds to wait (default: ``daskburst.kubernetes.job-timeout``).
        echo: Progress messages.
        clock: Time source for waiting.
        interval: Seconds between checks (default: ``daskburst.kubernetes.queue-interval``).

    Returns:
        Seconds waited.

    Raises:
        UserError: When the job can never fit (a quota was lowered meanwhile).
        BackendError: When ``timeout`` passes first.
    """
    import kr8s

    timeout = job_timeout(timeout)
    interval = queue_interval() if interval is None else interval
    clock = clock or SystemClock()
    namespace, name = gate.namespace, job["metadata"]["name"]
    obj, _ = create_or_patch(marker(name, namespace, server_now(api)), api)
    started = clock.monotonic()
    last_note, note = -1e9, ""
    try:
        while True:
            now = server_now(api)
            obj.patch({"metadata": {"annotations": {HEARTBEAT: _stamp(now)}}})
            markers = [
                m.raw
                for m in kr8s.get("configmaps", namespace=namespace, api=api,
                                  label_selector={"app.kubernetes.io/component": COMPONENT})
            ]  # fmt: skip
            line = order(markers, now)
            for stale in markers:
                if stale["data"].get("job") not in line and stale["data"].get("job") != name:
                    with contextlib.suppress(Exception):
                        to_object(stale, api).delete()
            position = line.index(name) + 1 if name in line else 1
            waiting_for = "earlier jobs"
            if position == 1:
                holder = gate.take()
                if holder is None:
                    # Decided under the gate: the quota is as the last admitted job left it.
                    quotas = [q.raw for q in kr8s.get("resourcequotas", namespace=namespace,
                                                      api=api)]  # fmt: skip
                    never, not_now = quota_problems(job_needs(job), quotas)
                    if never:
                        gate.release()
                        raise UserError(
                            f"daskjob/{name} can never fit namespace {namespace}: "
                            f"{'; '.join(never)}"
                        )
                    if not not_now:
                        return clock.monotonic() - started
                    gate.release()
                    waiting_for = "; ".join(not_now)
                else:
                    waiting_for = f"{holder} to be admitted"
            waited = clock.monotonic() - started
            text = (f"daskjob/{name} queued: position {position} of {max(len(line), position)} "
                    f"in {namespace}; waiting for {waiting_for}")  # fmt: skip
            if echo is not None and (text != note or clock.monotonic() - last_note >= 60):
                echo(f"{text} ({waited:.0f} s)")
                note, last_note = text, clock.monotonic()
            if waited >= timeout:
                raise BackendError(
                    f"daskjob/{name} still queued after {timeout:g} s (position {position}); "
                    "gave up without creating it"
                )
            clock.sleep(interval)
    finally:
        with contextlib.suppress(Exception):
            obj.delete()
