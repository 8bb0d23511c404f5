"""Task ``sequential_organization``: are cells ordered by time (or any numeric stage)?

Metrics (METRICS.md, "Sequential organization"; cz-benchmarks' sequential organization task):

* ``silhouette_score``: exact Euclidean silhouette with groups = the time values, rescaled to
  [0, 1] as (asw + 1) / 2 (as in the ``embedding`` task).
* ``sequential_alignment``: exact kNN with ``k = 15`` neighbours (the cell itself excluded);
  per cell the mean |t_i - t_j| over its neighbours; mean over cells; normalised as
  ``clip(1 - mean / random_baseline, 0, 1)``. ``random_baseline`` is the same mean over
  min(10,000, 10 n) cells drawn at random, each paired with ``k`` random *other* cells.
  cz-benchmarks draws these unseeded (global ``np.random``); czbench draws them from
  ``numpy.random.default_rng(seed)``, so a result is reproducible. One unique time value
  gives 1.0.

Time labels must be numeric, or strings that parse as numbers ("4", "0.25"); anything else is
a one-line :class:`~czbench.errors.InputError` naming the column and a few offending values.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch

from czbench.errors import InputError
from czbench.metrics.silhouette import silhouette_score
from czbench.neighbors import KNNGraph, knn_graph
from czbench.tasks.base import DEFAULT_SEED, MetricResult, MetricSpec, Task
from czbench.tasks.registry import register_task

__all__ = ["SEQUENTIAL_K", "SequentialOrganizationTask", "random_baseline",
           "sequential_alignment", "time_values"]

#: neighbours per cell in ``sequential_alignment`` (the cell itself excluded)
SEQUENTIAL_K = 15
#: cap on the cells drawn for the random baseline (also capped at 10 x n)
BASELINE_SAMPLES = 10_000


def time_values(values: Any, name: str = "time") -> np.ndarray:
    """Time labels as a float64 vector: numbers, or strings that parse as numbers.

    ``name`` names the field in errors (e.g. ``"time_key: obs column 'time'"``). Booleans,
    complex numbers, text that is not a number, missing and infinite values are refused with a
    one-line InputError showing a few offending values."""
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    if isinstance(values, pd.Index | pd.Series):
        values = values.to_numpy()
    if isinstance(values, pd.Categorical):
        values = np.asarray(values, dtype=object)
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise InputError(f"{name}: expected a 1-D vector of time labels, got shape {arr.shape}")
    if arr.dtype.kind == "b":
        raise InputError(f"{name}: time labels must be numbers, got booleans")
    if arr.dtype.kind in "iuf":
        out = arr.astype(np.float64)
    else:
        if arr.dtype.kind == "c":
            raise InputError(f"{name}: time labels must be real numbers, got complex values")
        try:  # fast path: text that numpy parses in one go
            out = arr.astype(np.float64) if arr.dtype.kind in "US" else None
        except ValueError:
            out = None
        if out is None:
            out = np.fromiter((_as_number(v) for v in arr.tolist()), dtype=np.float64,
                              count=arr.shape[0])
    bad = ~np.isfinite(out)
    if bad.any():
        shown = list(dict.fromkeys(repr(v) for v in arr[bad].tolist()))
        examples = ", ".join(shown[:5]) + (", ..." if len(shown) > 5 else "")
        raise InputError(f"{name}: time labels must be finite numbers or strings that parse "
                         f"as numbers; {int(bad.sum())} of {len(arr)} are not, e.g. {examples}")
    return out


def _as_number(value: Any) -> float:
    """``value`` as a float, NaN when it is not a real number (or a string holding one)."""
    if isinstance(value, bool | np.bool_) or value is None:
        return np.nan
    if isinstance(value, int | float | np.integer | np.floating):
        return float(value)
    if isinstance(value, str | bytes | np.str_ | np.bytes_):
        text = value.decode() if isinstance(value, bytes | np.bytes_) else str(value)
        try:
            return float(text.strip())
        except ValueError:
            return np.nan
    return np.nan


def random_baseline(time: np.ndarray, k: int, *, seed: int = DEFAULT_SEED,
                    n_samples: int = BASELINE_SAMPLES) -> float:
    """Mean |t_i - t_j| over min(``n_samples``, 10 n) cells i, each paired with ``k`` distinct
    random other cells j (``k`` capped at n - 1).

    Draws, from ``numpy.random.default_rng(seed)``: the cells ``i = rng.integers(0, n, size=m)``
    at once, then for each in turn ``rng.choice(n - 1, size=k, replace=False)``, indices
    ``>= i`` shifted by one (a uniform sample of the other cells)."""
    t = np.asarray(time, dtype=np.float64)
    n = t.shape[0]
    if n < 2:
        raise InputError(f"time: the random baseline needs at least 2 cells, got {n}")
    k = min(int(k), n - 1)
    m = min(int(n_samples), 10 * n)
    rng = np.random.default_rng(seed)
    cells = rng.integers(0, n, size=m)
    others = np.empty((m, k), dtype=np.int64)
    for row, i in enumerate(cells):
        j = rng.choice(n - 1, size=k, replace=False)
        others[row] = j + (j >= i)
    return float(np.abs(t[cells][:, None] - t[others]).mean())


def sequential_alignment(embedding: Any, time: Any, *, k: int = SEQUENTIAL_K,
                         seed: int = DEFAULT_SEED, knn: KNNGraph | None = None) -> float:
    """How well each cell's ``k`` nearest neighbours share its time, in [0, 1] (1 = best).

    ``clip(1 - mean_knn / random_baseline, 0, 1)``, where ``mean_knn`` is the mean over cells of
    the mean |t_i - t_j| over cell i's ``k`` exact Euclidean neighbours (itself excluded) and
    ``random_baseline`` is :func:`random_baseline` with the same ``k`` and ``seed``. One unique
    time value gives 1.0. ``knn`` may carry a precomputed graph (self in column 0) with at least
    ``k + 1`` neighbours; it is computed otherwise. ``k`` is capped at n - 1.
    """
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise InputError(f"k: expected a positive number of neighbours, got {k!r}")
    n = int(embedding.shape[0]) if hasattr(embedding, "shape") else len(embedding)
    t = time_values(time)
    if t.shape[0] != n:
        raise InputError(f"time: has {t.shape[0]} entries but the embedding has {n} cells")
    if n < 2:
        raise InputError(f"embedding: sequential_alignment needs at least 2 cells, got {n}")
    if np.unique(t).size == 1:
        return 1.0
    k = min(int(k), n - 1)
    if knn is None:
        knn = knn_graph(embedding, k + 1)
    elif knn.n_cells != n:
        raise InputError(f"knn: the graph has {knn.n_cells} cells, the embedding has {n}")
    neighbours = knn.head(k + 1).indices[:, 1:]
    mean_knn = float(np.abs(t[:, None] - t[neighbours]).mean())
    baseline = random_baseline(t, k, seed=seed)
    if baseline <= 0.0:  # every random pair tied (tiny n): nothing to beat
        return 1.0 if mean_knn == 0.0 else 0.0
    return float(np.clip(1.0 - mean_knn / baseline, 0.0, 1.0))


@register_task
class SequentialOrganizationTask(Task):
    """``silhouette_score`` with groups = time values, (asw + 1) / 2, and
    ``sequential_alignment`` (kNN time differences vs a seeded random baseline).

    Options: ``time_key`` (obs column of numeric time labels, default ``"time"``), ``k``
    (neighbours, default 15), ``seed`` (the random baseline's draws)."""

    name = "sequential_organization"
    description = "Time ordering: silhouette by time point and kNN time alignment"
    metrics = (
        MetricSpec("silhouette_score", "Time-point silhouette, (asw + 1) / 2"),
        MetricSpec("sequential_alignment",
                   "1 - mean kNN |time difference| / random pairs' mean, clipped to [0, 1]"),
    )
    column_options = ("time_key",)

    def __init__(self, *, seed: int = DEFAULT_SEED, time_key: str = "time",
                 k: int = SEQUENTIAL_K) -> None:
        self.seed = int(seed)
        self.time_key = time_key
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
            raise InputError(f"k: expected a positive number of neighbours, got {k!r}")
        self.k = int(k)

    @property
    def knn_k(self) -> int:
        return self.k + 1  # the cell itself is column 0 of the shared graph

    def check_inputs(self, obs: pd.DataFrame, n_cells: int | None = None) -> None:
        super().check_inputs(obs, n_cells)
        self._time(obs)

    def _time(self, obs: pd.DataFrame) -> np.ndarray:
        return time_values(obs[self.time_key], name=f"time_key: obs column '{self.time_key}'")

    def _run(self, embedding: Any, obs: pd.DataFrame,
             knn: KNNGraph | None) -> list[MetricResult]:
        time = self._time(obs)
        # one time point: nothing to separate, 1.0 (as sequential_alignment)
        silhouette = 1.0 if np.unique(time).size == 1 else silhouette_score(embedding, time)
        alignment = sequential_alignment(embedding, time, k=self.k, seed=self.seed, knn=knn)
        return [self._result("silhouette_score", silhouette),
                self._result("sequential_alignment", alignment)]
