"""The plugin's task: how pure each cell's neighbourhood is, by cell type.

It reads one obs column (``label_key``), uses czbench's shared kNN graph (``knn_k``) and
reports the plugin's metric through :func:`czbench.metrics.compute` (given the MetricInfo
itself, so the task works before the package is installed), so the metric is implemented once
and the task only declares what it needs.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from czbench.context import RunContext
from czbench.metrics import compute
from czbench.neighbors import KNNGraph
from czbench.tasks import MetricSpec, Task, TaskRun
from czbench_plugin_example.metrics import LABEL_KNN_PURITY


class NeighbourhoodPurityTask(Task):
    """kNN label purity of the embedding (see :mod:`czbench_plugin_example.metrics`)."""

    name = "neighbourhood_purity"
    description = "Share of same-cell-type neighbours in the 15-NN graph (macro mean)"
    metrics = (MetricSpec("label_knn_purity", "Macro mean same-label share in the 15-NN"),)
    column_options = ("label_key",)

    def __init__(self, *, label_key: str = "cell_type", k: int = 15) -> None:
        self.label_key = label_key
        self.k = k

    @property
    def knn_k(self) -> int:
        return self.k

    def _run(self, values: Any, obs: pd.DataFrame, knn: KNNGraph | None,
             context: RunContext) -> TaskRun:
        value = compute(LABEL_KNN_PURITY, values, labels=obs[self.label_key].to_numpy(),
                        knn=knn, knn_k=self.k, seed=context.seed)
        return self._output([self._result("label_knn_purity", value, k=self.k)])
