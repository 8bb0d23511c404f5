"""Task ``spatial_domains``: are clusters of the embedding coherent in the tissue?

Definition: docs/spec.md#task-spatial_domains.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from czbench.context import RunContext
from czbench.metrics.clustering_agreement import adjusted_rand_index, normalized_mutual_info
from czbench.metrics.spatial import chaos, pas
from czbench.neighbors import KNNGraph
from czbench.tasks.base import MetricSpec, Task, TaskRun
from czbench.tasks.classification import check_count
from czbench.tasks.clustering import ClusteringTask
from czbench.tasks.niche_composition import X_COLUMN, Y_COLUMN, coordinates_of
from czbench.utils.arrays import as_numpy_2d
from czbench.utils.checks import check_text

#: the clusterings scored
METHODS = ("leiden", "kmeans")


class SpatialDomainsTask(Task):
    """Cluster the embedding twice -- Leiden (as the ``clustering`` task: 15-NN fuzzy graph,
    resolution 1.0, seeded) and k-means (``n_clusters``, 10 seeded starts) -- and score each
    clustering's spatial coherence without labels: ``chaos`` and ``pas`` as SDMBench defines
    them (lower is more coherent). With ``region_key`` (an obs column of region or domain
    labels) also ARI and NMI against it. Every result carries ``{"method": "leiden"|"kmeans"}``.

    ``n_clusters`` (k-means' k): default the number of ``region_key`` values when given, else
    the number of Leiden clusters; the k used is recorded with the run."""

    name = "spatial_domains"
    description = "Leiden and k-means clusters of the embedding: spatial coherence (CHAOS, " \
                  "PAS) and, with region labels, ARI/NMI"
    metrics = (
        MetricSpec("chaos", "SDMBench CHAOS: mean distance to the nearest cell of the same "
                            "cluster (z-scored coordinates)", higher_is_better=False),
        MetricSpec("pas", "SDMBench PAS: share of cells whose 10 nearest cells are mostly in "
                          "other clusters", higher_is_better=False),
        MetricSpec("adjusted_rand_index", "ARI of the clusters vs region_key"),
        MetricSpec("normalized_mutual_info", "NMI (arithmetic) of the clusters vs region_key"),
    )
    column_options = ("region_key", "x_key", "y_key")
    category_options = ("region_key",)

    def __init__(self, *, region_key: str | None = None, x_key: str = X_COLUMN,
                 y_key: str = Y_COLUMN, n_clusters: int | None = None,
                 n_neighbors: int = 15, resolution: float = 1.0) -> None:
        self.region_key = check_text(region_key, "region_key", allow_none=True)
        self.x_key, self.y_key = x_key, y_key
        self.n_clusters = check_count(n_clusters, "n_clusters", 2) \
            if n_clusters is not None else None
        self.n_neighbors = check_count(n_neighbors, "n_neighbors", 2)
        self.resolution = resolution
        self._leiden = ClusteringTask(n_neighbors=n_neighbors, resolution=resolution)

    @property
    def knn_k(self) -> int:
        return self.n_neighbors

    def clusterings(self, embedding: Any, knn: KNNGraph, k: int | None,
                    seed: int) -> dict[str, np.ndarray]:
        """{method: cluster ids}: Leiden, then k-means with ``k`` (None: Leiden's count)."""
        from sklearn.cluster import KMeans

        leiden = self._leiden.cluster(embedding, knn, seed)[self.resolution]
        k = k or max(2, int(np.unique(leiden).size))
        x = as_numpy_2d(embedding, dtype=np.float64)
        kmeans = KMeans(n_clusters=min(k, x.shape[0]), n_init=10, random_state=seed).fit(x)
        return {"leiden": leiden, "kmeans": kmeans.labels_.astype(np.int64)}

    def _run(self, embedding: Any, obs: pd.DataFrame, knn: KNNGraph | None,
             context: RunContext) -> TaskRun:
        coords = coordinates_of(self, obs)
        regions = obs[self.region_key].to_numpy() if self.region_key is not None else None
        k = self.n_clusters or (int(pd.Series(regions).nunique()) if regions is not None
                                else None)
        found = self.clusterings(embedding, knn, k, context.seed)
        results = []
        for method, labels in found.items():
            results += [self._result("chaos", chaos(labels, coords), method=method),
                        self._result("pas", pas(labels, coords), method=method)]
            if regions is not None:
                results += [
                    self._result("adjusted_rand_index", adjusted_rand_index(regions, labels),
                                 method=method),
                    self._result("normalized_mutual_info",
                                 normalized_mutual_info(regions, labels), method=method)]
        return self._output(results, **{f"n_clusters_{m}": int(np.unique(c).size)
                                        for m, c in found.items()})
