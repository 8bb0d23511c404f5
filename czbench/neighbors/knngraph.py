"""``KNNGraph``: the neighbours of every cell, computed once per embedding and sliced per metric
(``head(k)``); :func:`refine_distances` recomputes the chosen neighbours' distances in float64.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from czbench.errors import InputError
from czbench.utils.arrays import as_numpy_2d


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


def refine_distances(knn: KNNGraph, embedding: Any) -> KNNGraph:
    """The same neighbours with distances recomputed directly in float64, re-sorted by them
    (the cell itself stays first)."""
    x = torch.from_numpy(as_numpy_2d(embedding, dtype=np.float64, rescale=True))
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
