"""Neighbourhoods in physical space: cells' 2-D coordinates (µm), their k nearest cells or the
cells within a radius (the cell itself excluded), and square tiles for spatially blocked folds.

A k-d tree (scikit-learn's ``KDTree``) answers both queries in O(n log n) for 2-D points, so a
million cells take seconds (benchmarks/bench_spatial.py).
Definition: docs/spec.md#task-niche_composition.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import scipy.sparse as sp

from czbench.errors import CZBenchWarning, InputError

#: the tiles of a slice per side by default (4 x 4 = 16 tiles for 5 folds)
DEFAULT_TILES = 4


def check_coordinates(coords: Any, name: str = "spatial") -> np.ndarray:
    """Coordinates as an n x 2 float64 array: one-line errors for another shape (1-D, 3-D),
    missing (NaN) or infinite values, or every cell at one point."""
    try:
        array = np.asarray(coords, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise InputError(f"{name}: expected numeric cells x 2 coordinates, got "
                         f"{type(coords).__name__}") from err
    if array.ndim != 2 or array.shape[1] != 2:
        shape = " x ".join(map(str, array.shape)) or "a scalar"
        raise InputError(f"{name}: expected cells x 2 coordinates (x, y), got shape {shape}; "
                         f"3-D data: pass one section (or project it) first")
    if array.shape[0] < 2:
        raise InputError(f"{name}: expected at least 2 cells, got {array.shape[0]}")
    bad = int((~np.isfinite(array)).any(axis=1).sum())
    if bad:
        raise InputError(f"{name}: {bad} cells have missing (NaN) or infinite coordinates")
    if np.ptp(array, axis=0).max() == 0:
        raise InputError(f"{name}: every cell is at the same point; there is no space to "
                         f"score")
    return array


def spatial_neighbors(coords: Any, *, n_neighbors: int | None = None,
                      radius: float | None = None) -> sp.csr_matrix:
    """The cells x cells 0/1 adjacency of each cell's ``n_neighbors`` nearest other cells
    (Euclidean; ties broken by the tree's order) or of the other cells within ``radius``
    (inclusive); the cell itself is never its own neighbour. Exactly one of the two is given.
    With a radius, a cell may have no neighbour (an empty row)."""
    from sklearn.neighbors import KDTree

    xy = check_coordinates(coords)
    n = xy.shape[0]
    if (n_neighbors is None) == (radius is None):
        raise InputError("spatial neighbours: give exactly one of n_neighbors and radius")
    tree = KDTree(xy)
    if n_neighbors is not None:
        if int(n_neighbors) < 1:
            raise InputError(f"n_neighbors: expected >= 1, got {n_neighbors}")
        k = min(int(n_neighbors), n - 1)
        if k < int(n_neighbors):
            warnings.warn(f"n_neighbors: {n_neighbors} requested but only {n} cells; each "
                          f"cell's neighbourhood is the {k} others", CZBenchWarning,
                          stacklevel=2)
        _, found = tree.query(xy, k=k + 1)
        self_hit = found == np.arange(n)[:, None]
        # drop the cell itself; where a duplicate point hid it, drop the farthest instead
        drop = np.where(self_hit.any(axis=1), self_hit.argmax(axis=1), k)
        keep = np.ones_like(found, dtype=bool)
        keep[np.arange(n), drop] = False
        cols = found[keep].reshape(n, k)
        indptr = np.arange(0, n * k + 1, k)
    else:
        if not np.isfinite(radius) or radius <= 0:
            raise InputError(f"radius: expected a positive distance in the coordinates' "
                             f"unit, got {radius}")
        found = tree.query_radius(xy, r=float(radius))
        lists = [row[row != i] for i, row in enumerate(found)]
        sizes = np.fromiter((len(r) for r in lists), dtype=np.int64, count=n)
        indptr = np.concatenate([[0], np.cumsum(sizes)])
        cols = np.concatenate(lists) if n else np.zeros(0, np.int64)
    cols = np.asarray(cols, dtype=np.int64).ravel()
    adjacency = sp.csr_matrix((np.ones(cols.size, np.float32), cols, indptr), shape=(n, n))
    adjacency.sort_indices()
    return adjacency


def spatial_tiles(coords: Any, n_tiles: int = DEFAULT_TILES) -> np.ndarray:
    """Each cell's tile: the bounding box cut into ``n_tiles`` x ``n_tiles`` equal squares'
    worth of columns and rows (tile id = column * n_tiles + row; a cell on the far edge joins
    the last tile). Tiles that hold no cell simply do not occur."""
    xy = check_coordinates(coords)
    if int(n_tiles) < 1:
        raise InputError(f"n_tiles: expected >= 1, got {n_tiles}")
    n_tiles = int(n_tiles)
    low, span = xy.min(axis=0), np.ptp(xy, axis=0)
    span = np.where(span > 0, span, 1.0)
    index = np.minimum(((xy - low) / span * n_tiles).astype(np.int64), n_tiles - 1)
    return index[:, 0] * n_tiles + index[:, 1]


__all__ = ["DEFAULT_TILES", "check_coordinates", "spatial_neighbors", "spatial_tiles"]
