"""``sequential_alignment`` and the time labels it reads: are cells ordered by time?

Definition: docs/spec.md#sequential_alignment (cz-benchmarks' sequential organization task).
Per cell, the mean |t_i - t_j| over its ``k = 15`` exact Euclidean neighbours (itself
excluded); mean over cells; normalised as ``clip(1 - mean / random_baseline, 0, 1)``, where
``random_baseline`` is the same mean over min(10,000, 10 n) cells, each paired with ``k``
random *other* cells. cz-benchmarks draws these unseeded (global ``np.random``); czbench draws
them from ``numpy.random.default_rng(seed)``, so a result is reproducible.

Time labels must be numeric, or strings that parse as numbers ("4", "0.25"); anything else is
a one-line :class:`~czbench.errors.InputError` naming the column and a few offending values.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch

from czbench.context import DEFAULT_SEED
from czbench.errors import InputError
from czbench.neighbors import KNNGraph, knn_graph

__all__ = ["BASELINE_SAMPLES", "SEQUENTIAL_K", "random_baseline", "sequential_alignment",
           "time_values"]

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
                         seed: int = DEFAULT_SEED, knn: KNNGraph | None = None,
                         backend: str = "auto", device: Any = None) -> float:
    """How well each cell's ``k`` nearest neighbours share its time, in [0, 1] (1 = best).

    ``clip(1 - mean_knn / random_baseline, 0, 1)``, where ``mean_knn`` is the mean over cells of
    the mean |t_i - t_j| over cell i's ``k`` exact Euclidean neighbours (itself excluded) and
    ``random_baseline`` is :func:`random_baseline` with the same ``k`` and ``seed``. One unique
    time value is an InputError (cz-benchmarks returns 1.0 there: a perfect score for any
    embedding; see docs/differences.md). ``knn`` may carry a precomputed graph (self in column
    0) with at least ``k + 1`` neighbours; it is computed otherwise with ``backend``, ``seed``
    and ``device``.
    ``k`` is capped at n - 1.
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
        raise InputError(f"time: all {n} cells have the same time ({t[0]:g}); "
                         f"sequential_alignment needs at least 2 time points")
    k = min(int(k), n - 1)
    if knn is None:
        knn = knn_graph(embedding, k + 1, backend=backend, seed=seed, device=device)
    elif knn.n_cells != n:
        raise InputError(f"knn: the graph has {knn.n_cells} cells, the embedding has {n}")
    neighbours = knn.head(k + 1).indices[:, 1:]
    mean_knn = float(np.abs(t[:, None] - t[neighbours]).mean())
    baseline = random_baseline(t, k, seed=seed)
    if baseline <= 0.0:  # every random pair tied (tiny n): nothing to beat
        return 1.0 if mean_knn == 0.0 else 0.0
    return float(np.clip(1.0 - mean_knn / baseline, 0.0, 1.0))
