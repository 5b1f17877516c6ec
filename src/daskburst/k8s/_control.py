"""Status, results, gc and delete of the DaskJobs in a namespace."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from daskburst.errors import BackendError, UserError
from daskburst.k8s import _usercode as usercode
from daskburst.k8s._apply import to_object
from daskburst.k8s._follow import Kr8sJobView
from daskburst.k8s._lease import lapsed, server_now
from daskburst.k8s._lifecycle import TTL
from daskburst.k8s._manifests import (
    job_phase,
)
from daskburst.k8s._objects import dask_object, delete_object, object_names
from daskburst.k8s._results import of_this_job


def _age(created: str | None, now: datetime) -> str:
    from daskburst.k8s._lifecycle import fmt_duration

    if not created:
        return ""
    then = datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return fmt_duration((now - then).total_seconds())


def status(namespace: str, api: Any = None) -> list[dict[str, Any]]:
    """Return one row per DaskJob and per standalone DaskCluster in ``namespace``.

    Works for jobs started with ``kubectl apply`` as for ``k8s submit``: the peak workers and
    the digest come from the result the runner kept (``configmap/<job>-result``).

    Args:
        namespace: Namespace to list.
        api: A ``kr8s.Api``.

    Returns:
        Rows with ``kind``, ``name``, ``phase``, ``attempt``, ``age``, ``workers_now``,
        ``workers_peak``, ``digest``, ``started``, ``ended``, ``time_limit``, ``ttl``.
    """
    import kr8s

    from daskburst.k8s._lifecycle import ATTEMPT, TIME_LIMIT

    now = datetime.now(UTC)
    pods = list(kr8s.get("pods", namespace=namespace, api=api,
                         label_selector={"dask.org/component": "worker"}))  # fmt: skip
    running: dict[str, int] = {}
    for pod in pods:
        if (pod.raw.get("status") or {}).get("phase") == "Running":
            owner = pod.raw["metadata"].get("labels", {}).get("dask.org/cluster-name", "")
            running[owner] = running.get(owner, 0) + 1
    kept: dict[str, dict[str, Any]] = {}
    for cm in kr8s.get("configmaps", namespace=namespace, api=api,
                       label_selector={"app.kubernetes.io/component": "result"}):  # fmt: skip
        try:
            record = json.loads((cm.raw.get("data") or {}).get("result.json", "{}"))
        except ValueError:
            continue
        job = (cm.raw["metadata"].get("labels") or {}).get("dask.org/cluster-name", "")
        kept[job] = record
    rows = []
    jobs = set()
    for kind in ("DaskJob", "DaskCluster"):
        try:
            found = list(
                kr8s.get(f"{kind.lower()}s.kubernetes.dask.org", namespace=namespace, api=api)
            )
        except (kr8s.NotFoundError, kr8s.ServerError, ValueError) as exc:
            raise BackendError(f"cannot list {kind}s (is the operator installed?): {exc}") from None
        for obj in found:
            raw, st = obj.raw, obj.raw.get("status", {}) or {}
            if kind == "DaskJob":
                jobs.add(obj.name)
                phase = job_phase(raw)
            elif obj.name in jobs:
                continue
            else:
                phase = str(st.get("phase", "Pending"))
            annotations = raw["metadata"].get("annotations") or {}
            # Only a DaskJob's runner keeps a record, and only this DaskJob's run is its own
            # (not an earlier job's of the same name).
            mine = kept.get(obj.name) if kind == "DaskJob" else None
            record = mine if mine and of_this_job(mine, raw["metadata"].get("uid")) else {}
            rows.append(
                {
                    "kind": kind,
                    "name": obj.name,
                    "phase": phase,
                    "attempt": int(annotations.get(ATTEMPT, 1)),
                    "age": _age(raw["metadata"].get("creationTimestamp"), now),
                    "workers_now": running.get(obj.name, 0),
                    "workers_peak": record.get("workers"),
                    "digest": (record.get("result") or {}).get("digest"),
                    "started": st.get("startTime", ""),
                    "ended": st.get("endTime", ""),
                    "time_limit": annotations.get(TIME_LIMIT),
                    "ttl": annotations.get(TTL),
                }
            )
    return rows


def results(name: str, namespace: str, api: Any = None) -> dict[str, Any]:
    """Return a job's kept record, its phase, and where its logs are.

    Raises:
        UserError: When there is neither such a DaskJob nor a kept result.
    """
    import kr8s

    from daskburst.k8s import _results

    record = _results.read(name, namespace, api)
    obj = dask_object("DaskJob", name, namespace, api)
    earlier = None
    try:
        obj.refresh()
        phase = job_phase(obj.raw)
        if not _results.of_this_job(record, obj.raw["metadata"].get("uid")):
            # Deleted and applied again under the same name: a new job, not yet with a record.
            earlier, record = record, None
    except (kr8s.NotFoundError, ValueError):
        phase = "deleted (the result was kept)" if record else ""
    if not record and not phase:
        raise UserError(
            f"k8s results {name!r}: no DaskJob and no kept result of that name in {namespace}"
        )
    runner = Kr8sJobView(namespace, api).runner(name) if phase and "deleted" not in phase else None
    logs = (
        f"kubectl -n {namespace} logs {name}-runner"
        if runner is not None
        else "gone with the runner pod (kept only by `k8s submit --artifacts DIR`)"
    )
    found = {"name": name, "phase": phase, "record": record, "logs": logs}
    if earlier is not None:
        found["earlier"] = earlier
    return found


def gc(
    namespace: str,
    default_ttl: int | None = None,
    dry_run: bool = False,
    api: Any = None,
    now: datetime | None = None,
) -> list[str]:
    """Delete expired DaskJobs and their pods, and DaskClusters whose lease ran out.

    A job expires when it has finished and its time-to-live has passed. A lease runs out when
    the client of ``--backend kubernetes`` is gone (:mod:`daskburst.k8s._lease`).

    Kept results (``configmap/<job>-result``) stay for ``k8s results``.

    Args:
        namespace: Namespace.
        default_ttl: Seconds for jobs without a TTL annotation (None: keep them).
        dry_run: Only return what would be deleted.
        api: A ``kr8s.Api``.
        now: The current time (default: the API server's).

    Returns:
        One line per job or cluster (deleted, or that would be).
    """
    import kr8s

    from daskburst.k8s._lifecycle import expired

    now = now or server_now(api)
    try:
        jobs = [
            o.raw for o in kr8s.get("daskjobs.kubernetes.dask.org", namespace=namespace, api=api)
        ]
    except (kr8s.NotFoundError, kr8s.ServerError, ValueError) as exc:
        raise BackendError(f"cannot list DaskJobs (is the operator installed?): {exc}") from None
    lines = []
    for job in expired(jobs, now, default_ttl):
        lines.append(job.describe(now))
        if dry_run:
            continue
        delete_object("DaskJob", job.name, namespace, api)
        for pod in kr8s.get("pods", namespace=namespace, api=api,
                            label_selector={"dask.org/cluster-name": job.name}):  # fmt: skip
            with contextlib.suppress(kr8s.NotFoundError):
                pod.delete()
    clusters = [
        o.raw for o in kr8s.get("daskclusters.kubernetes.dask.org", namespace=namespace, api=api)
    ]
    for name, until in lapsed(clusters, now):
        lines.append(
            f"daskcluster/{name} (its client stopped renewing the lease, which ran out at "
            f"{until:%Y-%m-%d %H:%M:%S}Z)"
        )
        if not dry_run:
            delete_object("DaskCluster", name, namespace, api)
    # Working directories of jobs that are gone: `kubectl apply -f` of `k8s manifest` output
    # gives them no owner (kubectl knows no uid), so nothing else would delete them.
    alive = {j["metadata"]["name"] for j in jobs} - {
        j.name for j in expired(jobs, now, default_ttl)
    }
    if dry_run:
        alive = {j["metadata"]["name"] for j in jobs}
    for cm in kr8s.get("configmaps", namespace=namespace, api=api,
                       label_selector=usercode.WORKDIR_LABEL):  # fmt: skip
        job_name = cm.raw["metadata"]["labels"].get(usercode.WORKDIR_LABEL)
        if job_name in alive:
            continue
        lines.append(f"configmap/{cm.name} (working directory of the deleted job {job_name})")
        if not dry_run:
            with contextlib.suppress(kr8s.NotFoundError):
                cm.delete()
    return lines


def delete(names: Sequence[str], namespace: str, api: Any = None) -> list[str]:
    """Delete DaskJobs (their clusters go with them), their autoscalers and kept results.

    Args:
        names: Job names; empty means every DaskJob in the namespace.
        namespace: Namespace.
        api: A ``kr8s.Api``.

    Returns:
        The names of the jobs that existed and were deleted.
    """
    import kr8s

    from daskburst.k8s._results import result_name

    targets = list(names) or object_names("DaskJob", namespace, api)
    deleted = [n for n in targets if delete_object("DaskJob", n, namespace, api)]
    for n in targets:
        delete_object("DaskAutoscaler", n, namespace, api)
        for cm_name in (result_name(n), usercode.configmap_name(n)):
            cm = to_object(
                {"apiVersion": "v1", "kind": "ConfigMap",
                 "metadata": {"name": cm_name, "namespace": namespace}},
                api,
            )  # fmt: skip
            with contextlib.suppress(kr8s.NotFoundError):
                cm.delete()
    return deleted
