"""Agreement between two labelings: adjusted Rand index and normalised mutual information.

Definitions: docs/spec.md#adjusted_rand_index and docs/spec.md#normalized_mutual_info. Computed
by scikit-learn (exact integer pair counts: no overflow at any number of cells, unlike
torchmetrics 1.9's ``AdjustedRandScore`` near 1e5 cells); czbench only checks the inputs.
"""

from __future__ import annotations

from typing import Any

from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from czbench.errors import InputError
from czbench.utils.arrays import as_codes


def _codes(labels_true: Any, labels_pred: Any) -> tuple[Any, Any]:
    t = as_codes(labels_true, name="labels_true")
    if len(t) == 0:
        raise InputError("labels_true: expected at least one cell, got none")
    return t, as_codes(labels_pred, len(t), name="labels_pred")


def adjusted_rand_index(labels_true: Any, labels_pred: Any) -> float:
    """Adjusted Rand index (Hubert & Arabie 1985): scikit-learn's ``adjusted_rand_score``."""
    return float(adjusted_rand_score(*_codes(labels_true, labels_pred)))


def normalized_mutual_info(labels_true: Any, labels_pred: Any) -> float:
    """Mutual information normalised by the arithmetic mean of the two entropies:
    scikit-learn's ``normalized_mutual_info_score``."""
    return float(normalized_mutual_info_score(*_codes(labels_true, labels_pred),
                                              average_method="arithmetic"))
