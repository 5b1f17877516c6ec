"""Every workload gives the same digest on every backend and worker count."""

from __future__ import annotations

import pytest

from daskburst.backends import BackendOptions, open_backend
from daskburst.execute import compute, prepare

CASES = {
    "calc-mean": {"replicates": 6, "n": 20_000},
    "calc-mean-sweep": {"means": "0,1", "sds": "1,2", "replicates": 3, "n": 5_000},
    "array": {"rows": 700, "cols": 500, "chunks": "128,200"},
    "array-auto": {"rows": 600, "cols": 400, "chunks": "auto"},
    "bag": {"input": "sample"},
    "bag-synthetic": {"input": "synthetic"},
    "dataframe": {"input": "sample"},
    "dataframe-synthetic": {"input": "synthetic"},
}


def _workload(case: str) -> str:
    return case.removesuffix("-auto").removesuffix("-synthetic")


@pytest.fixture(scope="module")
def reference(small_samples):
    with open_backend("sync") as session:
        return {c: compute(prepare(_workload(c), seed=11, **p), session) for c, p in CASES.items()}


@pytest.fixture(scope="module", params=["threads", "processes", "local-1", "local-2"])
def session(request, small_samples):
    name, _, workers = request.param.partition("-")
    with open_backend(name, BackendOptions(workers=int(workers) if workers else 2)) as s:
        yield s


@pytest.mark.parametrize("case", list(CASES))
def test_same_digest_everywhere(case, session, reference):
    result = compute(prepare(_workload(case), seed=11, **CASES[case]), session)
    assert result == reference[case]


def test_sample_and_synthetic_agree(reference):
    assert reference["bag"]["digest"] == reference["bag-synthetic"]["digest"]
    assert reference["dataframe"]["digest"] == reference["dataframe-synthetic"]["digest"]


def test_results_are_meaningful(reference):
    assert reference["bag"]["lines"] == 20000
    assert 0 < reference["bag"]["matches"] < reference["bag"]["lines"]
    assert all("Obama" in line.split(" ")[3] for line in reference["bag"]["first_matches"])
    df = reference["dataframe"]
    assert df["rows"] == 20000 and df["subset_rows"] > 0
    assert df["dep_delay_min"] < 0 < df["dep_delay_max"]
    reps = reference["calc-mean"]["replicates"]
    assert len(reps) == 6 and len({r[0] for r in reps}) == 6  # independent streams
    assert all(abs(m) < 0.05 and abs(s - 1) < 0.05 for m, s in reps)


def test_seed_changes_results():
    with open_backend("sync") as s:
        a = compute(prepare("calc-mean", seed=1, replicates=2, n=100), s)
        b = compute(prepare("calc-mean", seed=2, replicates=2, n=100), s)
    assert a["digest"] != b["digest"]


def test_local_adaptive_from_zero(small_samples):
    with open_backend("local", BackendOptions(adapt=(0, 2))) as s:
        got = compute(prepare("calc-mean", seed=11, **CASES["calc-mean"]), s)
    with open_backend("sync") as s:
        want = compute(prepare("calc-mean", seed=11, **CASES["calc-mean"]), s)
    assert got == want


@pytest.mark.parametrize("workload", ["calc-mean", "calc-mean-sweep"])
def test_replicates_of_a_small_n_share_tasks_and_the_digest_does_not_change(workload, monkeypatch):
    """100,000 one-draw replicates: a few dozen tasks in one graph layer, not 100,000."""
    import dask

    from daskburst.execute import prepare
    from daskburst.workloads import replicates

    size = {"calc-mean": {"replicates": 2000}, "calc-mean-sweep": {"replicates": 500}}[workload]
    batched = prepare(workload, seed=3, n=1, **size)
    big = prepare("calc-mean", seed=3, n=1, replicates=100_000).plan.collections[0]
    assert len(big.__dask_graph__()) <= 2 * replicates.MIN_TASKS + 2
    monkeypatch.setattr(replicates, "MIN_DRAWS_PER_TASK", 1)
    monkeypatch.setattr(replicates, "MIN_TASKS", 10**9)
    one_each = prepare(workload, seed=3, n=1, **size)
    (many,) = batched.plan.collections
    (single,) = one_each.plan.collections
    assert len(many.__dask_graph__()) <= 2 * replicates.MIN_TASKS + 2
    assert len(single.__dask_graph__()) >= 2000
    digests = [
        p.plan.finalize(dask.compute(*p.plan.collections, scheduler="sync"))["digest"]
        for p in (batched, one_each)
    ]
    assert digests[0] == digests[1]
