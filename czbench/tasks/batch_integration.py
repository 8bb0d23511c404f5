"""Task ``batch_integration``: are batches mixed while cell types stay apart?

Definitions: docs/spec.md#entropy_per_cell and docs/spec.md#batch_silhouette.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from czbench.context import RunContext
from czbench.metrics.entropy import ENTROPY_K, entropy_per_cell
from czbench.metrics.silhouette import batch_silhouette
from czbench.neighbors import KNNGraph
from czbench.tasks.base import MetricSpec, Task, TaskRun
from czbench.tasks.classification import check_count


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
    #: the obs option holding the groups to mix (``species_key`` in the cross-species task)
    mixing_option = "batch_key"

    def __init__(self, *, label_key: str = "cell_type", batch_key: str = "batch",
                 entropy_k: int = ENTROPY_K) -> None:
        super().__init__(label_key=label_key)
        self.batch_key = batch_key
        self.entropy_k = check_count(entropy_k, "entropy_k", 1)

    @property
    def knn_k(self) -> int:
        return self.entropy_k

    def _run(self, embedding: Any, obs: pd.DataFrame, knn: KNNGraph | None,
             context: RunContext) -> TaskRun:
        groups = obs[getattr(self, self.mixing_option)].astype(str).to_numpy()
        labels = obs[self.label_key].to_numpy()
        entropy = entropy_per_cell(embedding, groups, k=self.entropy_k, knn=knn,
                                   seed=context.seed, backend=context.knn_backend,
                                   device=context.device)
        silhouette = batch_silhouette(embedding, labels, groups,
                                      device=context.torch_device(embedding))
        return self._output([self._result("entropy_per_cell", entropy),
                             self._result("batch_silhouette", silhouette)])
