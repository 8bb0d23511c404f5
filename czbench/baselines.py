"""Baseline embeddings every model is compared with.

* ``pca``: normalize_total -> log1p -> 3,000 highly variable genes (Seurat flavour; all genes
  when there are fewer) -> 50 principal components, seeded. Needs raw counts: a matrix with
  negative or non-integer values (scaled or log data) is refused with a clear error instead of
  being normalised a second time. Counts are read from ``layers["counts"]`` when present, else X.
* ``raw``: the expression matrix as it is (the reference baseline for label prediction).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anndata as ad
import numpy as np
import scanpy as sc

from czbench.errors import InputError

BaselineFn = Callable[[ad.AnnData, int], Any]
_BASELINES: dict[str, BaselineFn] = {}


def register_baseline(name: str, fn: BaselineFn) -> BaselineFn:
    """Make ``baseline:<name>`` available: ``fn(adata, seed) -> matrix`` (tasks that bring
    their own baselines, e.g. cross-species or perturbation, register them here)."""
    _BASELINES[name] = fn
    return fn


def list_baselines() -> list[str]:
    return list(_BASELINES)


def counts_matrix(adata: ad.AnnData) -> Any:
    """The raw-count matrix of ``adata`` (``layers["counts"]`` if present, else ``X``), or a
    one-line InputError naming what was found instead."""
    from czbench.datasets import is_counts

    if adata.isbacked:
        raise InputError("baseline: the dataset is open backed (X stays on disk), and baselines "
                         "need its counts in memory; pass an obsm:KEY or .npy embedding, or "
                         "load it without --backed")
    where = "layers['counts']" if "counts" in adata.layers else "X"
    matrix = adata.layers["counts"] if where != "X" else adata.X
    if not is_counts(matrix):
        name = adata.uns.get("czbench", {}).get("name", "the dataset")
        hint = (f"; use a shipped embedding instead, e.g. obsm:{next(iter(adata.obsm))}"
                if len(adata.obsm) else "")
        raise InputError(f"baseline:pca: {where} of {name} is not raw counts (negative or "
                         f"non-integer values, e.g. scaled or log data); the PCA baseline "
                         f"normalises counts and never re-normalises processed data{hint}")
    return matrix


def pca_baseline(adata: ad.AnnData, *, n_top_genes: int = 3000, n_comps: int = 50,
                 seed: int = 42) -> np.ndarray:
    """The PCA baseline embedding (cells x min(50, genes - 1, cells - 1)), float32."""
    work = ad.AnnData(X=counts_matrix(adata).astype(np.float32), obs=adata.obs[[]],
                      var=adata.var[[]])
    sc.pp.normalize_total(work)
    sc.pp.log1p(work)
    if work.n_vars > n_top_genes:
        sc.pp.highly_variable_genes(work, n_top_genes=n_top_genes, flavor="seurat")
        work = work[:, work.var["highly_variable"].to_numpy()].copy()
    n_comps = min(n_comps, work.n_vars - 1, work.n_obs - 1)
    sc.pp.pca(work, n_comps=n_comps, random_state=seed)
    return np.asarray(work.obsm["X_pca"], dtype=np.float32)


def raw_baseline(adata: ad.AnnData) -> Any:
    """The expression matrix as it is (sparse stays sparse), float32."""
    return adata.X.astype(np.float32)


def baseline(name: str, adata: ad.AnnData, *, seed: int = 42) -> Any:
    """Compute the registered baseline ``name`` (``pca``, ``raw``, ...) for ``adata``."""
    import czbench.tasks  # noqa: F401  (task modules register their baselines)

    if name not in _BASELINES:
        raise InputError(f"embedding: unknown baseline '{name}'; expected one of "
                         f"{', '.join(_BASELINES)}")
    return _BASELINES[name](adata, seed)


register_baseline("pca", lambda adata, seed: pca_baseline(adata, seed=seed))
register_baseline("raw", lambda adata, seed: raw_baseline(adata))
