"""The cross-species tasks and what they share (docs/tasks_cross_species.md).

* ``cross_species_integration`` (:mod:`.integration`): species mixing.
* ``cross_species_label_prediction`` (:mod:`.label_prediction`): within- and across-species
  cell-type prediction, with the reference's classifiers for it (:mod:`.classifiers`) and its
  organism names for the species (:mod:`.organisms`).
* :func:`stack_species`, :func:`pseudobulk` (:mod:`.stacking`): their inputs.
* ``baseline:ortholog_pca`` (:mod:`.baselines`).
"""

from czbench.tasks.cross_species.baselines import ORTHOLOG_PCA, ortholog_pca_baseline
from czbench.tasks.cross_species.classifiers import make_cross_species_classifier
from czbench.tasks.cross_species.integration import CrossSpeciesIntegrationTask
from czbench.tasks.cross_species.label_prediction import CrossSpeciesLabelPredictionTask
from czbench.tasks.cross_species.organisms import organism_name
from czbench.tasks.cross_species.stacking import pseudobulk, stack_species

__all__ = ["ORTHOLOG_PCA", "CrossSpeciesIntegrationTask", "CrossSpeciesLabelPredictionTask",
           "make_cross_species_classifier", "organism_name", "ortholog_pca_baseline",
           "pseudobulk", "stack_species"]
