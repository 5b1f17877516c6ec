import numpy as np
import pytest

from daskburst.calc_mean import calc_mean, calc_mean_vargs, calc_mean_vargs2
from daskburst.rng import normal_moments, stream


@pytest.mark.parametrize(
    ("n", "chunk"),
    [
        (n, c)
        for n in (1, 2, 999, 100_000, 1_234_567)
        for c in (1, 1000, 65536, 10**7)
        if c > 1 or n < 1000
    ],
)
def test_streaming_matches_all_at_once(n, chunk):
    mean, sd = normal_moments(stream(7, (3,)), n, chunk=chunk)
    x = stream(7, (3,)).standard_normal(n)
    assert mean == pytest.approx(x.mean(), rel=1e-12, abs=1e-15)
    assert sd == pytest.approx(x.std(), rel=1e-12, abs=1e-15)


def test_stream_is_the_spawned_child():
    children = np.random.SeedSequence(42).spawn(5)
    for i, child in enumerate(children):
        expected = np.random.Generator(np.random.PCG64(child)).standard_normal(4)
        np.testing.assert_array_equal(stream(42, (i,)).standard_normal(4), expected)


def test_tasks_get_independent_streams():
    a = stream(1, (0,)).standard_normal(1000)
    b = stream(1, (1,)).standard_normal(1000)
    assert not np.array_equal(a, b)
    # never "a seed of i": task 1 of seed 0 is not task 0 of seed 1
    assert not np.array_equal(
        stream(0, (1,)).standard_normal(10), stream(1, (0,)).standard_normal(10)
    )


def test_tutorial_helpers_signatures_and_values():
    m1 = calc_mean(3, 5000, seed=9)
    assert calc_mean_vargs((3, 5000), seed=9) == m1
    x = stream(9, (3,)).standard_normal(5000)
    assert m1 == pytest.approx([x.mean(), x.std()], rel=1e-12)
    mu, sigma = 1.5, 2.0
    y = stream(9, (2, 4)).normal(mu, sigma, 5000)
    got = calc_mean_vargs2((mu, sigma), 5000, key=(2, 4), seed=9)
    assert got == pytest.approx([y.mean(), y.std()], rel=1e-12)


def test_memory_is_bounded_by_chunk(monkeypatch):
    seen = []
    real_empty = np.empty

    def spy(shape, *args, **kwargs):
        seen.append(shape)
        return real_empty(shape, *args, **kwargs)

    monkeypatch.setattr(np, "empty", spy)
    normal_moments(stream(1, (0,)), 10_000_000, chunk=4096)
    assert seen == [4096]


def test_n_must_be_positive():
    with pytest.raises(ValueError, match="n must be >= 1"):
        normal_moments(stream(1, (0,)), 0)


@pytest.mark.parametrize("n", [3, 1000, 262_144 * 3 + 17, 5_000_000])
def test_accuracy_stated_in_the_readme(n):
    """README: the mean within 1e-15 (absolute), the sd within 1e-14 (relative)."""
    for key in range(3):
        mean, sd = normal_moments(stream(11, (key,)), n)
        x = stream(11, (key,)).standard_normal(n)
        assert abs(mean - x.mean()) < 1e-15
        assert abs(sd - x.std()) <= 1e-14 * x.std()
