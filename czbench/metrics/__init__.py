"""Metric functions over numpy / torch arrays: the framework-free core.

Every metric exists once, here; tasks, the callback and the estimators reach it through
:mod:`czbench.tasks`. Definitions: docs/spec.md.
"""

from czbench.metrics.bras import bras
from czbench.metrics.classification import (
    PROBE_SCORES,
    SCORES,
    classification_scores,
    probe_scores,
)
from czbench.metrics.clustering_agreement import adjusted_rand_index, normalized_mutual_info
from czbench.metrics.correlation import spearman
from czbench.metrics.entropy import ENTROPY_K, entropy_per_cell, entropy_per_cell_values
from czbench.metrics.graph_connectivity import graph_connectivity
from czbench.metrics.isolated_labels import isolated_labels
from czbench.metrics.kbet import kbet_per_label
from czbench.metrics.lisi import clisi_knn, ilisi_knn
from czbench.metrics.pcr import pcr_comparison
from czbench.metrics.registry import (
    METRIC_INPUTS,
    MetricInfo,
    compute,
    get_metric,
    list_metrics,
    register_metric,
    unregister_metric,
)
from czbench.metrics.retrieval import average_precision, fraction_retrieved, mean_average_precision
from czbench.metrics.sequential import random_baseline, sequential_alignment, time_values
from czbench.metrics.silhouette import batch_silhouette, silhouette_samples, silhouette_score
from czbench.metrics.strand import revcomp_consistency

__all__ = [
    "ENTROPY_K", "METRIC_INPUTS", "MetricInfo", "compute", "get_metric", "list_metrics",
    "register_metric", "unregister_metric", "SCORES", "adjusted_rand_index", "average_precision",
    "batch_silhouette",
    "bras", "classification_scores", "clisi_knn", "entropy_per_cell", "entropy_per_cell_values",
    "fraction_retrieved", "graph_connectivity", "ilisi_knn", "isolated_labels", "kbet_per_label",
    "mean_average_precision", "normalized_mutual_info", "pcr_comparison", "random_baseline",
    "sequential_alignment", "silhouette_samples", "silhouette_score", "spearman", "time_values",
    "PROBE_SCORES", "probe_scores", "revcomp_consistency",
]
