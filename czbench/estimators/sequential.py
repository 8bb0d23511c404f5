"""``SequentialOrganizationBenchmark``: task ``sequential_organization`` as an estimator.

>>> from czbench.estimators import SequentialOrganizationBenchmark
>>> bench = SequentialOrganizationBenchmark(random_state=0).fit(X, time_hours)  # doctest: +SKIP
>>> bench.results_                  # silhouette_score and sequential_alignment  # doctest: +SKIP
>>> bench.score(X_other, time_other)                  # sequential_alignment  # doctest: +SKIP

A thin wrapper like the other unsupervised benchmarks: ``y`` holds each cell's time (numbers,
or strings that parse as numbers); it becomes the obs column ``time_key`` and the core task
computes every number.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from czbench.context import DEFAULT_SEED
from czbench.estimators.base import _check_labels, _EmbeddingScoreBenchmark
from czbench.metrics.sequential import SEQUENTIAL_K, time_values

__all__ = ["SequentialOrganizationBenchmark"]


class SequentialOrganizationBenchmark(_EmbeddingScoreBenchmark):
    """Task ``sequential_organization`` as an estimator: ``y`` = each cell's time.

    ``fit(X, y)`` runs the task on the embedding ``X`` and stores ``results_``
    (``silhouette_score`` by time point and ``sequential_alignment``); ``score(X, y)`` runs it on
    the given ``X`` and returns ``sequential_alignment`` (in [0, 1], higher = cells' neighbours
    closer in time than random cells). Parameters are the task's options (see
    :class:`czbench.tasks.sequential_organization.SequentialOrganizationTask`);
    ``random_state`` is the run's seed (the random baseline's draws). ``time_key`` only names
    the obs column the values of ``y`` are passed in; it never changes a result.

    Attributes:
        results_: tidy DataFrame of the task's results on the fit data.
        score_: sequential_alignment on the fit data.
        n_features_in_: embedding dimensions seen at fit.
    """

    _task_name = "sequential_organization"
    primary_metric = "sequential_alignment"

    def __init__(self, *, time_key: str = "time", k: int = SEQUENTIAL_K,
                 random_state: Any = DEFAULT_SEED) -> None:
        self.time_key = time_key
        self.k = k
        self.random_state = random_state

    def _obs(self, n_rows: int, y: Any) -> pd.DataFrame:
        labels = _check_labels(y, n_rows, "y", type(self).__name__)
        return pd.DataFrame({self.time_key: time_values(labels, name="y")})

    def fit(self, X: Any, y: Any) -> SequentialOrganizationBenchmark:
        """Run the task on the embedding ``X`` (cells x dims, dense or sparse) with each cell's
        time ``y``; store ``results_`` and ``score_`` (sequential_alignment). Returns self."""
        return self._fit(X, y)

    def score(self, X: Any, y: Any) -> float:
        """``sequential_alignment`` of the given embedding ``X`` with times ``y``."""
        return self._score(X, y)
