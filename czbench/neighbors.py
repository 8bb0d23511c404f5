"""Exact k-nearest-neighbour graph of an embedding, computed once and shared by every metric.

The search is a blocked matrix product in torch (``|x|^2 + |y|^2 - 2 x.y`` on centred data,
float32) followed by ``topk``; the distances of the chosen neighbours are then recomputed
directly in float64, so they carry no cancellation error. Memory is O(block x n).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from czbench._arrays import as_numpy_2d, as_torch_2d
from czbench.errors import InputError

#: Distance-block budget in elements (block rows x n columns), about 256 MB of float32.
BLOCK_ELEMENTS = 1 << 26


@dataclass(frozen=True)
class KNNGraph:
    """``k`` nearest neighbours of every cell, the cell itself first (distance 0).

    Attributes:
        indices: (n, k) int64 neighbour ids, sorted by distance; column 0 is the cell itself.
        distances: (n, k) float64 Euclidean distances matching ``indices``.
    """

    indices: np.ndarray
    distances: np.ndarray

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
        return KNNGraph(self.indices[:, :k], self.distances[:, :k])


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


def knn_graph(embedding: Any, k: int, *, device: str | torch.device | None = None,
              block_size: int | None = None) -> KNNGraph:
    """Exact Euclidean kNN graph with ``k`` neighbours per cell, the cell itself included.

    ``k`` is capped at the number of cells. Neighbours are ranked on float32 distances of the
    centred embedding; use :func:`refine_distances` where float64 distances matter. Ties are
    broken by torch's ``topk`` (deterministic for the same input on the same machine).
    """
    if k < 1:
        raise InputError(f"k: expected a positive number of neighbours, got {k}")
    x, sq = centred(embedding, device)
    n = x.shape[0]
    k = min(k, n)
    rows = block_size or block_rows(n)
    indices = torch.empty((n, k), dtype=torch.int64)
    distances = torch.empty((n, k), dtype=torch.float64)
    for start in range(0, n, rows):
        stop = min(n, start + rows)
        d2 = squared_distance_block(x, sq, start, stop)
        d2.diagonal(offset=start).fill_(-1.0)  # the cell itself always ranks first
        values, idx = torch.topk(d2, k, dim=1, largest=False, sorted=True)
        del d2
        indices[start:stop] = idx.cpu()
        distances[start:stop] = values.clamp(min=0.0).sqrt().cpu().double()
    return KNNGraph(indices.numpy(), distances.numpy())


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
    return KNNGraph(idx.gather(1, order).numpy(), dist.gather(1, order).numpy())
