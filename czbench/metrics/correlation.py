"""Rank correlation: the Spearman coefficient the perturbation task reports.

Definition: docs/spec.md#spearman_correlation_calculation. Computed by
``scipy.stats.spearmanr`` (average ranks for ties); where it is undefined (a constant side,
fewer than 2 values) the reference turns NaN into 0, and so does czbench.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from scipy.stats import spearmanr

from czbench.errors import InputError


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman rank correlation of ``x`` and ``y``; 0 where undefined."""
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise InputError(f"spearman: expected two 1-D vectors of the same length, got shapes "
                         f"{x.shape} and {y.shape}")
    if x.size < 2:
        return 0.0
    with warnings.catch_warnings():  # a constant input: NaN, reported as 0 below
        warnings.simplefilter("ignore")
        value = float(spearmanr(x, y).statistic)
    return value if np.isfinite(value) else 0.0
