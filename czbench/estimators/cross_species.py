"""scikit-learn front doors to the cross-species tasks (see czbench.estimators for the pattern).

* ``CrossSpeciesIntegrationBenchmark``: ``fit(X, y, species)`` runs task
  ``cross_species_integration`` on the embedding ``X`` and stores ``results_``; ``score(X, y,
  species)`` returns the mean of ``entropy_per_cell`` and ``batch_silhouette`` on the given X.
* ``CrossSpeciesLabelPredictionBenchmark``: ``fit(X, y, species[, sample])`` runs task
  ``cross_species_label_prediction`` and stores ``results_``; ``score`` returns the mean over
  the cross-species pairs (A != B) of ``accuracy`` of the MEAN classifier.

``species`` is required by ``fit`` and ``score`` (inside a Pipeline / model-selection tool,
request it through metadata routing: ``.set_fit_request(species=True)
.set_score_request(species=True)``). Nothing is computed here: the tasks do the work.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd

from czbench.context import DEFAULT_SEED
from czbench.errors import InputError
from czbench.estimators.base import _check_labels, _EmbeddingScoreBenchmark, mean_of
from czbench.metrics.entropy import ENTROPY_K
from czbench.tasks import MetricResult
from czbench.tasks.classification import CLASSIFIERS

__all__ = ["CrossSpeciesIntegrationBenchmark", "CrossSpeciesLabelPredictionBenchmark"]


class _CrossSpeciesBenchmark(_EmbeddingScoreBenchmark):
    """Shared code: obs = {cell_type: y, species: species[, sample: sample]}."""

    _uses_sample: ClassVar[bool] = False

    def _task_options(self) -> dict[str, Any]:
        options = super()._task_options()
        if self._uses_sample:
            options["sample_key"] = "sample" if options.pop("grouped") else None
        return options

    def _obs(self, n_rows: int, y: Any, species: Any, sample: Any = None) -> pd.DataFrame:
        owner = type(self).__name__
        y = _check_labels(y, n_rows, "y", owner)  # y first: "y is None" as sklearn expects
        if species is None:
            raise InputError(f"species: {owner} needs each cell's species; pass "
                             f"fit(X, y, species=...) and score(X, y, species=...)")
        columns = {"cell_type": y,
                   "species": _check_labels(species, n_rows, "species", owner)}
        if self._uses_sample and getattr(self, "grouped", False):
            if sample is None:
                raise InputError(f"sample: {owner}(grouped=True) needs each cell's sample; "
                                 f"pass fit(X, y, species=..., sample=...)")
            columns["sample"] = _check_labels(sample, n_rows, "sample", owner)
        return pd.DataFrame(columns)

    def fit(self, X: Any, y: Any, species: Any = None,
            sample: Any = None) -> _CrossSpeciesBenchmark:
        """Run the task on the embedding ``X`` with cell types ``y`` and ``species`` (and
        ``sample`` when grouped); store ``results_`` and ``score_``. Returns self."""
        return self._fit(X, y, species, sample)

    def score(self, X: Any, y: Any, species: Any = None, sample: Any = None) -> float:
        """Run the task on the given ``X`` and return the primary score (higher is better)."""
        return self._score(X, y, species, sample)


class CrossSpeciesIntegrationBenchmark(_CrossSpeciesBenchmark):
    """Task ``cross_species_integration`` as an estimator; ``species`` is required.

    ``score`` returns the mean of ``entropy_per_cell`` and ``batch_silhouette`` (species as the
    batch; both in [0, 1], higher = better species mixing).

    Attributes:
        results_: tidy DataFrame of the task's results on the fit data.
        score_: the mean of the two metrics on the fit data.
        n_features_in_: embedding dimensions seen at fit.
    """

    _task_name = "cross_species_integration"
    primary_metric = "mean(entropy_per_cell,batch_silhouette)"

    def __init__(self, *, entropy_k: int = ENTROPY_K, random_state: Any = DEFAULT_SEED) -> None:
        self.entropy_k = entropy_k
        self.random_state = random_state

    @classmethod
    def _primary(cls, results: list[MetricResult]) -> float:
        return mean_of(results, ("entropy_per_cell", "batch_silhouette"))


class CrossSpeciesLabelPredictionBenchmark(_CrossSpeciesBenchmark):
    """Task ``cross_species_label_prediction`` as an estimator; ``species`` is required, and
    ``sample`` too with ``grouped=True`` (grouped CV within a species, and the sample for
    ``aggregation``).

    ``score`` returns the mean over ordered species pairs A != B of ``accuracy`` of the MEAN
    classifier (train on A, test on B).

    Attributes:
        results_: tidy DataFrame of the task's results on the fit data.
        score_: the cross-species accuracy on the fit data.
        n_features_in_: embedding dimensions seen at fit.
    """

    _task_name = "cross_species_label_prediction"
    primary_metric = "mean cross-species accuracy (MEAN classifier)"
    _uses_sample = True

    def __init__(self, *, grouped: bool = False, aggregation: str | None = None,
                 n_folds: int = 5, min_class_size: int = 10,
                 classifiers: tuple[str, ...] = CLASSIFIERS, n_jobs: int | None = None,
                 random_state: Any = DEFAULT_SEED) -> None:
        self.grouped = grouped
        self.aggregation = aggregation
        self.n_folds = n_folds
        self.min_class_size = min_class_size
        self.classifiers = classifiers
        self.n_jobs = n_jobs
        self.random_state = random_state

    @classmethod
    def _primary(cls, results: list[MetricResult]) -> float:
        values = [r.value for r in results
                  if r.metric == "accuracy"
                  and r.params["train_species"] != r.params["test_species"]
                  and r.params["classifier"].startswith("MEAN(")]
        return float(np.mean(values))
