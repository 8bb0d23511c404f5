"""Spatial baselines and controls: what an embedding must beat on data with coordinates.

* ``baseline:pca`` on spatial data: 50 principal components of ``log1p`` of the values as given
  (spatial values are often volume-normalised, not counts: no count model is applied, and the
  choice is recorded in the results file's ``dataset.baseline_transform``).
* ``baseline:spatial_pca``: 50 principal components of each cell's ``log1p`` expression
  concatenated with the mean ``log1p`` expression of its 15 nearest cells in space (the
  neighbourhood-augmented features of CellCharter/Banksy-style methods).
* ``control:coordinates``: the 2-D coordinates themselves (a model that only encodes position).
* ``control:shuffled_coordinates``: ``spatial_pca`` with the neighbourhoods taken on
  coordinates permuted across cells (seeded): the same features without real neighbours.

Definition: docs/spec.md#baselines-and-controls.
"""

from __future__ import annotations

from typing import Any

import anndata as ad
import numpy as np

from czbench.baselines.base import Baseline
from czbench.datasets.spatial import SPATIAL_TRANSFORM as TRANSFORM
from czbench.errors import InputError
from czbench.neighbors.spatial import spatial_neighbors

#: neighbours whose mean expression ``spatial_pca`` appends
SPATIAL_PCA_NEIGHBORS = 15
N_COMPS = 50


def coordinates(adata: ad.AnnData) -> np.ndarray:
    """The cells' coordinates (obs ``spatial_x``, ``spatial_y``, written when loaded)."""
    missing = [c for c in ("spatial_x", "spatial_y") if c not in adata.obs.columns]
    if missing:
        raise InputError(f"spatial_key: the dataset has no coordinates (obs {missing[0]}); "
                         f"load it with modality 'spatial' or a spatial_key")
    return adata.obs[["spatial_x", "spatial_y"]].to_numpy(np.float64)


def log1p_values(adata: ad.AnnData) -> np.ndarray:
    """``log1p`` of X as given, dense float32; negative values are a one-line error."""
    if adata.isbacked:
        raise InputError("baseline:pca: the dataset is open backed (X stays on disk); load it "
                         "without --backed")
    if adata.X is None or adata.n_vars < 2:
        raise InputError("baseline:pca: the dataset needs at least 2 genes in X")
    x = adata.X.toarray() if hasattr(adata.X, "toarray") else np.asarray(adata.X)
    x = np.asarray(x, dtype=np.float32)
    if not np.isfinite(x).all():
        raise InputError("X: contains NaN or infinite values")
    if (x < 0).any():
        raise InputError("X: has negative values; the spatial baselines take log1p of "
                         "non-negative expression (pass your own embedding instead)")
    return np.log1p(x)


def _pca(x: np.ndarray, seed: int) -> np.ndarray:
    import scanpy as sc

    n_comps = min(N_COMPS, x.shape[1] - 1, x.shape[0] - 1)
    return np.asarray(sc.pp.pca(x, n_comps=n_comps, random_state=seed), dtype=np.float32)


def log1p_pca(adata: ad.AnnData, seed: int) -> np.ndarray:
    """``baseline:pca`` on spatial data: PCA (centred, seeded) of ``log1p(X)``."""
    return _pca(log1p_values(adata), seed)


def spatial_pca(adata: ad.AnnData, seed: int, *, permute: bool = False,
                n_neighbors: int = SPATIAL_PCA_NEIGHBORS) -> np.ndarray:
    """PCA of [``log1p(X)``, the mean ``log1p(X)`` of each cell's ``n_neighbors`` nearest
    other cells]; with ``permute`` the neighbourhoods come from coordinates shuffled across
    cells (seeded), the ``control:shuffled_coordinates``."""
    xy = coordinates(adata)
    if permute:
        xy = xy[np.random.default_rng([seed, 7]).permutation(xy.shape[0])]
    x = log1p_values(adata)
    adjacency = spatial_neighbors(xy, n_neighbors=n_neighbors)
    degree = np.asarray(adjacency.sum(axis=1), dtype=np.float32)
    neighbours = np.asarray(adjacency @ x, dtype=np.float32) / degree
    return _pca(np.hstack([x, neighbours]), seed)


def spatial_controls(adata: ad.AnnData, seed: int) -> dict[str, Any]:
    """``control:coordinates`` and ``control:shuffled_coordinates``."""
    return {"control:coordinates": coordinates(adata).astype(np.float32),
            "control:shuffled_coordinates": spatial_pca(adata, seed, permute=True)}


SPATIAL_PCA = Baseline(
    "spatial_pca", lambda adata, seed: spatial_pca(adata, seed),
    description="spatial data: 50 PCs of log1p expression + its 15 spatial neighbours' mean")

__all__ = ["SPATIAL_PCA", "TRANSFORM", "coordinates", "log1p_pca", "log1p_values",
           "spatial_controls", "spatial_pca"]
