"""Approximate kNN with faiss ``IndexIVFFlat``: the backend for more than 100k cells on CPU.

``nlist = 4 sqrt(n)`` coarse cells trained by seeded k-means on a seeded sample; vectors are
stored uncompressed, so the distances returned are exact for the neighbours found. Before the
full search, recall@k is estimated on a seeded sample of 1,000 cells against brute force, and
``nprobe`` doubles from 64 until the estimate reaches 0.95 (at most 256; a warning says when it
cannot). Measured by ``benchmarks/bench_knn_recall.py``.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from czbench.errors import CZBenchWarning
from czbench.neighbors.exact import exact_block, faiss_search, put_self_first
from czbench.neighbors.knngraph import KNNGraph

#: coarse cells per sqrt(n), cells probed per query at first, training points per coarse cell
IVF_LISTS_PER_SQRT_N = 4
IVF_NPROBE = 64
IVF_TRAIN_PER_LIST = 64
#: recall@k is estimated on this many seeded cells; nprobe doubles (up to IVF_MAX_NPROBE) until
#: the estimate reaches IVF_TARGET_RECALL
IVF_RECALL_SAMPLE = 1000
IVF_TARGET_RECALL = 0.95
IVF_MAX_NPROBE = 256


def faiss_ivf_graph(x: np.ndarray, k: int, seed: int) -> KNNGraph:
    """Approximate kNN with faiss IndexIVFFlat (see the module docstring), self first."""
    import faiss
    n, d = x.shape
    x = np.ascontiguousarray(x, dtype=np.float32)
    n_lists = max(1, min(n // 39, int(IVF_LISTS_PER_SQRT_N * np.sqrt(n))))
    rng = np.random.default_rng(seed)
    train = x[np.sort(rng.choice(n, size=min(n, IVF_TRAIN_PER_LIST * n_lists), replace=False))]
    index = faiss.IndexIVFFlat(faiss.IndexFlatL2(d), d, n_lists)
    index.cp.seed = int(seed)
    index.train(train)
    index.add(x)
    xt = torch.from_numpy(x)
    sq = (xt * xt).sum(dim=1)
    sample = np.sort(rng.choice(n, size=min(n, IVF_RECALL_SAMPLE), replace=False))
    truth = _exact_rows(xt, sq, sample, k)
    nprobe = min(IVF_NPROBE, n_lists)
    while True:
        index.nprobe = nprobe
        recall = _recall(faiss_search(index, x[sample], k)[1], truth)
        if recall >= IVF_TARGET_RECALL or nprobe >= min(n_lists, IVF_MAX_NPROBE):
            break
        nprobe = min(2 * nprobe, n_lists, IVF_MAX_NPROBE)
    if recall < IVF_TARGET_RECALL:
        warnings.warn(f"kNN: faiss IVF reaches an estimated recall@{k} of {recall:.3f} at "
                      f"nprobe {nprobe} on this embedding; pass backend='exact' "
                      f"(--knn-backend exact) for exact neighbours", CZBenchWarning,
                      stacklevel=3)
    d2, idx = faiss_search(index, x, k)
    put_self_first(idx, d2)
    missing = np.flatnonzero((idx < 0).any(axis=1))
    if missing.size:  # too few candidates in the probed cells: search those rows exactly
        for row in missing:
            values, ids = exact_block(xt, sq, int(row), int(row) + 1, k)
            idx[row], d2[row] = ids.numpy()[0], values.numpy()[0]
    distances = np.sqrt(np.clip(d2.astype(np.float64), 0.0, None))
    distances[:, 0] = 0.0
    return KNNGraph(idx, distances, "faiss-ivf", nprobe=int(nprobe), recall=round(recall, 4))


def _exact_rows(x: torch.Tensor, sq: torch.Tensor, rows: np.ndarray, k: int) -> np.ndarray:
    """Exact k-NN ids (self first) of the cells ``rows``, by brute force."""
    out = []
    for start in range(0, len(rows), 256):
        chosen = torch.from_numpy(rows[start:start + 256])
        d2 = torch.addmm(sq[None, :], x[chosen], x.T, beta=1.0, alpha=-2.0)
        d2.add_(sq[chosen, None])
        d2[torch.arange(len(chosen)), chosen] = -1.0
        out.append(torch.topk(d2, k, dim=1, largest=False).indices.numpy())
    return np.concatenate(out)


def _recall(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean over rows of |found ∩ truth| / k."""
    k = truth.shape[1]
    return float(np.mean([len(set(a.tolist()) & set(b.tolist())) / k
                          for a, b in zip(found, truth, strict=True)]))
