"""The plugin's metric: kNN label purity.

For each cell, the share of its k - 1 nearest neighbours (itself excluded) that carry its
label; averaged within each label, then over labels, so that a small population weighs as much
as a large one. 1: every neighbourhood is pure; a shuffled embedding scores about the labels'
frequencies.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from czbench.metrics import MetricInfo


def label_knn_purity(knn: Any, labels: Any) -> float:
    """Macro-averaged share of same-label neighbours in ``knn`` (a czbench KNNGraph)."""
    codes, _ = pd.factorize(np.asarray(labels), sort=True)
    neighbours = codes[knn.indices[:, 1:]]  # column 0 is the cell itself
    same = (neighbours == codes[:, None]).mean(axis=1)
    return float(pd.Series(same).groupby(codes).mean().mean())


LABEL_KNN_PURITY = MetricInfo(
    name="label_knn_purity",
    function=label_knn_purity,
    inputs=("knn", "labels"),
    description="Macro mean share of same-label cells among each cell's 15 nearest neighbours",
    k=15,
)
