"""A lease on the DaskClusters that ``--backend kubernetes`` creates, so none outlives its client.

The client deletes its cluster when the run ends, also on an error, Ctrl-C or SIGTERM. A
client that cannot (``kill -9``, a laptop closed, a lost network) would leave it for ever, as
nothing owns it. So the cluster carries ``daskburst.io/expires-at``, which the client keeps
pushing :data:`daskburst.kubernetes.lease` seconds ahead while it lives; ``daskburst k8s gc``
(the daskburst-gc CronJob, every 5 minutes) deletes a cluster whose lease has run out. Both
sides take the time from the API server (its ``Date`` header), never from their own clocks.
Clusters without the annotation (a DaskJob's, dask-burst) are never touched.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

from daskburst.k8s._lifecycle import PREFIX

EXPIRES = PREFIX + "expires-at"
_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def server_now(api: Any = None) -> datetime:
    """The API server's time (its ``Date`` header, to the second)."""
    import kr8s
    from kr8s._async_utils import as_sync_func

    api = api or kr8s.api()

    async def ask() -> str:
        async with api.call_api("GET", version="", base="/version") as resp:
            return str(resp.headers["date"])

    return parsedate_to_datetime(as_sync_func(ask)()).astimezone(UTC)


def stamp(now: datetime, seconds: float) -> str:
    """The ``expires-at`` value ``seconds`` after ``now`` (pure)."""
    return (now + timedelta(seconds=seconds)).strftime(_FORMAT)


def expires_at(obj: dict[str, Any]) -> datetime | None:
    """When ``obj``'s lease runs out; None without one (or an unreadable one: kept)."""
    value = ((obj.get("metadata") or {}).get("annotations") or {}).get(EXPIRES)
    try:
        return datetime.strptime(str(value), _FORMAT).replace(tzinfo=UTC) if value else None
    except ValueError:
        return None


def lapsed(clusters: list[dict[str, Any]], now: datetime) -> list[tuple[str, datetime]]:
    """The clusters whose lease ran out before ``now``, with when (pure)."""
    out = []
    for obj in clusters:
        until = expires_at(obj)
        if until is not None and until < now:
            out.append((str(obj["metadata"]["name"]), until))
    return sorted(out)


def renew(obj: Any, seconds: float, api: Any = None) -> str:
    """Push the lease of kr8s object ``obj`` to ``seconds`` after the server's now."""
    value = stamp(server_now(api or obj.api), seconds)
    obj.patch({"metadata": {"annotations": {EXPIRES: value}}})
    return value


@contextmanager
def kept(obj: Any, seconds: float, every: float | None = None) -> Iterator[None]:
    """Renew ``obj``'s lease every ``every`` seconds (a third of the lease) while the block runs.

    A failed renewal is said once on stderr and tried again; the run goes on, as the lease
    still has time.
    """
    stop = threading.Event()
    every = every if every is not None else max(1.0, seconds / 3)

    def loop() -> None:
        failing = False
        while not stop.wait(every):
            try:
                renew(obj, seconds)
            except Exception as exc:  # noqa: BLE001 - kr8s/httpx raise many kinds
                if not failing:
                    sys.stderr.write(
                        f"kubernetes: warning: could not renew the lease of daskcluster/"
                        f"{obj.name} ({type(exc).__name__}: {exc}); trying again\n"
                    )
                failing = True
            else:
                failing = False

    thread = threading.Thread(target=loop, name="daskburst-lease", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)
