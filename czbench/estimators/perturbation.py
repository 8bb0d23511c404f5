"""``PerturbationExpressionPredictionBenchmark``: the perturbation task as a scikit-learn
estimator.

* ``fit(X, y)`` learns the ground truth from observed data: ``X`` raw counts (cells x genes,
  non-negative integers), ``y`` each cell's condition; per condition, Wilcoxon DE against the
  ``control`` cells, seeded targets and matched controls -- the task's ``prepare`` with the
  seed of ``random_state``. Learned: ``truth_``, ``evaluated_``, ``skipped_``, ``seed_``,
  ``n_features_in_``, ``n_cells_``.
* ``score(X, y=None)`` scores predicted expression (normalized counts, not log) for the same
  cells in the same order: the task's ``mean_spearman_correlation``, run with the seed of
  ``fit``. ``results_frame(X)`` gives every per-condition value.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from czbench.context import DEFAULT_SEED, RunContext
from czbench.datasets.counts import is_counts
from czbench.errors import InputError
from czbench.estimators.base import (
    _check_labels,
    _check_X,
    make_task,
    results_frame,
    run_context,
)

__all__ = ["PerturbationExpressionPredictionBenchmark"]

TASK = "perturbation_expression_prediction"


class PerturbationExpressionPredictionBenchmark(BaseEstimator):
    """Spearman correlation of predicted vs true perturbation effects (see module docstring).

    Parameters are the task's options (``control`` is required; ``target_rule`` "reference" or
    "min5" picks which conditions are scored and how many targets each gets) plus
    ``random_state``, the run's seed (it draws the targets and matched controls of the ground
    truth).

    Attributes:
        task_: the task.
        prepared_: its ground truth for the data seen at fit
            (:class:`~czbench.tasks.perturbation.PerturbationTruth`).
        seed_: the seed the ground truth was drawn with (``score`` runs with it).
        truth_, evaluated_, skipped_: the ground truth's table, conditions scored and skipped.
        n_cells_, n_features_in_: cells and genes seen at fit.
    """

    def __init__(self, control: str | None = None,
                 exclude_conditions: Sequence[str] | None = None,
                 conditions: Sequence[str] | None = None, min_cells: int = 20,
                 min_de_genes: int = 5, pval_threshold: float = 1e-4, min_logfc: float = 1.0,
                 target_fraction: float = 0.5, target_rule: str = "reference",
                 random_state: Any = DEFAULT_SEED) -> None:
        self.control = control
        self.exclude_conditions = exclude_conditions
        self.conditions = conditions
        self.min_cells = min_cells
        self.min_de_genes = min_de_genes
        self.pval_threshold = pval_threshold
        self.min_logfc = min_logfc
        self.target_fraction = target_fraction
        self.target_rule = target_rule
        self.random_state = random_state

    def fit(self, X: Any, y: Any) -> PerturbationExpressionPredictionBenchmark:
        """Compute the ground truth of the counts ``X`` with conditions ``y``. Returns self."""
        import anndata as ad  # here: importing czbench.estimators stays light

        if self.control is None:
            raise InputError("control: PerturbationExpressionPredictionBenchmark needs the "
                             "control condition's label, e.g. control='non-targeting'")
        X = _check_X(self, X, reset=True)
        labels = _check_labels(y, X.shape[0], "y", type(self).__name__).astype(str)
        if not is_counts(X):
            raise InputError("X: expected raw counts (non-negative integers) to compute the "
                             "ground truth")
        n_cells, n_genes = X.shape
        adata = ad.AnnData(X=sp.csr_matrix(X, dtype=np.float32),
                           obs=pd.DataFrame({"condition": labels},
                                            index=[f"cell{i}" for i in range(n_cells)]),
                           var=pd.DataFrame(index=[f"gene{j}" for j in range(n_genes)]))
        options = self.get_params(deep=False)
        context = run_context(options.pop("random_state"))
        task = make_task(TASK, options)
        self.prepared_ = task.prepare(adata, context)
        self.task_ = task
        self.seed_ = context.seed
        self.n_cells_ = n_cells
        self.truth_ = self.prepared_.table
        self.evaluated_ = self.prepared_.evaluated
        self.skipped_ = self.prepared_.skipped
        return self

    def results_frame(self, X: Any) -> pd.DataFrame:
        """Every result (per condition, mean, median) for the predictions ``X``."""
        check_is_fitted(self, "task_")
        X = _check_X(self, X, reset=False)
        if X.shape[0] != self.n_cells_:
            raise InputError(f"X: has {X.shape[0]} rows; fit saw {self.n_cells_} cells (the "
                             f"predictions must be for the same cells, in the same order)")
        return results_frame(self.task_.run(X, context=RunContext(seed=self.seed_),
                                            prepared=self.prepared_))

    def score(self, X: Any, y: Any = None) -> float:
        """Mean over evaluated conditions of the Spearman correlation (``y`` is ignored)."""
        frame = self.results_frame(X)
        return float(frame.loc[frame["metric"] == "mean_spearman_correlation", "value"].iloc[0])
