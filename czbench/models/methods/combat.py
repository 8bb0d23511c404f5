"""ComBat (Johnson et al. 2007, scanpy's ``sc.pp.combat``) followed by PCA.

ComBat's empirical-Bayes location/scale adjustment of each gene per batch, on
``baseline:pca``'s preprocessing (counts -> normalize_total -> log1p -> 3,000 HVG, Seurat
flavour), then ``n_comps`` principal components (``sc.pp.pca``, seeded) -- the same pipeline as
``baseline:pca`` with ComBat inserted before the PCA. ComBat itself is deterministic; the seed
reaches the PCA's solver.
"""

from __future__ import annotations

import contextlib
import io
from typing import Any, ClassVar

import numpy as np

from czbench.errors import InputError
from czbench.models.base import Model
from czbench.models.methods.common import N_TOP_GENES, batch_labels, log_hvg, n_components
from czbench.utils.checks import check_int, check_text


class Combat(Model):
    """Principal components of the ComBat-corrected log-normalised HVG.

    Args:
        batch_key: obs column holding each cell's batch.
        n_comps: principal components kept (at most cells - 1 and genes - 1).
        n_top_genes: highly variable genes kept (``baseline:pca``'s 3,000).
    """

    name: ClassVar[str] = "combat"
    description: ClassVar[str] = "ComBat (scanpy) on log-normalised 3,000 HVG, then 50 PCs"
    seeded: ClassVar[bool] = True
    extra: ClassVar[str | None] = "methods"

    def __init__(self, batch_key: str = "batch", n_comps: int = 50,
                 n_top_genes: int = N_TOP_GENES) -> None:
        field = f"model {self.name}"
        self.batch_key = check_text(batch_key, f"{field}: batch_key")
        self.n_comps = check_int(n_comps, f"{field}: n_comps", 1)
        self.n_top_genes = check_int(n_top_genes, f"{field}: n_top_genes", 2)

    def _embed(self, adata: Any, seed: int) -> np.ndarray:
        import scanpy as sc

        labels = batch_labels(adata, self.batch_key, self.name)
        sizes = labels.value_counts()
        if int(sizes.min()) < 2:
            small = ", ".join(f"'{b}'" for b in sizes.index[sizes.to_numpy() < 2][:5])
            raise InputError(f"model {self.name}: batch_key: ComBat needs at least 2 cells per "
                             f"batch; batch {small} of obs['{self.batch_key}'] has one")
        work = corrected(adata, labels, self.name, self.n_top_genes)
        n = n_components(self.n_comps, work.shape, self.name)
        sc.pp.pca(work, n_comps=n, random_state=seed)
        return np.asarray(work.obsm["X_pca"], dtype=np.float32)


def corrected(adata: Any, labels: Any, model: str = "combat",
              n_top_genes: int = N_TOP_GENES) -> Any:
    """``baseline:pca``'s log-normalised HVG of ``adata`` corrected by ComBat for ``labels``
    (a new AnnData, dense X, the dataset's cell order)."""
    import scanpy as sc

    work = log_hvg(adata, model, n_top_genes)
    work.obs["_batch"] = labels
    # scanpy's ComBat prints a count of zero-variance genes, and divides by zero in its
    # convergence check on them (harmless: those genes are left as they are)
    with contextlib.redirect_stdout(io.StringIO()), np.errstate(divide="ignore"):
        sc.pp.combat(work, key="_batch")
    return work
