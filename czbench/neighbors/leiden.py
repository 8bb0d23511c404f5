"""UMAP-style fuzzy kNN connectivities and igraph Leiden clustering.

``fuzzy_connectivities`` builds the same weighted graph as ``scanpy.pp.neighbors`` (method
``umap``): per cell a distance offset rho (nearest non-zero neighbour) and a bandwidth sigma
found by binary search so that sum_j exp(-(d_ij - rho_i) / sigma_i) = log2(k), then the fuzzy
union A + A^T - A*A^T. ``leiden`` runs igraph's Leiden (modularity) on it, seeded exactly as
scanpy's ``flavor="igraph"`` is, so the same graph and seed give the same clusters.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from czbench.context import seeded_igraph
from czbench.neighbors.knngraph import KNNGraph
from czbench.utils.checks import DEFAULT_SEED

_SMOOTH_K_TOLERANCE = 1e-5
_MIN_K_DIST_SCALE = 1e-3
_N_ITER = 64


def _smooth_knn_dist(distances: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised binary search for (sigma, rho) per row; ``distances[:, 0]`` is the cell itself."""
    n = distances.shape[0]
    target = np.log2(k)
    positive = np.where(distances > 0, distances, np.inf)
    rho = positive.min(axis=1)
    rho[~np.isfinite(rho)] = 0.0
    others = distances[:, 1:]
    lo = np.zeros(n)
    hi = np.full(n, np.inf)
    mid = np.ones(n)
    active = np.ones(n, dtype=bool)
    for _ in range(_N_ITER):
        if not active.any():
            break
        gap = others[active] - rho[active, None]
        psum = np.exp(-np.clip(gap, 0.0, None) / mid[active, None]).sum(axis=1)
        done = np.abs(psum - target) < _SMOOTH_K_TOLERANCE
        too_big = (psum > target) & ~done
        too_small = ~too_big & ~done
        rows = np.flatnonzero(active)
        hi[rows[too_big]] = mid[rows[too_big]]
        mid[rows[too_big]] = (lo[rows[too_big]] + hi[rows[too_big]]) / 2.0
        grow = rows[too_small]
        lo[grow] = mid[grow]
        unbounded = ~np.isfinite(hi[grow])
        mid[grow[unbounded]] *= 2.0
        bounded = grow[~unbounded]
        mid[bounded] = (lo[bounded] + hi[bounded]) / 2.0
        active[rows[done]] = False
    sigma = mid
    row_mean = distances.mean(axis=1)
    floor = np.where(rho > 0, _MIN_K_DIST_SCALE * row_mean, _MIN_K_DIST_SCALE * distances.mean())
    sigma = np.maximum(sigma, floor)
    return sigma, rho


def fuzzy_connectivities(knn: KNNGraph, n_neighbors: int = 15) -> sp.csr_matrix:
    """Symmetric fuzzy-union connectivities of the ``n_neighbors``-NN graph (self included)."""
    graph = knn.head(min(n_neighbors, knn.n_cells))
    n, k = graph.indices.shape
    dist = graph.distances.astype(np.float32).astype(np.float64)
    sigma, rho = _smooth_knn_dist(dist, k)
    gap = dist - rho[:, None]
    weights = np.exp(-np.clip(gap, 0.0, None) / sigma[:, None])  # exp(0) = 1 where gap <= 0
    weights[graph.indices == np.arange(n)[:, None]] = 0.0
    rows = np.repeat(np.arange(n), k)
    a = sp.csr_matrix((weights.ravel().astype(np.float32), (rows, graph.indices.ravel())),
                      shape=(n, n))
    a.eliminate_zeros()
    at = a.T.tocsr()
    union = (a + at - a.multiply(at)).tocsr()
    union.eliminate_zeros()
    union.sort_indices()
    return union


def leiden(connectivities: sp.spmatrix, *, resolution: float = 1.0, n_iterations: int = 2,
           seed: int = DEFAULT_SEED) -> np.ndarray:
    """igraph Leiden (modularity objective, edge weights = connectivities); cluster ids (int64)."""
    import igraph as ig

    adj = sp.csr_matrix(connectivities)
    adj.eliminate_zeros()
    adj.sort_indices()
    coo = adj.tocoo()
    edges = np.column_stack([coo.row, coo.col])
    graph = ig.Graph(n=adj.shape[0], edges=edges, directed=False,
                     edge_attrs={"weight": coo.data.astype(np.float64)})
    with seeded_igraph(seed):
        part = graph.community_leiden(objective_function="modularity", weights="weight",
                                      resolution=resolution, n_iterations=n_iterations)
    return np.asarray(part.membership, dtype=np.int64)
