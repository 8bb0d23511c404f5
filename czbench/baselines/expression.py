"""The generic baselines, computed from a dataset's expression.

* ``pca``: normalize_total -> log1p -> 3,000 highly variable genes (Seurat flavour; all genes
  when there are fewer) -> 50 principal components, seeded. Needs raw counts
  (:func:`czbench.datasets.counts.counts_matrix`): scaled or log data is refused with a clear
  error instead of being normalised a second time.
* ``raw``: the expression matrix as it is (the reference baseline for label prediction).

Definition: docs/spec.md#baselines-and-controls.
"""

from __future__ import annotations

from typing import Any

import anndata as ad
import numpy as np

from czbench.baselines.base import Baseline
from czbench.datasets.counts import counts_matrix
from czbench.errors import InputError


def pca_baseline(adata: ad.AnnData, *, n_top_genes: int = 3000, n_comps: int = 50,
                 seed: int = 42) -> np.ndarray:
    """The PCA baseline embedding (cells x min(50, genes - 1, cells - 1)), float32."""
    import scanpy as sc

    counts = counts_matrix(adata, what="baseline:pca")
    work = ad.AnnData(X=counts.astype(np.float32), obs=adata.obs[[]], var=adata.var[[]])
    sc.pp.normalize_total(work)
    sc.pp.log1p(work)
    if work.n_vars > n_top_genes:
        sc.pp.highly_variable_genes(work, n_top_genes=n_top_genes, flavor="seurat")
        work = work[:, work.var["highly_variable"].to_numpy()].copy()
    n_comps = min(n_comps, work.n_vars - 1, work.n_obs - 1)
    if n_comps < 1:
        raise InputError(f"baseline:pca: needs at least 2 cells and 2 genes, the dataset has "
                         f"{adata.n_obs} x {adata.n_vars}")
    sc.pp.pca(work, n_comps=n_comps, random_state=seed)
    return np.asarray(work.obsm["X_pca"], dtype=np.float32)


def raw_baseline(adata: ad.AnnData) -> Any:
    """The expression matrix as it is (sparse stays sparse), float32."""
    if adata.isbacked:
        raise InputError("baseline:raw: the dataset is open backed (X stays on disk); load it "
                         "without --backed")
    if adata.X is None or adata.n_vars == 0:
        raise InputError("baseline:raw: the dataset has no expression matrix (no genes)")
    return adata.X.astype(np.float32)


PCA = Baseline("pca", lambda adata, seed: pca_baseline(adata, seed=seed),
               description="normalize_total, log1p, 3,000 HVG, 50 PCs (seeded)")
RAW = Baseline("raw", lambda adata, seed: raw_baseline(adata),
               description="the expression matrix as it is")
