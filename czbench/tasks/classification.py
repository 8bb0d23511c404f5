"""The classification core: the reference's classifiers, their cross-validation and transfer
loops, and the ``MEAN(...)`` row. Used by ``label_prediction``, ``cross_species_label_prediction``
and ``LabelPredictionBenchmark``; scores come from :func:`czbench.metrics.classification_scores`.

Definition: docs/spec.md#task-label_prediction.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import ClassifierMixin, clone
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from czbench.errors import InputError
from czbench.metrics.classification import SCORES, classification_scores
from czbench.utils.checks import check_int

CLASSIFIERS = ("lr", "knn", "rf")


def make_classifier(name: str, seed: int, n_jobs: int | None = None) -> ClassifierMixin:
    """The reference's three classifiers: ``lr``, ``knn`` (both after a StandardScaler without
    centring) and ``rf`` (100 trees, ``random_state=seed``)."""
    if name == "lr":
        return Pipeline([("scale", StandardScaler(with_mean=False)),
                         ("lr", LogisticRegression())])
    if name == "knn":
        return Pipeline([("scale", StandardScaler(with_mean=False)),
                         ("knn", KNeighborsClassifier(n_neighbors=5))])
    if name == "rf":
        return RandomForestClassifier(n_estimators=100, random_state=seed, n_jobs=n_jobs)
    raise InputError(f"classifiers: unknown classifier '{name}'; expected one of "
                     f"{', '.join(CLASSIFIERS)}")


def check_classifiers(classifiers: Any) -> tuple[str, ...]:
    """``classifiers`` as a tuple of known names, or a one-line InputError."""
    if isinstance(classifiers, str):
        raise InputError(f"classifiers: expected a tuple of names, got the string "
                         f"{classifiers!r}; write ({classifiers!r},)")
    try:
        names = tuple(classifiers)
    except TypeError as err:
        raise InputError(f"classifiers: expected a tuple of names, got {classifiers!r}") from err
    if not names:
        raise InputError("classifiers: expected at least one of " + ", ".join(CLASSIFIERS))
    unknown = [n for n in names if n not in CLASSIFIERS]
    if unknown:
        raise InputError(f"classifiers: unknown classifier '{unknown[0]}'; expected one of "
                         f"{', '.join(CLASSIFIERS)}")
    if len(set(names)) != len(names):
        raise InputError(f"classifiers: each classifier once, got {list(names)}")
    return names


def check_count(value: Any, field: str, minimum: int) -> int:
    """An integer option >= ``minimum``, or a one-line InputError."""
    return check_int(value, field, minimum)


def mean_label(classifiers: Iterable[str]) -> str:
    """The params value of the row over every fold of every classifier: ``MEAN(knn,lr,rf)``."""
    return f"MEAN({','.join(sorted(classifiers))})"


def large_classes(codes: np.ndarray, min_class_size: int) -> np.ndarray:
    """Boolean mask of the items whose class has at least ``min_class_size`` items."""
    counts = np.bincount(codes)
    return counts[codes] >= min_class_size


#: scores one split: (y_true, proba, labels) -> {score: value}
ScoreFunction = Callable[[np.ndarray, np.ndarray, np.ndarray], dict[str, float]]

#: builds a fresh classifier from (name, seed, n_jobs): :func:`make_classifier` here, the
#: cross-species task passes its own
ClassifierFactory = Callable[[str, int, int | None], ClassifierMixin]


def fit(name: str, x: Any, y: np.ndarray, *, seed: int, n_jobs: int | None = None,
        make: ClassifierFactory = make_classifier) -> Any:
    """A fresh classifier ``name`` (from ``make``) fitted on ``x, y`` (convergence warnings
    silenced, as the reference's default ``max_iter`` hits them on most embeddings)."""
    model = clone(make(name, seed, n_jobs))
    n_neighbors = getattr(model[-1] if hasattr(model, "steps") else model, "n_neighbors", 0)
    if n_neighbors > len(y):
        raise InputError(f"classifiers: '{name}' needs at least {n_neighbors} training cells per "
                         f"fold, got {len(y)}; use more cells, fewer folds or other classifiers")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(x, y)


def full_proba(fitted: Any, x: Any, labels: np.ndarray) -> np.ndarray:
    """``predict_proba`` with one column per class of ``labels`` (0 for classes the classifier
    did not see in training)."""
    part = fitted.predict_proba(x)
    if part.shape[1] == len(labels) and np.array_equal(fitted.classes_, labels):
        return part
    proba = np.zeros((part.shape[0], len(labels)))
    proba[:, np.searchsorted(labels, fitted.classes_)] = part
    return proba


def cross_validate(x: Any, y: np.ndarray, folds: Sequence[tuple[np.ndarray, np.ndarray]], *,
                   labels: np.ndarray, classifiers: Sequence[str], seed: int,
                   n_jobs: int | None = None,
                   make: ClassifierFactory = make_classifier,
                   scores: ScoreFunction | None = None) -> pd.DataFrame:
    """One row per (classifier, fold): the scores of each fold's test rows (``scores``: the
    five of :func:`classification_scores` by default, or e.g.
    :func:`czbench.metrics.probe_scores`)."""
    scores = scores or classification_scores  # looked up at call time
    rows = []
    for name in classifiers:
        for fold, (train, test) in enumerate(folds):
            fitted = fit(name, x[train], y[train], seed=seed, n_jobs=n_jobs, make=make)
            proba = full_proba(fitted, x[test], labels)
            rows.append({"classifier": name, "fold": fold, **scores(y[test], proba, labels)})
    names = list(rows[0])[2:] if rows else list(SCORES)
    return pd.DataFrame(rows, columns=["classifier", "fold", *names])


def transfer(x_train: Any, y_train: np.ndarray, x_test: Any, y_test: np.ndarray, *,
             labels: np.ndarray, classifiers: Sequence[str], seed: int,
             n_jobs: int | None = None,
             make: ClassifierFactory = make_classifier) -> pd.DataFrame:
    """One row per classifier: fit on the train rows, scored on the test rows ("fold" 0)."""
    rows = []
    for name in classifiers:
        fitted = fit(name, x_train, y_train, seed=seed, n_jobs=n_jobs, make=make)
        proba = full_proba(fitted, x_test, labels)
        rows.append({"classifier": name, "fold": 0,
                     **classification_scores(y_test, proba, labels)})
    return pd.DataFrame(rows, columns=["classifier", "fold", *SCORES])


def fold_means(table: pd.DataFrame, classifiers: Sequence[str], *,
               skip_undefined: bool = False,
               scores: Sequence[str] = SCORES) -> list[tuple[str, str, float]]:
    """``(classifier label, score, mean over folds)``: first the ``MEAN(...)`` row over every
    fold of every classifier, then each classifier. With ``skip_undefined`` a fold whose score
    is undefined (NaN: e.g. a grouped fold holding one class) is left out of the mean."""
    mean = (lambda v: float(np.nanmean(v)) if np.isfinite(v).any() else float("nan")) \
        if skip_undefined else (lambda v: float(np.mean(v)))
    groups = [(mean_label(classifiers), table)]
    groups += [(name, table[table["classifier"] == name]) for name in classifiers]
    return [(label, score, mean(group[score].to_numpy(dtype=float)))
            for label, group in groups for score in scores]


class ClassifierOptions:
    """Validation shared by the tasks that train the reference classifiers."""

    unrecorded_options = ("n_jobs",)

    def _set_classifier_options(self, classifiers: Any, n_jobs: int | None, n_folds: Any,
                                min_class_size: Any) -> None:
        self.classifiers = check_classifiers(classifiers)
        self.n_jobs = n_jobs
        self.n_folds = check_count(n_folds, "n_folds", 2)
        self.min_class_size = check_count(min_class_size, "min_class_size", 1)
