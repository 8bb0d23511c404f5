"""``kbet_per_label``: kBET acceptance rate per cell type, on diffusion-map neighbourhoods.

Definition: docs/spec.md#kbet_per_label (scib-metrics 0.5.10 ``scib_metrics.kbet_per_label``;
kBET by Büttner et al. 2019, per-label protocol of scIB, Luecken et al. 2022).

``kbet`` on a kNN graph: per cell, Pearson's chi-square of the batch counts among its ``k``
neighbours (the cell itself included) against ``k`` times the batch frequencies of the whole
input, ``B - 1`` degrees of freedom; the acceptance rate is the share of cells with
``p >= alpha``.

``kbet_per_label``: UMAP fuzzy connectivities of the given kNN graph (scib-metrics' Benchmarker:
50 neighbours, self included), then per label ``c``: skipped (NaN) when it has fewer than 10
cells or one batch; ``k0 = min(70, max(10, floor(mean cells per batch in c / 4)))``; if the
label's subgraph is one connected component, kBET on the ``k0 + 1`` nearest neighbours (self
included) in its diffusion-map embedding; otherwise components of fewer than ``3 k0`` cells are
dropped, and if under 75% of the cells remain the label scores 0, else kBET runs on the
remaining subgraph likewise. Score = mean over non-skipped labels, in [0, 1], higher = better.

Diffusion map (scanpy's, as scib-metrics uses it): density-normalised kernel ``K = Q C Q``
(``Q = diag(1 / column sums of C)``), symmetric transitions ``T = Z K Z`` (``Z = diag(1 /
sqrt(column sums of K))``), both in float32; the ``m`` eigenpairs of largest magnitude (ARPACK,
start vector drawn from ``seed``), ``m`` = the smallest of ``diffusion_n_comps`` and ``n' - 1``
over this and every earlier label (sorted order) that reached this step: scib-metrics 0.5.10
overwrites its argument inside the loop. Eigenvector ``l`` is scaled by ``l / (1 - l)``, by 1
where ``l`` (float32, + 1e-8) equals 1. scib-metrics searches that embedding with pynndescent;
czbench searches it exactly.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components
from scipy.sparse.linalg import eigsh
from scipy.special import gammainc

from czbench.context import DEFAULT_SEED
from czbench.errors import InputError
from czbench.neighbors import KNNGraph, knn_graph
from czbench.neighbors.leiden import fuzzy_connectivities
from czbench.utils.arrays import as_codes
from czbench.utils.threads import single_threaded_blas

#: Neighbourhood size of scib-metrics' Benchmarker for kBET (the cell itself included).
KBET_K = 50
_MIN_CELLS = 10
_SIZE_MAX = 2**31 - 1


def kbet(knn: KNNGraph, batches: Any, *,
         alpha: float = 0.05) -> tuple[float, np.ndarray, np.ndarray]:
    """(acceptance rate, per-cell chi-square statistics, per-cell p-values) over ``knn``'s
    columns, expected batch shares taken from all of ``batches``."""
    n, k = knn.indices.shape
    codes = as_codes(batches, n, name="batches")
    n_batches = int(codes.max()) + 1
    expected = np.bincount(codes, minlength=n_batches) / n * k
    flat = (np.arange(n)[:, None] * n_batches + codes[knn.indices]).ravel()
    observed = np.bincount(flat, minlength=n * n_batches).reshape(n, n_batches)
    stats = (np.square(observed - expected) / expected).sum(axis=1)
    with np.errstate(invalid="ignore"):
        p_values = 1.0 - gammainc((n_batches - 1) / 2.0, stats / 2.0)
    return float(np.mean(p_values >= alpha)), stats, p_values


def diffusion_embedding(conn: sp.spmatrix, n_comps: int, seed: int) -> np.ndarray:
    """(n, n_comps) float32 multiscale diffusion-map coordinates of a connectivity graph."""
    conn = sp.csr_matrix(conn, dtype=np.float32)
    q = np.asarray(conn.sum(axis=0)).ravel()
    q_inv = sp.diags(1.0 / q)
    kernel = q_inv @ conn @ q_inv
    z_inv = sp.diags(1.0 / np.sqrt(np.asarray(kernel.sum(axis=0)).ravel()))
    transitions = (z_inv @ kernel @ z_inv).astype(np.float64)
    v0 = np.random.default_rng(seed).uniform(-1.0, 1.0, transitions.shape[0])
    with single_threaded_blas():  # many small BLAS calls: graceful beside busy processes
        evals, evecs = eigsh(transitions, k=n_comps, which="LM", v0=v0)
    evals = evals.astype(np.float32) + np.float32(1e-8)
    gap = np.where(evals == 1, np.float32(1), np.float32(1) - evals)
    scale = np.where(evals == 1, evals, evals / gap).astype(np.float32)
    return evecs.astype(np.float32) * scale


def _k0(batch_codes: np.ndarray, n_obs: int) -> int:
    counts = np.bincount(batch_codes)
    k0 = min(70, max(10, int(np.floor(counts[counts > 0].mean() / 4))))
    return int(np.floor(_SIZE_MAX / n_obs)) if k0 * n_obs >= _SIZE_MAX else k0


def _diffusion_kbet(conn: sp.spmatrix, batch_codes: np.ndarray, k0: int, alpha: float,
                    n_comps: int, seed: int) -> float:
    n_obs = conn.shape[0]
    emb = diffusion_embedding(conn, n_comps, seed)
    graph = knn_graph(emb, k0 + 1, seed=seed)  # capped at n_obs cells
    missing = k0 + 1 - graph.k
    if missing > 0:
        # scib-metrics: pynndescent pads the row with index -1, which numpy reads as the last
        # cell, so that cell's batch is counted ``missing`` extra times (a 10-cell label).
        pad = np.full((n_obs, missing), n_obs - 1)
        graph = KNNGraph(np.hstack([graph.indices, pad]),
                         np.hstack([graph.distances, np.full((n_obs, missing), np.inf)]))
    return kbet(graph, batch_codes, alpha=alpha)[0]


def kbet_label_scores(knn: KNNGraph, batches: Any, labels: Any, *, alpha: float = 0.05,
                      diffusion_n_comps: int = 100, seed: int = DEFAULT_SEED) -> np.ndarray:
    """kBET acceptance rate per label code (labels sorted as ``as_codes`` sorts); NaN for
    skipped labels (fewer than 10 cells, or one batch)."""
    n = knn.n_cells
    batch_codes = as_codes(batches, n, name="batches")
    label_codes = as_codes(labels, n, name="labels")
    conn = fuzzy_connectivities(knn, n_neighbors=knn.k)
    scores = np.full(int(label_codes.max()) + 1, np.nan)
    n_comps = diffusion_n_comps
    for code in range(scores.size):
        idx = np.flatnonzero(label_codes == code)
        sub_batches = batch_codes[idx]
        if idx.size < _MIN_CELLS or np.unique(sub_batches).size == 1:
            continue
        k0 = _k0(sub_batches, idx.size)
        sub = conn[idx][:, idx]
        n_comp, comp = connected_components(sub, connection="strong")
        if n_comp > 1:
            keep = np.bincount(comp)[comp] >= 3 * k0
            if keep.mean() < 0.75:
                scores[code] = 0.0
                continue
            sub, sub_batches = sub[keep][:, keep], sub_batches[keep]
        # scib-metrics 0.5.10 overwrites its ``diffusion_n_comps`` argument here, so the cap
        # carries over to every later label (in sorted label order): reproduced on purpose.
        n_comps = min(n_comps, sub.shape[0] - 1)
        scores[code] = _diffusion_kbet(sub, sub_batches, k0, alpha, n_comps, seed)
    return scores


def kbet_per_label(knn: KNNGraph, batches: Any, labels: Any, *, alpha: float = 0.05,
                   diffusion_n_comps: int = 100, seed: int = DEFAULT_SEED) -> float:
    """Mean kBET acceptance rate over labels (scib-metrics' protocol); pass
    ``knn.head(KBET_K)`` for the Benchmarker value. ``seed`` drives the eigensolver start."""
    scores = kbet_label_scores(knn, batches, labels, alpha=alpha,
                               diffusion_n_comps=diffusion_n_comps, seed=seed)
    if np.isnan(scores).all():
        raise InputError("labels: every label has fewer than 10 cells or a single batch, so "
                         "kbet_per_label is undefined")
    return float(np.nanmean(scores))
