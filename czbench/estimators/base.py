"""What the estimators share: input checks, the seed, task construction, the ``results_`` table
and the base class of the estimators that score the embedding ``X`` itself."""

from __future__ import annotations

import numbers
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from czbench.context import RunContext
from czbench.errors import InputError
from czbench.tasks import MetricResult, Task, TaskRun, get_task

__all__ = ["RESULT_COLUMNS", "InputTypeError", "make_task", "results_frame", "run_context"]

#: columns of every ``results_`` table, one row per MetricResult
RESULT_COLUMNS = ("task", "metric", "value", "params", "higher_is_better")


class InputTypeError(InputError, TypeError):
    """An input holds values of the wrong type (e.g. a dict inside ``X``).

    Both an :class:`~czbench.errors.InputError` and a ``TypeError``, as scikit-learn expects."""


# -- helpers -----------------------------------------------------------------------------------
def _one_line(err: BaseException) -> str:
    """The gist of an error message on one line: its first line (and, when that ends with a
    colon, the next one), without the array dumps and advice scikit-learn appends."""
    lines = [line.strip() for line in str(err).splitlines()]
    kept = [line for line in lines if line and not line.startswith(("array=", "["))]
    if not kept:
        return type(err).__name__
    return " ".join(kept[:2]) if kept[0].endswith(":") and len(kept) > 1 else kept[0]


def results_frame(results: list[MetricResult]) -> pd.DataFrame:
    """A tidy table of task results: task, metric, value, params (dict), higher_is_better."""
    return pd.DataFrame([r.to_dict() for r in results], columns=list(RESULT_COLUMNS))


def metric_value(results: list[MetricResult], metric: str) -> float:
    """The value of ``metric`` among ``results``; a one-line error when the task left it out
    (e.g. ``pcr_comparison`` without an unintegrated PCA)."""
    value = next((r.value for r in results if r.metric == metric), None)
    if value is None:
        reported = ", ".join(dict.fromkeys(r.metric for r in results)) or "nothing"
        raise InputError(f"metric: the task did not report {metric!r} on these inputs "
                         f"(it reported {reported})")
    return value


def mean_of(results: list[MetricResult], metrics: tuple[str, ...]) -> float:
    """The plain mean of ``metrics`` among ``results`` (e.g. the two batch-mixing metrics)."""
    values = {r.metric: r.value for r in results}
    return float(sum(values[m] for m in metrics) / len(metrics))


def _check_X(estimator: BaseEstimator, X: Any, *, reset: bool, min_rows: int = 2) -> Any:
    """X validated by scikit-learn's ``validate_data`` (2-D, numeric, finite, at least
    ``min_rows`` rows; dense or sparse), which sets (``reset``) or checks ``n_features_in_``;
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
    """The run's integer seed: an int is used as is; None or a RandomState draws one
    (scikit-learn's convention)."""
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        return int(random_state)
    try:
        return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))
    except ValueError as err:
        raise InputError(f"random_state: {_one_line(err)}") from err


def run_context(random_state: Any) -> RunContext:
    """The :class:`~czbench.context.RunContext` of an estimator's ``random_state``."""
    return RunContext(seed=_seed(random_state))


def make_task(name: str, options: dict[str, Any]) -> Task:
    """The core task with these options; a bad option is reported under its parameter name."""
    try:
        return get_task(name, **options)
    except (TypeError, ValueError) as err:
        for key, value in options.items():  # find the culprit: tasks are cheap to build
            try:
                get_task(name, **{key: value})
            except (TypeError, ValueError) as one:
                if isinstance(one, InputError) and str(one).startswith(f"{key}:"):
                    raise one from err
                raise InputError(f"{key}: invalid value {value!r} ({_one_line(one)})") from err
        raise InputError(f"{name} options: {_one_line(err)}") from err


# -- the embedding X is what is scored ---------------------------------------------------------
class _EmbeddingScoreBenchmark(BaseEstimator):
    """Shared code of the estimators that score the embedding ``X`` against labels ``y``.

    Subclasses set ``_task_name`` and ``primary_metric``, list their task options as the
    parameters of ``__init__`` (plus ``random_state``) and may override ``_obs`` (the obs table
    from the label arguments), ``_primary`` and ``_learn`` (fitted state from the task's run)."""

    _task_name: ClassVar[str]
    #: the metric ``score`` returns (and ``score_`` holds for the fit data)
    primary_metric: ClassVar[str]
    _needs_batch: ClassVar[bool] = False
    #: the task's ``metrics`` option: only what ``score`` and ``results_`` report (None: all)
    _metrics: ClassVar[tuple[str, ...] | None] = None

    def _task_options(self) -> dict[str, Any]:
        options = self.get_params(deep=False)
        options.pop("random_state")
        if self._metrics is not None:
            options["metrics"] = self._metrics
        return options

    def _obs(self, n_rows: int, y: Any, batch: Any = None) -> pd.DataFrame:
        owner = type(self).__name__
        columns = {"cell_type": _check_labels(y, n_rows, "y", owner)}
        if batch is None and self._needs_batch:
            raise InputError(f"batch: {owner} needs each cell's batch label; pass "
                             f"fit(X, y, batch=...) and score(X, y, batch=...)")
        if batch is not None:
            columns["batch"] = _check_labels(batch, n_rows, "batch", owner)
        return pd.DataFrame(columns)

    def _evaluate(self, X: Any, *labels: Any) -> TaskRun:
        """The task's run on ``X`` (validated) with the obs built from ``labels``."""
        obs = self._obs(int(X.shape[0]), *labels)
        context = run_context(self.random_state)
        return make_task(self._task_name, self._task_options()).evaluate(X, obs,
                                                                         context=context)

    @classmethod
    def _primary(cls, results: list[MetricResult]) -> float:
        return metric_value(results, cls.primary_metric)

    def _learn(self, run: TaskRun) -> None:
        """Store fitted state beyond ``results_`` and ``score_`` (none by default)."""

    def _fit(self, X: Any, *labels: Any) -> _EmbeddingScoreBenchmark:
        X = _check_X(self, X, reset=True)
        run = self._evaluate(X, *labels)
        self.results_ = results_frame(run.results)
        self.score_ = self._primary(run.results)
        self._learn(run)
        return self

    def _score(self, X: Any, *labels: Any) -> float:
        check_is_fitted(self)
        X = _check_X(self, X, reset=False)
        return self._primary(self._evaluate(X, *labels).results)

    def fit(self, X: Any, y: Any, batch: Any = None) -> _EmbeddingScoreBenchmark:
        """Run the task on the embedding ``X`` (cells x dims, dense or sparse) with cell-type
        labels ``y`` (and ``batch``); store ``results_`` (one row per metric) and ``score_``
        (the primary metric). Returns self."""
        return self._fit(X, y, batch)

    def score(self, X: Any, y: Any, batch: Any = None) -> float:
        """Run the task on the given embedding ``X`` and return its primary metric (higher is
        better). ``X`` must have the fitted number of dimensions."""
        return self._score(X, y, batch)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.target_tags.required = True
        return tags
