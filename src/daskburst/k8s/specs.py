"""Pod and cluster specs shared by charts/dask-burst, jobs/ and the kubernetes backend."""

from daskburst.k8s._gc_specs import gc_cronjob
from daskburst.k8s._specs import (
    CHECKOV_SKIPS,
    DEFAULT_IMAGE,
    ROLES,
    RUNNER_CLUSTER_ENV,
    SPOT_TOLERATIONS,
    cluster_spec,
    daskautoscaler,
    daskcluster,
    daskjob,
    labels,
    role_resources,
    runner_pod_spec,
    scheduler_pod_spec,
    scheduler_service_spec,
    worker_pod_spec,
)

__all__ = [
    "CHECKOV_SKIPS",
    "ROLES",
    "DEFAULT_IMAGE",
    "RUNNER_CLUSTER_ENV",
    "SPOT_TOLERATIONS",
    "cluster_spec",
    "daskautoscaler",
    "daskcluster",
    "daskjob",
    "gc_cronjob",
    "labels",
    "role_resources",
    "runner_pod_spec",
    "scheduler_pod_spec",
    "scheduler_service_spec",
    "worker_pod_spec",
]
