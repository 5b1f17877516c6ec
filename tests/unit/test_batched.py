import pytest
from distributed import Client, LocalCluster

from daskburst import map_batched
from daskburst.batched import choose_batch_size


def square(x):
    return x * x


def test_map_batched_local_scheduler_keeps_order():
    items = list(range(1000))
    assert map_batched(square, items, batch_size=7) == [x * x for x in items]
    assert map_batched(square, items) == [x * x for x in items]
    assert map_batched(square, []) == []


def test_map_batched_on_client():
    with (
        LocalCluster(
            n_workers=1, threads_per_worker=2, dashboard_address=":0", processes=False
        ) as cluster,
        Client(cluster) as client,
    ):
        items = list(range(5000))
        assert map_batched(square, items, client=client) == [x * x for x in items]
        assert map_batched(square, items, client=client, batch_size=500)[-1] == 4999**2


def test_batch_size_grows_for_tiny_functions_and_shrinks_for_balance():
    tiny = choose_batch_size(square, list(range(100_000)), target_seconds=0.2, workers=2)
    assert 1000 <= tiny <= 100_000 // 8
    assert choose_batch_size(square, list(range(10)), target_seconds=10, workers=2) == 2


def test_bad_batch_size():
    with pytest.raises(ValueError, match="batch_size 0"):
        map_batched(square, [1, 2], batch_size=0)
