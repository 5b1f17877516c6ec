"""The gc CronJob: ``daskburst k8s gc`` every few minutes in the namespace (a pure builder)."""

from __future__ import annotations

from typing import Any

from daskburst.k8s._specs import DEFAULT_IMAGE, _env, _pod, checkov_annotations, labels

#: Why the gc CronJob's pod skips the checks it fails by design.
GC_CHECKOV_SKIPS = {
    "CKV_K8S_38": "daskburst k8s gc lists and deletes DaskJobs through the API; its Role allows "
    "only that, in this namespace",
    "CKV_K8S_8": "A batch pod that exits when its sweep ends; it serves nothing to probe",
    "CKV_K8S_9": "A batch pod that exits when its sweep ends; nothing routes traffic to it",
}


def gc_cronjob(image: str = DEFAULT_IMAGE, schedule: str = "*/5 * * * *") -> dict[str, Any]:
    """Return the CronJob that runs ``daskburst k8s gc`` in the namespace it is applied to.

    It deletes finished DaskJobs whose ``daskburst.io/ttl-seconds-after-finished`` has passed,
    as the ``daskburst-gc`` ServiceAccount (list and delete DaskJobs and pods, nothing else).
    Its own Jobs are removed by Kubernetes' ``ttlSecondsAfterFinished``.

    Args:
        image: The daskburst image.
        schedule: Cron schedule.

    Returns:
        A ``batch/v1`` CronJob dict (no namespace: kustomize sets it).
    """
    container = {
        "name": "gc",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "args": ["daskburst", "k8s", "gc"],
        "env": _env(
            {
                "DASK_DASKBURST__KUBERNETES__NAMESPACE": {
                    "fieldRef": {"fieldPath": "metadata.namespace"}
                }
            }
        ),
        "resources": {
            "requests": {"cpu": "50m", "memory": "128Mi"},
            "limits": {"cpu": "500m", "memory": "512Mi"},
        },
    }
    pod = _pod(container, service_account="daskburst-gc", restart="Never", api_token=True)
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {
            "name": "daskburst-gc",
            "labels": labels("daskburst-gc", "gc"),
            "annotations": checkov_annotations(GC_CHECKOV_SKIPS),
        },
        "spec": {
            "schedule": schedule,
            "concurrencyPolicy": "Forbid",
            "successfulJobsHistoryLimit": 1,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {
                "spec": {
                    "backoffLimit": 1,
                    "activeDeadlineSeconds": 600,
                    "ttlSecondsAfterFinished": 3600,
                    "template": {
                        "metadata": {
                            "labels": labels("daskburst-gc", "gc"),
                            "annotations": checkov_annotations(GC_CHECKOV_SKIPS),
                        },
                        "spec": pod,
                    },
                }
            },
        },
    }
