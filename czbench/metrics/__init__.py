"""Metric functions over numpy / torch arrays (the framework-free core).

Every metric exists once, here; tasks, callbacks and estimators call these functions.
"""

from czbench.metrics.clustering_agreement import adjusted_rand_index, normalized_mutual_info
from czbench.metrics.entropy import entropy_per_cell, entropy_per_cell_values
from czbench.metrics.silhouette import batch_silhouette, silhouette_samples, silhouette_score

__all__ = [
    "adjusted_rand_index", "batch_silhouette", "entropy_per_cell", "entropy_per_cell_values",
    "normalized_mutual_info", "silhouette_samples", "silhouette_score",
]
