"""What every task shares: its result records, its declared inputs and its run contract.

A task declares what it reads -- ``input_kind`` (an ``embedding``, cells x dims, or an
``expression`` prediction, cells x genes) and the obs columns named by its ``column_options`` --
and the metrics it reports. Its options are the keyword arguments of ``__init__`` (stored under
the same names, as in scikit-learn). Every random choice and the device come from the
:class:`~czbench.context.RunContext` passed to :meth:`Task.run`, never from the task itself.
What a task computes from the whole dataset before scoring (:meth:`Task.prepare`) is a value
returned per (dataset, seed) and passed back to :meth:`Task.evaluate`; a task holds no state.
"""

from __future__ import annotations

import copy
import inspect
import math
import warnings
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from czbench.context import RunContext, as_context
from czbench.errors import CZBenchWarning, InputError, MetricError
from czbench.neighbors import KNNGraph, knn_graph
from czbench.utils.arrays import as_numpy_2d, as_torch_2d, check_embedding

#: what a task scores: a cells x dims embedding, or a cells x genes expression prediction
INPUT_KINDS = ("embedding", "expression")


@dataclass(frozen=True)
class MetricResult:
    """One number a task produced."""

    task: str
    metric: str
    value: float
    params: dict[str, Any] = field(default_factory=dict)
    higher_is_better: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class MetricSpec:
    """A metric a task reports: its name, direction and one-line meaning.

    ``rewards_structure``: an input that reflects the structure the task scores against (its
    first column option: labels, perturbations, time) scores better than the same rows
    shuffled -- true of bio-conservation metrics; False for batch-mixing metrics (a mixed
    embedding scores better) and counts. The conformance kit (:mod:`czbench.testing`) checks it.
    """

    name: str
    description: str
    higher_is_better: bool = True
    rewards_structure: bool = True


@dataclass
class TaskRun:
    """Everything one task produced on one input: the metric values, what the task resolved
    while running (e.g. the cells used, a chosen resolution) and the warnings it raised."""

    task: str
    results: list[MetricResult]
    resolved: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


#: what a task with a ``missing_labels`` option does with rows whose label is missing (NaN):
#: ``error`` (a one-line error naming the column) or ``drop`` (score the labelled rows only;
#: the count dropped is recorded with the run)
MISSING_LABELS = ("error", "drop")

#: a category column with more distinct values than max(MAX_CATEGORIES, MAX_CATEGORY_FRACTION x
#: cells) gets a warning: it looks continuous (an id, a score), not like cell types or batches
MAX_CATEGORIES = 50
MAX_CATEGORY_FRACTION = 0.1


def check_categories(values: pd.Series, field: str, task: str) -> None:
    """Refuse a category column with fewer than 2 distinct values or with no value shared by
    two cells (every metric comparing groups is undefined); warn when it looks continuous."""
    counts = values.value_counts(sort=False)
    counts = counts[counts > 0]
    n = int(counts.sum())
    if len(counts) < 2:
        raise InputError(f"{field}: task '{task}' needs at least 2 distinct values, got "
                         f"{len(counts)} ({', '.join(map(str, counts.index[:1]))})")
    if int(counts.max()) < 2:
        raise InputError(f"{field}: every cell has its own value ({n} values in {n} cells); "
                         f"task '{task}' needs groups of 2+ cells")
    limit = max(MAX_CATEGORIES, int(MAX_CATEGORY_FRACTION * n))
    if len(counts) > limit:
        warnings.warn(f"{field}: {len(counts)} distinct values in {n} cells (more than "
                      f"{limit}); is it a continuous column? Task '{task}' treats each value "
                      f"as a category", CZBenchWarning, stacklevel=3)


class Task(ABC):
    """A benchmark task over one input (see ``input_kind``) and the cells' obs columns.

    Subclasses declare ``name``, ``description``, ``metrics``, ``column_options`` (option names
    whose values are obs columns, e.g. ``label_key``) and ``knn_k`` when they use the shared kNN
    graph, and implement ``_run``. Options are keyword arguments of ``__init__`` stored as
    attributes of the same name; :meth:`options` reads them back from the signature.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    metrics: ClassVar[tuple[MetricSpec, ...]]
    #: ``embedding`` (cells x dims) or ``expression`` (a cells x genes prediction)
    input_kind: ClassVar[str] = "embedding"
    #: option names whose values are obs columns the task needs
    column_options: ClassVar[tuple[str, ...]] = ("label_key",)
    #: of those, the ones holding categories (cell types, batches): each needs 2+ distinct
    #: values and some value shared by 2+ cells; more than MAX_CATEGORIES distinct values warn
    category_options: ClassVar[tuple[str, ...]] = ("label_key", "batch_key")
    #: options that never change a number (e.g. ``n_jobs``): not recorded in results files
    unrecorded_options: ClassVar[tuple[str, ...]] = ()
    #: accepts a sparse input (e.g. the raw-expression baseline) without densifying
    accepts_sparse: ClassVar[bool] = False
    #: baselines this task brings, beyond the generic ones (see :mod:`czbench.baselines`)
    baselines: ClassVar[tuple[Any, ...]] = ()

    def __init__(self, *, label_key: str = "cell_type") -> None:
        self.label_key = label_key

    # -- declared inputs ---------------------------------------------------------------------
    @property
    def required_columns(self) -> list[str]:
        """The obs columns this task reads, as configured."""
        return [getattr(self, option) for option in self.column_options
                if getattr(self, option) is not None]

    @property
    def knn_k(self) -> int:
        """Neighbours this task needs from the shared kNN graph (0: none)."""
        return 0

    @classmethod
    def option_names(cls) -> list[str]:
        """The task's options: the keyword parameters of ``__init__``."""
        signature = inspect.signature(cls.__init__)
        return [p.name for p in signature.parameters.values()
                if p.name != "self" and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]

    def options(self) -> dict[str, Any]:
        """The task's settings, as recorded in results files (from the ``__init__``
        signature; run-time state and ``unrecorded_options`` are left out)."""
        return {name: getattr(self, name) for name in self.option_names()
                if name not in self.unrecorded_options}

    def clone(self) -> Task:
        """A fresh, unprepared task with the same options (scikit-learn's ``clone``): a run
        prepares its own copy, so one instance used on several datasets never mixes them."""
        try:
            return type(self)(**{name: getattr(self, name) for name in self.option_names()})
        except (TypeError, AttributeError):  # a contributed task with another constructor
            return copy.deepcopy(self)

    def prepare(self, adata: Any, context: RunContext | None = None) -> Any:
        """The task's prepared state for the dataset ``adata`` (AnnData) and the context's seed
        -- e.g. a ground truth, or the unintegrated PCA -- or None when the task needs nothing
        beyond obs columns (the default).

        The state is a value, never stored on the task: the caller keeps one per (dataset,
        seed) and passes it back as ``evaluate(..., prepared=state)`` (the run layer, the
        callback, the estimators and the conformance kit all do). It must pickle (Dask ships
        it to workers). Data several tasks share is read from ``context.cache``.
        """
        return None

    def check_inputs(self, obs: pd.DataFrame, n_cells: int | None = None) -> None:
        """Raise a one-line InputError if ``obs`` lacks what the task needs."""
        if not isinstance(obs, pd.DataFrame):
            raise InputError(f"obs: task '{self.name}' expected a pandas DataFrame of the "
                             f"cells' labels, got {type(obs).__name__}")
        if n_cells is not None and len(obs) != n_cells:
            raise InputError(f"obs: has {len(obs)} rows but the {self.input_kind} has "
                             f"{n_cells} cells")
        for option in self.column_options:
            column = getattr(self, option)
            if column is None:
                continue
            if column not in obs.columns:
                raise InputError(
                    f"{option}: task '{self.name}' needs obs column '{column}', which is missing;"
                    f" columns are: {', '.join(map(str, obs.columns)) or '(none)'}")
        rows = self.labelled_rows(obs)
        if rows is not None:
            if len(rows) < 2:
                raise InputError(f"{self.name}: {len(rows)} rows have every label the task "
                                 f"reads ({', '.join(self._label_columns(obs))}); expected "
                                 f"at least 2")
            obs = obs.iloc[rows]
        for option in self.column_options:
            column = getattr(self, option)
            if column is None:
                continue
            missing = int(obs[column].isna().sum())
            if missing:
                hint = " (task option missing_labels=drop scores the other rows)" \
                    if hasattr(self, "missing_labels") else ""
                raise InputError(f"{option}: obs column '{column}' has {missing} missing "
                                 f"values{hint}")
            if option in self.category_options:
                check_categories(obs[column], f"{option}: obs column '{column}'", self.name)

    def _label_columns(self, obs: pd.DataFrame) -> list[str]:
        """The category columns the task reads that ``obs`` has."""
        names = dict.fromkeys(getattr(self, o) for o in (*self.column_options,
                                                         *self.category_options)
                              if hasattr(self, o))
        return [c for c in names if isinstance(c, str) and c in obs.columns]

    def labelled_rows(self, obs: pd.DataFrame) -> np.ndarray | None:
        """With ``missing_labels="drop"``, the positions of the rows whose every label the task
        reads is present; None when every row is scored."""
        if getattr(self, "missing_labels", "error") != "drop":
            return None
        keep = obs[self._label_columns(obs)].notna().all(axis=1).to_numpy()
        return None if keep.all() else np.flatnonzero(keep)

    @classmethod
    def check_metric_choice(cls, metrics: Any) -> tuple[str, ...] | None:
        """A ``metrics`` option: None (every declared metric), names as a list or a
        comma-separated string (``"entropy_per_cell,batch_silhouette"``), each declared."""
        if metrics is None:
            return None
        names = [m.strip() for m in metrics.split(",")] if isinstance(metrics, str) else \
            list(metrics) if isinstance(metrics, list | tuple) else None
        declared = [m.name for m in cls.metrics]
        if not names or any(not isinstance(n, str) or n not in declared for n in names):
            raise InputError(f"metrics: expected some of {', '.join(declared)} (a list or a "
                             f"comma-separated string), got {metrics!r}")
        if len(set(names)) != len(names):
            raise InputError(f"metrics: each metric once, got {metrics!r}")
        return tuple(n for n in declared if n in names)

    def selected(self, metric: str) -> bool:
        """Whether ``metric`` is among the task's chosen ones: tasks with a ``metrics`` option
        store the choice (None: all) on the instance, over the class's declared specs."""
        if metric not in {m.name for m in type(self).metrics}:
            return False
        chosen = self.__dict__.get("metrics")
        return chosen is None or metric in chosen

    # -- running -----------------------------------------------------------------------------
    def run(self, values: Any, obs: pd.DataFrame, *, context: RunContext | None = None,
            knn: KNNGraph | None = None, prepared: Any = None) -> list[MetricResult]:
        """Score ``values`` against ``obs``; the metric values only (see :meth:`evaluate`)."""
        return self.evaluate(values, obs, context=context, knn=knn, prepared=prepared).results

    def evaluate(self, values: Any, obs: pd.DataFrame, *, context: RunContext | None = None,
                 knn: KNNGraph | None = None, prepared: Any = None) -> TaskRun:
        """Score ``values`` against ``obs`` under ``context`` (default: seed ``DEFAULT_SEED``,
        42; auto kNN backend and device). ``knn`` may carry a precomputed graph with at least
        ``knn_k`` neighbours; it is computed here otherwise. When the task scores only the
        labelled rows (``missing_labels="drop"``), a graph is used only if it was built on
        those rows.
        ``prepared``: what :meth:`prepare` returned for this dataset and seed; a task whose
        ``prepare`` returns a value receives it as ``_run(..., prepared=state)``."""
        context = as_context(context)
        values = _own_copy(self._prepare_values(values), values)
        n_given = int(values.shape[0])
        self.check_inputs(obs, n_given)
        obs = obs.copy()  # a task that writes to obs cannot change what later tasks read
        rows = self.labelled_rows(obs)
        if rows is not None:  # missing_labels="drop": score the labelled rows only
            index = torch.as_tensor(rows, device=values.device) \
                if isinstance(values, torch.Tensor) else rows
            values, obs = values[index], obs.iloc[rows]
            if knn is not None and knn.n_cells != len(rows):
                knn = None  # built on every row: not this task's neighbourhoods
            check_embedding(values, f"embedding (task '{self.name}', labelled rows)")
        n = values.shape[0]
        if self.knn_k > n:
            warnings.warn(f"{self.name}: needs {self.knn_k} neighbours per cell but the input "
                          f"has {n} cells; every cell's neighbourhood is all {n} cells",
                          CZBenchWarning, stacklevel=2)
        if self.knn_k and (knn is None or knn.k < min(self.knn_k, n)):
            knn = knn_graph(values, self.knn_k, backend=context.knn_backend, seed=context.seed,
                            device=context.device)
        run = check_run(self.name, self._run(values, obs, knn, context) if prepared is None
                        else self._run(values, obs, knn, context, prepared=prepared))
        if rows is not None:
            run.resolved["n_rows_missing_labels"] = n_given - int(len(rows))
        return run

    def _prepare_values(self, values: Any) -> Any:
        """Validate an embedding -- 2-D, real, finite, at least 2 cells, not constant -- and
        bring it to the form the task reads (half-precision tensors as float32; magnitudes
        outside float32's safe range rescaled by a power of two, see
        :data:`czbench.utils.arrays.SAFE_EXPONENT`)."""
        if isinstance(values, pd.DataFrame | pd.Series) or hasattr(values, "obs_names"):
            raise InputError(f"embedding: task '{self.name}' takes a cells x dims array; got a "
                             f"{type(values).__name__} (expression predictions go to tasks "
                             f"whose input is 'expression')")
        if sp.issparse(values):
            if values.dtype.kind not in "fiub":
                raise InputError(f"embedding: expected real numbers, got {values.dtype}")
            if not np.isfinite(values.data).all():
                raise InputError("embedding: contains NaN or infinite values")
            values = sp.csr_matrix(values) if self.accepts_sparse else values.toarray()
        if isinstance(values, torch.Tensor):
            dtype = values.dtype if values.is_floating_point() and values.itemsize >= 4 \
                else torch.float32
            values = as_torch_2d(values, dtype=dtype, rescale=True)
        elif not sp.issparse(values):
            kind = np.asarray(values).dtype
            dtype = np.result_type(kind, np.float32) if kind.kind in "fiu" else np.float32
            values = as_numpy_2d(values, dtype=dtype, rescale=True)
        check_embedding(values, f"embedding (task '{self.name}')")
        return values

    @abstractmethod
    def _run(self, values: Any, obs: pd.DataFrame, knn: KNNGraph | None,
             context: RunContext) -> TaskRun:
        """Compute the metrics. A task whose :meth:`prepare` returns state takes it as a
        keyword ``prepared`` (default None: not prepared)."""

    def _output(self, results: list[MetricResult], **resolved: Any) -> TaskRun:
        """The :class:`TaskRun` of ``results`` (and what the task resolved while running)."""
        return TaskRun(self.name, results, dict(resolved))

    def _result(self, metric: str, value: float, **params: Any) -> MetricResult:
        """One result; a NaN value is a one-line :class:`~czbench.errors.MetricError`."""
        spec = next((m for m in type(self).metrics if m.name == metric), None)
        if spec is None:
            raise MetricError(f"{self.name}: reports an undeclared metric '{metric}'")
        value = float(value)
        if math.isnan(value):
            where = f" ({', '.join(f'{k}={v}' for k, v in params.items())})" if params else ""
            raise MetricError(f"{self.name}/{metric}{where}: evaluated to NaN on these inputs; "
                              f"it is undefined here (check the labels and the embedding)")
        return MetricResult(self.name, metric, value, dict(params), spec.higher_is_better)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.options().items())
        return f"{type(self).__name__}({args})"


def _own_copy(values: Any, given: Any) -> Any:
    """``values``, copied if it shares memory with ``given`` (the caller's input): a task that
    writes to its input cannot change what later tasks read."""
    if isinstance(values, torch.Tensor) and isinstance(given, torch.Tensor):
        return values.clone() if values.data_ptr() == given.data_ptr() else values
    if sp.issparse(values):
        return values.copy() if values is given or (
            sp.issparse(given) and np.may_share_memory(values.data, given.data)) else values
    if isinstance(values, np.ndarray) and isinstance(given, np.ndarray) and \
            np.may_share_memory(values, given):
        return values.copy()
    return values


def check_run(task: str, run: Any) -> TaskRun:
    """``run`` if it is a TaskRun of MetricResults with real values; else a one-line error
    naming the task (a plugin's ``_run`` returning something else)."""
    if not isinstance(run, TaskRun):
        raise MetricError(f"task '{task}': _run returned a {type(run).__name__}, expected a "
                          f"TaskRun (return self._output([...]))")
    if not isinstance(run.results, list | tuple) or not isinstance(run.resolved, dict) \
            or not isinstance(run.warnings, list | tuple):
        raise MetricError(f"task '{task}': its TaskRun holds {type(run.results).__name__} "
                          f"results; expected a list of MetricResult (self._result)")
    for r in run.results:
        if not isinstance(r, MetricResult):
            raise MetricError(f"task '{task}': returned a {type(r).__name__} result, expected a "
                              f"MetricResult (self._result)")
        if isinstance(r.value, bool) or not isinstance(r.value, int | float | np.number):
            raise MetricError(f"task '{task}': metric '{r.metric}' is a "
                              f"{type(r.value).__name__}, expected a number")
    return run
