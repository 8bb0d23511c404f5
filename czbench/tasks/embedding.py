"""Task ``embedding``: do cells of one type sit together?

Definitions: docs/spec.md#silhouette_score (cz-benchmarks), docs/spec.md#clisi_knn and
docs/spec.md#isolated_labels (scib-metrics 0.5.10's bio-conservation set).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from czbench.context import RunContext
from czbench.metrics.isolated_labels import isolated_labels_from_samples
from czbench.metrics.lisi import LISI_K, clisi_knn
from czbench.metrics.silhouette import silhouette_samples
from czbench.neighbors import KNNGraph, knn_graph
from czbench.tasks.base import MISSING_LABELS, MetricSpec, Task, TaskRun
from czbench.utils.checks import check_choice, check_text


class EmbeddingTask(Task):
    """``silhouette_score`` (exact Euclidean silhouette by ``label_key``, rescaled to [0, 1] as
    (asw + 1) / 2), ``clisi_knn`` (median label LISI in the 90-NN, scaled) and, when the obs
    column ``batch_key`` exists, ``isolated_labels`` (the silhouette of the labels present in
    the fewest batches; from the same per-cell silhouettes). ``metrics`` restricts the set."""

    name = "embedding"
    description = "Cell-type separation: silhouette, cLISI, isolated-label silhouette"
    metrics = (
        MetricSpec("silhouette_score", "Cell-type silhouette, (asw + 1) / 2"),
        MetricSpec("clisi_knn", "Median cell-type LISI in the 90-NN, scaled to [0, 1]"),
        MetricSpec("isolated_labels",
                   "Silhouette of the cell types found in the fewest batches, rescaled"),
    )

    def __init__(self, *, label_key: str = "cell_type", batch_key: str | None = "batch",
                 metrics: Any = None, missing_labels: str = "error") -> None:
        super().__init__(label_key=label_key)
        self.batch_key = check_text(batch_key, "batch_key", allow_none=True)
        self.metrics = self.check_metric_choice(metrics)
        self.missing_labels = check_choice(missing_labels, "missing_labels", MISSING_LABELS)

    @property
    def knn_k(self) -> int:
        return LISI_K if self.selected("clisi_knn") else 0

    def _run(self, embedding: Any, obs: pd.DataFrame, knn: KNNGraph | None,
             context: RunContext) -> TaskRun:
        labels = obs[self.label_key].to_numpy()
        results = []
        resolved: dict[str, Any] = {}
        need_samples = self.selected("silhouette_score") or self.selected("isolated_labels")
        s = silhouette_samples(embedding, labels, device=context.torch_device(embedding)) \
            if need_samples else None
        if self.selected("silhouette_score"):
            results.append(self._result("silhouette_score", (float(s.mean()) + 1.0) / 2.0))
        if self.selected("clisi_knn"):
            if knn is None:
                knn = knn_graph(embedding, LISI_K, backend=context.knn_backend,
                                seed=context.seed, device=context.device)
            n = len(labels)
            results.append(self._result("clisi_knn", clisi_knn(knn.head(min(LISI_K, n)),
                                                                labels)))
        if self.selected("isolated_labels"):
            if self.batch_key is not None and self.batch_key in obs.columns:
                batch = obs[self.batch_key].astype(str).to_numpy()
                results.append(self._result("isolated_labels",
                                            isolated_labels_from_samples(s, labels, batch)))
            else:
                resolved["isolated_labels"] = f"not computed: no obs column {self.batch_key!r}"
        return self._output(results, **resolved)
