"""Shared scoring engine: every front door (runner/CLI, Lightning callback) scores through here.

It resolves task instances, builds one kNN graph per embedding at the largest k any task needs,
runs the tasks, times each step, and lays results out in the results-file format.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import scipy.sparse as sp

from czbench import __version__
from czbench._arrays import sha256_array
from czbench.errors import InputError
from czbench.neighbors import knn_graph
from czbench.results import SCHEMA_VERSION, environment, utc_now
from czbench.tasks import DEFAULT_SEED, MetricResult, Task, get_task, list_tasks

CORE_TASKS = ("clustering", "embedding", "label_prediction", "batch_integration")


def make_tasks(tasks: Sequence[str | Task] | None, *, seed: int = DEFAULT_SEED,
               task_options: dict[str, dict[str, Any]] | None = None,
               available_columns: Sequence[str] | None = None,
               defaults: Sequence[str] = CORE_TASKS) -> list[Task]:
    """Task instances for ``tasks`` (names or instances). ``None`` means the ``defaults`` (the
    core tasks, or a dataset's registered tasks) whose obs columns are all in
    ``available_columns``."""
    task_options = task_options or {}
    unknown = set(task_options) - set(list_tasks())
    if unknown:
        raise InputError(f"task options: unknown task(s) {', '.join(sorted(unknown))}")
    if tasks is None:
        candidates = [get_task(n, seed=seed, **task_options.get(n, {})) for n in defaults]
        columns = set(available_columns or ())
        instances = [t for t in candidates if set(t.required_columns) <= columns]
    else:
        instances = [t if isinstance(t, Task) else
                     get_task(t, seed=seed, **task_options.get(t, {})) for t in tasks]
    if not instances:
        raise InputError("task: no task to run")
    return instances


#: Called after each task of an embedding: (task name, its results, timings of this step, the
#: kNN graph's description when this step built it, else None).
TaskDone = Callable[[str, list[MetricResult], dict[str, float], dict[str, Any] | None], None]


class Scored(NamedTuple):
    """What scoring one embedding produced."""

    results: list[MetricResult]
    timings: dict[str, float]
    #: the shared kNN graph's ``{"backend", "k"}`` (+ ``nprobe``, ``recall`` when approximate;
    #: None when no task needed one)
    neighbors: dict[str, Any] | None


def score_embedding(values: Any, obs: pd.DataFrame, tasks: Sequence[Task], *,
                    on_step: Callable[[str], None] | None = None,
                    on_task_done: TaskDone | None = None,
                    knn_backend: str = "auto", seed: int = DEFAULT_SEED
                    ) -> Scored:
    """Run ``tasks`` on one embedding; returns the results, wall seconds per step
    (``knn_graph``, built once at the largest k any task needs and shared, then each task) and
    the kNN graph's backend and k.

    ``on_task_done`` is called after each task with its name, results and step timings (the
    kNN graph's included when that task triggered it), e.g. to persist them at once.
    ``knn_backend`` is passed to :func:`czbench.neighbors.knn_graph` (seeded by ``seed``).
    """
    timings: dict[str, float] = {}
    knn = None
    need_k = max((t.knn_k for t in tasks), default=0)
    dense = values.toarray() if sp.issparse(values) else values
    results: list[MetricResult] = []
    for task in tasks:
        if on_step:
            on_step(task.name)
        step: dict[str, float] = {}
        built = None
        if task.knn_k and knn is None:
            start = time.perf_counter()
            knn = knn_graph(dense, need_k, backend=knn_backend, seed=seed)
            step["knn_graph"] = round(time.perf_counter() - start, 4)
            built = knn.describe()
        start = time.perf_counter()
        task_results = task.run(values if task.accepts_sparse else dense, obs, knn=knn)
        step[task.name] = round(time.perf_counter() - start, 4)
        timings.update(step)
        results += task_results
        if on_task_done:
            on_task_done(task.name, task_results, step, built)
    neighbors = None if knn is None else knn.describe()
    return Scored(results, timings, neighbors)


def new_document(*, seeds: Sequence[int], dataset: dict[str, Any], tasks: Sequence[Task],
                 **extra: Any) -> dict[str, Any]:
    """An empty results document (see :mod:`czbench.results` for the layout)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "czbench_version": __version__,
        "created_utc": utc_now(),
        "seed": int(seeds[0]),
        "seeds": [int(s) for s in seeds],
        **extra,
        "dataset": dataset,
        "tasks": {t.name: jsonable(t.options()) for t in tasks},
        "embeddings": [],
        "results": [],
        "environment": environment(),
    }


def embedding_entry(source: str, values: Any, *, seed: int, role: str = "model",
                    timings: dict[str, float] | None = None,
                    neighbors: dict[str, Any] | None = None) -> dict[str, Any]:
    """The results file's ``embeddings`` entry for one scored embedding."""
    matrix = getattr(values, "X", None)  # AnnData predictions: hash their matrix
    if matrix is None:
        matrix = values.to_numpy() if isinstance(values, pd.DataFrame) else values
    entry = {"source": source, "role": role, "seed": int(seed),
             "shape": [int(v) for v in values.shape], "sha256": sha256_array(matrix),
             "timings_s": dict(timings or {})}
    if neighbors is not None:
        entry["neighbors"] = dict(neighbors)
    return entry


def add_embedding(document: dict[str, Any], source: str, values: Any,
                  results: Sequence[MetricResult], timings: dict[str, float], *, seed: int,
                  role: str = "model", neighbors: dict[str, Any] | None = None) -> None:
    """Append one scored embedding (its entry and its result rows) to ``document``.
    ``role`` is ``model``, ``baseline`` or ``control``."""
    document["embeddings"].append(embedding_entry(source, values, seed=seed, role=role,
                                                  timings=timings, neighbors=neighbors))
    document["results"] += [{"embedding": source, "seed": int(seed), **r.to_dict()}
                            for r in results]


def role_of(source: str) -> str:
    """``control`` / ``baseline`` / ``model`` from an embedding's source label."""
    for role in ("control", "baseline"):
        if source.startswith(f"{role}:"):
            return role
    return "model"


def jsonable(value: Any) -> Any:
    """Plain-JSON copy of task options (numpy scalars and tuples converted)."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value
