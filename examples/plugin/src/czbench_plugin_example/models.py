"""The plugin's model: a Gaussian random projection of log-normalised counts.

A classic cheap reference: it keeps pairwise distances approximately (Johnson-Lindenstrauss)
without learning anything, so a learned model should beat it. Seeded: the projection matrix
is drawn from the run's seed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.random_projection import GaussianRandomProjection

from czbench.models import Model


class RandomProjection(Model):
    """log1p(counts per 10k) projected onto ``n_components`` random Gaussian directions."""

    name = "random_projection"
    description = "Gaussian random projection of log1p(CP10k) counts (seeded)"
    seeded = True

    def __init__(self, n_components: int = 32) -> None:
        self.n_components = n_components

    def _embed(self, adata: Any, seed: int) -> np.ndarray:
        from czbench.datasets import counts_matrix

        counts = sp.csr_matrix(counts_matrix(adata, what=f"model {self.name}"), dtype=np.float64)
        totals = np.asarray(counts.sum(axis=1)).ravel()
        scaled = sp.diags(1e4 / np.maximum(totals, 1.0)) @ counts
        scaled.data = np.log1p(scaled.data)
        projection = GaussianRandomProjection(self.n_components, random_state=seed)
        return np.asarray(projection.fit_transform(scaled), dtype=np.float32)
