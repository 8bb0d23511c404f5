"""Synthetic single-cell-like embeddings with known structure, for scale runs and tests.

``gaussian_mixture`` draws a mixture of low-rank Gaussians: each cell type has a centre and its
own ``rank``-dimensional principal subspace (cells vary along a few programmes, as real cell
states do), plus small isotropic noise; each batch adds a shift. Every draw takes ``seed``.
"""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd

from czbench.errors import InputError


def gaussian_mixture(n_cells: int, n_dims: int = 64, *, n_types: int = 12, n_batches: int = 4,
                     rank: int = 8, centre_scale: float = 1.5, batch_scale: float = 0.5,
                     noise: float = 0.3, seed: int = 0,
                     chunk: int = 1 << 18) -> ad.AnnData:
    """AnnData with ``obsm["X_emb"]`` (float32, n_cells x n_dims) and obs ``cell_type`` and
    ``batch`` (categorical). ``X`` holds the same values (they are not counts, so count-based
    baselines refuse it with a clear error)."""
    for name, value, low in (("n_cells", n_cells, 2), ("n_dims", n_dims, 1),
                             ("n_types", n_types, 1), ("n_batches", n_batches, 1),
                             ("rank", rank, 0)):
        if int(value) < low:
            raise InputError(f"{name}: expected an integer >= {low}, got {value}")
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, centre_scale, size=(n_types, n_dims))
    loadings = rng.normal(0.0, 1.0 / np.sqrt(max(rank, 1)), size=(n_types, rank, n_dims))
    shifts = rng.normal(0.0, batch_scale, size=(n_batches, n_dims))
    types = rng.integers(0, n_types, size=n_cells)
    batches = rng.integers(0, n_batches, size=n_cells)
    emb = np.empty((n_cells, n_dims), dtype=np.float32)
    for start in range(0, n_cells, chunk):
        stop = min(n_cells, start + chunk)
        t, b = types[start:stop], batches[start:stop]
        factors = rng.normal(size=(stop - start, rank))
        values = centres[t] + np.einsum("nr,nrd->nd", factors, loadings[t]) + shifts[b]
        values += rng.normal(0.0, noise, size=(stop - start, n_dims))
        emb[start:stop] = values
    obs = pd.DataFrame({
        "cell_type": pd.Categorical([f"type_{i:02d}" for i in types]),
        "batch": pd.Categorical([f"batch_{i}" for i in batches]),
    }, index=[f"cell_{i}" for i in range(n_cells)])
    adata = ad.AnnData(X=emb, obs=obs)
    adata.obsm["X_emb"] = adata.X
    adata.uns["czbench"] = {"name": f"synthetic_gaussian_mixture_{n_cells}", "seed": int(seed)}
    return adata


def spatial_tissue(n_cells: int, n_genes: int = 40, *, n_types: int = 6, n_regions: int = 4,
                   purity: float = 0.7, seed: int = 0) -> ad.AnnData:
    """A synthetic tissue slice: cells uniform in a square (about 100 µm² per cell, like
    MERFISH), ``n_regions`` regions (the Voronoi cells of random centres), each favouring one
    cell type (with probability ``purity``, else a uniform type), and Poisson expression by
    type. obs ``cell_type`` and ``region`` (categorical), ``obsm["spatial"]`` (µm), X float32
    counts. Neighbourhoods here carry signal: a cell's neighbours share its region."""
    if int(n_cells) < 10 or int(n_genes) < 2 or int(n_types) < 2 or int(n_regions) < 1:
        raise InputError(f"spatial_tissue: expected n_cells >= 10, n_genes >= 2, n_types >= 2, "
                         f"n_regions >= 1, got {n_cells}, {n_genes}, {n_types}, {n_regions}")
    rng = np.random.default_rng(seed)
    side = 10.0 * np.sqrt(n_cells)
    xy = rng.uniform(0.0, side, (n_cells, 2))
    centres = rng.uniform(0.0, side, (n_regions, 2))
    region = np.zeros(n_cells, dtype=np.int64)
    best = np.full(n_cells, np.inf)
    for r, centre in enumerate(centres):  # Voronoi by brute force: few regions
        d = ((xy - centre) ** 2).sum(axis=1)
        region = np.where(d < best, r, region)
        best = np.minimum(best, d)
    favourite = rng.integers(0, n_types, n_regions)
    types = np.where(rng.random(n_cells) < purity, favourite[region],
                     rng.integers(0, n_types, n_cells))
    means = rng.gamma(2.0, 1.0, (n_types, n_genes)) * np.exp(rng.normal(0, 1, (n_types, 1)))
    x = rng.poisson(means[types]).astype(np.float32)
    obs = pd.DataFrame({
        "cell_type": pd.Categorical([f"type_{i}" for i in types]),
        "region": pd.Categorical([f"region_{i}" for i in region]),
    }, index=[f"cell_{i}" for i in range(n_cells)])
    adata = ad.AnnData(X=x, obs=obs, var=pd.DataFrame(index=[f"gene_{j}" for j in
                                                             range(n_genes)]))
    adata.obsm["spatial"] = xy
    return adata
