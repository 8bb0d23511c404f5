"""The generic baselines, computed from a dataset's expression.

* ``pca``: normalize_total -> log1p -> 3,000 highly variable genes (Seurat flavour; all genes
  when there are fewer) -> 50 principal components, seeded. Needs raw counts
  (:func:`czbench.datasets.counts.counts_matrix`): scaled or log data is refused with a clear
  error instead of being normalised a second time. On a modality without counts (morphology:
  features already normalised upstream) it is 50 principal components of the features as
  given (centred, not scaled), seeded.
* ``raw``: the matrix as it is (the reference baseline for label prediction; on morphology,
  the features as given).

Definition: docs/spec.md#baselines-and-controls.
"""

from __future__ import annotations

from typing import Any

import anndata as ad
import numpy as np

from czbench.baselines.base import Baseline
from czbench.datasets.counts import counts_matrix
from czbench.datasets.modalities import modality_of
from czbench.errors import InputError
from czbench.utils.checks import DEFAULT_SEED


def pca_baseline(adata: ad.AnnData, *, n_top_genes: int = 3000, n_comps: int = 50,
                 seed: int = DEFAULT_SEED) -> np.ndarray:
    """The PCA baseline embedding (cells x min(50, genes - 1, cells - 1)), float32."""
    import scanpy as sc

    if modality_of(adata).spatial:  # spatial values: log1p of what is given, not counts
        from czbench.baselines.spatial import log1p_pca

        return log1p_pca(adata, seed)
    if not modality_of(adata).counts:
        return feature_pca(adata, n_comps=n_comps, seed=seed)
    work = log_normalized_hvg(adata, n_top_genes=n_top_genes, what="baseline:pca")
    n_comps = min(n_comps, work.n_vars - 1, work.n_obs - 1)
    if n_comps < 1:
        raise InputError(f"baseline:pca: needs at least 2 cells and 2 genes, the dataset has "
                         f"{adata.n_obs} x {adata.n_vars}")
    sc.pp.pca(work, n_comps=n_comps, random_state=seed)
    return np.asarray(work.obsm["X_pca"], dtype=np.float32)


def log_normalized_hvg(adata: ad.AnnData, *, n_top_genes: int = 3000,
                       what: str = "baseline:pca") -> ad.AnnData:
    """The PCA baseline's preprocessing, shared with the reference methods: the raw counts
    (refused with a one-line error naming ``what`` when there are none), ``normalize_total``,
    ``log1p``, ``n_top_genes`` highly variable genes (Seurat flavour; all genes when there are
    fewer). A new float32 AnnData, cells in the dataset's order."""
    import scanpy as sc

    counts = counts_matrix(adata, what=what)
    work = ad.AnnData(X=counts.astype(np.float32), obs=adata.obs[[]], var=adata.var[[]])
    sc.pp.normalize_total(work)
    sc.pp.log1p(work)
    if work.n_vars > n_top_genes:
        sc.pp.highly_variable_genes(work, n_top_genes=n_top_genes, flavor="seurat")
        work = work[:, work.var["highly_variable"].to_numpy()].copy()
    return work


def feature_pca(adata: ad.AnnData, *, n_comps: int = 50, seed: int = DEFAULT_SEED) -> np.ndarray:
    """Principal components of the features as given (centred, not scaled), seeded; for
    modalities whose features are normalised upstream (e.g. Cell Painting profiles)."""
    import scanpy as sc

    x = raw_baseline(adata)
    x = np.asarray(x.toarray() if hasattr(x, "toarray") else x, dtype=np.float32)
    n_comps = min(n_comps, x.shape[1] - 1, x.shape[0] - 1)
    if n_comps < 1:
        raise InputError(f"baseline:pca: needs at least 2 rows and 2 features, the dataset has "
                         f"{x.shape[0]} x {x.shape[1]}")
    return np.asarray(sc.pp.pca(x, n_comps=n_comps, random_state=seed), dtype=np.float32)


def raw_baseline(adata: ad.AnnData) -> Any:
    """The expression matrix as it is (sparse stays sparse), float32."""
    if adata.isbacked:
        raise InputError("baseline:raw: the dataset is open backed (X stays on disk); load it "
                         "without --backed")
    if adata.X is None or adata.n_vars == 0:
        raise InputError("baseline:raw: the dataset has no expression matrix (no genes)")
    return adata.X.astype(np.float32)


PCA = Baseline("pca", lambda adata, seed: pca_baseline(adata, seed=seed),
               description="normalize_total, log1p, 3,000 HVG, 50 PCs (seeded); on "
                           "morphology: 50 PCs of the features")
RAW = Baseline("raw", lambda adata, seed: raw_baseline(adata),
               description="the matrix as it is (expression, or image features)")
