"""The kernels' own threads: scoped and restored, and the same bits whatever the worker count."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

from czbench.metrics.silhouette import _group_distance_sums, silhouette_samples
from czbench.neighbors import knn_graph
from czbench.neighbors.exact import flat_knn
from czbench.utils.threads import (
    available_cores,
    kernel_workers,
    ordered_map,
    single_threaded_blas,
    single_threaded_ops,
)


@pytest.fixture
def two_threads():
    """torch at 2 intra-op threads for the test, the caller's setting restored after."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def _data(n: int = 1500, d: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 5, n)
    x = rng.normal(size=(n, d)) + 2.0 * labels[:, None]
    return x.astype(np.float32), labels


def test_single_threaded_ops_is_scoped_nested_and_restored_on_error(two_threads):
    with single_threaded_ops():
        assert torch.get_num_threads() == 1
        assert kernel_workers() == min(2, available_cores())
        with single_threaded_ops():
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 1  # the outer kernel still holds it
    assert torch.get_num_threads() == 2
    with pytest.raises(RuntimeError, match="boom"), single_threaded_ops():
        raise RuntimeError("boom")
    assert torch.get_num_threads() == 2


def test_ordered_map_keeps_order_bounds_work_in_flight_and_raises():
    started, lock, peak = [0], threading.Lock(), [0]
    consumed = 0

    def work(i: int) -> int:
        with lock:
            started[0] += 1
            peak[0] = max(peak[0], started[0] - consumed)
        return i * i

    out = []
    for value in ordered_map(work, range(50), workers=3):
        out.append(value)
        consumed += 1
    assert out == [i * i for i in range(50)]
    assert peak[0] <= 2 * 3 + 1

    def fail(i: int) -> int:
        if i == 7:
            raise ValueError("block 7")
        return i

    with pytest.raises(ValueError, match="block 7"):
        list(ordered_map(fail, range(20), workers=2))


def test_silhouette_tiles_same_bits_for_any_worker_count():
    x, labels = _data(800)
    xt = torch.from_numpy(x)
    ref = _group_distance_sums(xt, labels, 5, 64, workers=1)
    for workers in (2, 3):
        torch.testing.assert_close(_group_distance_sums(xt, labels, 5, 64, workers), ref,
                                   rtol=0, atol=0)


def test_silhouette_same_bits_at_one_or_two_threads_and_threads_restored(two_threads):
    x, labels = _data()
    two = silhouette_samples(x, labels, block_size=100)
    assert torch.get_num_threads() == 2
    torch.set_num_threads(1)
    one = silhouette_samples(x, labels, block_size=100)
    assert torch.get_num_threads() == 1
    np.testing.assert_array_equal(one, two)


def test_faiss_search_same_bits_as_a_single_threaded_faiss_search(two_threads):
    import faiss

    rng = np.random.default_rng(1)
    x = rng.normal(size=(9000, 16)).astype(np.float32)  # three of faiss's 4,096-query blocks
    idx_two, dist_two = flat_knn(x, 20)

    def single_threaded() -> tuple[np.ndarray, np.ndarray]:
        faiss.omp_set_num_threads(1)  # this fresh thread only
        index = faiss.IndexFlatL2(16)
        index.add(x)
        return index.search(x, 20)

    with ThreadPoolExecutor(1) as pool:
        d2, idx = pool.submit(single_threaded).result()
    # the same search up to float32 near-ties (faiss's BLAS blocks differ from one call to
    # another in the last bit), and bit for bit at one or two workers
    assert np.mean(np.sort(idx_two, axis=1) == np.sort(idx, axis=1)) > 0.9999
    np.testing.assert_allclose(dist_two[:, 1:], np.sqrt(np.clip(d2[:, 1:], 0, None)), atol=1e-5)
    torch.set_num_threads(1)
    idx_one, dist_one = flat_knn(x, 20)
    np.testing.assert_array_equal(idx_one, idx_two)
    np.testing.assert_array_equal(dist_one, dist_two)


def test_torch_exact_knn_blocks_same_bits_at_one_or_two_threads(two_threads):
    x, _ = _data(1200)
    two = knn_graph(x, 15, block_size=100)
    torch.set_num_threads(1)
    one = knn_graph(x, 15, block_size=100)
    np.testing.assert_array_equal(one.indices, two.indices)
    np.testing.assert_array_equal(one.distances, two.distances)


def test_kernels_in_concurrent_threads_agree_and_restore_threads(two_threads):
    x, labels = _data()
    serial = silhouette_samples(x, labels, block_size=100)
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda _: silhouette_samples(x, labels, block_size=100),
                                range(6)))
    assert torch.get_num_threads() == 2
    for result in results:
        np.testing.assert_array_equal(result, serial)


def test_single_threaded_blas_is_scoped_nested_and_restored():
    from threadpoolctl import threadpool_info

    def blas_threads() -> list[int]:
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

    before = blas_threads()
    with single_threaded_blas():
        assert set(blas_threads()) == {1}
        with single_threaded_blas():
            assert set(blas_threads()) == {1}
        assert set(blas_threads()) == {1}
    assert blas_threads() == before
    with pytest.raises(RuntimeError, match="boom"), single_threaded_blas():
        raise RuntimeError("boom")
    assert blas_threads() == before
