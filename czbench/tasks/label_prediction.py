"""Task ``label_prediction``: can simple classifiers recover the cell type from the embedding?

Definition: docs/spec.md#task-label_prediction.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold

from czbench.context import RunContext, as_context
from czbench.errors import InputError
from czbench.metrics.classification import SCORES
from czbench.neighbors import KNNGraph
from czbench.tasks.base import MetricSpec, Task, TaskRun
from czbench.tasks.classification import (
    CLASSIFIERS,
    ClassifierOptions,
    cross_validate,
    fold_means,
    large_classes,
)
from czbench.utils.arrays import as_codes
from czbench.utils.checks import check_int
from czbench.utils.sampling import stratified_subset


class LabelPredictionTask(ClassifierOptions, Task):
    """Stratified k-fold (5, shuffled, seeded) cross-validation of ``lr``, ``knn`` and ``rf``
    classifiers predicting ``label_key``.

    ``max_cells`` (default ``None``: every cell) caps the cells cross-validated: a seeded,
    label-stratified subsample of that size is drawn first (the cost of the random forest grows
    faster than linearly in n). Then classes with fewer than ``min_class_size`` cells are
    dropped, and binary vs macro averaging is decided once from the classes kept. The cells and
    classes used are recorded with the run (``resolved``).

    Reports ``mean_fold_{accuracy,f1,precision,recall,auroc}`` over all folds of all classifiers
    (params ``{"classifier": "MEAN(knn,lr,rf)"}``) and per classifier (``{"classifier": name}``):
    20 results with the default classifiers.
    """

    name = "label_prediction"
    description = "Cross-validated cell-type prediction by lr / knn / rf classifiers"
    metrics = tuple(MetricSpec(f"mean_fold_{s}", f"Mean over folds of the {s} score")
                    for s in SCORES)
    accepts_sparse = True

    def __init__(self, *, label_key: str = "cell_type", n_folds: int = 5,
                 min_class_size: int = 10, classifiers: tuple[str, ...] = CLASSIFIERS,
                 n_jobs: int | None = -1, max_cells: int | None = None) -> None:
        super().__init__(label_key=label_key)
        self._set_classifier_options(classifiers, n_jobs, n_folds, min_class_size)
        self.max_cells = check_int(max_cells, "max_cells", 2 * self.n_folds, allow_none=True)

    def select_cells(self, labels: Any, n_cells: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """(positions of the cells cross-validated, their class codes): the ``max_cells``
        subsample first, then the classes with at least ``min_class_size`` cells."""
        codes = as_codes(labels, n_cells, name=self.label_key)
        rows = np.arange(n_cells)
        if self.max_cells is not None and n_cells > self.max_cells:
            rows = stratified_subset(codes, self.max_cells, seed)
        rows = rows[large_classes(codes[rows], self.min_class_size)]
        if np.unique(codes[rows]).size < 2:
            raise InputError(f"{self.label_key}: fewer than 2 classes have at least "
                             f"{self.min_class_size} cells (min_class_size)")
        return rows, codes[rows]

    def fold_table(self, embedding: Any, labels: Any,
                   context: RunContext | None = None) -> pd.DataFrame:
        """One row per (classifier, fold) with the five scores."""
        return self._fold_table(embedding, labels, as_context(context))[0]

    def _fold_table(self, embedding: Any, labels: Any,
                    context: RunContext) -> tuple[pd.DataFrame, dict[str, Any]]:
        rows, y = self.select_cells(labels, embedding.shape[0], context.seed)
        classes = np.unique(y)
        folds = list(StratifiedKFold(self.n_folds, shuffle=True, random_state=context.seed)
                     .split(np.zeros(len(y)), y))
        table = cross_validate(embedding[rows], y, folds, labels=classes,
                               classifiers=self.classifiers, seed=context.seed,
                               n_jobs=self.n_jobs)
        return table, {"n_cells": int(len(rows)), "n_classes": int(len(classes))}

    def _run(self, embedding: Any, obs: pd.DataFrame, knn: KNNGraph | None,
             context: RunContext) -> TaskRun:
        table, resolved = self._fold_table(embedding, obs[self.label_key].to_numpy(), context)
        results = [self._result(f"mean_fold_{score}", value, classifier=label)
                   for label, score, value in fold_means(table, self.classifiers)]
        return self._output(results, **resolved)
