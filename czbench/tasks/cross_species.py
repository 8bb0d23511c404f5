"""Tasks ``cross_species_integration`` and ``cross_species_label_prediction``.

Both read one embedding of the cells of two or more species (stacked; see
:func:`stack_species` for one embedding per species) with a ``species`` obs column and
cell-type labels shared across species. See docs/tasks_cross_species.md.

* ``cross_species_integration``: ``entropy_per_cell`` (k = 200, shared kNN) and
  ``batch_silhouette`` with the species as the batch.
* ``cross_species_label_prediction``: for every ordered species pair (A, B): A = B ->
  stratified k-fold cross-validation inside A (grouped by ``sample_key`` when given);
  A != B -> train on A, test on B, on the cell types both share. Optional pseudo-bulk
  aggregation of the embedding per (sample, cell type).
* ``ortholog_pca_baseline``: the PCA baseline on the stacked species' 1:1 ortholog genes.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

from czbench._arrays import as_numpy_2d
from czbench.errors import InputError
from czbench.metrics.entropy import ENTROPY_K, entropy_per_cell
from czbench.metrics.silhouette import batch_silhouette
from czbench.neighbors import KNNGraph
from czbench.tasks.base import DEFAULT_SEED, MetricResult, MetricSpec, Task
from czbench.tasks.label_prediction import (
    CLASSIFIERS,
    SCORES,
    ClassifierOptions,
    fold_scores,
    make_classifier,
)
from czbench.tasks.registry import register_task

AGGREGATIONS = (None, "mean", "median")


# -- inputs ------------------------------------------------------------------------------------
def stack_species(embeddings: Mapping[str, Any], obs: Mapping[str, pd.DataFrame], *,
                  species_key: str = "species") -> tuple[np.ndarray, pd.DataFrame]:
    """One embedding per species (>= 2, same dimension) -> one stacked embedding and obs.

    ``embeddings`` and ``obs`` are keyed by species name (same keys); ``obs[s]`` has one row
    per row of ``embeddings[s]``. The stacked obs gets the column ``species_key`` set to the
    key (an existing column of that name is replaced). The index is kept when unique across
    species, else reset to 0..n-1.
    """
    if not isinstance(embeddings, Mapping) or not isinstance(obs, Mapping):
        raise InputError("embeddings: expected dicts {species: embedding} and "
                         "{species: obs DataFrame}")
    names = list(embeddings)
    if len(names) < 2:
        raise InputError(f"embeddings: cross-species tasks need at least 2 species, got "
                         f"{len(names)} ({', '.join(map(str, names)) or 'none'})")
    if set(obs) != set(names):
        raise InputError(f"obs: species keys {sorted(map(str, obs))} differ from the "
                         f"embeddings' {sorted(map(str, names))}")
    arrays, frames, dims = [], [], set()
    for name in names:
        values = embeddings[name]
        wide = str(getattr(values, "dtype", "")) in ("float64", "torch.float64")
        x = as_numpy_2d(values, name=f"embeddings[{name!r}]",
                        dtype=np.float64 if wide else np.float32)
        frame = obs[name]
        if not isinstance(frame, pd.DataFrame):
            raise InputError(f"obs[{name!r}]: expected a DataFrame, got {type(frame).__name__}")
        if len(frame) != x.shape[0]:
            raise InputError(f"obs[{name!r}]: has {len(frame)} rows but embeddings[{name!r}] "
                             f"has {x.shape[0]} cells")
        dims.add(x.shape[1])
        arrays.append(x)
        frames.append(frame.assign(**{species_key: str(name)}))
    if len(dims) > 1:
        shapes = ", ".join(f"{n}: {a.shape[1]}" for n, a in zip(names, arrays, strict=True))
        raise InputError(f"embeddings: species embeddings must have the same dimension, got "
                         f"{shapes}")
    stacked = pd.concat(frames)
    if not stacked.index.is_unique:
        stacked = stacked.reset_index(drop=True)
    return np.vstack(arrays), stacked


def pseudobulk(embedding: np.ndarray, labels: Any, samples: Any,
               method: str = "mean") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Aggregate the embedding per (sample, label): ``mean`` or ``median`` of the cells.

    Returns (rows, labels, samples) sorted by (sample, label)."""
    if method not in ("mean", "median"):
        raise InputError(f"aggregation: expected None, 'mean' or 'median', got {method!r}")
    frame = pd.DataFrame(np.asarray(embedding))
    keys = [pd.Series(np.asarray(samples), name="_sample"),
            pd.Series(np.asarray(labels), name="_label")]
    grouped = frame.groupby(keys, sort=True, observed=True)
    agg = grouped.mean() if method == "mean" else grouped.median()
    return (agg.to_numpy(dtype=embedding.dtype),
            agg.index.get_level_values("_label").to_numpy(),
            agg.index.get_level_values("_sample").to_numpy())


def _species_order(values: Any) -> list[Any]:
    return sorted(pd.unique(np.asarray(values)), key=str)


def _check_species(obs: pd.DataFrame, species_key: str) -> list[Any]:
    names = _species_order(obs[species_key].to_numpy())
    if len(names) < 2:
        raise InputError(f"{species_key}: cross-species tasks need at least 2 species, got "
                         f"{len(names)} ({', '.join(map(str, names)) or 'none'})")
    return names


# -- integration -------------------------------------------------------------------------------
@register_task
class CrossSpeciesIntegrationTask(Task):
    """``entropy_per_cell`` (species entropy in each cell's 200-NN / log #species) and
    ``batch_silhouette`` (per cell type, mean 1 - |silhouette by species|; mean over types),
    i.e. task ``batch_integration`` with the species as the batch."""

    name = "cross_species_integration"
    description = "Species mixing: neighbourhood species entropy and species silhouette"
    metrics = (
        MetricSpec("entropy_per_cell", "Mean normalised species entropy in the 200-NN"),
        MetricSpec("batch_silhouette",
                   "Mean over cell types of 1 - |silhouette with species as the batch|"),
    )
    column_options = ("label_key", "species_key")

    def __init__(self, *, seed: int = DEFAULT_SEED, label_key: str = "cell_type",
                 species_key: str = "species", entropy_k: int = ENTROPY_K) -> None:
        super().__init__(seed=seed, label_key=label_key)
        self.species_key = species_key
        self.entropy_k = int(entropy_k)
        if self.entropy_k < 1:
            raise InputError(f"entropy_k: expected a positive integer, got {entropy_k}")

    @property
    def knn_k(self) -> int:
        return self.entropy_k

    def check_inputs(self, obs: pd.DataFrame, n_cells: int | None = None) -> None:
        super().check_inputs(obs, n_cells)
        _check_species(obs, self.species_key)
        per_type = obs.groupby(obs[self.label_key].astype(str).to_numpy())[self.species_key]
        if not (per_type.nunique() >= 2).any():
            raise InputError(f"{self.label_key}: no cell type occurs in two or more species, "
                             f"so the species share no labels")

    def _run(self, embedding: Any, obs: pd.DataFrame,
             knn: KNNGraph | None) -> list[MetricResult]:
        species = obs[self.species_key].astype(str).to_numpy()
        labels = obs[self.label_key].to_numpy()
        return [
            self._result("entropy_per_cell",
                         entropy_per_cell(embedding, species, k=self.entropy_k, knn=knn)),
            self._result("batch_silhouette", batch_silhouette(embedding, labels, species)),
        ]


# -- label prediction --------------------------------------------------------------------------
def _scores(y_true: np.ndarray, proba: np.ndarray, classes: np.ndarray) -> dict[str, float]:
    """Scores of one split. ``proba`` has a column for every class of ``classes`` (codes
    0..K-1). When every class occurs in ``y_true`` this is ``fold_scores``; otherwise (a
    grouped fold can miss a class) the four label scores use the same averaging and AUROC is
    the one-vs-rest macro over the classes present (probabilities renormalised over them;
    NaN when fewer than 2 are present)."""
    pred = classes[proba.argmax(axis=1)]
    present = np.unique(y_true)
    if len(present) == len(classes):
        return fold_scores(y_true, pred, proba, classes)
    average = "binary" if len(classes) == 2 else "macro"
    scores = {
        "accuracy": accuracy_score(y_true, pred),
        "f1": f1_score(y_true, pred, average=average, zero_division=0),
        "precision": precision_score(y_true, pred, average=average, zero_division=0),
        "recall": recall_score(y_true, pred, average=average, zero_division=0),
        "auroc": float("nan"),
    }
    if len(present) >= 2:
        sub = proba[:, present]
        total = sub.sum(axis=1, keepdims=True)
        sub = np.where(total > 0, sub / np.where(total > 0, total, 1), 1.0 / len(present))
        y_sub = np.searchsorted(present, y_true)
        scores["auroc"] = (roc_auc_score(y_sub, sub[:, 1]) if len(present) == 2 else
                           roc_auc_score(y_sub, sub, multi_class="ovr", average="macro",
                                         labels=np.arange(len(present))))
    return scores


def _full_proba(fitted: Any, x: np.ndarray, n_classes: int) -> np.ndarray:
    """predict_proba with a column for every class code (0 for classes unseen in training)."""
    part = fitted.predict_proba(x)
    if part.shape[1] == n_classes:
        return part
    proba = np.zeros((x.shape[0], n_classes))
    proba[:, np.asarray(fitted.classes_, dtype=int)] = part
    return proba


@register_task
class CrossSpeciesLabelPredictionTask(ClassifierOptions, Task):
    """Cell-type prediction within and across species with the ``lr``, ``knn`` and ``rf``
    classifiers of task ``label_prediction``.

    For every ordered species pair (A, B), species in sorted order:

    * A = B: ``n_folds``-fold stratified cross-validation (shuffled, seeded) on A's cells, as
      task ``label_prediction``; with ``sample_key``, StratifiedGroupKFold so that each
      sample/donor is in one fold only.
    * A != B: fit on A, score on B, using only the cell types that have at least
      ``min_class_size`` cells in both species.

    Classes with fewer than ``min_class_size`` cells in a species are dropped there (counted on
    cells, before any aggregation). ``aggregation`` ('mean' / 'median', needs ``sample_key``)
    replaces the cells by one pseudo-bulk row per (sample, cell type).

    Reports ``mean_fold_{accuracy,f1,precision,recall,auroc}`` with params
    ``{train_species, test_species, classifier}``, per classifier and over all folds of all
    classifiers (``classifier="MEAN(knn,lr,rf)"``); for A != B the "folds" are the single
    train/test split. 2 species, 3 classifiers: 4 pairs x 20 = 80 results.
    """

    name = "cross_species_label_prediction"
    description = "Cell-type prediction within species (CV) and across species (train A, test B)"
    metrics = tuple(MetricSpec(f"mean_fold_{s}",
                               f"Mean over folds (A = B) or the single A -> B split of the {s} "
                               f"score") for s in SCORES)
    column_options = ("label_key", "species_key")

    def __init__(self, *, seed: int = DEFAULT_SEED, label_key: str = "cell_type",
                 species_key: str = "species", sample_key: str | None = None,
                 aggregation: str | None = None, n_folds: int = 5, min_class_size: int = 10,
                 classifiers: tuple[str, ...] = CLASSIFIERS, n_jobs: int | None = -1) -> None:
        super().__init__(seed=seed, label_key=label_key)
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
        self.n_folds = int(n_folds)
        if self.n_folds < 2:
            raise InputError(f"n_folds: expected at least 2, got {n_folds}")
        self.min_class_size = int(min_class_size)
        self._set_classifiers(classifiers, n_jobs)

    @property
    def required_columns(self) -> list[str]:
        return super().required_columns + ([self.sample_key] if self.sample_key else [])

    # -- validation (before any work) ----------------------------------------------------------
    def _kept_classes(self, obs: pd.DataFrame) -> dict[Any, set[str]]:
        """Per species, the cell types with at least ``min_class_size`` cells."""
        labels = obs[self.label_key].astype(str).to_numpy()
        species = obs[self.species_key].to_numpy()
        kept = {}
        for name in _species_order(species):
            counts = pd.Series(labels[species == name]).value_counts()
            kept[name] = set(counts.index[counts >= self.min_class_size])
        return kept

    def check_inputs(self, obs: pd.DataFrame, n_cells: int | None = None) -> None:
        super().check_inputs(obs, n_cells)
        if self.sample_key is not None:
            if self.sample_key not in obs.columns:
                raise InputError(f"sample_key: task '{self.name}' needs obs column "
                                 f"'{self.sample_key}', which is missing")
            missing = int(obs[self.sample_key].isna().sum())
            if missing:
                raise InputError(f"sample_key: obs column '{self.sample_key}' has {missing} "
                                 f"missing values")
        _check_species(obs, self.species_key)
        kept = self._kept_classes(obs)
        for name, classes in kept.items():
            if len(classes) < 2:
                raise InputError(f"{self.label_key}: species '{name}' has fewer than 2 cell "
                                 f"types with at least {self.min_class_size} cells "
                                 f"(min_class_size)")
            if self.sample_key is not None:
                cells = ((obs[self.species_key] == name).to_numpy()
                         & obs[self.label_key].astype(str).isin(classes).to_numpy())
                n_samples = obs.loc[cells, self.sample_key].nunique()
                if n_samples < self.n_folds:
                    raise InputError(f"sample_key: species '{name}' has {n_samples} samples in "
                                     f"'{self.sample_key}', fewer than n_folds={self.n_folds} "
                                     f"grouped folds; lower n_folds")
        for a, b in itertools.combinations(kept, 2):
            if len(kept[a] & kept[b]) < 2:
                raise InputError(f"{self.label_key}: species '{a}' and '{b}' share "
                                 f"{len(kept[a] & kept[b])} cell types with at least "
                                 f"{self.min_class_size} cells each; at least 2 are needed")

    # -- pieces --------------------------------------------------------------------------------
    def cv_splitter(self) -> StratifiedKFold | StratifiedGroupKFold:
        """The A = A splitter: StratifiedGroupKFold when ``sample_key`` is set, else
        StratifiedKFold (both ``n_folds``, shuffled, ``random_state=seed``)."""
        cls = StratifiedGroupKFold if self.sample_key is not None else StratifiedKFold
        return cls(self.n_folds, shuffle=True, random_state=self.seed)

    def species_data(self, embedding: np.ndarray, obs: pd.DataFrame, species: Any,
                     classes: set[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(rows, labels, samples) of one species restricted to ``classes``, pseudo-bulk
        aggregated when ``aggregation`` is set."""
        labels = obs[self.label_key].astype(str).to_numpy()
        mask = (obs[self.species_key].to_numpy() == species) & np.isin(labels, list(classes))
        idx = np.flatnonzero(mask)
        x, y = embedding[idx], labels[idx]
        samples = (obs[self.sample_key].astype(str).to_numpy()[idx]
                   if self.sample_key is not None else None)
        if self.aggregation is not None:
            x, y, samples = pseudobulk(x, y, samples, self.aggregation)
        return x, y, samples

    def _fit(self, name: str, x: np.ndarray, y: np.ndarray) -> Any:
        model = clone(make_classifier(name, self.seed, self.n_jobs))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return model.fit(x, y)

    def cv_table(self, x: np.ndarray, labels: np.ndarray,
                 samples: np.ndarray | None) -> pd.DataFrame:
        """A = A: one row per (classifier, fold) with the five scores."""
        classes, y = np.unique(labels, return_inverse=True)
        codes = np.arange(len(classes))
        with warnings.catch_warnings():  # "least populated class" with grouped folds
            warnings.simplefilter("ignore", UserWarning)
            folds = list(self.cv_splitter().split(np.zeros(len(y)), y, groups=samples))
        rows = []
        for name in self.classifiers:
            for fold, (train, test) in enumerate(folds):
                fitted = self._fit(name, x[train], y[train])
                proba = _full_proba(fitted, x[test], len(classes))
                rows.append({"classifier": name, "fold": fold,
                             **_scores(y[test], proba, codes)})
        return pd.DataFrame(rows)

    def transfer_table(self, x_train: np.ndarray, labels_train: np.ndarray,
                       x_test: np.ndarray, labels_test: np.ndarray) -> pd.DataFrame:
        """A != B: one row per classifier, fit on the train rows, scored on the test rows
        (both restricted to the same classes)."""
        classes = np.unique(labels_train)
        y_train = np.searchsorted(classes, labels_train)
        y_test = np.searchsorted(classes, labels_test)
        codes = np.arange(len(classes))
        rows = []
        for name in self.classifiers:
            fitted = self._fit(name, x_train, y_train)
            proba = _full_proba(fitted, x_test, len(classes))
            rows.append({"classifier": name, "fold": 0, **_scores(y_test, proba, codes)})
        return pd.DataFrame(rows)

    def pair_tables(self, embedding: np.ndarray, obs: pd.DataFrame
                    ) -> list[tuple[str, str, pd.DataFrame]]:
        """(train species, test species, per-classifier/fold score table) per ordered pair."""
        kept = self._kept_classes(obs)
        names = list(kept)
        out = []
        for a, b in itertools.product(names, names):
            if a == b:
                x, y, samples = self.species_data(embedding, obs, a, kept[a])
                table = self.cv_table(x, y, samples)
            else:
                shared = kept[a] & kept[b]
                xa, ya, _ = self.species_data(embedding, obs, a, shared)
                xb, yb, _ = self.species_data(embedding, obs, b, shared)
                table = self.transfer_table(xa, ya, xb, yb)
            out.append((str(a), str(b), table))
        return out

    def _run(self, embedding: Any, obs: pd.DataFrame,
             knn: KNNGraph | None) -> list[MetricResult]:
        if not isinstance(embedding, np.ndarray):  # a torch tensor
            embedding = embedding.detach().cpu().numpy()
        overall = f"MEAN({','.join(sorted(self.classifiers))})"
        results = []
        for a, b, table in self.pair_tables(embedding, obs):
            groups = [(overall, table)] + [(name, table[table["classifier"] == name])
                                           for name in self.classifiers]
            for label, group in groups:
                for s in SCORES:
                    value = np.nanmean(group[s].to_numpy(dtype=float)) \
                        if group[s].notna().any() else float("nan")
                    if np.isnan(value):
                        raise InputError(f"{self.sample_key}: every grouped fold of species "
                                         f"'{a}' holds a single cell type, so {s} is undefined")
                    results.append(self._result(f"mean_fold_{s}", value, train_species=a,
                                                test_species=b, classifier=label))
        return results


# -- baseline ----------------------------------------------------------------------------------
def ortholog_pca_baseline(adata: Any, seed: int = DEFAULT_SEED, *,
                          species_key: str = "species") -> np.ndarray:
    """PCA baseline of stacked species whose genes are already 1:1 orthologs (one shared gene
    space, e.g. ``pancreas_baron_human_mouse``): normalize_total -> log1p -> 3,000 HVG ->
    50 PCs, seeded, on all cells of all species together (:func:`czbench.baselines.pca_baseline`).
    No integration is done: species differences stay in the embedding."""
    from czbench.baselines import pca_baseline

    if species_key not in adata.obs.columns:
        raise InputError(f"species_key: baseline:ortholog_pca needs obs column '{species_key}' "
                         f"(cells of >= 2 species on shared ortholog genes)")
    _check_species(adata.obs, species_key)
    return pca_baseline(adata, seed=seed)


__all__ = ["CrossSpeciesIntegrationTask", "CrossSpeciesLabelPredictionTask",
           "ortholog_pca_baseline", "pseudobulk", "stack_species"]


def _register_baselines() -> None:
    from czbench.baselines import register_baseline

    register_baseline("ortholog_pca", lambda adata, seed: ortholog_pca_baseline(adata, seed))


_register_baselines()
