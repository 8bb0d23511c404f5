"""Metric functions over numpy / torch arrays: the framework-free core.

Every metric exists once, here; tasks, the callback and the estimators reach it through
:mod:`czbench.tasks`. Definitions: docs/spec.md.
"""

from czbench.metrics.classification import SCORES, classification_scores
from czbench.metrics.clustering_agreement import adjusted_rand_index, normalized_mutual_info
from czbench.metrics.correlation import spearman
from czbench.metrics.entropy import ENTROPY_K, entropy_per_cell, entropy_per_cell_values
from czbench.metrics.sequential import random_baseline, sequential_alignment, time_values
from czbench.metrics.silhouette import batch_silhouette, silhouette_samples, silhouette_score

__all__ = [
    "ENTROPY_K", "SCORES", "adjusted_rand_index", "batch_silhouette", "classification_scores",
    "entropy_per_cell", "entropy_per_cell_values", "normalized_mutual_info", "random_baseline",
    "sequential_alignment", "silhouette_samples", "silhouette_score", "spearman",
    "time_values",
]
