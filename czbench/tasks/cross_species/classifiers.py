"""The classifiers of task ``cross_species_label_prediction``, as cz-benchmarks 0.15.1 builds
them for that task, and the loops that fit and score them.

They differ from task ``label_prediction``'s (:func:`czbench.tasks.classification.make_classifier`):

* ``lr``: ``StandardScaler()`` (centred and scaled) -> ``LogisticRegression(max_iter=1000,
  random_state=seed)``;
* ``knn``: ``StandardScaler()`` -> ``KNeighborsClassifier(n_neighbors=5)``;
* ``rf``: ``RandomForestClassifier(n_estimators=100, random_state=seed)`` (``n_jobs`` sets its
  threads only).

The fit-and-score loops are the classification core's
(:func:`~czbench.tasks.classification.cross_validate` and
:func:`~czbench.tasks.classification.transfer`) with ``make=make_cross_species_classifier``,
so both label-prediction tasks share one code path.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
from sklearn.base import ClassifierMixin
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from czbench.errors import InputError
from czbench.metrics.classification import SCORES
from czbench.tasks.classification import CLASSIFIERS


def make_cross_species_classifier(name: str, seed: int,
                                  n_jobs: int | None = None) -> ClassifierMixin:
    """A fresh, unfitted ``lr``, ``knn`` or ``rf`` of the cross-species task."""
    if name == "lr":
        return Pipeline([("scaler", StandardScaler()),
                         ("lr", LogisticRegression(max_iter=1000, random_state=seed))])
    if name == "knn":
        return Pipeline([("scaler", StandardScaler()),
                         ("knn", KNeighborsClassifier(n_neighbors=5))])
    if name == "rf":
        return RandomForestClassifier(n_estimators=100, random_state=seed, n_jobs=n_jobs)
    raise InputError(f"classifiers: unknown classifier '{name}'; expected one of "
                     f"{', '.join(CLASSIFIERS)}")


def mean_label(classifiers: Iterable[str]) -> str:
    """The ``classifier`` param of the row over all classifiers, in the reference's order:
    ``MEAN(lr,knn,rf)`` for the default three (a subset keeps that order: ``MEAN(lr,knn)``)."""
    chosen = set(classifiers)
    return f"MEAN({','.join(n for n in CLASSIFIERS if n in chosen)})"


def classifier_means(table: pd.DataFrame, classifiers: Sequence[str]
                     ) -> list[tuple[str, str, float]]:
    """``(classifier label, score, value)``: first the ``MEAN(...)`` row, the mean over every
    row of the table (all folds of all classifiers, as the reference averages its result
    table), then each classifier's mean over its folds (its single row for a transfer).
    Undefined (NaN) scores are left out of the means, as pandas' ``mean`` does."""
    def mean(values: np.ndarray) -> float:
        return float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")

    order = [n for n in CLASSIFIERS if n in set(classifiers)]
    groups = [(mean_label(classifiers), table)]
    groups += [(name, table[table["classifier"] == name]) for name in order]
    return [(label, score, mean(group[score].to_numpy(dtype=float)))
            for label, group in groups for score in SCORES]
