"""Run records of DaskJobs kept after the fact: a ConfigMap ``<job>-result`` per job.

The runner writes it when its run ends (``--backend kubernetes`` in a DaskJob), so it exists
for jobs started with ``kubectl apply`` as for ``daskburst k8s submit``. It is not owned by the
DaskJob: deleting a finished job (``k8s gc``, a TTL) keeps its result; ``k8s delete`` removes
both.

A record names the UID of the DaskJob that made it (``job_uid``): a job deleted and applied
again under the same name is a new job, and the earlier run's record is never shown as its own.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from daskburst.k8s._specs import labels

#: Larger records are stored without their result values (the digest stays).
LIMIT = 512 * 1024


def result_name(job: str) -> str:
    """The ConfigMap holding ``job``'s record."""
    return f"{job}-result"


#: The label naming the UID of the DaskJob whose run a result ConfigMap keeps.
UID = "daskburst.io/job-uid"


def configmap(
    job: str, namespace: str, record: dict[str, Any], uid: str | None = None
) -> dict[str, Any]:
    """Return the ConfigMap that keeps ``record`` (pure).

    Records above :data:`LIMIT` keep everything but the result's values (etcd objects are
    limited to about 1.5 MB); ``truncated`` then says so. ``uid`` is the DaskJob's.
    """
    record = {**record, "job_uid": uid} if uid else record
    text = json.dumps(record, indent=2, sort_keys=True)
    if len(text) > LIMIT:
        slim = {k: v for k, v in record.items() if k != "outputs"}
        if "result" in record:
            slim["result"] = {"digest": record["result"].get("digest")}
        if "outputs" in record:
            slim["outputs"] = {k: v for k, v in record["outputs"].items() if k != "zip_base64"}
            slim["outputs"]["dropped"] = "the record was over the ConfigMap's limit"
        slim["truncated"] = True
        text = json.dumps(slim, indent=2, sort_keys=True)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": result_name(job),
            "namespace": namespace,
            "labels": {
                **labels(job, "result"),
                "dask.org/cluster-name": job,
                **({UID: uid} if uid else {}),
            },
        },
        "data": {"result.json": text + "\n"},
    }


def job_uid(job: str, namespace: str, api: Any = None) -> str | None:
    """The UID of DaskJob ``job``, or None when there is none of that name."""
    from daskburst.k8s._apply import stored

    obj = stored("kubernetes.dask.org/v1", "DaskJob", job, namespace, api)
    return None if obj is None else str(obj["metadata"]["uid"])


def publish(job: str, namespace: str, record: dict[str, Any], api: Any = None) -> None:
    """Store ``record`` as ``job``'s result; a failure is a warning, never the job's failure."""
    from daskburst.k8s._apply import create_or_patch

    try:
        uid = job_uid(job, namespace, api)
    except Exception:  # noqa: BLE001 - without the UID the record is still the run's
        uid = None
    try:
        create_or_patch(configmap(job, namespace, record, uid), api)
    except Exception as exc:  # noqa: BLE001 - the record is in the runner's log anyway
        sys.stderr.write(
            f"kubernetes: warning: could not keep the result in configmap/{result_name(job)}: "
            f"{type(exc).__name__}: {exc} (it is in this log)\n"
        )


def of_this_job(record: dict[str, Any] | None, uid: str | None) -> bool:
    """Whether ``record`` is the run of the DaskJob with ``uid`` (unknown on either side: yes)."""
    if not record:
        return False
    theirs = record.get("job_uid")
    return not uid or not theirs or theirs == uid


def read(
    job: str, namespace: str, api: Any = None, uid: str | None = None
) -> dict[str, Any] | None:
    """Return ``job``'s kept record, or None (also when it is another DaskJob's than ``uid``)."""
    from daskburst.k8s._apply import stored

    obj = stored("v1", "ConfigMap", result_name(job), namespace, api)
    if obj is None:
        return None
    record = dict(json.loads(obj.get("data", {}).get("result.json", "null")) or {}) or None
    return record if of_this_job(record, uid) else None
