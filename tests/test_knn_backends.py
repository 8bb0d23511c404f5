"""kNN backends: the faiss IVF path against brute-force numpy, and the size-based choice."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from czbench.errors import InputError
from czbench.neighbors import EXACT_MAX_CELLS, choose_backend, knn_graph, refine_distances


def _mixture(n: int, d: int = 16, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 3.0, size=(8, d))
    return (centres[rng.integers(0, 8, n)] + rng.normal(size=(n, d))).astype(np.float32)


def _brute_force(x: np.ndarray, k: int) -> np.ndarray:
    xx = x.astype(np.float64)
    d2 = (xx * xx).sum(1)[:, None] + (xx * xx).sum(1)[None, :] - 2 * xx @ xx.T
    np.fill_diagonal(d2, -1.0)
    return np.argsort(d2, axis=1, kind="stable")[:, :k]


def test_faiss_ivf_recall_self_first_and_true_distances():
    x = _mixture(4000)
    k = 30
    knn = knn_graph(x, k, backend="faiss-ivf", seed=0)
    assert knn.backend == "faiss-ivf"
    assert knn.indices.shape == (4000, k)
    np.testing.assert_array_equal(knn.indices[:, 0], np.arange(4000))
    assert (knn.indices >= 0).all()
    ref = _brute_force(x, k)
    recall = np.mean([len(set(a) & set(b)) / k for a, b in zip(knn.indices, ref, strict=True)])
    assert recall >= 0.97, recall
    # the distances are those of the listed neighbours, in increasing order
    direct = np.linalg.norm(x[knn.indices].astype(np.float64) - x[:, None, :], axis=2)
    np.testing.assert_allclose(knn.distances, direct, rtol=0, atol=1e-3)
    assert np.all(np.diff(knn.distances, axis=1) >= -1e-6)
    # refining keeps the backend label
    assert refine_distances(knn, x).backend == "faiss-ivf"


def test_faiss_ivf_is_bit_for_bit_reproducible_and_seeded():
    x = _mixture(3000, seed=1)
    a = knn_graph(x, 15, backend="faiss-ivf", seed=3)
    b = knn_graph(x, 15, backend="faiss-ivf", seed=3)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.distances, b.distances)


def test_faiss_ivf_rows_with_too_few_candidates_fall_back_to_exact():
    # 3 far-apart tight groups of 50, k larger than any probed cell can hold
    rng = np.random.default_rng(2)
    x = np.concatenate([rng.normal(c, 0.01, size=(50, 4)) for c in (0.0, 100.0, 200.0)])
    knn = knn_graph(x.astype(np.float32), 120, backend="faiss-ivf")
    assert (knn.indices >= 0).all()
    np.testing.assert_array_equal(knn.indices[:, 0], np.arange(150))
    ref = _brute_force(x, 120)
    assert all(set(a) == set(b) for a, b in zip(knn.indices[:, :50], ref[:, :50], strict=True))


def test_backend_choice_by_size_and_device():
    cpu = torch.device("cpu")
    assert choose_backend(EXACT_MAX_CELLS, cpu) == "exact"
    assert choose_backend(EXACT_MAX_CELLS + 1, cpu) == "faiss-ivf"
    assert choose_backend(10 * EXACT_MAX_CELLS, torch.device("cuda")) == "exact"
    assert choose_backend(10, cpu, "faiss-ivf") == "faiss-ivf"
    with pytest.raises(InputError, match="knn backend"):
        choose_backend(10, cpu, "annoy")


def test_exact_backend_label():
    x = _mixture(200)
    assert knn_graph(x, 5).backend == "exact"
    assert knn_graph(x, 5).head(3).backend == "exact"


def test_default_device_is_the_tensors_own_else_cuda_when_available():
    from czbench.context import resolve_device

    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device(np.zeros((2, 2))).type == expected
    assert resolve_device(torch.zeros(2, 2)).type == "cpu"
    assert resolve_device(np.zeros((2, 2)), "cpu").type == "cpu"


def _isotropic(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.normal(0.0, 0.6, size=(8, 16))[rng.integers(0, 8, n)]
            + rng.normal(size=(n, 16))).astype(np.float32)


def test_faiss_ivf_raises_nprobe_until_the_estimated_recall_is_reached(monkeypatch):
    import czbench.neighbors.faiss_ivf as nb

    monkeypatch.setattr(nb, "IVF_NPROBE", 1)
    monkeypatch.setattr(nb, "IVF_TARGET_RECALL", 0.97)
    x = _isotropic(4000)
    knn = knn_graph(x, 20, backend="faiss-ivf")
    assert knn.nprobe > 1 and knn.recall >= 0.97
    true_recall = np.mean([len(set(a) & set(b)) / 20 for a, b in
                           zip(knn.indices, _brute_force(x, 20), strict=True)])
    assert abs(true_recall - knn.recall) < 0.02  # the sample estimate is honest
    assert knn.describe() == {"backend": "faiss-ivf", "k": 20, "nprobe": knn.nprobe,
                              "recall": knn.recall}


def test_faiss_ivf_warns_when_the_recall_target_is_out_of_reach(monkeypatch):
    import czbench.neighbors.faiss_ivf as nb

    monkeypatch.setattr(nb, "IVF_NPROBE", 1)
    monkeypatch.setattr(nb, "IVF_MAX_NPROBE", 1)
    with pytest.warns(UserWarning, match="estimated recall@20"):
        knn = knn_graph(_isotropic(4000), 20, backend="faiss-ivf")
    assert knn.nprobe == 1 and knn.recall < nb.IVF_TARGET_RECALL


def test_exact_cpu_search_is_faiss_flat_and_agrees_with_the_torch_search():
    """The CPU exact backend (faiss IndexFlatL2, the faster) and the torch kernel (GPUs, or an
    explicit block_size) return the same neighbours; duplicated cells still come first."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(600, 12)).astype(np.float32)
    x[1] = x[0]  # an exact duplicate: distance 0 to another cell
    flat = knn_graph(x, 20, backend="exact", device="cpu")
    blocked = knn_graph(x, 20, backend="exact", device="cpu", block_size=64)
    assert (flat.indices[:, 0] == np.arange(600)).all()
    assert flat.indices[0, 1] == 1 and flat.indices[1, 1] == 0
    assert all(set(a) == set(b) for a, b in zip(flat.indices, blocked.indices, strict=True))
    # float32 |x|^2 + |y|^2 - 2xy cancels: the torch kernel puts the duplicate at ~2e-3, faiss
    # at 0 (refine_distances recomputes chosen neighbours in float64 where it matters)
    np.testing.assert_allclose(np.sort(flat.distances, axis=1)[2:],
                               np.sort(blocked.distances, axis=1)[2:], atol=1e-5)
    assert blocked.distances[0, 1] < 3e-3 and flat.distances[0, 1] == 0.0
