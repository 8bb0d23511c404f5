"""``ilisi_knn`` / ``clisi_knn``: local inverse Simpson index of batches / cell types.

Definition: docs/spec.md#ilisi_knn and docs/spec.md#clisi_knn (scib-metrics 0.5.10
``scib_metrics.ilisi_knn`` / ``clisi_knn``, Korsunsky et al. 2019).

Per cell, over its kNN row (scib-metrics' Benchmarker: 90 columns, the cell itself included and
then given weight 0, so 89 neighbours), a Gaussian kernel ``p_j ∝ exp(-beta * d_j)`` on the
**unsquared** Euclidean distances, ``beta`` found by binary search so that the kernel's entropy
is ``log(perplexity)`` (perplexity ``floor(k / 3)``, tolerance 1e-5 on the entropy, at most 50
steps, start ``beta = 1``). Simpson index ``S = sum_g (sum_{j in g} p_j)^2``; LISI = ``1 / S``
(``-1`` for a cell whose kernel is all zero, as scib-metrics returns). Scores use the median.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from czbench.errors import CZBenchWarning, InputError
from czbench.neighbors import KNNGraph
from czbench.utils.arrays import as_codes

#: Neighbourhood size of scib-metrics' Benchmarker for LISI (the cell itself included).
LISI_K = 90
#: Binary-search settings of scib-metrics' ``compute_simpson_index``.
_TOL = 1e-5
_MAX_STEPS = 50


def _entropy_and_p(dist: np.ndarray, keep: np.ndarray,
                   beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row entropy H and normalised kernel P for ``exp(-beta * d)`` (masked entries 0)."""
    p = np.where(keep, np.exp(-dist * beta[:, None]), 0.0)
    sum_p = p.sum(axis=1)
    ok = sum_p > 0
    safe = np.where(ok, sum_p, 1.0)
    h = np.where(ok, np.log(safe) + beta * (dist * p).sum(axis=1) / safe, 0.0)
    return h, np.where(ok[:, None], p / safe[:, None], 0.0)


def neighbour_probabilities(dist: np.ndarray, keep: np.ndarray,
                            perplexity: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-row binary search on ``beta`` (all rows at once); returns the final (H, P)."""
    n = dist.shape[0]
    log_perp = np.log(perplexity)
    beta = np.ones(n)
    lo = np.full(n, -np.inf)
    hi = np.full(n, np.inf)
    h, p = _entropy_and_p(dist, keep, beta)
    diff = h - log_perp
    active = np.abs(diff) >= _TOL
    for _ in range(_MAX_STEPS):
        rows = np.flatnonzero(active)
        if rows.size == 0:
            break
        b, d = beta[rows], diff[rows]
        up = d > 0  # entropy too high: sharpen the kernel
        new_beta = np.where(
            up,
            np.where(np.isinf(hi[rows]), b * 2.0, (b + hi[rows]) / 2.0),
            np.where(np.isinf(lo[rows]), b / 2.0, (b + lo[rows]) / 2.0),
        )
        lo[rows] = np.where(up, b, lo[rows])
        hi[rows] = np.where(up, hi[rows], b)
        beta[rows] = new_beta
        h_r, p_r = _entropy_and_p(dist[rows], keep[rows], new_beta)
        h[rows], p[rows] = h_r, p_r
        diff[rows] = h_r - log_perp
        active[rows] = np.abs(diff[rows]) >= _TOL
    return h, p


def lisi_values(knn: KNNGraph, labels: Any, perplexity: float | None = None) -> np.ndarray:
    """Per-cell LISI (float64) of ``labels`` over all of ``knn``'s columns (self weighted 0).

    ``perplexity`` defaults to ``floor(knn.k / 3)``. A cell whose kernel underflows to all
    zeros gets ``-1`` (scib-metrics' value), with a warning.
    """
    n, k = knn.indices.shape
    codes = as_codes(labels, n, name="labels")
    if perplexity is None:
        perplexity = float(k // 3)
    if not perplexity > 0:
        raise InputError(f"perplexity: expected a positive value (k >= 3 neighbours), got "
                         f"{perplexity} with k = {k}")
    n_groups = int(codes.max()) + 1
    keep = knn.indices != np.arange(n)[:, None]
    h, p = neighbour_probabilities(np.asarray(knn.distances, dtype=np.float64), keep,
                                   float(perplexity))
    flat = (np.arange(n)[:, None] * n_groups + codes[knn.indices]).ravel()
    shares = np.bincount(flat, weights=p.ravel(), minlength=n * n_groups).reshape(n, n_groups)
    simpson = np.where(h == 0, -1.0, (shares * shares).sum(axis=1))
    if (h == 0).any():
        warnings.warn(f"LISI: {int((h == 0).sum())} cells have an all-zero neighbour kernel; "
                      "their LISI is -1 (scib-metrics' convention)", CZBenchWarning, stacklevel=2)
    return 1.0 / simpson


def ilisi_knn(knn: KNNGraph, batches: Any, *, perplexity: float | None = None,
              scale: bool = True) -> float:
    """Median batch LISI; scaled ``(median - 1) / (B - 1)`` (B batches in the input), in [0, 1],
    higher = better mixed. Pass ``knn.head(LISI_K)`` for scib-metrics' Benchmarker value."""
    codes = as_codes(batches, knn.n_cells, name="batches")
    value = float(np.nanmedian(lisi_values(knn, codes, perplexity)))
    if not scale:
        return value
    n_batches = int(codes.max()) + 1
    if n_batches < 2:
        raise InputError("batches: ilisi_knn (scaled) needs at least 2 batches, got 1")
    return (value - 1.0) / (n_batches - 1)


def clisi_knn(knn: KNNGraph, labels: Any, *, perplexity: float | None = None,
              scale: bool = True) -> float:
    """Median label LISI; scaled ``(L - median) / (L - 1)`` (L labels in the input), in [0, 1],
    higher = purer neighbourhoods. Pass ``knn.head(LISI_K)`` for the Benchmarker value."""
    codes = as_codes(labels, knn.n_cells, name="labels")
    value = float(np.nanmedian(lisi_values(knn, codes, perplexity)))
    if not scale:
        return value
    n_labels = int(codes.max()) + 1
    if n_labels < 2:
        raise InputError("labels: clisi_knn (scaled) needs at least 2 labels, got 1")
    return (n_labels - value) / (n_labels - 1)
