"""Estimator that scores profiles ``X`` by replicate retrieval: task ``replicate_retrieval``."""

from __future__ import annotations

from typing import Any

import pandas as pd

from czbench.context import DEFAULT_SEED
from czbench.estimators.base import _check_labels, _EmbeddingScoreBenchmark
from czbench.metrics.retrieval import NULL_SIZE, THRESHOLD
from czbench.tasks import TaskRun

__all__ = ["ReplicateRetrievalBenchmark"]


class ReplicateRetrievalBenchmark(_EmbeddingScoreBenchmark):
    """Task ``replicate_retrieval`` as an estimator: ``y`` is each profile's perturbation (a
    compound, a guide's target), ``control`` the value of the control profiles.

    ``score`` returns ``mean_average_precision`` (the mean over perturbations of copairs'
    phenotypic-activity mAP); ``results_`` also holds ``fraction_retrieved`` and one mAP per
    perturbation. Parameters are the task's options (see
    :class:`czbench.tasks.ReplicateRetrievalTask`); ``random_state`` seeds the null.

    Attributes:
        results_: tidy DataFrame of the task's results on the fit data.
        score_: mean_average_precision on the fit data.
        p_values_: {perturbation: corrected p-value} on the fit data.
        n_features_in_: profile dimensions seen at fit.
    """

    _task_name = "replicate_retrieval"
    primary_metric = "mean_average_precision"

    def __init__(self, *, control: str = "DMSO", null_size: int = NULL_SIZE,
                 threshold: float = THRESHOLD, random_state: Any = DEFAULT_SEED) -> None:
        self.control = control
        self.null_size = null_size
        self.threshold = threshold
        self.random_state = random_state

    def _task_options(self) -> dict[str, Any]:
        return {**super()._task_options(), "perturbation_key": "condition"}

    def _obs(self, n_rows: int, y: Any, batch: Any = None) -> pd.DataFrame:
        labels = _check_labels(y, n_rows, "y", type(self).__name__)
        return pd.DataFrame({"condition": pd.Series(labels).astype(str).to_numpy()})

    @classmethod
    def _primary(cls, results: list) -> float:
        return next(r.value for r in results if r.metric == cls.primary_metric
                    and not r.params)

    def _learn(self, run: TaskRun) -> None:
        self.p_values_ = dict(run.resolved["corrected_p_value"])
