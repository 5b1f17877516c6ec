"""Wait for room in a namespace's ResourceQuota, first come first served across submitters.

Each waiting ``daskburst k8s submit --queue`` keeps a marker ConfigMap
``daskburst-queue-<job>`` whose ``daskburst.io/queued-at`` annotation orders the queue; the
oldest marker whose job fits goes first (no overtaking: a small job waits behind a big one).
Markers carry a heartbeat; one whose submitter stopped refreshing it (killed, laptop closed)
is dropped by the others after :data:`STALE` seconds.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from daskburst import config
from daskburst.errors import BackendError, UserError
from daskburst.k8s._lifecycle import PREFIX, QUEUED_AT
from daskburst.k8s._manifests import Manifest
from daskburst.k8s._specs import labels
from daskburst.k8s._submission import job_needs, quota_problems
from daskburst.k8s._wait import Clock, SystemClock

HEARTBEAT = PREFIX + "heartbeat"
STALE = 60.0
COMPONENT = "queue"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _age(stamp: str) -> float:
    then = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    return (datetime.now(UTC) - then).total_seconds()


def marker(job: str, namespace: str, queued_at: str | None = None) -> Manifest:
    """Return the queue marker of ``job`` (pure but for the default time)."""
    stamp = queued_at or _now()
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": f"daskburst-queue-{job}",
            "namespace": namespace,
            "labels": labels(job, COMPONENT),
            "annotations": {QUEUED_AT: stamp, HEARTBEAT: stamp},
        },
        "data": {"job": job},
    }


def order(markers: list[Manifest]) -> list[str]:
    """Return the queued jobs, first come first (ties broken by name); stale ones left out."""
    live = [m for m in markers if _age(m["metadata"]["annotations"].get(HEARTBEAT, "")) < STALE]
    live.sort(key=lambda m: (m["metadata"]["annotations"][QUEUED_AT], m["metadata"]["name"]))
    return [m["data"]["job"] for m in live]


def wait_for_room(
    job: Manifest,
    namespace: str,
    api: Any = None,
    timeout: float | None = None,
    echo: Callable[[str], None] | None = None,
    clock: Clock | None = None,
    interval: float = 5.0,
) -> float:
    """Queue ``job`` until it is first in line and fits the quota; then leave the queue.

    Args:
        job: The DaskJob manifest.
        namespace: Its namespace.
        api: A ``kr8s.Api``.
        timeout: Seconds to wait (default: ``daskburst.kubernetes.job-timeout``).
        echo: Progress messages.
        clock: Time source.
        interval: Seconds between checks.

    Returns:
        Seconds waited.

    Raises:
        UserError: When the job can never fit (a quota was lowered meanwhile).
        BackendError: When ``timeout`` passes first.
    """
    import kr8s

    from daskburst.k8s._apply import create_or_patch, to_object

    timeout = config.get_seconds("kubernetes.job-timeout", timeout)
    clock = clock or SystemClock()
    name = job["metadata"]["name"]
    mine = marker(name, namespace)
    obj, _ = create_or_patch(mine, api)
    started = clock.monotonic()
    last_note, note = -1e9, ""
    try:
        while True:
            obj.patch({"metadata": {"annotations": {HEARTBEAT: _now()}}})
            markers = [
                m.raw
                for m in kr8s.get("configmaps", namespace=namespace, api=api,
                                  label_selector={"app.kubernetes.io/component": COMPONENT})
            ]  # fmt: skip
            line = order(markers)
            for stale in markers:
                if stale["data"].get("job") not in line and stale["data"].get("job") != name:
                    with contextlib.suppress(Exception):
                        to_object(stale, api).delete()
            position = line.index(name) + 1 if name in line else 1
            quotas = [q.raw for q in kr8s.get("resourcequotas", namespace=namespace, api=api)]
            never, not_now = quota_problems(job_needs(job), quotas)
            if never:
                raise UserError(
                    f"daskjob/{name} can never fit namespace {namespace}: {'; '.join(never)}"
                )
            if position == 1 and not not_now:
                return clock.monotonic() - started
            waited = clock.monotonic() - started
            text = f"daskjob/{name} queued: position {position} of {len(line)} in {namespace}" + (
                f"; waiting for {'; '.join(not_now)}" if not_now else "; waiting for earlier jobs"
            )
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
