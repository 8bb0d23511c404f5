"""k-nearest-neighbour graph of an embedding, computed once and shared by every metric.

Two backends, chosen by size (``backend="auto"``):

* ``exact``: every distance, float32 on the centred embedding. On CPU faiss's exact
  ``IndexFlatL2`` (measured faster than the torch search, see :mod:`czbench.neighbors.exact`);
  on a GPU a blocked torch matrix product followed by ``topk``. Used up to
  :data:`EXACT_MAX_CELLS` cells on CPU, and at any size on a GPU.
* ``faiss-ivf`` (faiss-cpu ``IndexIVFFlat``): approximate, for larger n on CPU. ``nlist =
  4 sqrt(n)`` coarse cells trained by seeded k-means on a seeded sample; stored vectors are
  uncompressed, so the distances returned are exact for the neighbours found. Before the full
  search, recall@k is estimated on a seeded sample of 1,000 cells against brute force, and
  ``nprobe`` (cells searched per query) doubles from 64 until that estimate reaches 0.95 (at most
  256; a warning says when it cannot). The graph records ``nprobe`` and the estimate; recall
  is measured by ``benchmarks/bench_knn_recall.py`` (``benchmarks/results/knn_recall.json``).
  See :mod:`czbench.neighbors.faiss_ivf`.

The distances of the chosen neighbours can be recomputed in float64 with
:func:`refine_distances`, so they carry no cancellation error.
"""

from __future__ import annotations

from typing import Any

import torch

from czbench.context import KNN_BACKENDS, resolve_device
from czbench.errors import InputError
from czbench.neighbors.exact import (
    BLOCK_ELEMENTS,
    GPU_BLOCK_ELEMENTS,
    block_rows,
    centred,
    exact_knn,
    flat_knn,
)
from czbench.neighbors.faiss_ivf import faiss_ivf_graph
from czbench.neighbors.knngraph import KNNGraph
from czbench.utils.checks import DEFAULT_SEED

#: Largest n searched exactly on CPU by ``backend="auto"``; above it faiss IVF is used.
EXACT_MAX_CELLS = 100_000
BACKENDS = KNN_BACKENDS


def choose_backend(n_cells: int, device: torch.device, backend: str = "auto") -> str:
    """The backend ``auto`` resolves to: exact on GPUs and up to EXACT_MAX_CELLS cells."""
    if backend not in BACKENDS:
        raise InputError(f"knn backend: expected one of {', '.join(BACKENDS)}, got {backend!r}")
    if backend != "auto":
        return backend
    return "exact" if device.type != "cpu" or n_cells <= EXACT_MAX_CELLS else "faiss-ivf"


def knn_graph(embedding: Any, k: int, *, device: str | torch.device | None = None,
              backend: str = "auto", seed: int = DEFAULT_SEED,
              block_size: int | None = None) -> KNNGraph:
    """Euclidean kNN graph with ``k`` neighbours per cell, the cell itself first.

    ``k`` is capped at the number of cells. ``backend`` is ``auto`` (exact up to
    EXACT_MAX_CELLS cells on CPU, and on GPUs; faiss IVF above), ``exact`` or ``faiss-ivf``;
    ``seed`` drives the IVF training sample and k-means. Exact neighbours are ranked on float32
    distances of the centred embedding; ties are broken by the search (faiss on CPU, torch
    ``topk`` on GPUs or with ``block_size``), deterministically for the same input on the same
    machine. Use :func:`refine_distances` where float64 distances matter.
    """
    if k < 1:
        raise InputError(f"k: expected a positive number of neighbours, got {k}")
    dev = resolve_device(embedding, device)
    x, sq = centred(embedding, dev)
    n = x.shape[0]
    k = min(k, n)
    if choose_backend(n, dev, backend) == "faiss-ivf":
        return faiss_ivf_graph(x.cpu().numpy(), k, seed)
    if dev.type == "cpu" and block_size is None:
        return KNNGraph(*flat_knn(x.numpy(), k))
    rows = block_size or block_rows(n, BLOCK_ELEMENTS if dev.type == "cpu" else GPU_BLOCK_ELEMENTS)
    indices, distances = exact_knn(x, sq, k, rows)
    return KNNGraph(indices.numpy(), distances.numpy())
