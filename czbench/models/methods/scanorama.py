"""Scanorama (Hie et al. 2019, ``scanorama``): panoramic stitching of batches by mutual nearest
neighbours.

Input: ``baseline:pca``'s preprocessing (counts -> normalize_total -> log1p -> 3,000 HVG,
Seurat flavour), split by batch (batches in sorted order). ``scanorama.integrate`` L2-normalises
each cell, reduces all cells to ``dimred`` dimensions (randomised SVD), matches batches by mutual
nearest neighbours and stitches them; the output is the integrated low-dimensional embedding,
cells x ``dimred``, with the rows put back in the dataset's cell order. Seeded: the seed goes to
``scanorama.integrate`` (which seeds Python's and numpy's global generators; their states are
put back afterwards).
"""

from __future__ import annotations

import contextlib
import io
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from czbench.errors import InputError
from czbench.models.base import Model, require
from czbench.models.methods.common import (
    N_TOP_GENES,
    batch_labels,
    global_random_state_restored,
    log_hvg,
    n_components,
)
from czbench.utils.checks import check_bool, check_int, check_number, check_text


class Scanorama(Model):
    """Scanorama's integrated embedding.

    Args:
        batch_key: obs column holding each cell's batch.
        dimred: dimensions of the embedding (scanorama's default 100; at most cells - 1 and
            genes - 1).
        knn: neighbours used to find matches between batches (scanorama's default 20).
        sigma: width of the Gaussian kernel smoothing the correction (scanorama's default 15).
        alpha: least alignment score for two batches to be stitched (scanorama's default 0.1).
        approx: approximate neighbour search (Annoy; scanorama's default) or exact (sklearn).
        n_top_genes: highly variable genes kept (``baseline:pca``'s 3,000).
    """

    name: ClassVar[str] = "scanorama"
    description: ClassVar[str] = "Scanorama (MNN panoramic stitching) on log-normalised HVG"
    seeded: ClassVar[bool] = True
    extra: ClassVar[str | None] = "methods"

    def __init__(self, batch_key: str = "batch", dimred: int = 100, knn: int = 20,
                 sigma: float = 15.0, alpha: float = 0.1, approx: bool = True,
                 n_top_genes: int = N_TOP_GENES) -> None:
        field = f"model {self.name}"
        self.batch_key = check_text(batch_key, f"{field}: batch_key")
        self.dimred = check_int(dimred, f"{field}: dimred", 1)
        self.knn = check_int(knn, f"{field}: knn", 1)
        self.sigma = check_number(sigma, f"{field}: sigma", 0.0, open_minimum=True)
        self.alpha = check_number(alpha, f"{field}: alpha", 0.0, 1.0)
        self.approx = check_bool(approx, f"{field}: approx")
        self.n_top_genes = check_int(n_top_genes, f"{field}: n_top_genes", 2)

    def _embed(self, adata: Any, seed: int) -> np.ndarray:
        labels = batch_labels(adata, self.batch_key, self.name)
        work = log_hvg(adata, self.name, self.n_top_genes)
        dimred = n_components(self.dimred, work.shape, self.name)
        matrix = sp.csr_matrix(work.X, dtype=np.float32)
        codes = np.asarray(labels.codes)
        rows = [np.flatnonzero(codes == b) for b in range(len(labels.categories))]
        smallest = min(len(r) for r in rows)
        if not self.approx and smallest < self.knn:
            raise InputError(f"model {self.name}: knn: exact search (approx=False) needs at least "
                             f"knn={self.knn} cells per batch; the smallest batch has {smallest}")
        # zero-padded names: scanorama sorts genes by name, this keeps the dataset's order
        genes = [f"g{i:07d}" for i in range(work.n_vars)]
        # importing scanorama seeds numpy's global generator; integrate seeds it again
        with global_random_state_restored(), \
                contextlib.redirect_stdout(io.StringIO()):  # scanorama prints progress
            scanorama = require("scanorama", self.name, self.extra or "methods")
            parts, _ = scanorama.integrate(
                [matrix[r] for r in rows], [genes] * len(rows), dimred=dimred, knn=self.knn,
                sigma=self.sigma, alpha=self.alpha, approx=self.approx, seed=seed, verbose=0)
        out = np.empty((adata.n_obs, parts[0].shape[1]), dtype=np.float32)
        for r, part in zip(rows, parts, strict=True):
            out[r] = np.asarray(part)
        return out
