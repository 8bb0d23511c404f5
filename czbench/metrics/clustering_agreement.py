"""Agreement between two labelings: adjusted Rand index and normalised mutual information.

Computed from the contingency table with exact integer pair counts (Python integers), so they do
not overflow at any number of cells (torchmetrics 1.9's ``AdjustedRandScore`` does, at ~1e5).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from czbench._arrays import as_codes
from czbench.errors import InputError


def contingency(labels_true: Any, labels_pred: Any) -> sp.csr_matrix:
    """Sparse (true classes x predicted clusters) table of co-occurrence counts (int64)."""
    t = as_codes(labels_true, name="labels_true")
    p = as_codes(labels_pred, len(t), name="labels_pred")
    if len(t) == 0:
        raise InputError("labels_true: expected at least one cell, got none")
    ones = np.ones(len(t), dtype=np.int64)
    table = sp.coo_matrix((ones, (t, p)), shape=(t.max() + 1, p.max() + 1)).tocsr()
    table.sum_duplicates()
    return table


def _pairs(counts: np.ndarray) -> int:
    c = counts.astype(object)
    return int((c * (c - 1) // 2).sum())


def adjusted_rand_index(labels_true: Any, labels_pred: Any) -> float:
    """Adjusted Rand index (Hubert & Arabie), equal to scikit-learn's ``adjusted_rand_score``."""
    table = contingency(labels_true, labels_pred)
    n = int(table.sum())
    index = _pairs(table.data)
    pairs_true = _pairs(np.asarray(table.sum(axis=1)).ravel())
    pairs_pred = _pairs(np.asarray(table.sum(axis=0)).ravel())
    total = n * (n - 1) // 2
    numerator = 2 * (index * total - pairs_true * pairs_pred)
    denominator = (pairs_true + pairs_pred) * total - 2 * pairs_true * pairs_pred
    if denominator == 0:  # both labelings trivial (one cluster, or all singletons)
        return 1.0
    return float(numerator / denominator)


def _entropy(counts: np.ndarray) -> float:
    counts = counts[counts > 0].astype(np.float64)
    p = counts / counts.sum()
    return float(-(p * np.log(p)).sum())


def normalized_mutual_info(labels_true: Any, labels_pred: Any) -> float:
    """Mutual information normalised by the arithmetic mean of the two entropies
    (scikit-learn's ``normalized_mutual_info_score`` default)."""
    table = contingency(labels_true, labels_pred)
    rows = np.asarray(table.sum(axis=1)).ravel()
    cols = np.asarray(table.sum(axis=0)).ravel()
    if len(rows) == len(cols) == 1:
        return 1.0
    coo = table.tocoo()
    n = float(rows.sum())
    nij = coo.data.astype(np.float64)
    mi = float(np.sum(nij / n * (np.log(nij) + np.log(n) - np.log(rows[coo.row].astype(float))
                                  - np.log(cols[coo.col].astype(float)))))
    mi = max(mi, 0.0)
    if mi == 0.0:
        return 0.0
    normalizer = (_entropy(rows) + _entropy(cols)) / 2.0
    return float(mi / max(normalizer, np.finfo(np.float64).eps))
