"""Spatial metrics: pure functions over coordinates, labels and predictions.

* :func:`neighborhood_composition` -- each cell's neighbours' cell-type shares.
* :func:`blocked_folds` -- K folds whose test sets are whole spatial tiles (seeded).
* :func:`mean_r2`, :func:`mean_js_distance` -- how well predicted compositions match.
* :func:`chaos`, :func:`pas` -- spatial coherence of clusters, as SDMBench defines them
  (Yuan et al. 2024, Nat Methods): lower is more coherent.

Neighbourhoods and tiles come from :mod:`czbench.neighbors.spatial`. Definitions:
docs/spec.md#task-niche_composition and docs/spec.md#task-spatial_domains.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from czbench.errors import InputError
from czbench.neighbors.spatial import check_coordinates, spatial_neighbors, spatial_tiles

#: neighbours of the PAS score (SDMBench's k)
PAS_NEIGHBORS = 10


def neighborhood_composition(adjacency: sp.spmatrix, codes: Any, n_types: int | None = None
                             ) -> np.ndarray:
    """Cells x types: the share of each type (``codes``, 0..T-1) among each cell's neighbours
    (the rows of ``adjacency``, the cell itself excluded by construction). A cell with no
    neighbour gets a row of NaN."""
    codes = np.asarray(codes)
    if codes.ndim != 1 or codes.shape[0] != adjacency.shape[0]:
        raise InputError(f"labels: expected {adjacency.shape[0]} codes, got shape {codes.shape}")
    n_types = int(codes.max()) + 1 if n_types is None else int(n_types)
    onehot = sp.csr_matrix((np.ones(codes.size), (np.arange(codes.size), codes)),
                           shape=(codes.size, n_types))
    counts = np.asarray((sp.csr_matrix(adjacency) @ onehot).todense(), dtype=np.float64)
    totals = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, counts / np.where(totals > 0, totals, 1.0), np.nan)


def blocked_folds(tiles: Any, n_folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) positions of ``n_folds`` folds whose test sets are whole tiles: the
    non-empty tiles in a seeded random order, dealt to the folds in turn (a tile's cells are
    never split). Fewer tiles than folds is a one-line error."""
    tiles = np.asarray(tiles)
    present = np.unique(tiles)
    if present.size < int(n_folds):
        raise InputError(f"n_tiles: {present.size} non-empty spatial tile(s), fewer than "
                         f"n_folds={n_folds}; use more tiles or fewer folds")
    order = np.random.default_rng(seed).permutation(present)
    fold_of = dict(zip(order.tolist(), (np.arange(order.size) % n_folds).tolist(),
                       strict=True))
    fold = np.array([fold_of[t] for t in tiles.tolist()])
    rows = np.arange(tiles.size)
    return [(rows[fold != f], rows[fold == f]) for f in range(int(n_folds))]


def mean_r2(true: Any, predicted: Any) -> float:
    """Coefficient of determination per column (1 - SS_res / SS_tot), averaged over the
    columns that vary in ``true`` (a constant column has no R²); higher is better, 1 is
    perfect, 0 is the column mean, negative is worse than the mean."""
    true, predicted = np.asarray(true, np.float64), np.asarray(predicted, np.float64)
    if true.shape != predicted.shape or true.ndim != 2:
        raise InputError(f"predicted: expected shape {true.shape}, got {predicted.shape}")
    ss_tot = ((true - true.mean(axis=0)) ** 2).sum(axis=0)
    ss_res = ((true - predicted) ** 2).sum(axis=0)
    varies = ss_tot > 0
    if not varies.any():
        return float("nan")
    return float(np.mean(1.0 - ss_res[varies] / ss_tot[varies]))


def as_distribution(values: Any) -> np.ndarray:
    """Rows clipped at 0 and divided by their sum (a row with no positive value: uniform)."""
    values = np.clip(np.asarray(values, np.float64), 0.0, None)
    totals = values.sum(axis=1, keepdims=True)
    uniform = np.full_like(values, 1.0 / values.shape[1])
    return np.where(totals > 0, values / np.where(totals > 0, totals, 1.0), uniform)


def mean_js_distance(true: Any, predicted: Any) -> float:
    """Mean over rows of the Jensen-Shannon distance (base 2, in [0, 1]; lower is better)
    between ``true`` and ``predicted`` compositions; both are made distributions first
    (:func:`as_distribution`: a regression's negative shares are clipped)."""
    p, q = as_distribution(true), as_distribution(predicted)
    if p.shape != q.shape:
        raise InputError(f"predicted: expected shape {p.shape}, got {q.shape}")
    m = 0.5 * (p + q)
    with np.errstate(invalid="ignore", divide="ignore"):
        kl_p = np.where(p > 0, p * np.log2(np.where(p > 0, p, 1.0) / m), 0.0).sum(axis=1)
        kl_q = np.where(q > 0, q * np.log2(np.where(q > 0, q, 1.0) / m), 0.0).sum(axis=1)
    return float(np.mean(np.sqrt(np.clip(0.5 * (kl_p + kl_q), 0.0, None))))


def _codes(labels: Any, n: int) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.shape[0] != n:
        raise InputError(f"labels: expected {n} cluster labels, got shape {labels.shape}")
    return np.unique(labels, return_inverse=True)[1].ravel()


def chaos(labels: Any, coords: Any) -> float:
    """SDMBench's CHAOS: coordinates z-scored per axis; for each cluster of more than 2 cells,
    the sum over its cells of the distance to the nearest other cell of the same cluster;
    the total divided by the number of cells. Lower is more spatially coherent."""
    from sklearn.neighbors import KDTree

    xy = check_coordinates(coords)
    xy = (xy - xy.mean(axis=0)) / xy.std(axis=0)
    codes = _codes(labels, xy.shape[0])
    total = 0.0
    for code in np.unique(codes):
        members = xy[codes == code]
        if members.shape[0] <= 2:
            continue
        distances, _ = KDTree(members).query(members, k=2)
        total += float(distances[:, 1].sum())
    return total / xy.shape[0]


def pas(labels: Any, coords: Any, n_neighbors: int = PAS_NEIGHBORS) -> float:
    """SDMBench's PAS: the share of cells whose ``n_neighbors`` (10) nearest other cells (raw
    coordinates) are more than half in another cluster. Lower is more spatially coherent."""
    adjacency = spatial_neighbors(coords, n_neighbors=n_neighbors)
    codes = _codes(labels, adjacency.shape[0])
    k = np.diff(adjacency.indptr)
    other = np.add.reduceat((codes[adjacency.indices] != np.repeat(codes, k)).astype(np.int64),
                            adjacency.indptr[:-1]) if adjacency.nnz else np.zeros(len(codes))
    return float(np.mean(other > k / 2))


__all__ = ["PAS_NEIGHBORS", "as_distribution", "blocked_folds", "chaos", "mean_js_distance",
           "mean_r2", "neighborhood_composition", "pas", "spatial_neighbors", "spatial_tiles"]
