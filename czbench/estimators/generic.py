"""Any registered task that scores an embedding, as an estimator -- plugins' tasks included.

>>> from czbench.estimators import TaskBenchmark
>>> bench = TaskBenchmark("neighbourhood_purity")           # doctest: +SKIP
>>> bench.fit(X, cell_types).score_                         # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from czbench.context import DEFAULT_SEED
from czbench.errors import InputError
from czbench.estimators.base import (
    _check_labels,
    _EmbeddingScoreBenchmark,
    make_task,
    metric_value,
    run_context,
)
from czbench.tasks import MetricResult, Task, TaskRun, task_class

__all__ = ["TaskBenchmark"]


class TaskBenchmark(_EmbeddingScoreBenchmark):
    """The registered task ``task`` on an embedding ``X``.

    ``y`` fills the task's first column option (its target: ``label_key``, ``time_key``...),
    ``batch`` its ``batch_key`` when it has one. ``score`` returns ``metric`` (default: the
    task's first declared metric).

    Parameters:
        task: a registered task name (``czbench list tasks``).
        task_options: the task's options (``{"k": 30}``); column options are set here.
        metric: the metric ``score`` returns.
        random_state: the run's seed.

    Attributes:
        results_: tidy DataFrame of the task's results on the fit data.
        score_: ``metric`` on the fit data.
        n_features_in_: embedding dimensions seen at fit.
    """

    def __init__(self, task: str = "embedding", *, task_options: dict[str, Any] | None = None,
                 metric: str | None = None, random_state: Any = DEFAULT_SEED) -> None:
        self.task = task
        self.task_options = task_options
        self.metric = metric
        self.random_state = random_state

    def _task(self) -> Task:
        cls = task_class(self.task)
        if cls.input_kind != "embedding":
            raise InputError(f"task: TaskBenchmark scores embeddings; '{self.task}' scores "
                             f"{cls.input_kind} predictions")
        declared = [m.name for m in cls.metrics]
        if self.metric is not None and self.metric not in declared:
            raise InputError(f"metric: task '{self.task}' reports {', '.join(declared)}; got "
                             f"{self.metric!r}")
        return make_task(self.task, dict(self.task_options or {}))

    def _obs(self, n_rows: int, y: Any, batch: Any = None) -> pd.DataFrame:
        task, owner = self._task(), f"TaskBenchmark({self.task!r})"
        target = getattr(task, task.column_options[0]) if task.column_options else None
        columns = {target: _check_labels(y, n_rows, "y", owner)} if target else {}
        if batch is not None:
            key = getattr(task, "batch_key", None)
            if key is None:
                raise InputError(f"batch: task '{self.task}' reads no batch column")
            columns[key] = _check_labels(batch, n_rows, "batch", owner)
        return pd.DataFrame(columns)

    def _evaluate(self, X: Any, *labels: Any) -> TaskRun:
        obs = self._obs(int(X.shape[0]), *labels)
        return self._task().evaluate(X, obs, context=run_context(self.random_state))

    def _primary(self, results: list[MetricResult]) -> float:
        """``metric``, or the first declared metric the task reported."""
        if self.metric is None:
            reported = {r.metric for r in results}
            name = next((m.name for m in task_class(self.task).metrics if m.name in reported),
                        task_class(self.task).metrics[0].name)
        else:
            name = self.metric
        return metric_value(results, name)
