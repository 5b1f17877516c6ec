"""What a DaskJob runs and needs (pure): its runner's parameters, and its resource requests.

``daskburst k8s submit`` rewrites a job's workload parameters and seed (validated like
``daskburst run``'s flags) and checks the namespace's ResourceQuota before creating anything.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from daskburst.errors import UserError
from daskburst.k8s._manifests import Manifest

#: Flags of `daskburst run` that take no value.
_SWITCHES = frozenset({"--no-progress", "--progress", "--debug"})


@dataclass(frozen=True)
class Invocation:
    """A runner command ``daskburst run WORKLOAD [--flag value | --switch]...``, split up."""

    prefix: tuple[str, ...]
    workload: str
    flags: tuple[tuple[str, str | None], ...]

    def get(self, flag: str) -> str | None:
        """Return the value of ``flag`` (None when absent or a switch)."""
        return next((v for f, v in self.flags if f == flag), None)

    def what_argv(self) -> list[str]:
        """Return ``WORKLOAD --param value ... [--seed S]``: what is computed, not where.

        ``daskburst run`` with these arguments and any backend gives the same digest.
        """
        from daskburst.workloads import WORKLOADS

        workload = WORKLOADS.get(self.workload)
        keep = {p.flag for p in workload.params} if workload else set()
        out = [self.workload]
        for flag, value in self.flags:
            if value is not None and (flag in keep or flag == "--seed"):
                out += [flag, value]
        return out

    def argv(self) -> list[str]:
        """Return the command line again."""
        out = [*self.prefix, self.workload]
        for flag, value in self.flags:
            out += [flag] if value is None else [flag, value]
        return out


def runner_container(job: Manifest) -> dict[str, Any]:
    """Return the runner container of a DaskJob.

    Raises:
        UserError: When the manifest has no runner container.
    """
    try:
        return dict(job["spec"]["job"]["spec"]["containers"][0])
    except (KeyError, IndexError, TypeError):
        raise UserError(
            f"DaskJob {job.get('metadata', {}).get('name')!r}: no runner container at "
            "spec.job.spec.containers[0]"
        ) from None


def settings_env(container: Mapping[str, Any]) -> dict[str, str]:
    """Return the ``DASK_DASKBURST__*`` settings a runner container sets by value.

    With the runner's arguments they define what it computes: ``daskburst run`` here with the
    same arguments and these variables gives the same digest.
    """
    return {
        e["name"]: str(e["value"])
        for e in container.get("env") or []
        if str(e.get("name", "")).startswith("DASK_DASKBURST__") and "value" in e
    }


def parse_invocation(args: Sequence[str]) -> Invocation:
    """Split a runner command (``args`` of the runner container).

    Raises:
        UserError: When it is not ``daskburst run WORKLOAD ...``.
    """
    args = list(args)
    try:
        at = args.index("run")
    except ValueError:
        at = -1
    if at < 0 or at + 1 >= len(args) or not any("daskburst" in a for a in args[:at]):
        raise UserError(
            f"runner command {' '.join(args)!r}: expected `daskburst run WORKLOAD ...` "
            "(only daskburst jobs can take --param and --seed)"
        )
    flags: list[tuple[str, str | None]] = []
    rest = args[at + 2 :]
    i = 0
    while i < len(rest):
        flag = rest[i]
        if flag in _SWITCHES or i + 1 >= len(rest) or rest[i + 1].startswith("--"):
            flags.append((flag, None))
            i += 1
        else:
            flags.append((flag, rest[i + 1]))
            i += 2
    return Invocation(tuple(args[: at + 1]), args[at + 1], tuple(flags))


def workload_params(inv: Invocation) -> dict[str, str]:
    """Return the workload parameters of an invocation as ``{name: value}``."""
    from daskburst.workloads import WORKLOADS

    workload = WORKLOADS.get(inv.workload)
    if workload is None:
        raise UserError(f"runner workload {inv.workload!r}: expected one of {', '.join(WORKLOADS)}")
    names = {p.flag: p.name for p in workload.params}
    return {names[f]: v for f, v in inv.flags if f in names and v is not None}


def with_params(inv: Invocation, params: Mapping[str, str], seed: int | None = None) -> Invocation:
    """Return ``inv`` with workload parameters and the seed replaced, validated like ``run``.

    Args:
        inv: The job's runner command.
        params: ``{name: value}`` (names as in ``daskburst workloads``; ``-`` or ``_``).
        seed: The master seed, or None to keep the job's.

    Returns:
        The new invocation (new flags go before the runner's own, e.g. ``--backend``).

    Raises:
        UserError: For a parameter the workload does not have, or a bad value.
    """
    from daskburst.workloads import WORKLOADS

    workload = WORKLOADS.get(inv.workload)
    if workload is None:
        raise UserError(f"runner workload {inv.workload!r}: expected one of {', '.join(WORKLOADS)}")
    by_name = {p.name: p for p in workload.params}
    wanted: dict[str, str] = {}
    for key, value in params.items():
        name = key.replace("-", "_")
        if name not in by_name:
            raise UserError(
                f"--param {key}={value}: {inv.workload} has no parameter {key!r}; expected one "
                f"of {', '.join(sorted(p.replace('_', '-') for p in by_name))}"
            )
        by_name[name].parse(f"--param {key}", value)  # raises UserError on a bad value
        wanted[by_name[name].flag] = str(value)
    if seed is not None:
        wanted["--seed"] = str(seed)
    flags = [(f, wanted.pop(f, v)) for f, v in inv.flags]
    new = list(wanted.items())
    first_runner_flag = next(
        (i for i, (f, _) in enumerate(flags) if f not in {p.flag for p in workload.params}),
        len(flags),
    )
    flags[first_runner_flag:first_runner_flag] = new
    return Invocation(inv.prefix, inv.workload, tuple(flags))


def parse_params(items: Iterable[str]) -> dict[str, str]:
    """Parse ``NAME=VALUE`` strings (``--param``).

    Raises:
        UserError: For an item without ``=``.
    """
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise UserError(f"--param {item!r}: expected NAME=VALUE, e.g. --param n=1e6")
        out[name.strip()] = value.strip()
    return out


# ---- what a job asks of the namespace's ResourceQuota -------------------------------------


def _quantity(value: Any) -> Decimal:
    from kubernetes.utils.quantity import parse_quantity

    return Decimal(parse_quantity(str(value)))  # type: ignore[no-untyped-call]


def _pod_totals(pod_spec: Mapping[str, Any], copies: int = 1) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = {"pods": Decimal(copies)}
    for container in pod_spec.get("containers") or []:
        res = container.get("resources") or {}
        for kind in ("requests", "limits"):
            for resource, value in (res.get(kind) or {}).items():
                key = f"{kind}.{resource}"
                totals[key] = totals.get(key, Decimal(0)) + _quantity(value) * copies
    return totals


def _add(into: dict[str, Decimal], more: Mapping[str, Decimal]) -> None:
    for key, value in more.items():
        into[key] = into.get(key, Decimal(0)) + value


def job_needs(job: Manifest, workers: int | None = None) -> dict[str, Decimal]:
    """Return what a DaskJob needs at once from a ResourceQuota.

    That is its runner, its scheduler and its workers: ``workers`` of them, by default its
    minimum (the autoscaler's minimum from ``--adapt``, else the worker replicas).

    Returns:
        ``{"pods": n, "requests.cpu": cores, "limits.memory": bytes, ...}``.
    """
    spec = job["spec"]
    cluster = spec["cluster"]["spec"]
    if workers is None:
        workers = adapt_range(job)[0]
    needs: dict[str, Decimal] = {}
    _add(needs, _pod_totals(spec["job"]["spec"]))
    _add(needs, _pod_totals(cluster["scheduler"]["spec"]))
    _add(needs, _pod_totals(cluster["worker"]["spec"], workers))
    # requests.cpu and cpu name the same thing in a quota.
    for resource in ("cpu", "memory"):
        if f"requests.{resource}" in needs:
            needs[resource] = needs[f"requests.{resource}"]
    return needs


def adapt_range(job: Manifest) -> tuple[int, int]:
    """Return a DaskJob's (minimum, maximum) workers: its runner's ``--adapt``, else replicas."""
    replicas = int(job["spec"]["cluster"]["spec"].get("worker", {}).get("replicas", 1))
    try:
        inv = parse_invocation(runner_container(job).get("args") or [])
    except UserError:
        return replicas, replicas
    adapt = inv.get("--adapt")
    if adapt and ":" in adapt:
        lo, hi = adapt.split(":", 1)
        return int(lo), int(hi)
    return replicas, replicas


def cap_burst(job: Manifest, quotas: Iterable[Manifest]) -> str | None:
    """Lower a job's ``--adapt`` maximum to what the namespace's quotas can ever hold.

    Workers beyond that would stay Pending forever, so the job is rewritten (in place).

    Returns:
        A warning line when the maximum was capped, else None.
    """
    lo, hi = adapt_range(job)
    quotas = list(quotas)
    if hi <= lo or not quotas:
        return None
    fits = lo
    for n in range(lo + 1, hi + 1):
        if quota_problems(job_needs(job, n), quotas, against="hard")[0]:
            break
        fits = n
    if fits >= hi:
        return None
    container = job["spec"]["job"]["spec"]["containers"][0]
    inv = parse_invocation(container["args"])
    flags = tuple((f, f"{lo}:{fits}" if f == "--adapt" else v) for f, v in inv.flags)
    container["args"] = Invocation(inv.prefix, inv.workload, flags).argv()
    names = ", ".join(q["metadata"]["name"] for q in quotas)
    return (
        f"--adapt {lo}:{hi} capped to {lo}:{fits}: the namespace's ResourceQuota ({names}) "
        f"can hold at most {fits} workers of this job"
    )


def uncounted(quota: Manifest) -> bool:
    """Whether the quota controller has not yet counted what a ResourceQuota's namespace uses.

    Until it has (``status.hard`` matches ``spec.hard`` and ``status.used`` names each
    resource), the API server admits pods without counting them against it, and an empty
    ``used`` would read as "all of it is left".
    """
    status = quota.get("status") or {}
    hard = (quota.get("spec") or {}).get("hard") or {}
    counted = status.get("hard") or {}
    used = status.get("used") or {}
    return any(
        r not in counted or _quantity(counted[r]) != _quantity(v) or r not in used
        for r, v in hard.items()
    )


def quota_problems(
    needs: Mapping[str, Decimal], quotas: Iterable[Manifest], against: str = "both"
) -> tuple[list[str], list[str]]:
    """Compare a job's needs with ResourceQuotas.

    Args:
        needs: From :func:`job_needs`.
        quotas: ResourceQuota objects as read from the API (``status.hard`` and ``used``).
        against: ``both``, or ``hard`` to ignore what others use now.

    Returns:
        ``(never, not_now)``: lines for needs above a quota's hard limit, and for needs
        above what is left of it now (also when its usage is not counted yet).
    """
    never, not_now = [], []
    for quota in quotas:
        status = quota.get("status") or {}
        hard = (quota.get("spec") or {}).get("hard") or status.get("hard") or {}
        used = status.get("used") or {}
        name = quota["metadata"]["name"]
        if against == "both" and uncounted(quota):
            not_now.append(f"ResourceQuota {name}'s usage, which is not counted yet")
            used = {}
        for resource, limit in hard.items():
            if resource not in needs:
                continue
            need, cap = needs[resource], _quantity(limit)
            left = cap - _quantity(used.get(resource, 0))
            if need > cap:
                never.append(f"{resource} {_fmt(need)} > {_fmt(cap)} (ResourceQuota {name})")
            elif need > left and against == "both":
                not_now.append(
                    f"{resource} {_fmt(need)} > {_fmt(left)} left of {_fmt(cap)} "
                    f"(ResourceQuota {name})"
                )
    return never, not_now


def _fmt(value: Decimal) -> str:
    if value >= 2**20 and value % 2**20 == 0:
        return f"{value / 2**30:g}Gi" if value % 2**30 == 0 else f"{value / 2**20:g}Mi"
    return f"{value.normalize():f}"
