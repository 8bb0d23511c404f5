"""``entropy_per_cell``: how evenly batches mix in each cell's neighbourhood.

Definition: docs/spec.md#entropy_per_cell (cz-benchmarks).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from czbench.context import DEFAULT_SEED
from czbench.errors import InputError
from czbench.neighbors import KNNGraph, knn_graph
from czbench.utils.arrays import as_codes

#: Neighbourhood size of the reference definition (the cell itself included).
ENTROPY_K = 200


def entropy_per_cell_values(knn: KNNGraph, batch: Any) -> np.ndarray:
    """Per-cell Shannon entropy of batch labels among the neighbours, divided by log(#batches)."""
    codes = as_codes(batch, knn.n_cells, name="batch")
    n_batches = int(codes.max()) + 1
    if n_batches < 2:
        raise InputError("batch: entropy_per_cell needs at least 2 batches, got 1")
    n, k = knn.indices.shape
    neighbour_batches = codes[knn.indices]  # (n, k)
    flat = (np.arange(n)[:, None] * n_batches + neighbour_batches).ravel()
    counts = np.bincount(flat, minlength=n * n_batches).reshape(n, n_batches)
    p = counts / k
    with np.errstate(divide="ignore", invalid="ignore"):
        plogp = np.where(p > 0, p * np.log(p), 0.0)
    return -plogp.sum(axis=1) / np.log(n_batches)


def entropy_per_cell(embedding: Any, batch: Any, *, k: int = ENTROPY_K,
                     knn: KNNGraph | None = None, seed: int = DEFAULT_SEED,
                     backend: str = "auto", device: Any = None) -> float:
    """Mean over cells of the normalised batch entropy in the ``k``-NN (self included; k capped
    at n). Pass a precomputed ``knn`` graph with at least ``k`` neighbours to reuse it; else it
    is built with ``backend``, ``seed`` and ``device`` (see :func:`czbench.neighbors.knn_graph`).
    """
    if knn is None:
        knn = knn_graph(embedding, k, backend=backend, seed=seed, device=device)
    return float(entropy_per_cell_values(knn.head(min(k, knn.n_cells)), batch).mean())
