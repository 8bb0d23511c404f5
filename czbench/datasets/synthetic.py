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
