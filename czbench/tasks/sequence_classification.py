"""Task ``sequence_classification``: a probe on frozen embeddings of DNA sequences.

Definition: docs/spec.md#task-sequence_classification.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from czbench.baselines.sequence import DEFAULT_K, SEQUENCE_BASELINES
from czbench.context import RunContext
from czbench.errors import CZBenchWarning, InputError
from czbench.metrics.classification import PROBE_SCORES, probe_scores
from czbench.neighbors import KNNGraph
from czbench.tasks.base import MetricSpec, Task, TaskRun
from czbench.tasks.classification import cross_validate, fold_means, large_classes
from czbench.utils.arrays import as_codes
from czbench.utils.checks import check_int, check_text

#: the probes: name -> what is fitted on each training fold
PROBES = ("lr", "knn")
#: the obs column whose groups the folds keep whole when present (the shipped dataset's)
DEFAULT_GROUP_KEY = "leakage_group"
_DESCRIPTIONS = {
    "mcc": "Matthews correlation of the probe's predictions (multiclass R_K), mean over folds",
    "accuracy": "Accuracy of the probe's predictions, mean over folds",
    "macro_f1": "Macro-averaged F1 over the classes, mean over folds",
    "auroc": "One-vs-rest macro AUROC of the probe's probabilities, mean over folds",
}


def make_probe(name: str, seed: int, n_jobs: int | None = None) -> Any:
    """``lr``: StandardScaler + LogisticRegression(max_iter=5000) (the dataset page's probe);
    ``knn``: StandardScaler + 15-nearest-neighbour vote."""
    if name == "lr":
        return Pipeline([("scale", StandardScaler()),
                         ("lr", LogisticRegression(max_iter=5000))])
    if name == "knn":
        return Pipeline([("scale", StandardScaler()),
                         ("knn", KNeighborsClassifier(n_neighbors=15))])
    raise InputError(f"classifiers: unknown probe '{name}'; expected one of {', '.join(PROBES)}")


class SequenceClassificationTask(Task):
    """Seeded, stratified ``n_folds``-fold cross-validation of a logistic-regression and a kNN
    probe predicting ``label_key`` from the embedding of each sequence.

    When obs has ``group_key`` (default ``leakage_group``: same locus or identical sequence),
    the folds are run a second time keeping each group whole (``StratifiedGroupKFold``,
    seeded); those results carry ``folds="grouped"`` and ``grouped_by``, the plain ones
    ``folds="stratified"``, so the leakage effect is the difference. A ``group_key`` other
    than the default must exist. Classes with fewer than ``min_class_size`` sequences are left
    out with a warning. Reports ``mcc``, ``accuracy``, ``macro_f1`` and ``auroc`` per probe and
    for ``MEAN(knn,lr)``. ``kmer_k`` is the k of the task's k-mer baselines.
    """

    name = "sequence_classification"
    description = "Probes (logistic regression, kNN) on frozen sequence embeddings, " \
                  "stratified and leakage-grouped folds"
    metrics = tuple(MetricSpec(s, _DESCRIPTIONS[s]) for s in PROBE_SCORES)
    column_options = ("label_key",)
    baselines = SEQUENCE_BASELINES

    def __init__(self, *, label_key: str = "cell_type", group_key: str | None =
                 DEFAULT_GROUP_KEY, n_folds: int = 5, min_class_size: int = 5,
                 classifiers: tuple[str, ...] = PROBES, kmer_k: int = DEFAULT_K) -> None:
        super().__init__(label_key=label_key)
        self.group_key = check_text(group_key, "group_key", allow_none=True)
        self.n_folds = check_int(n_folds, "n_folds", 2)
        self.min_class_size = check_int(min_class_size, "min_class_size", 2)
        if isinstance(classifiers, str) or not classifiers or \
                any(c not in PROBES for c in classifiers) or len(set(classifiers)) != \
                len(tuple(classifiers)):
            raise InputError(f"classifiers: expected a tuple of distinct probes among "
                             f"{', '.join(PROBES)}, got {classifiers!r}")
        self.classifiers = tuple(classifiers)
        self.kmer_k = check_int(kmer_k, "kmer_k", 1, 8)

    def check_inputs(self, obs: pd.DataFrame, n_cells: int | None = None) -> None:
        super().check_inputs(obs, n_cells)
        group = self.group_key
        if group is not None and group != DEFAULT_GROUP_KEY and group not in obs.columns:
            raise InputError(f"group_key: task '{self.name}' needs obs column '{group}', which "
                             f"is missing; columns are: {', '.join(map(str, obs.columns))}")
        if group is not None and group in obs.columns and obs[group].isna().any():
            raise InputError(f"group_key: obs column '{group}' has "
                             f"{int(obs[group].isna().sum())} missing values")

    def select_rows(self, labels: Any, n: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """(rows kept, their class codes, the classes left out for being too small)."""
        codes = as_codes(labels, n, name=self.label_key)
        keep = large_classes(codes, self.min_class_size)
        small = sorted({str(v) for v in np.asarray(labels)[~keep]})
        if small:
            warnings.warn(f"{self.label_key}: {len(small)} classes have fewer than "
                          f"{self.min_class_size} sequences (min_class_size) and are left out: "
                          f"{', '.join(small[:5])}", CZBenchWarning, stacklevel=3)
        rows = np.flatnonzero(keep)
        if np.unique(codes[rows]).size < 2:
            raise InputError(f"{self.label_key}: fewer than 2 classes have at least "
                             f"{self.min_class_size} sequences (min_class_size)")
        return rows, codes[rows], small

    def folds(self, y: np.ndarray, seed: int, groups: Any = None
              ) -> list[tuple[np.ndarray, np.ndarray]]:
        """The seeded folds: stratified, or stratified and grouped by ``groups``."""
        if groups is None:
            splitter = StratifiedKFold(self.n_folds, shuffle=True, random_state=seed)
            return list(splitter.split(np.zeros(len(y)), y))
        codes = pd.factorize(np.asarray(groups), sort=True)[0]
        if np.unique(codes).size < self.n_folds:
            raise InputError(f"group_key: {np.unique(codes).size} groups, fewer than "
                             f"n_folds={self.n_folds}")
        splitter = StratifiedGroupKFold(self.n_folds, shuffle=True, random_state=seed)
        return list(splitter.split(np.zeros(len(y)), y, codes))

    def fold_table(self, embedding: Any, y: np.ndarray, folds: list, seed: int
                   ) -> pd.DataFrame:
        """One row per (probe, fold) with the four scores."""
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*least populated class.*")
            return cross_validate(embedding, y, folds, labels=np.unique(y),
                                  classifiers=self.classifiers, seed=seed, make=make_probe,
                                  scores=probe_scores)

    def _run(self, embedding: Any, obs: pd.DataFrame, knn: KNNGraph | None,
             context: RunContext) -> TaskRun:
        labels = obs[self.label_key].to_numpy()
        rows, y, small = self.select_rows(labels, embedding.shape[0])
        x = embedding[rows]
        results = []
        table = self.fold_table(x, y, self.folds(y, context.seed), context.seed)
        results += [self._result(score, value, classifier=label, folds="stratified")
                    for label, score, value in fold_means(table, self.classifiers,
                                                          scores=PROBE_SCORES)]
        resolved: dict[str, Any] = {"n_sequences": int(len(rows)),
                                    "n_classes": int(np.unique(y).size)}
        if small:
            resolved["classes_left_out"] = small
        if self.group_key is not None and self.group_key in obs.columns:
            groups = obs[self.group_key].astype(str).to_numpy()[rows]
            grouped = self.fold_table(x, y, self.folds(y, context.seed, groups), context.seed)
            results += [self._result(score, value, classifier=label, folds="grouped",
                                     grouped_by=self.group_key)
                        for label, score, value in fold_means(grouped, self.classifiers,
                                                              skip_undefined=True,
                                                              scores=PROBE_SCORES)]
            resolved["n_groups"] = int(np.unique(groups).size)
        return self._output(results, **resolved)
