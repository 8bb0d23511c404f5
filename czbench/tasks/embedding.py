"""Task ``embedding``: do cells of one type sit together? (cell-type silhouette)

Definition: docs/spec.md#silhouette_score.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from czbench.context import RunContext
from czbench.metrics.silhouette import silhouette_score
from czbench.neighbors import KNNGraph
from czbench.tasks.base import MetricSpec, Task, TaskRun


class EmbeddingTask(Task):
    """``silhouette_score``: exact Euclidean silhouette with groups = ``label_key``, rescaled
    to [0, 1] as (asw + 1) / 2."""

    name = "embedding"
    description = "Cell-type silhouette of the embedding"
    metrics = (MetricSpec("silhouette_score", "Cell-type silhouette, (asw + 1) / 2"),)

    def _run(self, embedding: Any, obs: pd.DataFrame, knn: KNNGraph | None,
             context: RunContext) -> TaskRun:
        value = silhouette_score(embedding, obs[self.label_key].to_numpy(),
                                 device=context.torch_device(embedding))
        return self._output([self._result("silhouette_score", value)])
