"""``baseline:ortholog_pca``: the PCA baseline of stacked species on shared 1:1 orthologs."""

from __future__ import annotations

from typing import Any

import numpy as np

from czbench.baselines.base import Baseline
from czbench.baselines.expression import pca_baseline
from czbench.errors import InputError
from czbench.tasks.cross_species.stacking import check_species


def ortholog_pca_baseline(adata: Any, seed: int, *, species_key: str = "species") -> np.ndarray:
    """PCA baseline of stacked species whose genes are already 1:1 orthologs (one shared gene
    space, e.g. ``pancreas_baron_human_mouse``): normalize_total -> log1p -> 3,000 HVG ->
    50 PCs, seeded, on all cells of all species together. No integration is done: species
    differences stay in the embedding."""
    if species_key not in adata.obs.columns:
        raise InputError(f"species_key: baseline:ortholog_pca needs obs column '{species_key}' "
                         f"(cells of >= 2 species on shared ortholog genes)")
    check_species(adata.obs, species_key)
    return pca_baseline(adata, seed=seed)


ORTHOLOG_PCA = Baseline("ortholog_pca", lambda adata, seed, **o: ortholog_pca_baseline(
    adata, seed, **o), kind="embedding", options=("species_key",), needs_counts=True,
    description="PCA of stacked species on their shared 1:1 ortholog genes")
