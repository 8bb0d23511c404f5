"""``LabelPredictionBenchmark``: task ``label_prediction`` as a scikit-learn classifier.

The classifiers and their fitting are the classification core's
(:mod:`czbench.tasks.classification`); ``results_`` is the task's run with the estimator's seed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from czbench.context import DEFAULT_SEED
from czbench.errors import InputError
from czbench.estimators.base import (
    _check_labels,
    _check_X,
    _one_line,
    make_task,
    results_frame,
    run_context,
)
from czbench.tasks import classification
from czbench.tasks.classification import CLASSIFIERS, check_classifiers

__all__ = ["LabelPredictionBenchmark"]


class LabelPredictionBenchmark(ClassifierMixin, BaseEstimator):
    """Task ``label_prediction`` as a scikit-learn classifier.

    ``fit(X, y)`` drops classes with fewer than ``min_class_size`` cells, fits every classifier
    in ``classifiers`` (``lr``, ``knn``, ``rf`` of the classification core) on the rest, and
    stores the task's cross-validated results on the fit data in ``results_`` (20 rows by
    default). ``predict``, ``predict_proba`` and ``score`` (accuracy, ClassifierMixin) use
    ``primary_classifier`` (None: the first of ``classifiers``, ``"lr"`` by default).

    ``n_jobs`` (random forest only) defaults to None here, -1 in the task: it never changes a
    result.

    Attributes:
        classifiers_: {name: fitted classifier}.
        classes_: the classes kept (those with at least ``min_class_size`` cells).
        results_: tidy DataFrame of the task's cross-validated results on the fit data.
        n_features_in_: features seen at fit.
    """

    def __init__(self, *, n_folds: int = 5, min_class_size: int = 10,
                 classifiers: tuple[str, ...] = CLASSIFIERS, n_jobs: int | None = None,
                 primary_classifier: str | None = None,
                 random_state: Any = DEFAULT_SEED) -> None:
        self.n_folds = n_folds
        self.min_class_size = min_class_size
        self.classifiers = classifiers
        self.n_jobs = n_jobs
        self.primary_classifier = primary_classifier
        self.random_state = random_state

    def _primary_name(self) -> str:
        names = check_classifiers(self.classifiers)
        primary = names[0] if self.primary_classifier is None else self.primary_classifier
        if primary not in names:
            raise InputError(f"primary_classifier: '{primary}' is not in classifiers "
                             f"({', '.join(names)})")
        return primary

    def fit(self, X: Any, y: Any) -> LabelPredictionBenchmark:
        """Fit the classifiers on ``X, y`` and store the task's cross-validated ``results_``.
        Returns self."""
        X = _check_X(self, X, reset=True)
        y = _check_labels(y, int(X.shape[0]), "y", type(self).__name__)
        try:
            check_classification_targets(y)
        except ValueError as err:
            raise InputError(f"y: {_one_line(err)}") from err
        primary = self._primary_name()
        context = run_context(self.random_state)
        task = make_task("label_prediction", {
            "label_key": "y", "n_folds": self.n_folds, "min_class_size": self.min_class_size,
            "classifiers": tuple(self.classifiers), "n_jobs": self.n_jobs})
        rows, _ = task.select_cells(y, int(X.shape[0]), context.seed)  # the task's own choice
        fitted = {name: classification.fit(name, X[rows], y[rows], seed=context.seed,
                                           n_jobs=self.n_jobs)
                  for name in task.classifiers}
        results = task.run(X, pd.DataFrame({"y": y}), context=context)
        self.classifiers_ = fitted
        self.classes_ = fitted[primary].classes_
        self.results_ = results_frame(results)
        return self

    def _primary_model(self) -> Any:
        check_is_fitted(self)
        return self.classifiers_[self._primary_name()]

    def predict(self, X: Any) -> np.ndarray:
        """Class predicted by ``primary_classifier`` for each row of ``X``."""
        model = self._primary_model()
        return model.predict(_check_X(self, X, reset=False, min_rows=1))

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities from ``primary_classifier`` (columns in ``classes_`` order)."""
        model = self._primary_model()
        return model.predict_proba(_check_X(self, X, reset=False, min_rows=1))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags
