"""Operate daskburst on a Kubernetes cluster with kr8s: install, submit, wait, status, delete."""

from __future__ import annotations

import contextlib
import copy
import json
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TextIO

from daskburst import config
from daskburst.errors import BackendError, UserError
from daskburst.k8s import _egress as egress
from daskburst.k8s import _usercode as usercode
from daskburst.k8s._apply import create_or_patch, create_strict, to_object
from daskburst.k8s._lease import lapsed, server_now
from daskburst.k8s._lifecycle import TTL, with_time_limit
from daskburst.k8s._manifests import (
    DASK_API,
    TERMINAL,
    Manifest,
    find_autoscalers,
    job_phase,
    kustomize,
    load_file,
    parse_result,
    prepare_submission,
    sort_for_apply,
)
from daskburst.k8s._naming import unique_name
from daskburst.k8s._queue import HOLD, Gate, take_gate, wait_for_room
from daskburst.k8s._results import of_this_job
from daskburst.k8s._submission import (
    cap_burst,
    job_needs,
    parse_invocation,
    quota_problems,
    runner_container,
    with_params,
)
from daskburst.k8s._wait import Clock, SystemClock, WaitTimeoutError, transient, wait_for

Echo = Callable[[str], None]
#: Seconds the API server may not answer while a job is followed (an API server restart).
API_GRACE = 120.0
OPERATOR = ("dask-operator", "dask-kubernetes-operator")


def _stderr(msg: str) -> None:
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


def manifests_root(root: str | Path | None = None) -> Path:
    """Return the directory holding ``charts/`` and ``k8s/`` (a daskburst checkout).

    Args:
        root: Given explicitly, or None to use the current directory.

    Returns:
        The directory.

    Raises:
        UserError: When it does not hold the manifests.
    """
    path = Path(root) if root else Path.cwd()
    if not (path / "charts" / "dask-operator" / "kustomization.yaml").is_file():
        raise UserError(
            f"--manifests {str(path)!r}: no charts/dask-operator there; expected the "
            "daskburst checkout (run from it or pass --manifests DIR)"
        )
    return path


def operator_overlay(root: Path, namespaced: bool = False, bundled: bool = False) -> Path:
    """Return the kustomization of the operator bundle to install.

    Args:
        root: The checkout (see :func:`manifests_root`).
        namespaced: The operator watching only its own namespace (a Role, not a ClusterRole).
        bundled: The operator run from the daskburst image instead of the upstream one.

    Returns:
        A directory under ``charts/dask-operator``.
    """
    operator = root / "charts" / "dask-operator"
    variant = "-".join(
        name for name, on in (("namespaced", namespaced), ("bundled-image", bundled)) if on
    )
    return operator / "overlays" / variant if variant else operator


def platform_manifests(
    root: Path,
    namespaced: bool = False,
    kubectl: str = "kubectl",
    bundled: bool = False,
    platform: str | Path | None = None,
) -> list[Manifest]:
    """Render the operator bundle and ``k8s/`` into one apply-ordered list.

    Args:
        root: The checkout (see :func:`manifests_root`).
        namespaced: Use the namespaced operator overlay instead of the cluster-wide one.
        kubectl: The kubectl executable (for ``kubectl kustomize``).
        bundled: Run the operator from the daskburst image (see :func:`operator_overlay`).
        platform: The platform kustomization (default ``k8s/``; e.g. ``k8s/overlays/cloud``).

    Returns:
        Every object, dependencies first.
    """
    operator = operator_overlay(root, namespaced, bundled)
    base = root / (platform or "k8s")
    return sort_for_apply([*kustomize(base, kubectl), *kustomize(operator, kubectl)])


def _crd_established(obj: Any) -> bool:
    obj.refresh()
    conditions = (obj.raw.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)


def _deployment_available(obj: Any) -> bool:
    obj.refresh()
    want = obj.raw.get("spec", {}).get("replicas", 1)
    status = obj.raw.get("status") or {}
    return bool(
        status.get("availableReplicas", 0) >= want
        and status.get("updatedReplicas", 0) >= want
        and status.get("observedGeneration", 0) >= obj.raw["metadata"].get("generation", 0)
    )


def _until(predicate: Callable[[Any], bool], obj: Any) -> Callable[[], bool | None]:
    return lambda: True if predicate(obj) else None


def _apply_then_wait(
    manifests: Sequence[Manifest],
    kind: str,
    ready: Callable[[Any], bool],
    what: Callable[[Any], str],
    hint: str,
    api: Any,
    timeout: float,
    clock: Clock | None,
    echo: Echo,
) -> None:
    """Create or patch ``manifests``, then wait until every object of ``kind`` is ready."""
    waiting = []
    for manifest in manifests:
        obj, action = create_or_patch(manifest, api)
        echo(f"{manifest['kind'].lower()}/{manifest['metadata']['name']} {action}")
        if manifest["kind"] == kind:
            waiting.append(obj)
    try:
        for obj in waiting:
            wait_for(_until(ready, obj), timeout, what(obj), clock=clock)
    except WaitTimeoutError as exc:
        raise BackendError(f"{exc}{hint}") from None


def install(
    objs: Sequence[Manifest],
    timeout: float | None = None,
    api: Any = None,
    clock: Clock | None = None,
    echo: Echo = _stderr,
) -> None:
    """Apply the platform objects, wait for the CRDs to be Established and the operator Ready.

    Idempotent: existing objects are patched.

    Args:
        objs: From :func:`platform_manifests`.
        timeout: Seconds to wait for CRDs and operator (default:
            ``daskburst.kubernetes.install-timeout``).
        api: A ``kr8s.Api``.
        clock: Time source for waiting.
        echo: Progress messages.

    Raises:
        BackendError: When the CRDs or the operator are not ready in time.
    """
    timeout = config.get_seconds("kubernetes.install-timeout", timeout)
    objs = narrowed(objs, api, echo)
    first = [o for o in objs if o["kind"] in ("Namespace", "CustomResourceDefinition")]
    rest = [o for o in objs if o not in first]
    _apply_then_wait(
        first, "CustomResourceDefinition", _crd_established,
        lambda o: f"CRD {o.name} to be Established", "",
        api, timeout, clock, echo,
    )  # fmt: skip
    _apply_then_wait(
        rest, "Deployment", _deployment_available,
        lambda o: f"deployment {o.namespace}/{o.name} to be available",
        f" (check `kubectl -n {OPERATOR[0]} get pods`)",
        api, timeout, clock, echo,
    )  # fmt: skip
    echo("installed: CRDs established, operator ready")


def narrowed(objs: Sequence[Manifest], api: Any = None, echo: Echo = _stderr) -> list[Manifest]:
    """``objs`` with API and DNS egress narrowed to this cluster's addresses (see ``_egress``).

    When the addresses cannot be read, says so in one line and returns ``objs`` unchanged:
    the policies then keep their wide API rule (TCP 443 and 6443 to any address).
    """
    import kr8s

    try:
        where = egress.read_addresses(api)
    except (kr8s.ServerError, ValueError) as exc:
        echo(
            f"warning: could not read the API server's addresses ({exc}); the NetworkPolicies' "
            "API egress stays open to TCP 443 and 6443 on any address"
        )
        return list(objs)
    echo(egress.describe(where))
    return egress.narrow(objs, where)


#: The Dask resources the CRDs define; deleting a CRD deletes every one of its kind.
DASK_KINDS = ("DaskJob", "DaskCluster", "DaskWorkerGroup", "DaskAutoscaler")


def dask_resources_elsewhere(namespace: str, api: Any) -> list[str]:
    """``kind/namespace/name`` of every Dask resource outside ``namespace`` (all namespaces)."""
    import kr8s

    found = []
    for kind in DASK_KINDS:
        try:
            items = list(kr8s.get(f"{kind.lower()}s.kubernetes.dask.org", namespace=kr8s.ALL,
                                  api=api))  # fmt: skip
        except (kr8s.NotFoundError, kr8s.ServerError, ValueError):
            continue
        found += [f"{kind.lower()}/{o.namespace}/{o.name}" for o in items
                  if o.namespace != namespace]  # fmt: skip
    return sorted(found)


def uninstall(
    objs: Sequence[Manifest],
    namespace: str,
    api: Any = None,
    echo: Echo = _stderr,
    timeout: float = 180,
    clock: Clock | None = None,
    *,
    namespaced: bool = False,
    delete_crds: bool = False,
) -> None:
    """Delete daskburst's Dask resources, then the platform objects, and wait until gone.

    Dask resources go first and are waited for while the operator still runs, so it can
    clean up after them; then every platform object in reverse apply order; then this waits
    for the namespaces and CRDs to finish terminating.

    The CRDs are shared by every namespace, and deleting one deletes every resource of its
    kind in the cluster. They are kept when this uninstalls a namespaced operator, and when
    Dask resources are left in other namespaces, unless ``delete_crds``.

    Args:
        objs: From :func:`platform_manifests`.
        namespace: Namespace whose DaskJobs and DaskClusters are deleted first.
        api: A ``kr8s.Api``.
        echo: Progress messages.
        timeout: Seconds to wait for each stage to finish.
        clock: Time source for waiting.
        namespaced: ``objs`` hold the namespaced operator (other namespaces may have theirs).
        delete_crds: Delete the CRDs all the same, and with them every Dask resource left.

    Raises:
        BackendError: When something is still there after ``timeout``.
    """
    import kr8s

    keep: list[str] = []
    if not delete_crds:
        others = dask_resources_elsewhere(namespace, api)
        if namespaced:
            keep = ["the operator is namespaced: other namespaces may use the CRDs"]
        elif others:
            more = f" and {len(others) - 3} more" if len(others) > 3 else ""
            keep = [f"{len(others)} Dask resource(s) in other namespaces use them "
                    f"({', '.join(others[:3])}{more})"]  # fmt: skip
    if keep:
        objs = [o for o in objs if o["kind"] != "CustomResourceDefinition"]
        echo(f"keeping the Dask CRDs: {keep[0]}; --delete-crds deletes them, and every Dask "
             "resource in the cluster with them")  # fmt: skip

    for kind in ("DaskJob", "DaskCluster", "DaskAutoscaler"):
        for name in _names(kind, namespace, api):
            _delete(kind, name, namespace, api)
            echo(f"{kind.lower()}/{name} deleted")

    def dask_gone() -> bool | None:
        left = [n for k in ("DaskJob", "DaskCluster") for n in _names(k, namespace, api)]
        return True if not left else None

    try:
        wait_for(dask_gone, timeout, f"the Dask resources in {namespace} to go", clock=clock)
    except WaitTimeoutError as exc:
        raise BackendError(f"{exc} (is the operator running to finalize them?)") from None
    for manifest in reversed(list(objs)):
        obj = to_object(manifest, api)
        try:
            obj.delete()
        except kr8s.NotFoundError:
            continue
        echo(f"{manifest['kind'].lower()}/{manifest['metadata']['name']} deleted")
    lasting = [o for o in objs if o["kind"] in ("Namespace", "CustomResourceDefinition")]

    def all_gone() -> bool | None:
        for manifest in lasting:
            if to_object(manifest, api).exists():
                return None
        return True

    try:
        wait_for(all_gone, timeout, "namespaces and CRDs to finish terminating", clock=clock)
    except WaitTimeoutError as exc:
        raise BackendError(str(exc)) from None
    echo("uninstalled: namespaces gone" + (", CRDs kept" if keep else " and CRDs gone"))


def _dask(kind: str, name: str, namespace: str, api: Any) -> Any:
    return to_object(
        {"apiVersion": DASK_API, "kind": kind, "metadata": {"name": name, "namespace": namespace}},
        api,
    )


def _names(kind: str, namespace: str, api: Any) -> list[str]:
    import kr8s

    try:
        # kr8s.get is lazy: the request (and a missing CRD's error) happens while iterating.
        found = list(kr8s.get(f"{kind.lower()}s.kubernetes.dask.org", namespace=namespace, api=api))
    except (kr8s.NotFoundError, kr8s.ServerError, ValueError):
        return []
    return sorted(o.name for o in found)


def _delete(kind: str, name: str, namespace: str, api: Any) -> bool:
    import kr8s

    try:
        _dask(kind, name, namespace, api).delete()
    except kr8s.NotFoundError:
        return False
    return True


def _server_message(exc: Exception) -> tuple[int | None, str]:
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    try:
        message = str(response.json().get("message", "")) if response is not None else ""
    except Exception:  # noqa: BLE001 - not JSON
        message = ""
    return status, " ".join((message or f"{type(exc).__name__}: {exc}").split())


def _quotas(namespace: str, api: Any) -> list[Manifest]:
    import kr8s

    try:
        return [q.raw for q in kr8s.get("resourcequotas", namespace=namespace, api=api)]
    except (kr8s.ServerError, kr8s.NotFoundError):
        return []


@contextlib.contextmanager
def admitted(
    job: Manifest,
    namespace: str,
    api: Any = None,
    queue: bool = False,
    queue_timeout: float | None = None,
    echo: Echo = _stderr,
) -> Iterator[None]:
    """Admit a job into the namespace's ResourceQuotas; create it inside the block.

    Refused (or queued, with ``queue``) when it cannot fit. A ``--adapt`` maximum that the
    quotas could never hold is capped first, with a warning. With a quota, the decision and
    the creation happen under the namespace's gate (:mod:`daskburst.k8s._queue`), held until
    the job's first pods exist: two submitters never both take the last room.

    Raises:
        UserError: When it needs more than a quota allows at all (it can never run).
        BackendError: When it needs more than is left now (other jobs use the rest) and
            ``queue`` is off, or the queue wait times out.
    """
    quotas = _quotas(namespace, api)
    if not quotas:
        yield
        return
    queue_timeout = config.get_seconds("kubernetes.job-timeout", queue_timeout)
    name = job["metadata"]["name"]
    never, _ = quota_problems(job_needs(job), quotas, against="hard")
    if never:  # even the minimum can never run: that is the one line to say, no cap warning
        raise UserError(
            f"daskjob/{name} can never fit namespace {namespace}: needs {'; '.join(never)}; "
            "expected a smaller job (fewer minimum workers, smaller requests) or a larger quota"
        )
    warning = cap_burst(job, quotas)
    if warning:
        echo(f"warning: {warning}")
    gate, clock = Gate(namespace, name, api), SystemClock()
    try:
        if queue:
            waited = wait_for_room(job, gate, api, timeout=queue_timeout, echo=echo)
            if waited >= 1:
                echo(f"daskjob/{name} leaves the queue after {waited:.0f} s")
        else:
            take_gate(gate, float(HOLD), clock, echo)
            _, not_now = quota_problems(job_needs(job), _quotas(namespace, api))
            if not_now:
                raise BackendError(
                    f"daskjob/{name} does not fit namespace {namespace} now: needs "
                    f"{'; '.join(not_now)}; wait for running jobs to finish (`daskburst k8s "
                    "status`), submit with --queue, or raise the quota"
                )
        yield
        gate.settle(int(job_needs(job).get("pods", 0)), clock, echo)
    finally:
        gate.release()


def build_submission(
    job_path: str | Path | Sequence[Manifest],
    namespace: str,
    name: str | None = None,
    image: str | None = None,
    params: Mapping[str, str] | None = None,
    seed: int | None = None,
    time_limit: int | None = None,
    ttl: int | None = None,
    annotations: Mapping[str, str] | None = None,
) -> list[Manifest]:
    """Return the objects one submission creates, all checked (pure but for reading the file).

    Args:
        job_path: A ``jobs/*.yaml`` file with one DaskJob, or built objects (a user's
            script: ``[job, configmap]`` from :func:`daskburst.k8s._usercode.user_job`).
        namespace: Namespace to create it in.
        name: Exact name to use (default: the manifest's name plus a unique suffix).
        image: Replace every container image (e.g. your registry's copy).
        params: Workload parameters replacing the job file's (``{"n": "1e6"}``).
        seed: The master seed (default: the job file's, else daskburst's default).
        time_limit: Seconds the runner may run (its ``activeDeadlineSeconds``).
        ttl: Seconds to keep the job after it finished (``daskburst k8s gc`` deletes it).
        annotations: More annotations for the DaskJob.

    Returns:
        ``[job, *autoscalers]``.

    Raises:
        UserError: When the file holds no DaskJob or a parameter is wrong.
    """
    if isinstance(job_path, str | Path):
        path: str | Path | None = job_path
        docs = load_file(job_path)
    else:
        path, docs = None, [copy.deepcopy(d) for d in job_path]
    jobs = [d for d in docs if d["kind"] == "DaskJob"]
    if len(jobs) != 1:
        raise UserError(f"{str(job_path)!r}: expected exactly one DaskJob, found {len(jobs)}")
    job = jobs[0]
    if params or seed is not None:
        container = runner_container(job)
        inv = with_params(parse_invocation(container.get("args") or []), params or {}, seed)
        job["spec"]["job"]["spec"]["containers"][0]["args"] = inv.argv()
    if time_limit is not None:
        with_time_limit(job, time_limit)
    notes = dict(annotations or {})
    if ttl is not None:
        notes[TTL] = str(int(ttl))
    if notes:
        job["metadata"].setdefault("annotations", {}).update(notes)
    base = job["metadata"]["name"]
    if path is None:
        # A user's script: the job and its working-directory ConfigMap, renamed together.
        new = prepare_submission(job, [], name or unique_name(base), namespace, image)[0]
        others = [d for d in docs if d is not job]
        return usercode.rename([new, *others], new["metadata"]["name"])
    scalers = [d for d in docs if d["kind"] == "DaskAutoscaler"] or find_autoscalers(path, base)
    return prepare_submission(job, scalers, name or unique_name(base), namespace, image)


def create_all(manifests: Sequence[Manifest], api: Any = None) -> None:
    """Create ``manifests`` with strict validation; on a failure, delete those created.

    Raises:
        UserError: When the API server rejects a manifest (400/422, e.g. an unknown field).
        BackendError: When creating fails otherwise.
    """
    created: list[Any] = []
    for manifest in manifests:
        if created and manifest["kind"] == "ConfigMap":
            # Owned by the job just created: it goes when the job goes.
            first = manifests[0]
            manifest = usercode.own(manifest, first, created[0].raw["metadata"]["uid"])
        try:
            obj = create_strict(manifest, api)
        except (KeyboardInterrupt, SystemExit):
            # Ctrl-C or SIGTERM between two objects: leave nothing half-created.
            for done in reversed(created):
                with contextlib.suppress(Exception):
                    done.delete()
            raise
        except Exception as exc:  # noqa: BLE001 - kr8s/httpx raise many kinds
            for done in reversed(created):
                with contextlib.suppress(Exception):
                    done.delete()
            status, message = _server_message(exc)
            what = f"{manifest['kind'].lower()}/{manifest['metadata']['name']}"
            if status in (400, 422):
                raise UserError(f"{what} rejected by the API server: {message}") from None
            if status == 404:
                raise BackendError(
                    f"{what}: {message} (is the namespace there and the operator installed? "
                    "`daskburst k8s install`)"
                ) from None
            raise BackendError(f"cannot create {what}: {message}") from None
        created.append(obj)


def submit(
    job_path: str | Path | Sequence[Manifest],
    namespace: str,
    name: str | None = None,
    image: str | None = None,
    api: Any = None,
    params: Mapping[str, str] | None = None,
    seed: int | None = None,
    time_limit: int | None = None,
    ttl: int | None = None,
    queue: bool = False,
    queue_timeout: float | None = None,
    annotations: Mapping[str, str] | None = None,
    echo: Echo = _stderr,
) -> str:
    """Create a DaskJob (and any DaskAutoscaler in or next to its file) under a unique name.

    Everything is checked before anything is created: the workload parameters, the
    namespace's ResourceQuota (with ``queue``, waiting first in line for room). If one object
    cannot be created, those already created are deleted again, so a failed submission leaves
    nothing behind. See :func:`build_submission` for the arguments.

    Returns:
        The submitted job's name.

    Raises:
        UserError: When the file holds no DaskJob, a parameter is wrong, the job can never
            fit the quota, or the API server rejects the manifest.
        BackendError: When it does not fit now (without ``queue``), or creating it fails.
    """
    manifests = build_submission(
        job_path, namespace, name, image, params, seed, time_limit, ttl, annotations
    )
    # The quota first: a job that can never fit (or not now) says so whatever else is missing.
    with admitted(manifests[0], namespace, api, queue, queue_timeout, echo):
        check_service_accounts(manifests, namespace, api)
        create_all(manifests, api)
    return str(manifests[0]["metadata"]["name"])


def _service_accounts(obj: Any) -> set[str]:
    if isinstance(obj, Mapping):
        found = {str(obj["serviceAccountName"])} if obj.get("serviceAccountName") else set()
        return found.union(*(_service_accounts(v) for v in obj.values()))
    if isinstance(obj, list):
        return set().union(*(_service_accounts(v) for v in obj))
    return set()


def check_service_accounts(manifests: Sequence[Manifest], namespace: str, api: Any) -> None:
    """Refuse a job whose namespace or ServiceAccounts do not exist, before creating it.

    Without them its pods can never be created: the operator retries, and a ``--wait``
    waited for its whole timeout with nothing to show.

    Raises:
        UserError: Naming the namespace or the ServiceAccount, and how to make it.
    """
    import kr8s

    install = "expected `daskburst k8s install` (k8s/) for that namespace, or --namespace"
    try:
        kr8s.objects.Namespace.get(namespace, api=api)
    except kr8s.NotFoundError:
        raise UserError(f"namespace {namespace!r} does not exist; {install}") from None
    except kr8s.ServerError:
        pass  # not allowed to read namespaces: the ServiceAccounts still tell
    for name in sorted(set().union(*(_service_accounts(m) for m in manifests))):
        try:
            kr8s.objects.ServiceAccount.get(name, namespace=namespace, api=api)
        except kr8s.ServerError:
            continue  # not allowed to look: creating the job will say what it must
        except kr8s.NotFoundError:
            raise UserError(
                f"namespace {namespace!r} has no ServiceAccount {name!r}, which the job's pods "
                f"run as; {install}"
            ) from None


@dataclass
class Attempt:
    """One try of a submitted job."""

    name: str
    phase: str
    reason: str | None
    exit_code: int | None
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return dict(self.__dict__)


def submit_and_wait(
    job_path: str | Path | Sequence[Manifest],
    namespace: str,
    *,
    retries: int | None = None,
    retry_on_timeout: bool = False,
    backoff: float | None = None,
    timeout: float | None = None,
    api: Any = None,
    stream: TextIO | None = None,
    artifacts: Path | None = None,
    echo: Echo = _stderr,
    clock: Clock | None = None,
    **options: Any,
) -> tuple[JobOutcome, list[Attempt]]:
    """Submit a job and follow it; resubmit a failed attempt up to ``retries`` times.

    An attempt that failed (its runner exited non-zero, was evicted or deleted) is submitted
    again under a derived name (``<name>-r2``, ``-r3``...) after ``backoff`` seconds, doubling
    each time. An attempt ended by its time limit is not retried unless ``retry_on_timeout``.
    Attempt N's logs go to ``artifacts/attempt-N`` (the first directly to ``artifacts``).

    Args:
        job_path: The job file.
        namespace: Namespace.
        retries: Further attempts after a failure (default:
            ``daskburst.kubernetes.retries``).
        retry_on_timeout: Retry attempts that hit the time limit too.
        backoff: Seconds before the first retry, then doubled, at most 10 minutes (default:
            ``daskburst.kubernetes.retry-backoff``).
        timeout: Seconds each attempt may take before it is deleted (default:
            ``daskburst.kubernetes.job-timeout``).
        api: A ``kr8s.Api``.
        stream: Where runner logs go.
        artifacts: Directory for logs and results.
        echo: Progress messages.
        clock: Time source.
        **options: For :func:`submit` (name, image, params, seed, time_limit, ttl, queue...).

    Returns:
        The last attempt's outcome, and every attempt.
    """
    from daskburst.k8s._lifecycle import ATTEMPT, SUBMISSION, attempt_name, parse_retries

    retries = parse_retries(config.get("kubernetes.retries", retries), "--retries")
    backoff = config.get_seconds("kubernetes.retry-backoff", backoff)
    timeout = config.get_seconds("kubernetes.job-timeout", timeout)
    clock = clock or SystemClock()
    view = Kr8sJobView(namespace, api)
    name = submit(job_path, namespace, api=api, echo=echo, **options)
    echo(f"daskjob/{name} submitted to namespace {namespace}")
    base = name
    attempts: list[Attempt] = []
    while True:
        started = clock.monotonic()
        number = len(attempts) + 1
        where = None
        if artifacts is not None:
            where = artifacts if number == 1 else artifacts / f"attempt-{number}"
        outcome = wait_job(view, name, timeout, clock=clock, stream=stream, artifacts=where)
        attempts.append(
            Attempt(name, outcome.phase, outcome.reason, outcome.exit_code,
                    round(clock.monotonic() - started, 1))
        )  # fmt: skip
        if outcome.ok or len(attempts) > retries:
            return outcome, attempts
        if outcome.timed_out and not retry_on_timeout:
            return outcome, attempts
        wait = min(backoff * 2 ** (len(attempts) - 1), 600.0)
        echo(
            f"daskjob/{name} {outcome.phase} ({outcome.reason or 'failed'}"
            + (f", exit {outcome.exit_code}" if outcome.exit_code is not None else "")
            + f"); attempt {len(attempts) + 1} of {retries + 1} in {wait:g} s"
        )
        clock.sleep(wait)
        name = attempt_name(base, len(attempts) + 1)
        notes = {**dict(options.get("annotations") or {}), ATTEMPT: str(len(attempts) + 1),
                 SUBMISSION: base}  # fmt: skip
        submit(job_path, namespace, api=api, echo=echo,
               **{**options, "name": name, "annotations": notes})  # fmt: skip
        echo(f"daskjob/{name} submitted (attempt {len(attempts) + 1})")


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
    interval: float = 2.0,
    stream: TextIO | None = None,
    artifacts: Path | None = None,
    api_grace: float = API_GRACE,
    echo: Echo = _stderr,
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
        interval: Seconds between polls.
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

        obj = _dask("DaskJob", name, self.namespace, self.api)
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
        _delete("DaskJob", name, self.namespace, self.api)


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
    obj = _dask("DaskJob", name, namespace, api)
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
        _delete("DaskJob", job.name, namespace, api)
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
            _delete("DaskCluster", name, namespace, api)
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

    targets = list(names) or _names("DaskJob", namespace, api)
    deleted = [n for n in targets if _delete("DaskJob", n, namespace, api)]
    for n in targets:
        _delete("DaskAutoscaler", n, namespace, api)
        for cm_name in (result_name(n), usercode.configmap_name(n)):
            cm = to_object(
                {"apiVersion": "v1", "kind": "ConfigMap",
                 "metadata": {"name": cm_name, "namespace": namespace}},
                api,
            )  # fmt: skip
            with contextlib.suppress(kr8s.NotFoundError):
                cm.delete()
    return deleted
