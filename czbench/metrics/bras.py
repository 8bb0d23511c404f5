"""``bras``: batch-removal-adapted silhouette (BRAS).

Definition: docs/spec.md#bras (scib-metrics 0.5.10 ``scib_metrics.bras``, the Benchmarker's
batch-silhouette since 0.5.6; Rautenstrauch & Ohler 2025).

For each label ``c`` (skipped when its cells span one batch, or each is in its own batch), with
groups = batch inside ``c``: ``a_i`` = mean distance from ``i`` to the other cells of its batch,
``b_i`` = for ``"mean_other"`` (default) the mean distance to all cells of ``c`` outside ``i``'s
batch, for ``"furthest"`` the largest mean distance to one other batch;
``s_i = (b_i - a_i) / max(a_i, b_i)`` (0 when that is 0/0, and for a batch of one cell).
Label score = mean over its cells of ``1 - |s_i|``; BRAS = unweighted mean over kept labels,
in [0, 1], higher = better mixed. Distance: cosine (``1 - cos``, default) or Euclidean.

How: cosine distance sums are linear in the unit vectors,
``sum_{j in g} (1 - u_i . u_j) = |g| - u_i . sum_{j in g} u_j``, so every per-batch sum is one
matrix product (exact, no pairwise matrix); Euclidean uses the tiled ``group_distance_sums``.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import torch

from czbench.errors import InputError
from czbench.metrics.silhouette import TILE, group_distance_sums
from czbench.utils.arrays import as_codes, as_numpy_2d


def _cosine_group_sums(u: np.ndarray, codes: np.ndarray, n_groups: int) -> np.ndarray:
    """(n, n_groups): summed cosine distance from each unit row to each group (self: 0)."""
    sums = np.zeros((n_groups, u.shape[1]))
    np.add.at(sums, codes, u)
    return np.bincount(codes, minlength=n_groups)[None, :] - u @ sums.T


def _between(sums: np.ndarray, codes: np.ndarray, sizes: np.ndarray, mode: str) -> np.ndarray:
    """``b_i`` from the per-group distance sums for the chosen between-batch mode."""
    rows = np.arange(codes.size)
    if mode == "mean_other":
        own_sum = sums[rows, codes]
        return (sums.sum(axis=1) - own_sum) / (sizes.sum() - sizes[codes])
    means = sums / sizes[None, :]
    means[rows, codes] = -np.inf
    return means.max(axis=1)


def bras(embedding: Any, labels: Any, batch: Any, *,
         metric: Literal["cosine", "euclidean"] = "cosine",
         between_cluster_distances: Literal["mean_other", "furthest"] = "mean_other") -> float:
    """BRAS with scib-metrics 0.5.10's defaults (cosine, ``mean_other``, rescaled)."""
    if metric not in ("cosine", "euclidean"):
        raise InputError(f"metric: expected 'cosine' or 'euclidean', got {metric!r}")
    if between_cluster_distances not in ("mean_other", "furthest"):
        raise InputError("between_cluster_distances: expected 'mean_other' or 'furthest', got "
                         f"{between_cluster_distances!r}")
    x = as_numpy_2d(embedding, dtype=np.float64)
    n = x.shape[0]
    label_codes = as_codes(labels, n, name="labels")
    batch_codes = as_codes(batch, n, name="batch")
    if metric == "cosine":
        norms = np.linalg.norm(x, axis=1)
        if (norms == 0).any():
            raise InputError(f"embedding: {int((norms == 0).sum())} cells are all-zero vectors, "
                             "whose cosine distance is undefined")
        x = x / norms[:, None]
    per_label = []
    for code in np.unique(label_codes):
        mask = label_codes == code
        sub_codes = as_codes(batch_codes[mask], name="batch")
        n_groups = int(sub_codes.max()) + 1
        if n_groups == 1 or n_groups == sub_codes.size:
            continue
        if metric == "cosine":
            sums = _cosine_group_sums(x[mask], sub_codes, n_groups)
        else:
            sums = group_distance_sums(torch.from_numpy(x[mask]), sub_codes, n_groups,
                                       TILE["cpu"]).numpy()
        sizes = np.bincount(sub_codes).astype(np.float64)
        own_size = sizes[sub_codes]
        a = sums[np.arange(sub_codes.size), sub_codes] / np.maximum(own_size - 1, 1)
        b = _between(sums, sub_codes, sizes, between_cluster_distances)
        denom = np.maximum(a, b)
        s = np.where(denom > 0, (b - a) / np.where(denom > 0, denom, 1.0), 0.0)
        s = np.where(own_size > 1, s, 0.0)
        per_label.append(float(np.mean(1.0 - np.abs(s))))
    if not per_label:
        raise InputError("batch: no label spans two or more batches (with fewer batches than "
                         "cells), so bras is undefined")
    return float(np.mean(per_label))
