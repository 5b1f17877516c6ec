"""Unit tests of the pure parts of daskburst.k8s: naming, rendering, submission, waiting."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import httpx
import kr8s
import pytest
import yaml

from daskburst.errors import BackendError, UserError
from daskburst.k8s import (
    CLUSTER_NAME_MAX,
    JobOutcome,
    WaitTimeoutError,
    find_autoscalers,
    job_phase,
    load_file,
    parse_result,
    prepare_submission,
    sort_for_apply,
    specs,
    unique_name,
    unique_suffix,
    validate_name,
    wait_for,
    wait_job,
)
from daskburst.k8s._follow import runner_state
from tests.k8s import FakeClock
from tests.k8s import manifests as m

pytestmark = pytest.mark.k8s


# ---- naming -----------------------------------------------------------------------------------


def test_unique_suffix_is_time_sortable_and_random() -> None:
    assert unique_suffix(now=0, token="beef") == "0-beef"
    assert unique_suffix(now=36, token="0001") == "10-0001"
    a, b = unique_suffix(now=1_800_000_000), unique_suffix(now=1_800_000_000)
    assert a.split("-")[0] == b.split("-")[0]
    assert len(a.split("-")[1]) == 8


def test_unique_name_fits_the_operator_limit() -> None:
    assert unique_name("calc-mean", suffix="abc-1234") == "calc-mean-abc-1234"
    long = "a" * 60
    name = unique_name(long, suffix="t4k2l1-9f3a")
    assert len(name) <= CLUSTER_NAME_MAX
    assert name.endswith("-t4k2l1-9f3a")
    # Truncation never leaves a '-' before the separator.
    name = unique_name("ab-" + "c" * 50, suffix="s" * 47)
    assert "--" not in name and len(name) <= CLUSTER_NAME_MAX


def test_unique_names_differ_between_submissions() -> None:
    names = {unique_name("calc-mean") for _ in range(50)}
    assert len(names) == 50


@pytest.mark.parametrize("bad", ["Calc", "-x", "x-", "a_b", "", "a" * 64])
def test_validate_name_rejects_non_dns_labels(bad: str) -> None:
    with pytest.raises(UserError, match="expected at most"):
        validate_name(bad)


def test_unique_name_rejects_bad_base() -> None:
    with pytest.raises(UserError):
        unique_name("Not_Valid")


# ---- manifests --------------------------------------------------------------------------------


def _job() -> dict[str, Any]:
    return specs.daskjob("calc-mean", ["daskburst", "run", "calc-mean"], namespace="daskburst")


def test_prepare_submission_renames_everything_that_names_the_cluster() -> None:
    job = _job()
    scaler = specs.daskautoscaler("calc-mean", 1, 3, namespace="daskburst")
    new_job, new_scaler = prepare_submission(job, [scaler], "calc-mean-x1", "team-a", "r/i:1")
    assert new_job["metadata"]["name"] == "calc-mean-x1"
    assert new_job["metadata"]["namespace"] == "team-a"
    cluster = new_job["spec"]["cluster"]["spec"]
    assert cluster["scheduler"]["service"]["selector"]["dask.org/cluster-name"] == "calc-mean-x1"
    text = json.dumps(new_job)
    assert '"app.kubernetes.io/instance": "calc-mean"' not in text
    assert {c["image"] for c in m.containers(new_job)} == {"r/i:1"}
    assert new_scaler["spec"]["cluster"] == "calc-mean-x1"
    assert new_scaler["metadata"]["name"] == "calc-mean-x1"
    # The inputs are untouched.
    assert job["metadata"]["name"] == "calc-mean" and scaler["spec"]["cluster"] == "calc-mean"
    m.validate(new_job)
    m.validate(new_scaler)


def test_prepare_submission_rejects_non_jobs_and_long_names() -> None:
    with pytest.raises(UserError, match="expected a DaskJob"):
        prepare_submission(specs.daskcluster("x"), [], "x-1", "ns")
    with pytest.raises(UserError):
        prepare_submission(_job(), [], "a" * (CLUSTER_NAME_MAX + 1), "ns")


def test_find_autoscalers_reads_sibling_files(tmp_path: Path) -> None:
    (tmp_path / "job.yaml").write_text(yaml.safe_dump(_job()))
    (tmp_path / "job-autoscaler.yaml").write_text(
        yaml.safe_dump(specs.daskautoscaler("calc-mean", 1, 3))
    )
    (tmp_path / "other.yaml").write_text(yaml.safe_dump(specs.daskautoscaler("other", 1, 3)))
    scalers = find_autoscalers(tmp_path / "job.yaml", "calc-mean")
    assert [s["spec"]["cluster"] for s in scalers] == ["calc-mean"]
    assert find_autoscalers(tmp_path / "job.yaml", "nope") == []


def test_load_file_errors_are_one_line_user_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no such file"):
        load_file(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1\n")
    with pytest.raises(UserError, match="not valid YAML"):
        load_file(bad)
    notk8s = tmp_path / "x.yaml"
    notk8s.write_text("just: data\n")
    with pytest.raises(UserError, match="apiVersion and kind"):
        load_file(notk8s)
    kust = tmp_path / "kustomization.yaml"
    kust.write_text("resources: []\n")
    with pytest.raises(UserError, match="kustomization"):
        load_file(kust)


def test_sort_for_apply_puts_dependencies_first() -> None:
    objs = [{"kind": k} for k in ("DaskJob", "Deployment", "RoleBinding", "Namespace")]
    objs.append({"kind": "CustomResourceDefinition"})
    kinds = [o["kind"] for o in sort_for_apply(objs)]
    assert kinds == [
        "Namespace",
        "CustomResourceDefinition",
        "RoleBinding",
        "Deployment",
        "DaskJob",
    ]


def test_parse_result_finds_the_record_among_log_lines() -> None:
    record = {"workload": "bag", "result": {"digest": "abc", "matches": 3}}
    log = (
        "dashboard: http://x:8787/status\n"
        "some warning {not json}\n" + json.dumps(record, indent=2) + "\n2026-11-27 INFO done\n"
    )
    assert parse_result(log) == record
    assert parse_result("no json here\n") is None
    assert parse_result('{"a": 1}\n') is None


def test_job_phase_defaults_to_pending() -> None:
    assert job_phase({}) == "Pending"
    assert job_phase({"status": {"jobStatus": "Running"}}) == "Running"


# ---- waiting ----------------------------------------------------------------------------------


def test_wait_for_returns_first_value_and_sleeps_on_the_clock() -> None:
    clock = FakeClock()
    values = iter([None, None, 7])
    assert wait_for(lambda: next(values), timeout=60, what="x", interval=5, clock=clock) == 7
    assert clock.sleeps == [5, 5]


def test_wait_for_times_out_without_oversleeping() -> None:
    clock = FakeClock()
    with pytest.raises(WaitTimeoutError, match="timed out after 12 s waiting for the thing"):
        wait_for(lambda: None, timeout=12, what="the thing", interval=5, clock=clock)
    assert clock.sleeps == [5, 5, 2]


def test_wait_for_checks_once_even_with_zero_timeout() -> None:
    assert wait_for(lambda: "ok", timeout=0, what="x", clock=FakeClock()) == "ok"


class FakeJobs:
    """A scripted DaskJob: one entry per poll."""

    def __init__(
        self,
        phases: list[str],
        workers: list[int],
        log_lines: list[str],
        runners: list[dict[str, object] | None] | None = None,
    ) -> None:
        self.phases, self.worker_counts, self.log_lines = phases, workers, log_lines
        self.runners = runners or [{"phase": "Running", "reason": None}]
        self.polls = 0
        self.deleted: list[str] = []

    def runner(self, name: str) -> dict[str, object] | None:
        return self.runners[min(self.polls, len(self.runners)) - 1]

    def phase(self, name: str) -> str:
        self.polls += 1
        return self.phases[min(self.polls, len(self.phases)) - 1]

    def workers(self, name: str) -> int:
        return self.worker_counts[min(self.polls, len(self.worker_counts)) - 1]

    def runner_log(self, name: str) -> str:
        return "".join(self.log_lines[: self.polls])

    def scheduler_log(self, name: str) -> str:
        return "" if self.phases[self.polls - 1] in ("Successful", "Failed") else "sched\n"

    def delete(self, name: str) -> None:
        self.deleted.append(name)


def test_wait_job_streams_logs_tracks_peak_and_saves_artifacts(tmp_path: Path) -> None:
    record = {"workload": "calc-mean", "result": {"digest": "d1"}}
    lines = ["starting\n", json.dumps(record) + "\n", "", ""]
    jobs = FakeJobs(["Pending", "Running", "Running", "Successful"], [0, 1, 3, 0], lines)
    out = io.StringIO()
    clock = FakeClock()
    outcome = wait_job(
        jobs, "calc-mean-1", timeout=100, clock=clock, stream=out, artifacts=tmp_path / "a"
    )
    assert isinstance(outcome, JobOutcome) and outcome.ok
    assert outcome.peak_workers == 3
    assert outcome.events == ["Pending", "Running", "Successful"]
    assert outcome.result == record
    assert out.getvalue() == "starting\n" + json.dumps(record) + "\n"
    assert (tmp_path / "a" / "scheduler.log").read_text() == "sched\n"
    assert json.loads((tmp_path / "a" / "result.json").read_text()) == record
    assert "starting" in (tmp_path / "a" / "runner.log").read_text()
    assert jobs.deleted == []


def test_wait_job_reports_failure_without_raising() -> None:
    jobs = FakeJobs(["Running", "Failed"], [1, 1], ["Traceback ...\n", ""])
    outcome = wait_job(jobs, "j", timeout=100, clock=FakeClock())
    assert not outcome.ok and outcome.phase == "Failed" and outcome.result is None


def test_wait_job_says_why_the_runner_ended() -> None:
    timed_out = {"phase": "Failed", "reason": "DeadlineExceeded", "exit_code": 137}
    jobs = FakeJobs(["Running", "Failed"], [1, 0], ["", ""], [{"phase": "Running"}, timed_out])
    outcome = wait_job(jobs, "j", timeout=100, clock=FakeClock())
    assert outcome.phase == "Failed" and outcome.timed_out and outcome.exit_code == 137


def test_wait_job_fails_a_job_whose_runner_pod_disappeared() -> None:
    # The operator never notices a deleted runner: the job would run forever.
    jobs = FakeJobs(["Running"], [1], [""], [{"phase": "Running"}, *[None] * 10])
    outcome = wait_job(jobs, "j", timeout=100, clock=FakeClock())
    assert outcome.phase == "Failed" and outcome.reason == "Deleted"
    assert jobs.deleted == ["j"]


def test_runner_state_reads_pod_and_container_reasons() -> None:
    pod = {
        "metadata": {},
        "status": {"phase": "Failed", "reason": "DeadlineExceeded",
                   "containerStatuses": [{"state": {"terminated": {"exitCode": 143, "reason": "Error"}}}]},
    }  # fmt: skip
    assert runner_state(pod) == {"phase": "Failed", "reason": "DeadlineExceeded", "exit_code": 143}
    pod["status"]["reason"] = None  # type: ignore[index]
    assert runner_state(pod)["reason"] == "Error"
    assert (
        runner_state({"metadata": {"deletionTimestamp": "x"}, "status": {"phase": "Running"}})[
            "reason"
        ]
        == "Deleted"
    )


def test_wait_job_deletes_the_job_on_timeout() -> None:
    jobs = FakeJobs(["Running"], [1], [""])
    clock = FakeClock()
    with pytest.raises(BackendError, match="timed out after 10 s .*deleted the job"):
        wait_job(jobs, "slow-1", timeout=10, clock=clock, interval=2)
    assert jobs.deleted == ["slow-1"]
    assert sum(clock.sleeps) == pytest.approx(10)


# ---- specs ------------------------------------------------------------------------------------


def test_specs_are_restricted_and_named_like_the_operator_expects() -> None:
    cluster = specs.daskcluster("c1", namespace="ns", image="img:1")
    m.validate(cluster)
    sched = cluster["spec"]["scheduler"]
    assert sched["service"]["selector"] == {
        "dask.org/component": "scheduler",
        "dask.org/cluster-name": "c1",
    }
    for ps in m.pod_specs(cluster):
        assert ps["securityContext"]["runAsNonRoot"] is True
        assert ps["automountServiceAccountToken"] is False
    assert cluster["metadata"]["annotations"]["checkov.io/skip1"].count("=") >= 1
    assert all(reason for reason in specs.CHECKOV_SKIPS.values())


def test_parse_result_finds_a_record_that_starts_mid_line() -> None:
    # KubeCluster's progress panel can end without a newline before the record.
    record = {"workload": "bag", "result": {"digest": "d2", "nested": {"x": [1, {"y": 2}]}}}
    log = "Creating cluster... done" + json.dumps(record, indent=2) + "\nbye {not json\n"
    assert parse_result(log) == record
    assert parse_result("no record {here}\n") is None


def test_a_kept_result_names_the_job_uid_and_is_never_another_jobs() -> None:
    """A DaskJob deleted and applied again under its name is a new job: the old record is not its."""
    from daskburst.k8s import _results

    record = {"workload": "bag", "result": {"digest": "d" * 64}}
    cm = _results.configmap("bag", "ns", record, uid="uid-1")
    kept = json.loads(cm["data"]["result.json"])
    assert kept["job_uid"] == "uid-1" and cm["metadata"]["labels"][_results.UID] == "uid-1"
    assert "job_uid" not in record, "the caller's record is not changed"
    assert _results.of_this_job(kept, "uid-1")
    assert not _results.of_this_job(kept, "uid-2")
    assert _results.of_this_job(kept, None), "no DaskJob left: the kept record is the last run's"
    assert _results.of_this_job(record, "uid-2"), "a record from before UIDs is taken as it is"
    assert not _results.of_this_job(None, "uid-1")


def test_each_submit_stages_its_artifacts_in_a_directory_of_its_own(tmp_path: Path) -> None:
    """Two `k8s submit --wait --artifacts DIR` at once used to share DIR/pending."""
    from daskburst.cli import k8s as cli_k8s

    first, second = cli_k8s._staging(tmp_path / "out"), cli_k8s._staging(tmp_path / "out")
    assert first != second and first.parent == second.parent == tmp_path / "out"
    assert first.stat().st_mode & 0o755 == 0o755, "readable like any directory it makes"
    cli_k8s._drop_staging(first)
    assert not first.exists(), "an empty staging directory goes with a failed submit"
    (second / "runner.log").write_text("x\n")
    cli_k8s._drop_staging(second)
    assert (second / "runner.log").exists(), "what was collected stays"
    (tmp_path / "file").write_text("")
    with pytest.raises(UserError, match=r"^--artifacts '.*/file/sub': .*expected a directory"):
        cli_k8s._staging(tmp_path / "file" / "sub")


class FlakyJobs(FakeJobs):
    """The API server does not answer the polls listed in ``down`` (1-based)."""

    def __init__(self, down: set[int], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.down = down

    def phase(self, name: str) -> str:
        if self.polls + 1 in self.down:
            self.polls += 1
            raise httpx.ConnectError("connection refused")
        return super().phase(name)


def test_wait_job_rides_out_an_api_server_that_stops_answering_for_a_while() -> None:
    jobs = FlakyJobs({2, 3, 4}, ["Running"] * 5 + ["Successful"], [1], [""] * 5 + ['{"a": 1}\n'])
    said: list[str] = []
    outcome = wait_job(jobs, "j", timeout=100, clock=FakeClock(), interval=2, echo=said.append)
    assert outcome.ok and outcome.runner_log == '{"a": 1}\n' and jobs.deleted == []
    assert len(said) == 2, said
    assert said[0].startswith("kubernetes: the API server did not answer (ConnectError: connection")
    assert said[1] == "kubernetes: the API server answers again after 6 s"


def test_wait_job_gives_up_on_an_api_server_gone_for_good_and_leaves_the_job() -> None:
    jobs = FlakyJobs(set(range(2, 1000)), ["Running"], [1], [""])
    with pytest.raises(BackendError, match=r"has not answered for 30 s while following daskjob/j "
                       r"\(ConnectError: connection refused\); the job was left as it is"):  # fmt: skip
        wait_job(jobs, "j", timeout=100, clock=FakeClock(), interval=2, api_grace=30,
                 echo=lambda _: None)  # fmt: skip
    assert jobs.deleted == []


def test_wait_job_does_not_hide_a_real_error() -> None:
    class Broken(FakeJobs):
        def phase(self, name: str) -> str:
            raise kr8s.ServerError("forbidden", response=httpx.Response(403))

    with pytest.raises(kr8s.ServerError):
        wait_job(Broken(["Running"], [1], [""]), "j", timeout=100, clock=FakeClock())
