"""The tutorial's helpers, called exactly as the tutorial calls them."""

from __future__ import annotations

import pickle

import dask
import pytest

from daskburst.calc_mean import calc_mean, calc_mean_vargs, calc_mean_vargs2
from daskburst.rng import normal_moments, stream


def _tutorial_sweep(m: int, n: int) -> list[list[list[float]]]:
    """Section 6.1's nested sweep, unchanged but for the helper's import and small sizes."""
    delayed_vargs2 = dask.delayed(calc_mean_vargs2)
    params = zip([0, 0, 1, 1], [1, 2, 1, 2], strict=True)
    out = list()
    for param in params:
        out_single_param = list()
        for _ in range(m):
            out_single_param.append(delayed_vargs2(param, n))
        out.append(out_single_param)
    (output,) = dask.compute(out, scheduler="sync")
    return output


def test_tutorial_sweep_gives_independent_replicates():
    output = _tutorial_sweep(m=5, n=2000)
    for reps in output:
        means = [r[0] for r in reps]
        assert len(set(means)) == len(means), "replicates of one pair are identical"
    # (0, 2) must not be (0, 1) scaled: the pairs draw different numbers
    assert output[1][0][0] != pytest.approx(2 * output[0][0][0])
    # and the numbers are what they claim: mean ~ mu, sd ~ sigma
    for (mu, sigma), reps in zip([(0, 1), (0, 2), (1, 1), (1, 2)], output, strict=True):
        assert all(abs(m - mu) < 0.3 and abs(s - sigma) < 0.3 for m, s in reps)


def test_an_explicit_key_is_reproducible():
    a = calc_mean_vargs2((1.0, 2.0), 3000, key=(0, 1), seed=5)
    assert a == calc_mean_vargs2((1.0, 2.0), 3000, key=(0, 1), seed=5)
    assert a != calc_mean_vargs2((1.0, 2.0), 3000, key=(0, 2), seed=5)
    assert calc_mean(3, 1000, seed=5) == calc_mean(3, 1000, seed=5)


def test_a_seed_without_a_key_is_refused():
    with pytest.raises(ValueError, match="key"):
        calc_mean_vargs2((0.0, 1.0), 10, seed=3)


def test_calls_without_a_key_are_never_cached_as_one():
    # client.map and pure=True delayed key a call by its token; a random call must not
    # share its key with another call with the same arguments.
    assert dask.base.tokenize(calc_mean_vargs2, (0, 1), 10) != dask.base.tokenize(
        calc_mean_vargs2, (0, 1), 10
    )


def test_the_token_follows_the_seed():
    with dask.config.set({"daskburst.seed": 1}):
        one = dask.base.tokenize(calc_mean, 0, 10)
    with dask.config.set({"daskburst.seed": 2}):
        two = dask.base.tokenize(calc_mean, 0, 10)
    assert one != two


def test_pickled_copies_carry_the_callers_settings():
    with dask.config.set({"daskburst.seed": 7, "daskburst.stream-chunk": 1000}):
        copy = pickle.loads(pickle.dumps(calc_mean))
    # the copy keeps seed 7 and chunk 1000 whatever this process's config says now
    want = list(normal_moments(stream(7, (2,)), 5000, chunk=1000))
    assert copy(2, 5000) == want
    assert calc_mean(2, 5000) != want


def test_config_reaches_the_processes_scheduler():
    """dask.config.set({"daskburst.seed": 7}) (and the stream chunk) hold on every scheduler."""
    want = [list(normal_moments(stream(7, (i,)), 2000, chunk=300)) for i in range(2)]
    with dask.config.set({"daskburst.seed": 7, "daskburst.stream-chunk": 300}):
        for scheduler in ("sync", "threads", "processes"):
            got = dask.compute(
                [dask.delayed(calc_mean)(i, 2000) for i in range(2)],
                [dask.delayed(calc_mean_vargs)((i, 2000)) for i in range(2)],
                scheduler=scheduler,
                num_workers=1,
            )
            assert list(got) == [want, want], scheduler


def test_client_map_of_equal_calls_needs_pure_false_as_documented():
    from distributed import Client, LocalCluster

    from daskburst.calc_mean import calc_mean_vargs2

    with LocalCluster(n_workers=1, processes=False, dashboard_address=None) as cluster:
        with Client(cluster) as client:
            shared = client.gather(client.map(calc_mean_vargs2, [(0, 1)] * 3, [100] * 3))
            fresh = client.gather(client.map(calc_mean_vargs2, [(0, 1)] * 3, [100] * 3, pure=False))
    assert len({tuple(r) for r in shared}) == 1  # one key: what the README warns about
    assert len({tuple(r) for r in fresh}) == 3
