"""Scoring one input on its tasks: the engine every front door shares (runs, the callback).

One kNN graph per input and set of rows scored (every row, or the labelled rows of tasks with
``missing_labels="drop"``), built at the largest k any of those tasks needs and sliced for the
others; each task's wall time, what it resolved and the warnings it raised are kept in one
record per task (the unit a run directory saves and a results document is built from).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import scipy.sparse as sp

from czbench.context import RunContext
from czbench.errors import CZBenchWarning
from czbench.neighbors import knn_graph
from czbench.tasks import Task
from czbench.utils.params import jsonable

#: Called with each task's record as soon as it is done (e.g. to save it at once).
OnRecord = Callable[[dict[str, Any]], None]


def score_input(values: Any, obs: Any, tasks: Sequence[Task], context: RunContext, *,
                prepared: Mapping[str, Any] | None = None,
                on_record: OnRecord | None = None) -> list[dict[str, Any]]:
    """Run ``tasks`` on one input; ``prepared``: {task name: what its ``prepare`` returned for
    this dataset and the context's seed}. One record per task:

    ``{"task", "results": [MetricResult dicts], "timings_s": {"knn_graph"?, <task>},
    "neighbors": {"backend", "k", ...} or None, "resolved": {...}, "warnings": [...]}``.
    ``knn_graph`` and ``neighbors`` appear in the record of the task that built the graph.
    """
    records = []
    dense = values.toarray() if sp.issparse(values) and any(
        not t.accepts_sparse for t in tasks) else values
    rows = {t.name: t.labelled_rows(obs) for t in tasks if t.knn_k}
    key = {name: None if r is None else r.tobytes() for name, r in rows.items()}
    need_k: dict[bytes | None, int] = {}
    for task in tasks:
        if task.knn_k:
            need_k[key[task.name]] = max(need_k.get(key[task.name], 0), task.knn_k)
    graphs: dict[bytes | None, Any] = {}
    for task in tasks:
        timings: dict[str, float] = {}
        built = None
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", CZBenchWarning)
            if task.knn_k and key[task.name] not in graphs:
                start = time.perf_counter()
                subset = rows[task.name]
                graphs[key[task.name]] = knn = knn_graph(
                    dense if subset is None else dense[subset], need_k[key[task.name]],
                    backend=context.knn_backend, seed=context.seed, device=context.device)
                timings["knn_graph"] = round(time.perf_counter() - start, 4)
                built = knn.describe()
            knn = graphs[key[task.name]] if task.knn_k else None
            start = time.perf_counter()
            run = task.evaluate(values if task.accepts_sparse else dense, obs, context=context,
                                knn=knn, prepared=(prepared or {}).get(task.name))
            timings[task.name] = round(time.perf_counter() - start, 4)
        messages = []
        for item in caught:  # re-emit everything; keep czbench's own in the record
            if issubclass(item.category, CZBenchWarning):
                messages.append(str(item.message))
            warnings.warn_explicit(item.message, item.category, item.filename, item.lineno)
        record = {"task": task.name, "results": [r.to_dict() for r in run.results],
                  "timings_s": timings, "neighbors": built,
                  "resolved": jsonable(run.resolved), "warnings": messages + run.warnings}
        records.append(record)
        if on_record is not None:
            on_record(record)
    return records
