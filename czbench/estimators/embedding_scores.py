"""Estimators that score the embedding ``X`` itself: tasks ``clustering``, ``embedding`` and
``batch_integration``."""

from __future__ import annotations

from typing import Any

from czbench.context import DEFAULT_SEED
from czbench.estimators.base import _EmbeddingScoreBenchmark, mean_of
from czbench.metrics.entropy import ENTROPY_K
from czbench.tasks import MetricResult, TaskRun

__all__ = ["BatchIntegrationBenchmark", "ClusteringBenchmark", "EmbeddingBenchmark"]


class ClusteringBenchmark(_EmbeddingScoreBenchmark):
    """Task ``clustering`` as an estimator: Leiden clusters of the embedding vs ``y``.

    ``score`` returns ``adjusted_rand_index``; ``results_`` also holds
    ``normalized_mutual_info``. Parameters are the task's options (see
    :class:`czbench.tasks.ClusteringTask`); ``random_state`` is the run's seed.

    Attributes:
        results_: tidy DataFrame of the task's results on the fit data.
        score_: adjusted_rand_index on the fit data.
        resolution_: the Leiden resolution used on the fit data (the one chosen by
            ``resolution_sweep=True``, else ``resolution``).
        n_features_in_: embedding dimensions seen at fit.
    """

    _task_name = "clustering"
    primary_metric = "adjusted_rand_index"

    def __init__(self, *, n_neighbors: int = 15, resolution: float = 1.0,
                 n_iterations: int = 2, resolution_sweep: bool = False,
                 random_state: Any = DEFAULT_SEED) -> None:
        self.n_neighbors = n_neighbors
        self.resolution = resolution
        self.n_iterations = n_iterations
        self.resolution_sweep = resolution_sweep
        self.random_state = random_state

    def _learn(self, run: TaskRun) -> None:
        self.resolution_ = run.resolved["resolution"]


class EmbeddingBenchmark(_EmbeddingScoreBenchmark):
    """Task ``embedding`` as an estimator: ``score`` returns ``silhouette_score`` (cell-type
    silhouette rescaled to [0, 1]).

    Attributes:
        results_: tidy DataFrame of the task's results on the fit data.
        score_: silhouette_score on the fit data.
        n_features_in_: embedding dimensions seen at fit.
    """

    _task_name = "embedding"
    primary_metric = "silhouette_score"

    def __init__(self, *, random_state: Any = DEFAULT_SEED) -> None:
        self.random_state = random_state


class BatchIntegrationBenchmark(_EmbeddingScoreBenchmark):
    """Task ``batch_integration`` as an estimator; ``batch`` is required in ``fit`` and ``score``.

    ``score`` returns the mean of ``entropy_per_cell`` and ``batch_silhouette`` (both in [0, 1],
    higher = better mixing; equal weights, as scIB averages its batch metrics). ``results_``
    holds the two metrics themselves.

    In a Pipeline, pass ``bench__batch=...`` to ``fit``; for ``score`` inside a Pipeline or a
    model-selection tool, enable scikit-learn's metadata routing and request it:
    ``BatchIntegrationBenchmark().set_fit_request(batch=True).set_score_request(batch=True)``.

    Attributes:
        results_: tidy DataFrame of the task's results on the fit data.
        score_: the mean of entropy_per_cell and batch_silhouette on the fit data.
        n_features_in_: embedding dimensions seen at fit.
    """

    _task_name = "batch_integration"
    primary_metric = "mean(entropy_per_cell,batch_silhouette)"
    _needs_batch = True
    #: cz-benchmarks' pair only (the scib-metrics set needs the dataset, e.g. for PCR)
    _metrics = ("entropy_per_cell", "batch_silhouette")

    def __init__(self, *, entropy_k: int = ENTROPY_K, random_state: Any = DEFAULT_SEED) -> None:
        self.entropy_k = entropy_k
        self.random_state = random_state

    @classmethod
    def _primary(cls, results: list[MetricResult]) -> float:
        return mean_of(results, ("entropy_per_cell", "batch_silhouette"))
