"""scikit-learn front doors to the benchmark tasks: estimators for Pipelines and model selection.

>>> from sklearn.decomposition import PCA
>>> from sklearn.model_selection import GridSearchCV, KFold
>>> from sklearn.pipeline import Pipeline
>>> from czbench.estimators import ClusteringBenchmark
>>> pipe = Pipeline([("pca", PCA(random_state=0)), ("bench", ClusteringBenchmark())])
>>> search = GridSearchCV(pipe, {"pca__n_components": [10, 20]},
...                       cv=KFold(3, shuffle=True, random_state=0))
>>> search.fit(X, cell_types)                                   # doctest: +SKIP

Each estimator is a thin wrapper: it validates its inputs, builds the cells' obs table from
``y`` (cell types) and ``batch``, and calls the core task from ``czbench.tasks`` (no metric is
computed here). Task options are the estimators' parameters, with the tasks' defaults;
``random_state`` is the task's ``seed``.

* ``ClusteringBenchmark``, ``EmbeddingBenchmark``, ``BatchIntegrationBenchmark`` score the
  embedding ``X`` itself: ``fit(X, y[, batch])`` runs the task on ``X`` and stores ``results_``;
  ``score(X, y[, batch])`` runs it on the given ``X`` and returns the primary metric
  (``primary_metric``): ``adjusted_rand_index``, ``silhouette_score``, and the mean of
  ``entropy_per_cell`` and ``batch_silhouette``.
* ``LabelPredictionBenchmark`` is a classifier: ``fit`` trains the task's classifiers on ``X, y``
  (small classes dropped) and stores the task's cross-validated ``results_``; ``predict``,
  ``predict_proba`` and ``score`` (accuracy) use ``primary_classifier`` (default: the first of
  ``classifiers``, ``"lr"``).

See docs/estimators.md.
"""

from __future__ import annotations

import numbers
import warnings
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from czbench._arrays import as_codes
from czbench.errors import InputError
from czbench.metrics.entropy import ENTROPY_K
from czbench.tasks import get_task
from czbench.tasks.base import DEFAULT_SEED, MetricResult, Task
from czbench.tasks.label_prediction import CLASSIFIERS, filter_small_classes, make_classifier

__all__ = [
    "BatchIntegrationBenchmark",
    "ClusteringBenchmark",
    "EmbeddingBenchmark",
    "InputTypeError",
    "LabelPredictionBenchmark",
    "results_frame",
]

#: columns of every ``results_`` table, one row per MetricResult
RESULT_COLUMNS = ("task", "metric", "value", "params", "higher_is_better")


class InputTypeError(InputError, TypeError):
    """An input holds values of the wrong type (e.g. a dict inside ``X``).

    Both an :class:`~czbench.errors.InputError` and a ``TypeError``, as scikit-learn expects."""


# -- helpers -----------------------------------------------------------------------------------
def _one_line(err: BaseException) -> str:
    """The gist of an error message on one line: its first line (and, when that ends with a
    colon, the next one), without the array dumps and advice paragraphs scikit-learn appends."""
    lines = [line.strip() for line in str(err).splitlines()]
    kept = [line for line in lines if line and not line.startswith(("array=", "["))]
    if not kept:
        return type(err).__name__
    return " ".join(kept[:2]) if kept[0].endswith(":") and len(kept) > 1 else kept[0]


def results_frame(results: list[MetricResult]) -> pd.DataFrame:
    """A tidy table of task results: task, metric, value, params (dict), higher_is_better."""
    return pd.DataFrame([r.to_dict() for r in results], columns=list(RESULT_COLUMNS))


def _check_X(estimator: BaseEstimator, X: Any, *, reset: bool, min_rows: int = 2) -> Any:
    """Validate X (2-D, numeric, finite, at least ``min_rows`` rows; dense or sparse) through
    scikit-learn's ``validate_data``, which sets (``reset``) or checks ``n_features_in_``;
    errors name the field ``X``."""
    try:
        return validate_data(estimator, X, reset=reset, accept_sparse=("csr", "csc"),
                             dtype="numeric", ensure_min_samples=min_rows)
    except InputError:
        raise
    except TypeError as err:
        raise InputTypeError(f"X: {_one_line(err)}") from err
    except ValueError as err:
        raise InputError(f"X: {_one_line(err)}") from err


def _check_labels(values: Any, n_rows: int, field: str, owner: str) -> np.ndarray:
    """A 1-D label vector of ``n_rows`` entries without missing values (any hashable labels)."""
    if values is None:
        raise InputError(f"{field}: {owner} requires {field} to be passed, but the target "
                         f"{field} is None")
    if isinstance(values, pd.Series | pd.Index):
        values = values.to_numpy()
    try:
        # (n, 1) column vectors are accepted with scikit-learn's DataConversionWarning
        arr = column_or_1d(values, warn=field == "y")
    except ValueError as err:
        message = _one_line(err).replace("y should", f"{field} should", 1)
        raise InputError(f"{field}: {message}") from err
    if arr.shape[0] != n_rows:
        raise InputError(f"{field}: has {arr.shape[0]} entries but X has {n_rows} rows")
    missing = int(pd.isna(arr).sum())
    if missing:
        raise InputError(f"{field}: {missing} labels are missing (NaN)")
    return arr


def _seed(random_state: Any) -> int:
    """The integer seed the core tasks take: an int is used as is; None or a RandomState draws
    one (scikit-learn's convention)."""
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        return int(random_state)
    try:
        return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))
    except ValueError as err:
        raise InputError(f"random_state: {_one_line(err)}") from err


def _n_rows(X: Any) -> int:
    return int(X.shape[0])


def _make_task(name: str, random_state: Any, options: dict[str, Any]) -> Task:
    """The core task with these options; a bad option is reported under its parameter name."""
    seed = _seed(random_state)
    try:
        return get_task(name, seed=seed, **options)
    except (TypeError, ValueError) as err:
        for key, value in options.items():  # find the culprit: tasks are cheap to build
            try:
                get_task(name, **{key: value})
            except (TypeError, ValueError) as one:
                if isinstance(one, InputError) and str(one).startswith(f"{key}:"):
                    raise one from err
                raise InputError(f"{key}: invalid value {value!r} ({_one_line(one)})") from err
        raise InputError(f"{name} options: {_one_line(err)}") from err


# -- unsupervised: the embedding X is what is scored ----------------------------------------------
class _EmbeddingScoreBenchmark(BaseEstimator):
    """Shared code of the estimators that score the embedding ``X`` against labels ``y``.

    Subclasses set ``_task_name``, ``primary_metric`` and list their task options as the
    parameters of ``__init__`` (plus ``random_state``)."""

    _task_name: ClassVar[str]
    #: the metric ``score`` returns (and ``score_`` holds for the fit data)
    primary_metric: ClassVar[str]
    _needs_batch: ClassVar[bool] = False

    def _make_task(self) -> Task:
        options = self.get_params(deep=False)
        return _make_task(self._task_name, options.pop("random_state"), options)

    def _obs(self, n_rows: int, y: Any, batch: Any) -> pd.DataFrame:
        owner = type(self).__name__
        columns = {"cell_type": _check_labels(y, n_rows, "y", owner)}
        if batch is None and self._needs_batch:
            raise InputError(f"batch: {owner} needs each cell's batch label; pass "
                             f"fit(X, y, batch=...) and score(X, y, batch=...)")
        if batch is not None:
            columns["batch"] = _check_labels(batch, n_rows, "batch", owner)
        return pd.DataFrame(columns)

    def _run(self, X: Any, y: Any, batch: Any) -> list[MetricResult]:
        obs = self._obs(_n_rows(X), y, batch)
        return self._make_task().run(X, obs)

    @classmethod
    def _primary(cls, results: list[MetricResult]) -> float:
        return next(r.value for r in results if r.metric == cls.primary_metric)

    def fit(self, X: Any, y: Any, batch: Any = None) -> _EmbeddingScoreBenchmark:
        """Run the task on the embedding ``X`` (cells x dims, dense or sparse) with cell-type
        labels ``y`` (and ``batch``); store ``results_`` (one row per metric) and ``score_``
        (the primary metric). Returns self."""
        X = _check_X(self, X, reset=True)
        results = self._run(X, y, batch)
        self.results_ = results_frame(results)
        self.score_ = self._primary(results)
        return self

    def score(self, X: Any, y: Any, batch: Any = None) -> float:
        """Run the task on the given embedding ``X`` and return its primary metric (higher is
        better). ``X`` must have the fitted number of dimensions."""
        check_is_fitted(self)
        X = _check_X(self, X, reset=False)
        return self._primary(self._run(X, y, batch))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.target_tags.required = True
        return tags


class ClusteringBenchmark(_EmbeddingScoreBenchmark):
    """Task ``clustering`` as an estimator: Leiden clusters of the embedding vs ``y``.

    ``score`` returns ``adjusted_rand_index``; ``results_`` also holds
    ``normalized_mutual_info``. Parameters are the task's options (see
    :class:`czbench.tasks.ClusteringTask`); ``random_state`` is its seed.

    Attributes:
        results_: tidy DataFrame of the task's results on the fit data.
        score_: adjusted_rand_index on the fit data.
        n_features_in_: embedding dimensions seen at fit.
    """

    _task_name = "clustering"
    primary_metric = "adjusted_rand_index"

    def __init__(self, *, n_neighbors: int = 15, resolution: float = 1.0,
                 n_iterations: int = 2, resolution_sweep: bool = False,
                 random_state: Any = DEFAULT_SEED) -> None:
        self.n_neighbors = n_neighbors
        self.resolution = resolution
        self.n_iterations = n_iterations
        self.resolution_sweep = resolution_sweep
        self.random_state = random_state


class EmbeddingBenchmark(_EmbeddingScoreBenchmark):
    """Task ``embedding`` as an estimator: ``score`` returns ``silhouette_score`` (cell-type
    silhouette rescaled to [0, 1]).

    Attributes:
        results_: tidy DataFrame of the task's results on the fit data.
        score_: silhouette_score on the fit data.
        n_features_in_: embedding dimensions seen at fit.
    """

    _task_name = "embedding"
    primary_metric = "silhouette_score"

    def __init__(self, *, random_state: Any = DEFAULT_SEED) -> None:
        self.random_state = random_state


class BatchIntegrationBenchmark(_EmbeddingScoreBenchmark):
    """Task ``batch_integration`` as an estimator; ``batch`` is required in ``fit`` and ``score``.

    ``score`` returns the mean of ``entropy_per_cell`` and ``batch_silhouette`` (both in [0, 1],
    higher = better mixing; equal weights, as scIB averages its batch metrics). ``results_``
    holds the two metrics themselves.

    In a Pipeline, pass ``bench__batch=...`` to ``fit``; for ``score`` inside a Pipeline or a
    model-selection tool, enable scikit-learn's metadata routing and request it:
    ``BatchIntegrationBenchmark().set_fit_request(batch=True).set_score_request(batch=True)``.

    Attributes:
        results_: tidy DataFrame of the task's results on the fit data.
        score_: the mean of entropy_per_cell and batch_silhouette on the fit data.
        n_features_in_: embedding dimensions seen at fit.
    """

    _task_name = "batch_integration"
    primary_metric = "mean(entropy_per_cell,batch_silhouette)"
    _needs_batch = True

    def __init__(self, *, entropy_k: int = ENTROPY_K, random_state: Any = DEFAULT_SEED) -> None:
        self.entropy_k = entropy_k
        self.random_state = random_state

    @classmethod
    def _primary(cls, results: list[MetricResult]) -> float:
        values = {r.metric: r.value for r in results}
        return (values["entropy_per_cell"] + values["batch_silhouette"]) / 2.0


# -- supervised: a classifier ------------------------------------------------------------------
class LabelPredictionBenchmark(ClassifierMixin, BaseEstimator):
    """Task ``label_prediction`` as a scikit-learn classifier.

    ``fit(X, y)`` drops classes with fewer than ``min_class_size`` cells, fits every classifier
    in ``classifiers`` (``lr``, ``knn``, ``rf`` as the task builds them) on the rest, and stores
    the task's cross-validated results on the fit data in ``results_`` (20 rows by default).
    ``predict``, ``predict_proba`` and ``score`` (accuracy, ClassifierMixin) use
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
        if isinstance(self.classifiers, str):
            raise InputError(f"classifiers: expected a tuple of names, got the string "
                             f"{self.classifiers!r}; write ({self.classifiers!r},)")
        names = tuple(self.classifiers)
        if not names:
            raise InputError("classifiers: expected at least one of " + ", ".join(CLASSIFIERS))
        primary = names[0] if self.primary_classifier is None else self.primary_classifier
        if primary not in names:
            raise InputError(f"primary_classifier: '{primary}' is not in classifiers "
                             f"({', '.join(names)})")
        return primary

    def fit(self, X: Any, y: Any) -> LabelPredictionBenchmark:
        """Fit the classifiers on ``X, y`` and store the task's cross-validated ``results_``.
        Returns self."""
        X = _check_X(self, X, reset=True)
        y = _check_labels(y, _n_rows(X), "y", type(self).__name__)
        try:
            check_classification_targets(y)
        except ValueError as err:
            raise InputError(f"y: {_one_line(err)}") from err
        primary = self._primary_name()
        task = _make_task("label_prediction", self.random_state, {
            "n_folds": self.n_folds, "min_class_size": self.min_class_size,
            "classifiers": tuple(self.classifiers), "n_jobs": self.n_jobs})
        seed = task.seed
        keep = np.flatnonzero(filter_small_classes(as_codes(y, name="y"), task.min_class_size))
        classes = np.unique(y[keep])
        if len(classes) < 2:
            raise InputError(f"y: fewer than 2 classes have at least {task.min_class_size} "
                             f"cells (min_class_size); found {len(classes)} such class")
        fitted = {}
        for name in task.classifiers:
            model = make_classifier(name, seed, self.n_jobs)
            with warnings.catch_warnings():  # as in the task
                warnings.simplefilter("ignore", ConvergenceWarning)
                fitted[name] = model.fit(X[keep], y[keep])
        results = task.run(X, pd.DataFrame({task.label_key: y}))
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


# estimators of the later tasks live beside their helpers (they subclass the ones above) and
# are re-exported here lazily, which keeps either module importable first
_LATER = {
    "CrossSpeciesIntegrationBenchmark": "czbench._estimators_cross_species",
    "CrossSpeciesLabelPredictionBenchmark": "czbench._estimators_cross_species",
    "SequentialOrganizationBenchmark": "czbench._estimators_sequential",
    "PerturbationExpressionPredictionBenchmark": "czbench._estimators_perturbation",
}
__all__ += list(_LATER)


def __getattr__(name: str) -> Any:
    if name in _LATER:
        import importlib

        return getattr(importlib.import_module(_LATER[name]), name)
    raise AttributeError(f"module 'czbench.estimators' has no attribute {name!r}")
