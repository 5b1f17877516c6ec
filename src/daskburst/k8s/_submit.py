"""Submit a DaskJob: build it, admit it under the quota and the queue, create it, follow it."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from daskburst import config
from daskburst.errors import BackendError, UserError
from daskburst.k8s import _usercode as usercode
from daskburst.k8s._apply import create_strict
from daskburst.k8s._follow import JobOutcome, Kr8sJobView, wait_job
from daskburst.k8s._lifecycle import TTL, with_time_limit
from daskburst.k8s._manifests import (
    Manifest,
    find_autoscalers,
    load_file,
    prepare_submission,
)
from daskburst.k8s._naming import unique_name
from daskburst.k8s._objects import Echo, server_message, to_stderr
from daskburst.k8s._queue import HOLD, Gate, take_gate, wait_for_room
from daskburst.k8s._settings import job_timeout, retry_backoff
from daskburst.k8s._submission import (
    cap_burst,
    job_needs,
    parse_invocation,
    quota_problems,
    runner_container,
    uncounted,
    with_params,
)
from daskburst.k8s._wait import Clock, SystemClock, WaitTimeoutError, wait_for

#: Seconds to wait for the quota controller to count a new ResourceQuota's usage.
COUNT_TIMEOUT = 30


def _quotas(namespace: str, api: Any) -> list[Manifest]:
    import kr8s

    try:
        return [q.raw for q in kr8s.get("resourcequotas", namespace=namespace, api=api)]
    except (kr8s.ServerError, kr8s.NotFoundError):
        return []


def _counted_quotas(namespace: str, api: Any, clock: Clock) -> list[Manifest]:
    """The namespace's ResourceQuotas, once the quota controller has counted their usage.

    A quota created a moment ago has no ``status.used`` yet: read as nothing used, a job
    would be admitted that does not fit.

    Raises:
        BackendError: When a quota is still not counted after :data:`COUNT_TIMEOUT` seconds.
    """
    waiting: list[str] = []

    def counted() -> list[Manifest] | None:
        quotas = _quotas(namespace, api)
        waiting[:] = [q["metadata"]["name"] for q in quotas if uncounted(q)]
        return None if waiting else quotas

    try:
        return wait_for(counted, COUNT_TIMEOUT, "quota usage", clock=clock)
    except WaitTimeoutError:
        names = ", ".join(waiting)
        raise BackendError(
            f"the usage of ResourceQuota {names} in namespace {namespace} is still not counted "
            f"after {COUNT_TIMEOUT} s; expected the quota controller (kube-controller-manager) "
            "to count it, check that it runs"
        ) from None


@contextlib.contextmanager
def admitted(
    job: Manifest,
    namespace: str,
    api: Any = None,
    queue: bool = False,
    queue_timeout: float | None = None,
    echo: Echo = to_stderr,
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
    queue_timeout = job_timeout(queue_timeout)
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
            _, not_now = quota_problems(job_needs(job), _counted_quotas(namespace, api, clock))
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
            status, message = server_message(exc)
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
    echo: Echo = to_stderr,
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
    echo: Echo = to_stderr,
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
    backoff = retry_backoff(backoff)
    timeout = job_timeout(timeout)
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
