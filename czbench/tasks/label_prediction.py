"""Task ``label_prediction``: can simple classifiers recover the cell type from the embedding?"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import ClassifierMixin, clone
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from czbench._arrays import as_codes
from czbench.errors import InputError
from czbench.neighbors import KNNGraph
from czbench.sampling import stratified_subset
from czbench.tasks.base import DEFAULT_SEED, MetricResult, MetricSpec, Task
from czbench.tasks.registry import register_task

CLASSIFIERS = ("lr", "knn", "rf")
SCORES = ("accuracy", "f1", "precision", "recall", "auroc")


def make_classifier(name: str, seed: int, n_jobs: int | None = None) -> ClassifierMixin:
    """The reference's three classifiers: ``lr``, ``knn`` (both after a StandardScaler without
    centring) and ``rf`` (100 trees)."""
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


class ClassifierOptions:
    """Mixin of the tasks that train the reference classifiers: validates ``classifiers`` and
    keeps ``n_jobs`` (which never changes results) out of the recorded options."""

    seed: int

    def _set_classifiers(self, classifiers: Any, n_jobs: int | None) -> None:
        if isinstance(classifiers, str):
            raise InputError(f"classifiers: expected a tuple of names, got the string "
                             f"{classifiers!r}")
        self.classifiers = tuple(classifiers)
        if not self.classifiers:
            raise InputError("classifiers: expected at least one of " + ", ".join(CLASSIFIERS))
        for name in self.classifiers:
            make_classifier(name, self.seed)  # validates the name
        self.n_jobs = n_jobs

    def options(self) -> dict[str, Any]:
        opts = super().options()  # type: ignore[misc]
        opts.pop("n_jobs")  # does not change results
        opts["classifiers"] = list(self.classifiers)
        return opts


def filter_small_classes(codes: np.ndarray, min_class_size: int) -> np.ndarray:
    """Boolean mask of cells whose class has at least ``min_class_size`` cells."""
    counts = np.bincount(codes)
    return counts[codes] >= min_class_size


def fold_scores(y_true: np.ndarray, y_pred: np.ndarray, proba: np.ndarray,
                classes: np.ndarray) -> dict[str, float]:
    """accuracy, f1, precision, recall (binary if 2 classes else macro; zero_division=0) and
    AUROC (one-vs-rest macro on predicted probabilities)."""
    average = "binary" if len(classes) == 2 else "macro"
    if len(classes) == 2:
        auroc = roc_auc_score(y_true, proba[:, 1])
    else:
        auroc = roc_auc_score(y_true, proba, multi_class="ovr", average="macro", labels=classes)
    return {
        "accuracy": accuracy_score(y_true, y_pred),
        "f1": f1_score(y_true, y_pred, average=average, zero_division=0),
        "precision": precision_score(y_true, y_pred, average=average, zero_division=0),
        "recall": recall_score(y_true, y_pred, average=average, zero_division=0),
        "auroc": auroc,
    }


@register_task
class LabelPredictionTask(ClassifierOptions, Task):
    """Stratified k-fold (5, shuffled, seeded) cross-validation of ``lr``, ``knn`` and ``rf``
    classifiers predicting ``label_key``; classes under ``min_class_size`` cells are dropped.

    ``max_cells`` (default ``None``: every cell) caps the cells cross-validated: a seeded,
    label-stratified subsample of that size is drawn first (the cost of the random forest grows
    faster than linearly in n). The number of cells used is recorded in ``resolved_``; the error
    this adds is measured in ``benchmarks/bench_scale.py`` (docs/performance.md).

    Reports ``mean_fold_{accuracy,f1,precision,recall,auroc}`` per classifier (params
    ``{"classifier": name}``) and over all folds of all classifiers (params
    ``{"classifier": "MEAN(knn,lr,rf)"}``): 20 results with the default classifiers.
    """

    name = "label_prediction"
    description = "Cross-validated cell-type prediction by lr / knn / rf classifiers"
    metrics = tuple(MetricSpec(f"mean_fold_{s}", f"Mean over folds of the {s} score")
                    for s in SCORES)
    accepts_sparse = True

    def __init__(self, *, seed: int = DEFAULT_SEED, label_key: str = "cell_type",
                 n_folds: int = 5, min_class_size: int = 10,
                 classifiers: tuple[str, ...] = CLASSIFIERS, n_jobs: int | None = -1,
                 max_cells: int | None = None) -> None:
        super().__init__(seed=seed, label_key=label_key)
        self.n_folds = int(n_folds)
        self.min_class_size = int(min_class_size)
        self._set_classifiers(classifiers, n_jobs)
        if max_cells is not None and (int(max_cells) != max_cells or max_cells < 2 * n_folds):
            raise InputError(f"max_cells: expected an integer >= 2 x n_folds ({2 * n_folds}) or "
                             f"None, got {max_cells!r}")
        self.max_cells = None if max_cells is None else int(max_cells)

    def fold_table(self, embedding: Any, labels: Any) -> pd.DataFrame:
        """One row per (classifier, fold) with the five scores."""
        codes = as_codes(labels, embedding.shape[0], name=self.label_key)
        keep = filter_small_classes(codes, self.min_class_size)
        rows = np.flatnonzero(keep)
        if self.max_cells is not None and len(rows) > self.max_cells:
            rows = rows[stratified_subset(codes[rows], self.max_cells, self.seed)]
        self.resolved_ = {"n_cells": int(len(rows))}
        x, y = embedding[rows], np.unique(codes[rows], return_inverse=True)[1]
        classes = np.unique(y)
        if len(classes) < 2:
            raise InputError(f"{self.label_key}: fewer than 2 classes have at least "
                             f"{self.min_class_size} cells")
        folds = StratifiedKFold(self.n_folds, shuffle=True, random_state=self.seed)
        rows = []
        for name in self.classifiers:
            model = make_classifier(name, self.seed, self.n_jobs)
            for fold, (train, test) in enumerate(folds.split(np.zeros(len(y)), y)):
                fitted = clone(model)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    fitted.fit(x[train], y[train])
                proba = fitted.predict_proba(x[test])
                pred = fitted.classes_[proba.argmax(axis=1)]
                scores = fold_scores(y[test], pred, proba, fitted.classes_)
                rows.append({"classifier": name, "fold": fold, **scores})
        return pd.DataFrame(rows)

    def _run(self, embedding: Any, obs: pd.DataFrame,
             knn: KNNGraph | None) -> list[MetricResult]:
        table = self.fold_table(embedding, obs[self.label_key].to_numpy())
        overall = f"MEAN({','.join(sorted(self.classifiers))})"
        results = [self._result(f"mean_fold_{s}", table[s].mean(), classifier=overall)
                   for s in SCORES]
        for name, group in table.groupby("classifier", sort=False):
            results += [self._result(f"mean_fold_{s}", group[s].mean(), classifier=name)
                        for s in SCORES]
        return results
