"""Run daskburst on Kubernetes: manifests, the Dask operator and kr8s control.

Pure parts (no cluster needed): :mod:`daskburst.k8s.specs` (pod specs shared by the charts,
jobs/ and the ``kubernetes`` backend), the backend's DaskCluster (``_cluster_specs``), naming,
rendering and waiting helpers. The control functions talk to the API server with kr8s
(KUBECONFIG or in-cluster credentials); ``_clusters`` and ``_pods`` are the ``kubernetes``
backend's (create, adapt, open, diagnose and delete its DaskCluster), and
:mod:`daskburst.backends` only opens a Dask client on what they give.
"""

from daskburst.k8s._apply import create_or_patch, stored, to_object
from daskburst.k8s._cluster_specs import autoscaler_manifest, cluster_manifest, setting
from daskburst.k8s._clusters import (
    LostWorkerGroup,
    adapt_cluster,
    api_error,
    close_api,
    create_cluster,
    delete_cluster,
    delete_cluster_named,
    in_cluster,
    open_cluster,
    operator_error,
    operator_missing,
    read_cluster,
    stamp_lease,
)
from daskburst.k8s._connect import connect
from daskburst.k8s._control import delete, gc, results, status
from daskburst.k8s._follow import JobOutcome, JobView, Kr8sJobView, wait_job
from daskburst.k8s._install import (
    install,
    manifests_root,
    operator_overlay,
    platform_manifests,
    uninstall,
)
from daskburst.k8s._lease import EXPIRES, kept, server_now, stamp
from daskburst.k8s._lifecycle import (
    TTL,
    fmt_duration,
    parse_retries,
    time_limit_of,
    with_time_limit,
)
from daskburst.k8s._manifests import (
    find_autoscalers,
    job_phase,
    kustomize,
    load_file,
    parse_result,
    prepare_submission,
    sort_for_apply,
)
from daskburst.k8s._naming import CLUSTER_NAME_MAX, unique_name, unique_suffix, validate_name
from daskburst.k8s._pods import (
    cluster_pods,
    container_running,
    crash_reason,
    created_pod,
    pending_reason,
    pod_ready,
)
from daskburst.k8s._results import job_uid
from daskburst.k8s._results import publish as publish_result
from daskburst.k8s._results import read as read_result
from daskburst.k8s._submission import parse_params
from daskburst.k8s._submit import build_submission, create_all, submit, submit_and_wait
from daskburst.k8s._usercode import rename as rename_user_job
from daskburst.k8s._usercode import user_job
from daskburst.k8s._wait import Clock, SystemClock, WaitTimeoutError, wait_for

__all__ = [
    "LostWorkerGroup",
    "adapt_cluster",
    "api_error",
    "autoscaler_manifest",
    "close_api",
    "connect",
    "cluster_manifest",
    "cluster_pods",
    "container_running",
    "crash_reason",
    "create_cluster",
    "created_pod",
    "delete_cluster",
    "delete_cluster_named",
    "in_cluster",
    "open_cluster",
    "operator_error",
    "operator_missing",
    "pending_reason",
    "pod_ready",
    "read_cluster",
    "setting",
    "stamp_lease",
    "EXPIRES",
    "TTL",
    "fmt_duration",
    "job_uid",
    "kept",
    "parse_params",
    "parse_retries",
    "publish_result",
    "read_result",
    "rename_user_job",
    "server_now",
    "stamp",
    "time_limit_of",
    "user_job",
    "with_time_limit",
    "CLUSTER_NAME_MAX",
    "Clock",
    "JobOutcome",
    "JobView",
    "Kr8sJobView",
    "SystemClock",
    "WaitTimeoutError",
    "build_submission",
    "create_all",
    "create_or_patch",
    "delete",
    "find_autoscalers",
    "gc",
    "install",
    "job_phase",
    "kustomize",
    "load_file",
    "manifests_root",
    "operator_overlay",
    "parse_result",
    "platform_manifests",
    "prepare_submission",
    "results",
    "sort_for_apply",
    "status",
    "submit",
    "submit_and_wait",
    "stored",
    "to_object",
    "uninstall",
    "unique_name",
    "unique_suffix",
    "validate_name",
    "wait_for",
    "wait_job",
]
