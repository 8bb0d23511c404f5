"""Task ``cross_species_integration``: task ``batch_integration`` with the species as the batch.

Definition: docs/spec.md#task-cross_species_integration.
"""

from __future__ import annotations

import pandas as pd

from czbench.errors import InputError
from czbench.metrics.entropy import ENTROPY_K
from czbench.tasks.base import MetricSpec
from czbench.tasks.batch_integration import BatchIntegrationTask
from czbench.tasks.classification import check_count
from czbench.tasks.cross_species.baselines import ORTHOLOG_PCA
from czbench.tasks.cross_species.stacking import check_species


class CrossSpeciesIntegrationTask(BatchIntegrationTask):
    """``entropy_per_cell`` (species entropy in each cell's 200-NN / log #species) and
    ``batch_silhouette`` (per cell type, mean 1 - |silhouette by species|; mean over types).

    Input: one embedding of the cells of two or more species, stacked (see
    :func:`czbench.tasks.cross_species.stack_species`)."""

    name = "cross_species_integration"
    description = "Species mixing: neighbourhood species entropy and species silhouette"
    metrics = (
        MetricSpec("entropy_per_cell", "Mean normalised species entropy in the 200-NN",
                   rewards_structure=False),
        MetricSpec("batch_silhouette",
                   "Mean over cell types of 1 - |silhouette with species as the batch|",
                   rewards_structure=False),
    )
    column_options = ("label_key", "species_key")
    mixing_option = "species_key"
    baselines = (ORTHOLOG_PCA,)

    def __init__(self, *, label_key: str = "cell_type", species_key: str = "species",
                 entropy_k: int = ENTROPY_K) -> None:
        self.label_key = label_key
        self.species_key = species_key
        self.entropy_k = check_count(entropy_k, "entropy_k", 1)

    def check_inputs(self, obs: pd.DataFrame, n_cells: int | None = None) -> None:
        super().check_inputs(obs, n_cells)
        check_species(obs, self.species_key)
        per_type = obs.groupby(obs[self.label_key].astype(str).to_numpy())[self.species_key]
        if not (per_type.nunique() >= 2).any():
            raise InputError(f"{self.label_key}: no cell type occurs in two or more species, "
                             f"so the species share no labels")
