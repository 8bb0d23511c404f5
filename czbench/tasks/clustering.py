"""Task ``clustering``: Leiden on the embedding's kNN graph, compared with the cell types."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from czbench.graph import fuzzy_connectivities, leiden
from czbench.metrics.clustering_agreement import adjusted_rand_index, normalized_mutual_info
from czbench.neighbors import KNNGraph, refine_distances
from czbench.tasks.base import DEFAULT_SEED, MetricResult, MetricSpec, Task
from czbench.tasks.registry import register_task

#: the scIB-style sweep: 10 resolutions from 0.2 to 2.0
SWEEP_RESOLUTIONS = tuple(round(0.2 * i, 1) for i in range(1, 11))


@register_task
class ClusteringTask(Task):
    """kNN graph (15 neighbours, UMAP fuzzy connectivities) -> igraph Leiden (modularity,
    resolution 1.0, 2 iterations, seeded) -> ARI and NMI against ``label_key``.

    With ``resolution_sweep=True`` Leiden runs at 0.2, 0.4, ..., 2.0 and the resolution with the
    best NMI is kept (scIB style); its value is reported in the results' params.
    """

    name = "clustering"
    description = "Leiden clusters of the embedding vs cell-type labels"
    metrics = (
        MetricSpec("adjusted_rand_index", "Adjusted Rand index of Leiden clusters vs labels"),
        MetricSpec("normalized_mutual_info", "NMI (arithmetic) of Leiden clusters vs labels"),
    )

    def __init__(self, *, seed: int = DEFAULT_SEED, label_key: str = "cell_type",
                 n_neighbors: int = 15, resolution: float = 1.0, n_iterations: int = 2,
                 resolution_sweep: bool = False) -> None:
        super().__init__(seed=seed, label_key=label_key)
        self.n_neighbors = int(n_neighbors)
        self.resolution = float(resolution)
        self.n_iterations = int(n_iterations)
        self.resolution_sweep = bool(resolution_sweep)

    @property
    def knn_k(self) -> int:
        return self.n_neighbors

    def cluster(self, embedding: Any, knn: KNNGraph) -> dict[float, np.ndarray]:
        """Leiden cluster ids per resolution tried."""
        graph = refine_distances(knn.head(min(self.n_neighbors, knn.n_cells)), embedding)
        conn = fuzzy_connectivities(graph, self.n_neighbors)
        resolutions = SWEEP_RESOLUTIONS if self.resolution_sweep else (self.resolution,)
        return {r: leiden(conn, resolution=r, n_iterations=self.n_iterations, seed=self.seed)
                for r in resolutions}

    def _run(self, embedding: Any, obs: pd.DataFrame,
             knn: KNNGraph | None) -> list[MetricResult]:
        labels = obs[self.label_key].to_numpy()
        clusterings = self.cluster(embedding, knn)
        scored = {r: normalized_mutual_info(labels, c) for r, c in clusterings.items()}
        best = max(scored, key=lambda r: (scored[r], -abs(r - 1.0)))
        params = {"resolution": best} if self.resolution_sweep else {}
        return [
            self._result("adjusted_rand_index", adjusted_rand_index(labels, clusterings[best]),
                         **params),
            self._result("normalized_mutual_info", scored[best], **params),
        ]
