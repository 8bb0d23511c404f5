"""Task ``clustering``: Leiden on the embedding's kNN graph, compared with the cell types.

Definition: docs/spec.md#task-clustering.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from czbench.context import RunContext
from czbench.metrics.clustering_agreement import adjusted_rand_index, normalized_mutual_info
from czbench.neighbors import KNNGraph, refine_distances
from czbench.neighbors.leiden import fuzzy_connectivities, leiden
from czbench.tasks.base import MISSING_LABELS, MetricSpec, Task, TaskRun
from czbench.tasks.classification import check_count
from czbench.utils.checks import check_bool, check_choice, check_number

#: the scIB-style sweep: 10 resolutions from 0.2 to 2.0
SWEEP_RESOLUTIONS = tuple(round(0.2 * i, 1) for i in range(1, 11))


class ClusteringTask(Task):
    """kNN graph (15 neighbours, UMAP fuzzy connectivities) -> igraph Leiden (modularity,
    resolution 1.0, 2 iterations, seeded) -> ARI and NMI against ``label_key``.

    With ``resolution_sweep=True`` Leiden runs at 0.2, 0.4, ..., 2.0 and the resolution with the
    best NMI is kept (scIB style); the resolution chosen is recorded with the run (``resolved``
    in the results file), not in the metric's params, so seeds that choose differently still
    average into one row.
    """

    name = "clustering"
    description = "Leiden clusters of the embedding vs cell-type labels"
    metrics = (
        MetricSpec("adjusted_rand_index", "Adjusted Rand index of Leiden clusters vs labels"),
        MetricSpec("normalized_mutual_info", "NMI (arithmetic) of Leiden clusters vs labels"),
    )

    def __init__(self, *, label_key: str = "cell_type", n_neighbors: int = 15,
                 resolution: float = 1.0, n_iterations: int = 2,
                 resolution_sweep: bool = False, missing_labels: str = "error") -> None:
        super().__init__(label_key=label_key)
        self.missing_labels = check_choice(missing_labels, "missing_labels", MISSING_LABELS)
        self.n_neighbors = check_count(n_neighbors, "n_neighbors", 2)
        self.resolution = check_number(resolution, "resolution", 0.0, open_minimum=True)
        self.n_iterations = check_count(n_iterations, "n_iterations", 1)
        self.resolution_sweep = check_bool(resolution_sweep, "resolution_sweep")

    @property
    def knn_k(self) -> int:
        return self.n_neighbors

    def cluster(self, embedding: Any, knn: KNNGraph, seed: int) -> dict[float, np.ndarray]:
        """Leiden cluster ids per resolution tried."""
        graph = refine_distances(knn.head(min(self.n_neighbors, knn.n_cells)), embedding)
        conn = fuzzy_connectivities(graph, self.n_neighbors)
        resolutions = SWEEP_RESOLUTIONS if self.resolution_sweep else (self.resolution,)
        return {r: leiden(conn, resolution=r, n_iterations=self.n_iterations, seed=seed)
                for r in resolutions}

    def _run(self, embedding: Any, obs: pd.DataFrame, knn: KNNGraph | None,
             context: RunContext) -> TaskRun:
        labels = obs[self.label_key].to_numpy()
        clusterings = self.cluster(embedding, knn, context.seed)
        scored = {r: normalized_mutual_info(labels, c) for r, c in clusterings.items()}
        best = max(scored, key=lambda r: (scored[r], -abs(r - 1.0)))
        results = [
            self._result("adjusted_rand_index", adjusted_rand_index(labels, clusterings[best])),
            self._result("normalized_mutual_info", scored[best]),
        ]
        resolved = {"resolution": best, "n_clusters": int(np.unique(clusterings[best]).size)}
        return self._output(results, **resolved)
