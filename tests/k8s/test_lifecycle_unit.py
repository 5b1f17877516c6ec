"""The job lifecycle's pure parts: durations, TTL selection, attempt names, burst caps, queue order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from daskburst.durations import parse_duration
from daskburst.errors import BackendError, UserError
from daskburst.k8s import load_file
from daskburst.k8s._lifecycle import (
    TTL,
    attempt_name,
    expired,
    fmt_duration,
    parse_retries,
    time_limit_of,
    with_time_limit,
)
from daskburst.k8s._queue import HEARTBEAT, gate_holder, marker, order
from daskburst.k8s._submission import (
    adapt_range,
    cap_burst,
    job_needs,
    quota_problems,
    uncounted,
)
from tests.k8s import FakeClock
from tests.k8s import manifests as m

pytestmark = pytest.mark.k8s


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1800", 1800), ("30:00", 1800), ("90:00", 5400), ("1:30:00", 5400), ("2-00:00:00", 172800),
     ("1-2", 93600), ("1-2:30", 95400), ("30m", 1800), ("2h", 7200), ("90s", 90), ("1d", 86400)],
)  # fmt: skip
def test_durations_in_every_accepted_form(text: str, seconds: int) -> None:
    assert parse_duration(text, "--time-limit") == seconds


@pytest.mark.parametrize("bad", ["-1", "0", "abc", "1e99", "1:60", "2-24", "30x", "", "inf"])
def test_bad_durations_are_one_line_naming_the_value(bad: str) -> None:
    with pytest.raises(UserError) as info:
        parse_duration(bad, "--time-limit")
    assert str(info.value).startswith(f"--time-limit {bad!r}: expected a duration")
    assert "\n" not in str(info.value)


def test_retries_and_formatting() -> None:
    assert parse_retries("3") == 3
    for bad in ("x", "-1", "101", "1.5"):
        with pytest.raises(UserError, match="expected a whole number of retries"):
            parse_retries(bad)
    assert fmt_duration(15) == "15 s" and fmt_duration(5400) == "1:30:00"
    assert fmt_duration(90000) == "1-01:00:00"


def test_attempt_names_fit_the_operator_limit() -> None:
    assert attempt_name("calc-mean-t4k2l1-9f3a0c21", 1) == "calc-mean-t4k2l1-9f3a0c21"
    assert attempt_name("calc-mean-t4k2l1-9f3a0c21", 2) == "calc-mean-t4k2l1-9f3a0c21-r2"
    assert len(attempt_name("a" * 52, 10)) <= 52


def test_time_limit_goes_to_the_runner_pod() -> None:
    (job,) = load_file(m.ROOT / "jobs/calc-mean.yaml")
    assert time_limit_of(job) == 3600
    with_time_limit(job, 90)
    assert job["spec"]["job"]["spec"]["activeDeadlineSeconds"] == 90
    assert job["metadata"]["annotations"]["daskburst.io/time-limit"] == "0:01:30"


def _job(name: str, phase: str, ended: datetime | None, ttl: str | None) -> dict[str, object]:
    status = {"jobStatus": phase}
    if ended:
        status["endTime"] = ended.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"metadata": {"name": name, "annotations": {TTL: ttl} if ttl else {}}, "status": status}


def test_expired_jobs_are_finished_ones_past_their_ttl_oldest_first() -> None:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    jobs = [
        _job("running", "Running", None, "1"),
        _job("fresh", "Successful", now - timedelta(seconds=30), "3600"),
        _job("old", "Successful", now - timedelta(hours=2), "3600"),
        _job("older-failed", "Failed", now - timedelta(hours=3), "60"),
        _job("no-ttl", "Successful", now - timedelta(days=9), None),
        _job("bad-ttl", "Successful", now - timedelta(days=9), "soon"),
    ]
    assert [e.name for e in expired(jobs, now, None)] == ["older-failed", "old"]
    assert [e.name for e in expired(jobs, now, 86400)] == ["no-ttl", "older-failed", "old"]
    (line,) = [e.describe(now) for e in expired(jobs, now, None) if e.name == "old"]
    assert line == "daskjob/old Successful 2:00:00 ago (ttl 1:00:00)"


def _quota(hard: dict[str, str], used: dict[str, str] | None = None) -> dict[str, object]:
    """A ResourceQuota as read once the quota controller has counted its namespace."""
    used = {r: "0" for r in hard} | (used or {})
    return {"metadata": {"name": "q"}, "spec": {"hard": hard},
            "status": {"hard": hard, "used": used}}  # fmt: skip


def test_quota_checks_and_burst_cap() -> None:
    (job,) = load_file(m.ROOT / "jobs/calc-mean.yaml")
    assert adapt_range(job) == (1, 3)
    needs = job_needs(job)  # runner 100m + scheduler 100m + 1 worker 250m
    assert str(needs["requests.cpu"]) == "0.450"
    never, now = quota_problems(needs, [_quota({"requests.cpu": "400m"})])
    assert never and not now
    never, now = quota_problems(needs, [_quota({"requests.cpu": "1"}, {"requests.cpu": "700m"})])
    assert not never and now == ["requests.cpu 0.45 > 0.3 left of 1 (ResourceQuota q)"]
    warning = cap_burst(job, [_quota({"requests.cpu": "800m"})])
    assert warning and "--adapt 1:3 capped to 1:2" in warning
    assert adapt_range(job) == (1, 2)
    assert cap_burst(job, [_quota({"requests.cpu": "8"})]) is None


def test_a_quota_not_counted_yet_never_reads_as_room() -> None:
    """Read a moment after its creation, a quota has no usage yet (or an older spec's): the
    API server admits pods without counting them then, so nothing is known to be left."""
    (job,) = load_file(m.ROOT / "jobs/calc-mean.yaml")
    needs = job_needs(job)
    hard = {"requests.cpu": "1", "pods": "10"}
    fresh = {"metadata": {"name": "q"}, "spec": {"hard": hard}}
    half = {**fresh, "status": {"hard": hard}}  # limits copied, usage not yet
    stale = {**fresh, "status": {"hard": {**hard, "requests.cpu": "2"},
                                 "used": {"requests.cpu": "0", "pods": "0"}}}  # fmt: skip
    for quota in (fresh, half, stale):
        assert uncounted(quota)
        never, now = quota_problems(needs, [quota])
        assert not never and now == ["ResourceQuota q's usage, which is not counted yet"]
        assert quota_problems(needs, [quota], against="hard") == ([], [])
    # What can never fit is known from the spec alone.
    small = {"metadata": {"name": "q"}, "spec": {"hard": {"requests.cpu": "400m"}}}
    assert quota_problems(needs, [small], against="hard")[0]
    assert not uncounted(_quota(hard)) and quota_problems(needs, [_quota(hard)]) == ([], [])


def test_admission_waits_for_the_quota_to_be_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    from daskburst.k8s import _submit

    hard = {"requests.cpu": "1"}
    fresh = {"metadata": {"name": "small"}, "spec": {"hard": hard}}
    reads = [[fresh], [fresh], [_quota(hard, {"requests.cpu": "800m"})]]
    monkeypatch.setattr(
        _submit, "_quotas", lambda ns, api: reads.pop(0) if len(reads) > 1 else reads[0]
    )
    clock = FakeClock()
    (quota,) = _submit._counted_quotas("ns", None, clock)
    assert quota["status"]["used"] == {"requests.cpu": "800m"} and len(clock.sleeps) == 2

    monkeypatch.setattr(_submit, "_quotas", lambda ns, api: [fresh])
    with pytest.raises(BackendError, match=r"^the usage of ResourceQuota small in namespace ns "
                       r"is still not counted after 30 s; expected the quota controller"):  # fmt: skip
        _submit._counted_quotas("ns", None, FakeClock())


def test_queue_is_first_come_first_served_by_server_time_without_stale_entries() -> None:
    now = datetime(2026, 11, 1, 12, 0, 0, tzinfo=UTC)
    a, b, c, d = (marker(j, "ns", now) for j in "abcd")
    for mk, created in ((a, "10:00:00"), (b, "09:00:00"), (c, "08:00:00"), (d, "09:00:00")):
        mk["metadata"]["creationTimestamp"] = f"2026-11-01T{created}Z"
    # c is oldest but its submitter stopped refreshing its heartbeat (60 s by server time).
    c["metadata"]["annotations"][HEARTBEAT] = "2026-11-01T11:58:59.000000Z"
    # b and d were created in the same second: by name, the same for every submitter.
    assert order([a, b, c, d], now) == ["b", "d", "a"]


def test_the_gate_is_held_until_its_lease_runs_out_by_server_time() -> None:
    now = datetime(2026, 11, 1, 12, 0, 0, tzinfo=UTC)
    lease = {"spec": {"holderIdentity": "job-a", "leaseDurationSeconds": 180,
                      "renewTime": "2026-11-01T11:57:30.000000Z"}}  # fmt: skip
    assert gate_holder(lease, now) == "job-a"
    assert gate_holder(lease, now + timedelta(seconds=31)) is None  # a killed holder
    assert gate_holder({"spec": {"holderIdentity": None}}, now) is None  # released
    assert gate_holder(None, now) is None
