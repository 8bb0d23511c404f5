"""Task ``cross_species_label_prediction``: cell-type prediction within and across species.

Definition: docs/spec.md#task-cross_species_label_prediction. The classifiers are the
reference's for this task (:mod:`.classifiers`: centred ``StandardScaler``,
``LogisticRegression(max_iter=1000)``), scored by the classification core.
"""

from __future__ import annotations

import itertools
import warnings
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

from czbench.context import RunContext
from czbench.errors import InputError
from czbench.metrics.classification import SCORES
from czbench.neighbors import KNNGraph
from czbench.tasks.base import MetricSpec, Task, TaskRun
from czbench.tasks.classification import CLASSIFIERS, ClassifierOptions, cross_validate, transfer
from czbench.tasks.cross_species.baselines import ORTHOLOG_PCA
from czbench.tasks.cross_species.classifiers import (
    classifier_means,
    make_cross_species_classifier,
)
from czbench.tasks.cross_species.organisms import SPECIES_NAMES, organism_name
from czbench.tasks.cross_species.stacking import check_species, pseudobulk, species_order

AGGREGATIONS = (None, "mean", "median")


class CrossSpeciesLabelPredictionTask(ClassifierOptions, Task):
    """Cell-type prediction within and across species with the reference's ``lr``, ``knn``
    and ``rf`` classifiers for this task (:mod:`czbench.tasks.cross_species.classifiers`).

    For every ordered species pair (A, B), species in order of their reported names:

    * A = B: ``n_folds``-fold stratified cross-validation (shuffled, seeded) on A's cells; with
      ``sample_key``, StratifiedGroupKFold so that each sample/donor is in one fold only.
    * A != B: fit on A, score on B, using only the cell types that have at least
      ``min_class_size`` cells in both species.

    Classes with fewer than ``min_class_size`` cells in a species are dropped there (counted on
    cells, before any aggregation). ``aggregation`` ('mean' / 'median', needs ``sample_key``)
    replaces the cells by one pseudo-bulk row per (sample, cell type).

    Reports, with params ``{train_species, test_species, classifier}``: for A = B
    ``mean_fold_{accuracy,f1,precision,recall,auroc}`` (mean over folds), for A != B
    ``{accuracy,f1,precision,recall,auroc}`` (the single split) -- the reference's names --
    per classifier and over all classifiers (``classifier="MEAN(lr,knn,rf)"``). Species are
    reported by the reference's organism names (``homo_sapiens``, ``mus_musculus``, ...) when
    the column's values name one (``species_names="organism"``), else as the column's values.
    2 species, 3 classifiers: 4 pairs x 20 = 80 results.
    """

    name = "cross_species_label_prediction"
    description = "Cell-type prediction within species (CV) and across species (train A, test B)"
    metrics = (
        *(MetricSpec(f"mean_fold_{s}", f"Within one species (A = B): mean over the "
                                       f"cross-validation folds of the {s} score")
          for s in SCORES),
        *(MetricSpec(s, f"Across species (A != B): the {s} score of the classifier fitted on "
                        f"A and scored on B") for s in SCORES),
    )
    column_options = ("label_key", "species_key", "sample_key")
    baselines = (ORTHOLOG_PCA,)

    def __init__(self, *, label_key: str = "cell_type", species_key: str = "species",
                 sample_key: str | None = None, aggregation: str | None = None,
                 n_folds: int = 5, min_class_size: int = 10,
                 classifiers: tuple[str, ...] = CLASSIFIERS, n_jobs: int | None = -1,
                 species_names: str = "organism") -> None:
        self.label_key = label_key
        self.species_key = species_key
        self.sample_key = sample_key
        if isinstance(aggregation, str) and aggregation.lower() == "none":
            aggregation = None
        if aggregation not in AGGREGATIONS:
            raise InputError(f"aggregation: expected None, 'mean' or 'median', got "
                             f"{aggregation!r}")
        if aggregation is not None and sample_key is None:
            raise InputError(f"aggregation: {aggregation!r} aggregates cells by sample and "
                             f"needs sample_key (e.g. sample_key='batch')")
        self.aggregation = aggregation
        if species_names not in SPECIES_NAMES:
            raise InputError(f"species_names: expected 'organism' or 'column', got "
                             f"{species_names!r}")
        self.species_names = species_names
        self._set_classifier_options(classifiers, n_jobs, n_folds, min_class_size)

    @property
    def required_columns(self) -> list[str]:
        return [c for c in super().required_columns if c is not None]

    # -- validation (before any work) ----------------------------------------------------------
    def species_labels(self, obs: pd.DataFrame) -> dict[Any, str]:
        """Species value -> the name reported in params, in report order (sorted by name)."""
        values = species_order(obs[self.species_key].to_numpy())
        if self.species_names == "organism":
            names = {v: organism_name(v) for v in values}
        else:
            names = {v: str(v) for v in values}
        return dict(sorted(names.items(), key=lambda item: item[1]))

    def kept_classes(self, obs: pd.DataFrame) -> dict[Any, set[str]]:
        """Per species value (in report order), the cell types with at least
        ``min_class_size`` cells."""
        labels = obs[self.label_key].astype(str).to_numpy()
        species = obs[self.species_key].to_numpy()
        kept = {}
        for value in self.species_labels(obs):
            counts = pd.Series(labels[species == value]).value_counts()
            kept[value] = set(counts.index[counts >= self.min_class_size])
        return kept

    def check_inputs(self, obs: pd.DataFrame, n_cells: int | None = None) -> None:
        super().check_inputs(obs, n_cells)
        check_species(obs, self.species_key)
        names = self.species_labels(obs)
        if len(set(names.values())) < len(names):
            same = [v for v in names if list(names.values()).count(names[v]) > 1]
            raise InputError(f"{self.species_key}: the values {', '.join(map(repr, same))} "
                             f"name the same organism '{names[same[0]]}'; use one value per "
                             f"species (or species_names='column')")
        kept = self.kept_classes(obs)
        for value, classes in kept.items():
            if len(classes) < 2:
                raise InputError(f"{self.label_key}: species '{value}' has fewer than 2 cell "
                                 f"types with at least {self.min_class_size} cells "
                                 f"(min_class_size)")
            if self.sample_key is not None:
                cells = ((obs[self.species_key] == value).to_numpy()
                         & obs[self.label_key].astype(str).isin(classes).to_numpy())
                n_samples = obs.loc[cells, self.sample_key].nunique()
                if n_samples < self.n_folds:
                    raise InputError(f"sample_key: species '{value}' has {n_samples} samples "
                                     f"in '{self.sample_key}', fewer than n_folds="
                                     f"{self.n_folds} grouped folds; lower n_folds")
        for a, b in itertools.combinations(kept, 2):
            if len(kept[a] & kept[b]) < 2:
                raise InputError(f"{self.label_key}: species '{a}' and '{b}' share "
                                 f"{len(kept[a] & kept[b])} cell types with at least "
                                 f"{self.min_class_size} cells each; at least 2 are needed")

    # -- pieces --------------------------------------------------------------------------------
    def cv_splitter(self, seed: int) -> StratifiedKFold | StratifiedGroupKFold:
        """The A = A splitter: StratifiedGroupKFold when ``sample_key`` is set, else
        StratifiedKFold (both ``n_folds``, shuffled, ``random_state=seed``)."""
        cls = StratifiedGroupKFold if self.sample_key is not None else StratifiedKFold
        return cls(self.n_folds, shuffle=True, random_state=seed)

    def species_data(self, embedding: np.ndarray, obs: pd.DataFrame, species: Any,
                     classes: set[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(rows, labels, samples) of one species (its value in the species column)
        restricted to ``classes``, pseudo-bulk aggregated when ``aggregation`` is set."""
        labels = obs[self.label_key].astype(str).to_numpy()
        mask = (obs[self.species_key].to_numpy() == species) & np.isin(labels, list(classes))
        idx = np.flatnonzero(mask)
        x, y = embedding[idx], labels[idx]
        samples = (obs[self.sample_key].astype(str).to_numpy()[idx]
                   if self.sample_key is not None else None)
        if self.aggregation is not None:
            x, y, samples = pseudobulk(x, y, samples, self.aggregation)
        return x, y, samples

    def pair_tables(self, embedding: np.ndarray, obs: pd.DataFrame, seed: int
                    ) -> list[tuple[str, str, pd.DataFrame]]:
        """(train species, test species, per-classifier/fold score table) per ordered pair;
        species by their reported names."""
        kept = self.kept_classes(obs)
        names = self.species_labels(obs)
        common = {"classifiers": self.classifiers, "seed": seed, "n_jobs": self.n_jobs,
                  "make": make_cross_species_classifier}
        out = []
        for a, b in itertools.product(kept, kept):
            if a == b:
                x, y, samples = self.species_data(embedding, obs, a, kept[a])
                with warnings.catch_warnings():  # "least populated class" with grouped folds
                    warnings.simplefilter("ignore", UserWarning)
                    folds = list(self.cv_splitter(seed).split(np.zeros(len(y)), y,
                                                              groups=samples))
                table = cross_validate(x, y, folds, labels=np.unique(y), **common)
            else:
                shared = kept[a] & kept[b]
                xa, ya, _ = self.species_data(embedding, obs, a, shared)
                xb, yb, _ = self.species_data(embedding, obs, b, shared)
                table = transfer(xa, ya, xb, yb, labels=np.unique(ya), **common)
            out.append((names[a], names[b], table))
        return out

    def _run(self, embedding: Any, obs: pd.DataFrame, knn: KNNGraph | None,
             context: RunContext) -> TaskRun:
        if not isinstance(embedding, np.ndarray):  # a torch tensor
            embedding = embedding.detach().cpu().numpy()
        results = []
        for a, b, table in self.pair_tables(embedding, obs, context.seed):
            prefix = "mean_fold_" if a == b else ""
            for label, score, value in classifier_means(table, self.classifiers):
                if np.isnan(value):
                    raise InputError(f"{self.sample_key}: every grouped fold of species '{a}' "
                                     f"holds a single cell type, so {score} is undefined")
                results.append(self._result(f"{prefix}{score}", value, train_species=a,
                                            test_species=b, classifier=label))
        return self._output(results)
