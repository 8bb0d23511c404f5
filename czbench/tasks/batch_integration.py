"""Task ``batch_integration``: are batches mixed while cell types stay apart?"""

from __future__ import annotations

from typing import Any

import pandas as pd

from czbench.metrics.entropy import ENTROPY_K, entropy_per_cell
from czbench.metrics.silhouette import batch_silhouette
from czbench.neighbors import KNNGraph
from czbench.tasks.base import DEFAULT_SEED, MetricResult, MetricSpec, Task
from czbench.tasks.registry import register_task


@register_task
class BatchIntegrationTask(Task):
    """``entropy_per_cell`` (batch entropy in each cell's 200-NN, self included, / log #batches)
    and ``batch_silhouette`` (per cell type, mean 1 - |silhouette by batch|; mean over types)."""

    name = "batch_integration"
    description = "Batch mixing: neighbourhood batch entropy and batch silhouette"
    metrics = (
        MetricSpec("entropy_per_cell", "Mean normalised batch entropy in the 200-NN"),
        MetricSpec("batch_silhouette", "Mean over cell types of 1 - |batch silhouette|"),
    )
    column_options = ("label_key", "batch_key")

    def __init__(self, *, seed: int = DEFAULT_SEED, label_key: str = "cell_type",
                 batch_key: str = "batch", entropy_k: int = ENTROPY_K) -> None:
        super().__init__(seed=seed, label_key=label_key)
        self.batch_key = batch_key
        self.entropy_k = int(entropy_k)

    @property
    def knn_k(self) -> int:
        return self.entropy_k

    def _run(self, embedding: Any, obs: pd.DataFrame,
             knn: KNNGraph | None) -> list[MetricResult]:
        batch = obs[self.batch_key].to_numpy()
        labels = obs[self.label_key].to_numpy()
        return [
            self._result("entropy_per_cell",
                         entropy_per_cell(embedding, batch, k=self.entropy_k, knn=knn)),
            self._result("batch_silhouette", batch_silhouette(embedding, labels, batch)),
        ]
