"""Task ``sequential_organization``: are cells ordered by time (or any numeric stage)?

Definitions: docs/spec.md#task-sequential_organization. ``silhouette_score`` with groups = the
time values, rescaled to [0, 1] as (asw + 1) / 2 (as in the ``embedding`` task), and
``sequential_alignment`` (:mod:`czbench.metrics.sequential`). One unique time value gives 1.0
for both.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from czbench.context import RunContext
from czbench.errors import InputError
from czbench.metrics.sequential import SEQUENTIAL_K, sequential_alignment, time_values
from czbench.metrics.silhouette import silhouette_score
from czbench.neighbors import KNNGraph
from czbench.tasks.base import MetricSpec, Task, TaskRun
from czbench.tasks.classification import check_count

__all__ = ["SEQUENTIAL_K", "SequentialOrganizationTask"]


class SequentialOrganizationTask(Task):
    """``silhouette_score`` with groups = time values, (asw + 1) / 2, and
    ``sequential_alignment`` (kNN time differences vs a seeded random baseline).

    Options: ``time_key`` (obs column of numeric time labels, default ``"time"``), ``k``
    (neighbours, default 15). The random baseline's draws take the run's seed."""

    name = "sequential_organization"
    description = "Time ordering: silhouette by time point and kNN time alignment"
    metrics = (
        MetricSpec("silhouette_score", "Time-point silhouette, (asw + 1) / 2"),
        MetricSpec("sequential_alignment",
                   "1 - mean kNN |time difference| / random pairs' mean, clipped to [0, 1]"),
    )
    column_options = ("time_key",)

    def __init__(self, *, time_key: str = "time", k: int = SEQUENTIAL_K) -> None:
        self.time_key = time_key
        self.k = check_count(k, "k", 1)

    @property
    def knn_k(self) -> int:
        return self.k + 1  # the cell itself is column 0 of the shared graph

    def check_inputs(self, obs: pd.DataFrame, n_cells: int | None = None) -> None:
        super().check_inputs(obs, n_cells)
        time = self._time(obs)
        if np.unique(time).size < 2:
            raise InputError(f"time_key: obs column '{self.time_key}' has one time point "
                             f"({time[0]:g}); task '{self.name}' needs at least 2")

    def _time(self, obs: pd.DataFrame) -> np.ndarray:
        return time_values(obs[self.time_key], name=f"time_key: obs column '{self.time_key}'")

    def _run(self, embedding: Any, obs: pd.DataFrame, knn: KNNGraph | None,
             context: RunContext) -> TaskRun:
        time = self._time(obs)
        silhouette = silhouette_score(
            embedding, time, device=context.torch_device(embedding))
        alignment = sequential_alignment(embedding, time, k=self.k, seed=context.seed, knn=knn,
                                         backend=context.knn_backend, device=context.device)
        return self._output([self._result("silhouette_score", silhouette),
                             self._result("sequential_alignment", alignment)])
