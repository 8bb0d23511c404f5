"""Task ``label_prediction``: can simple classifiers recover the cell type from the embedding?

Definition: docs/spec.md#task-label_prediction.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

from czbench.context import RunContext, as_context
from czbench.errors import InputError
from czbench.metrics.classification import SCORES
from czbench.neighbors import KNNGraph
from czbench.tasks.base import MISSING_LABELS, MetricSpec, Task, TaskRun
from czbench.tasks.classification import (
    CLASSIFIERS,
    ClassifierOptions,
    cross_validate,
    fold_means,
    large_classes,
)
from czbench.utils.arrays import as_codes
from czbench.utils.checks import check_choice, check_int, check_text
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

    With ``group_key`` (an obs column, e.g. the compound of a Cell Painting well) the same
    cells are cross-validated a second time with folds that keep each group whole
    (``StratifiedGroupKFold``, seeded), and those 20 results carry ``{"grouped_by": group_key}``
    too: the stratified score says how well a label is recognised, the grouped one whether it
    transfers to unseen groups. ``missing_labels="drop"`` scores the labelled rows only.
    """

    name = "label_prediction"
    description = "Cross-validated cell-type prediction by lr / knn / rf classifiers"
    metrics = tuple(MetricSpec(f"mean_fold_{s}", f"Mean over folds of the {s} score")
                    for s in SCORES)
    accepts_sparse = True
    column_options = ("label_key", "group_key")

    def __init__(self, *, label_key: str = "cell_type", n_folds: int = 5,
                 min_class_size: int = 10, classifiers: tuple[str, ...] = CLASSIFIERS,
                 n_jobs: int | None = -1, max_cells: int | None = None,
                 group_key: str | None = None, missing_labels: str = "error") -> None:
        super().__init__(label_key=label_key)
        self._set_classifier_options(classifiers, n_jobs, n_folds, min_class_size)
        self.max_cells = check_int(max_cells, "max_cells", 2 * self.n_folds, allow_none=True)
        self.group_key = check_text(group_key, "group_key", allow_none=True)
        self.missing_labels = check_choice(missing_labels, "missing_labels", MISSING_LABELS)

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

    def _fold_table(self, embedding: Any, labels: Any, context: RunContext,
                    groups: Any = None) -> tuple[pd.DataFrame, dict[str, Any]]:
        rows, y = self.select_cells(labels, embedding.shape[0], context.seed)
        classes = np.unique(y)
        if groups is None:
            splitter = StratifiedKFold(self.n_folds, shuffle=True, random_state=context.seed)
            folds = list(splitter.split(np.zeros(len(y)), y))
        else:
            codes = pd.factorize(np.asarray(groups)[rows], sort=True)[0]
            if np.unique(codes).size < self.n_folds:
                raise InputError(f"group_key: {np.unique(codes).size} groups among the cells "
                                 f"cross-validated, fewer than n_folds={self.n_folds}")
            splitter = StratifiedGroupKFold(self.n_folds, shuffle=True,
                                            random_state=context.seed)
            folds = list(splitter.split(np.zeros(len(y)), y, codes))
        table = cross_validate(embedding[rows], y, folds, labels=classes,
                               classifiers=self.classifiers, seed=context.seed,
                               n_jobs=self.n_jobs)
        resolved = {"n_cells": int(len(rows)), "n_classes": int(len(classes))}
        if groups is not None:
            resolved["n_groups"] = int(np.unique(codes).size)
        return table, resolved

    def _run(self, embedding: Any, obs: pd.DataFrame, knn: KNNGraph | None,
             context: RunContext) -> TaskRun:
        labels = obs[self.label_key].to_numpy()
        table, resolved = self._fold_table(embedding, labels, context)
        results = [self._result(f"mean_fold_{score}", value, classifier=label)
                   for label, score, value in fold_means(table, self.classifiers)]
        if self.group_key is not None:
            groups = obs[self.group_key].astype(str).to_numpy()
            grouped, extra = self._fold_table(embedding, labels, context, groups)
            results += [self._result(f"mean_fold_{score}", value, classifier=label,
                                     grouped_by=self.group_key)
                        for label, score, value in fold_means(grouped, self.classifiers,
                                                              skip_undefined=True)]
            resolved["n_groups"] = extra["n_groups"]
        return self._output(results, **resolved)
