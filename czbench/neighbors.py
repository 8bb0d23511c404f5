"""k-nearest-neighbour graph of an embedding, computed once and shared by every metric.

Two backends, chosen by size (``backend="auto"``):

* ``exact`` (torch): a blocked matrix product (``|x|^2 + |y|^2 - 2 x.y`` on centred data,
  float32) followed by ``topk``. Memory is O(block x n), time O(n^2 d). Used up to
  :data:`EXACT_MAX_CELLS` cells on CPU, and at any size on a GPU.
* ``faiss-ivf`` (faiss-cpu ``IndexIVFFlat``): approximate, for larger n on CPU. ``nlist =
  4 sqrt(n)`` coarse cells trained by seeded k-means on a seeded sample; stored vectors are
  uncompressed, so the distances returned are exact for the neighbours found. Before the full
  search, recall@k is estimated on a seeded sample of 1,000 cells against brute force, and
  ``nprobe`` (cells searched per query) doubles from 64 until that estimate reaches 0.95 (at most
  256; a warning says when it cannot). The graph records ``nprobe`` and the estimate; recall
  is measured in ``benchmarks/bench_knn_recall.py`` and documented in docs/performance.md.

The distances of the chosen neighbours can be recomputed in float64 with
:func:`refine_distances`, so they carry no cancellation error.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from czbench._arrays import as_numpy_2d, as_torch_2d, resolve_device
from czbench.errors import InputError

#: Largest n searched exactly on CPU by ``backend="auto"``; above it faiss IVF is used.
EXACT_MAX_CELLS = 100_000
#: faiss IVF parameters: coarse cells per sqrt(n), cells probed per query, training points per
#: coarse cell.
IVF_LISTS_PER_SQRT_N = 4
IVF_NPROBE = 64
IVF_TRAIN_PER_LIST = 64
#: Before the full search, recall@k is estimated on a seeded sample of cells against brute
#: force; nprobe doubles (up to IVF_MAX_NPROBE) until it reaches IVF_TARGET_RECALL.
IVF_RECALL_SAMPLE = 1000
IVF_TARGET_RECALL = 0.95
IVF_MAX_NPROBE = 256
BACKENDS = ("auto", "exact", "faiss-ivf")

#: Distance-block budget in elements (block rows x n columns), about 256 MB of float32.
BLOCK_ELEMENTS = 1 << 26
#: The same on GPUs (1 GiB of float32): fewer, larger blocks amortise kernel launches.
GPU_BLOCK_ELEMENTS = 1 << 28


@dataclass(frozen=True)
class KNNGraph:
    """``k`` nearest neighbours of every cell, the cell itself first (distance 0).

    Attributes:
        indices: (n, k) int64 neighbour ids, sorted by distance; column 0 is the cell itself.
        distances: (n, k) float64 Euclidean distances matching ``indices``.
    """

    indices: np.ndarray
    distances: np.ndarray
    backend: str = "exact"
    #: faiss-ivf only: lists searched per cell, and recall@k estimated on a sample of cells
    nprobe: int | None = None
    recall: float | None = None

    def describe(self) -> dict[str, Any]:
        """``{"backend", "k"}`` plus ``nprobe`` and ``recall`` for approximate graphs."""
        out: dict[str, Any] = {"backend": self.backend, "k": self.k}
        if self.nprobe is not None:
            out.update(nprobe=self.nprobe, recall=self.recall)
        return out

    @property
    def n_cells(self) -> int:
        return int(self.indices.shape[0])

    @property
    def k(self) -> int:
        return int(self.indices.shape[1])

    def head(self, k: int) -> KNNGraph:
        """The graph restricted to the ``k`` nearest neighbours (self included)."""
        if k > self.k:
            raise InputError(f"k: the graph holds {self.k} neighbours, {k} were asked for")
        return replace(self, indices=self.indices[:, :k], distances=self.distances[:, :k])


def block_rows(n_columns: int, budget: int = BLOCK_ELEMENTS) -> int:
    """Rows per block so that a (rows x n_columns) block stays within ``budget`` elements."""
    return max(1, min(n_columns, budget // max(1, n_columns)))


def squared_distance_block(x: torch.Tensor, sq: torch.Tensor, start: int,
                           stop: int) -> torch.Tensor:
    """Squared Euclidean distances from rows ``start:stop`` of ``x`` to all rows, in place-friendly
    form (``sq`` = row norms squared; ``x`` should be centred). The diagonal is set to 0."""
    d2 = torch.addmm(sq[None, :], x[start:stop], x.T, beta=1.0, alpha=-2.0)
    d2.add_(sq[start:stop, None]).clamp_(min=0.0)
    d2.diagonal(offset=start).zero_()
    return d2


def centred(embedding: Any, device: str | torch.device | None,
            dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """The embedding as a centred tensor (distances unchanged, less cancellation) and its
    squared row norms."""
    x = as_torch_2d(embedding, device=device, dtype=dtype)
    x = x - x.mean(dim=0, keepdim=True)
    return x, (x * x).sum(dim=1)


def choose_backend(n_cells: int, device: torch.device, backend: str = "auto") -> str:
    """The backend ``auto`` resolves to: exact on GPUs and up to EXACT_MAX_CELLS cells."""
    if backend not in BACKENDS:
        raise InputError(f"knn backend: expected one of {', '.join(BACKENDS)}, got {backend!r}")
    if backend != "auto":
        return backend
    return "exact" if device.type != "cpu" or n_cells <= EXACT_MAX_CELLS else "faiss-ivf"


def knn_graph(embedding: Any, k: int, *, device: str | torch.device | None = None,
              backend: str = "auto", seed: int = 0, block_size: int | None = None) -> KNNGraph:
    """Euclidean kNN graph with ``k`` neighbours per cell, the cell itself first.

    ``k`` is capped at the number of cells. ``backend`` is ``auto`` (exact up to
    EXACT_MAX_CELLS cells on CPU, and on GPUs; faiss IVF above), ``exact`` or ``faiss-ivf``;
    ``seed`` drives the IVF training sample and k-means. Exact neighbours are ranked on float32
    distances of the centred embedding; ties are broken by torch's ``topk`` (deterministic for
    the same input on the same machine). Use :func:`refine_distances` where float64 distances
    matter.
    """
    if k < 1:
        raise InputError(f"k: expected a positive number of neighbours, got {k}")
    dev = resolve_device(embedding, device)
    x, sq = centred(embedding, dev)
    n = x.shape[0]
    k = min(k, n)
    if choose_backend(n, dev, backend) == "faiss-ivf":
        return _faiss_ivf_graph(x.cpu().numpy(), k, seed)
    rows = block_size or block_rows(n, BLOCK_ELEMENTS if dev.type == "cpu" else GPU_BLOCK_ELEMENTS)
    indices = torch.empty((n, k), dtype=torch.int64)
    distances = torch.empty((n, k), dtype=torch.float64)
    for start in range(0, n, rows):
        stop = min(n, start + rows)
        values, idx = _exact_block(x, sq, start, stop, k)
        indices[start:stop] = idx.cpu()
        distances[start:stop] = values.clamp(min=0.0).sqrt().cpu().double()
    return KNNGraph(indices.numpy(), distances.numpy())


def _exact_block(x: torch.Tensor, sq: torch.Tensor, start: int, stop: int,
                 k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Squared distances and ids of the k nearest cells of rows start:stop, self first."""
    d2 = squared_distance_block(x, sq, start, stop)
    d2.diagonal(offset=start).fill_(-1.0)  # the cell itself always ranks first
    return torch.topk(d2, k, dim=1, largest=False, sorted=True)


def _faiss_ivf_graph(x: np.ndarray, k: int, seed: int) -> KNNGraph:
    """Approximate kNN with faiss IndexIVFFlat (see the module docstring), self first."""
    try:
        import faiss
    except ImportError as err:  # pragma: no cover - faiss-cpu is a dependency
        raise InputError("knn backend: faiss-ivf needs the faiss-cpu package "
                         "(pip install faiss-cpu)") from err
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
        recall = _recall(index.search(x[sample], k)[1], truth)
        if recall >= IVF_TARGET_RECALL or nprobe >= min(n_lists, IVF_MAX_NPROBE):
            break
        nprobe = min(2 * nprobe, n_lists, IVF_MAX_NPROBE)
    if recall < IVF_TARGET_RECALL:
        warnings.warn(f"kNN: faiss IVF reaches an estimated recall@{k} of {recall:.3f} at "
                      f"nprobe {nprobe} on this embedding; pass backend='exact' "
                      f"(--knn-backend exact) for exact neighbours", stacklevel=3)
    d2, idx = index.search(x, k)
    idx = idx.astype(np.int64)
    _self_first(idx, d2)
    missing = np.flatnonzero((idx < 0).any(axis=1))
    if missing.size:  # too few candidates in the probed cells: search those rows exactly
        for row in missing:
            values, ids = _exact_block(xt, sq, int(row), int(row) + 1, k)
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


def _self_first(idx: np.ndarray, d2: np.ndarray) -> None:
    """Put each cell itself in column 0 (in place), keeping the others in distance order."""
    rows = np.arange(idx.shape[0])
    wrong = np.flatnonzero(idx[:, 0] != rows)
    for row in wrong:
        ids = [int(j) for j in idx[row] if j != row and j >= 0]
        dists = [float(v) for j, v in zip(idx[row], d2[row], strict=True) if j != row and j >= 0]
        k = idx.shape[1]
        ids, dists = ([int(row)] + ids)[:k], ([0.0] + dists)[:k]
        pad = k - len(ids)
        idx[row] = ids + [-1] * pad
        d2[row] = dists + [np.inf] * pad
    d2[rows, 0] = 0.0


def refine_distances(knn: KNNGraph, embedding: Any) -> KNNGraph:
    """The same neighbours with distances recomputed directly in float64, re-sorted by them
    (the cell itself stays first)."""
    x = torch.from_numpy(as_numpy_2d(embedding, dtype=np.float64))
    idx = torch.from_numpy(knn.indices)
    n, k = idx.shape
    if x.shape[0] != n:
        raise InputError(f"embedding: has {x.shape[0]} cells, the kNN graph has {n}")
    dist = torch.empty((n, k), dtype=torch.float64)
    sub = max(1, (1 << 23) // (k * x.shape[1]))
    for s0 in range(0, n, sub):
        s1 = min(n, s0 + sub)
        neigh = x.index_select(0, idx[s0:s1].reshape(-1)).view(s1 - s0, k, -1)
        dist[s0:s1] = torch.linalg.vector_norm(neigh - x[s0:s1, None, :], dim=2)
    dist[:, 0] = 0.0
    order = torch.argsort(dist[:, 1:], dim=1, stable=True) + 1
    order = torch.cat([torch.zeros_like(order[:, :1]), order], dim=1)
    return replace(knn, indices=idx.gather(1, order).numpy(),
                   distances=dist.gather(1, order).numpy())
