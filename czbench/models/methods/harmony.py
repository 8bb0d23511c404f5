"""Harmony (Korsunsky et al. 2019, ``harmonypy``) on ``baseline:pca``'s principal components.

The input is exactly the PCA of ``baseline:pca`` for the same seed
(:func:`czbench.baselines.expression.pca_baseline`: counts -> normalize_total -> log1p -> 3,000
HVG -> 50 PCs; on a modality without counts, 50 PCs of the features), so "Harmony vs PCA"
compares like with like. The output is Harmony's corrected PCs, cells x 50, in the dataset's
cell order. Seeded: the seed drives the PCA and harmonypy's k-means initialisation
(``random_state``); harmonypy's result does not depend on its thread count.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd

from czbench.baselines.expression import pca_baseline
from czbench.errors import InputError
from czbench.models.base import Model, require
from czbench.models.methods.common import batch_labels
from czbench.utils.checks import check_int, check_number, check_text


class Harmony(Model):
    """Harmony-corrected principal components.

    Args:
        batch_key: obs column holding each cell's batch.
        theta: diversity penalty (harmonypy's default 2; 0 = no batch-diverse clustering).
        sigma: width of the soft k-means kernel (harmonypy's default 0.1).
        nclust: number of clusters (None: harmonypy's ``min(cells / 30, 100)``).
        tau: protection of small batches against overcorrection (0: none).
        max_iter_harmony: rounds of clustering + correction (harmonypy's default 10).
    """

    name: ClassVar[str] = "harmony"
    description: ClassVar[str] = "Harmony on baseline:pca's 50 PCs (harmonypy)"
    seeded: ClassVar[bool] = True
    extra: ClassVar[str | None] = "methods"

    def __init__(self, batch_key: str = "batch", theta: float = 2.0, sigma: float = 0.1,
                 nclust: int | None = None, tau: float = 0.0,
                 max_iter_harmony: int = 10) -> None:
        field = f"model {self.name}"
        self.batch_key = check_text(batch_key, f"{field}: batch_key")
        self.theta = check_number(theta, f"{field}: theta", 0.0)
        self.sigma = check_number(sigma, f"{field}: sigma", 0.0, open_minimum=True)
        self.nclust = check_int(nclust, f"{field}: nclust", 1, allow_none=True)
        self.tau = check_number(tau, f"{field}: tau", 0.0)
        self.max_iter_harmony = check_int(max_iter_harmony, f"{field}: max_iter_harmony", 1)

    def _embed(self, adata: Any, seed: int) -> np.ndarray:
        harmonypy = require("harmonypy", self.name, self.extra or "methods")
        labels = batch_labels(adata, self.batch_key, self.name)
        try:
            pcs = pca_baseline(adata, seed=seed)
        except InputError as err:
            raise InputError(f"model {self.name}: {err}") from err
        if self.nclust is not None and self.nclust > adata.n_obs:
            raise InputError(f"model {self.name}: nclust: {self.nclust} clusters for "
                             f"{adata.n_obs} cells; expected at most one per cell")
        meta = pd.DataFrame({"batch": labels})
        # harmonypy 2 guesses the orientation from the shape; PCs x cells is never ambiguous
        data = np.ascontiguousarray(pcs.T, dtype=np.float64)
        result = harmonypy.run_harmony(
            data, meta, "batch", theta=self.theta, sigma=self.sigma, nclust=self.nclust,
            tau=self.tau, max_iter_harmony=self.max_iter_harmony, verbose=False,
            random_state=seed)
        corrected = np.asarray(result.Z_corr)
        if corrected.shape != pcs.shape:  # older harmonypy: PCs x cells
            corrected = corrected.T
        return corrected.astype(np.float32)
