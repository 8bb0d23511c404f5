"""``SequenceClassificationBenchmark``: task ``sequence_classification`` as a scikit-learn
classifier, on embeddings or, with ``model``, on DNA sequences themselves.

The probes and their cross-validation are the task's (:mod:`czbench.tasks.sequence_classification`
over the classification core); with a model, its reverse-complement consistency
(:func:`czbench.models.sequence.revcomp_consistency_of`) is added to ``results_``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from czbench.context import DEFAULT_SEED
from czbench.datasets.dna import check_sequences
from czbench.errors import InputError
from czbench.estimators.base import (
    _check_labels,
    _check_X,
    _one_line,
    make_task,
    results_frame,
    run_context,
)
from czbench.models.sequence import SequenceModel, revcomp_consistency_of
from czbench.tasks import MetricResult, classification
from czbench.tasks.sequence_classification import PROBES, make_probe

__all__ = ["SequenceClassificationBenchmark"]


class SequenceClassificationBenchmark(ClassifierMixin, BaseEstimator):
    """Task ``sequence_classification`` as a scikit-learn classifier.

    ``fit(X, y, groups=None)``: ``X`` is an embedding (n x dims) or, when ``model`` is given
    (a callable ``list[str] -> array`` or a :class:`~czbench.models.sequence.SequenceModel`),
    a list of DNA sequences that the model embeds. ``results_`` holds the task's results on the
    fit data (stratified folds, and grouped ones when ``groups`` is given) and, with a model,
    ``revcomp_consistency`` (params ``{"part": "consistency" | "paired" | "random"}``).
    ``predict``/``predict_proba``/``score`` use the ``lr`` probe fitted on all rows kept.

    Attributes:
        probe_: the fitted probe; ``classes_``; ``results_``; ``n_features_in_``.
    """

    def __init__(self, *, model: Any = None, n_folds: int = 5, min_class_size: int = 5,
                 classifiers: tuple[str, ...] = PROBES,
                 random_state: Any = DEFAULT_SEED) -> None:
        self.model = model
        self.n_folds = n_folds
        self.min_class_size = min_class_size
        self.classifiers = classifiers
        self.random_state = random_state

    def _embed(self, X: Any, reset: bool) -> np.ndarray:
        if self.model is None:
            return _check_X(self, X, reset=reset, min_rows=1 if not reset else 2)
        if isinstance(X, str) or not hasattr(X, "__len__"):
            raise InputError("X: with a model, expected a list of DNA sequences")
        sequences = check_sequences(list(X), "X")
        model = self.model if isinstance(self.model, SequenceModel) else \
            SequenceModel(self.model)
        values = model.embed_sequences(sequences)
        if reset:
            self.n_features_in_ = int(values.shape[1])
        return values

    def fit(self, X: Any, y: Any, groups: Any = None) -> SequenceClassificationBenchmark:
        """Embed (with ``model``), cross-validate the probes, fit the ``lr`` probe. Returns
        self."""
        values = self._embed(X, reset=True)
        y = _check_labels(y, int(values.shape[0]), "y", type(self).__name__)
        try:
            check_classification_targets(y)
        except ValueError as err:
            raise InputError(f"y: {_one_line(err)}") from err
        context = run_context(self.random_state)
        obs = pd.DataFrame({"y": y})
        if groups is not None:
            obs["group"] = _check_labels(groups, len(y), "groups", type(self).__name__)
        task = make_task("sequence_classification", {
            "label_key": "y", "group_key": "group" if groups is not None else None,
            "n_folds": self.n_folds, "min_class_size": self.min_class_size,
            "classifiers": tuple(self.classifiers)})
        results = task.run(values, obs, context=context)
        rows, codes, _ = task.select_rows(y, len(y))
        self.probe_ = classification.fit("lr", values[rows], y[rows], seed=context.seed,
                                         make=make_probe)
        self.classes_ = self.probe_.classes_
        if self.model is not None:
            parts = revcomp_consistency_of(
                self.model if isinstance(self.model, SequenceModel) else
                SequenceModel(self.model), check_sequences(list(X), "X"), seed=context.seed,
                embedding=values)
            results += [MetricResult("sequence_classification", "revcomp_consistency", v,
                                     {"part": k}) for k, v in parts.items()]
        self.results_ = results_frame(results)
        return self

    def predict(self, X: Any) -> np.ndarray:
        """The ``lr`` probe's class for each row (each sequence, with a model)."""
        check_is_fitted(self)
        return self.probe_.predict(self._embed(X, reset=False))

    def predict_proba(self, X: Any) -> np.ndarray:
        """The ``lr`` probe's probabilities (columns in ``classes_`` order)."""
        check_is_fitted(self)
        return self.probe_.predict_proba(self._embed(X, reset=False))
