"""Scores of one classification split: accuracy, f1, precision, recall and AUROC.

Definition: docs/spec.md#task-label_prediction. One implementation, used by every task and
estimator that trains classifiers. The averaging is decided once, by the caller, from the
classes kept (binary for 2, else macro), and ``labels=`` is passed to every scorer, so a fold
that happens to miss a class is scored on the same terms as the others.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    matthews_corrcoef,
    precision_score,
    recall_score,
    roc_auc_score,
)

from czbench.errors import InputError

#: score names, in report order (reported as ``mean_fold_<name>``)
SCORES = ("accuracy", "f1", "precision", "recall", "auroc")


def classification_scores(y_true: Any, proba: Any, labels: Sequence[Any]) -> dict[str, float]:
    """The five scores of one split.

    Args:
        y_true: true class of each test row (values among ``labels``).
        proba: (rows, len(labels)) predicted probabilities, columns in ``labels`` order.
        labels: every class the classifier was trained on (decided once, before the folds).

    Predictions are ``labels[argmax(proba)]``. accuracy; f1, precision, recall with
    ``average="binary"`` (positive class ``labels[1]``) for two labels, else ``"macro"`` over
    ``labels``, ``zero_division=0``; AUROC one-vs-rest macro over the classes present in
    ``y_true`` (probabilities renormalised over them; equal to scikit-learn's
    ``roc_auc_score(..., multi_class="ovr")`` when every class is present), NaN when fewer
    than two are present.
    """
    labels = np.asarray(labels)
    y_true = np.asarray(y_true)
    proba = np.asarray(proba, dtype=np.float64)
    if len(labels) < 2:
        raise InputError(f"labels: classification scores need at least 2 classes, got "
                         f"{len(labels)}")
    if proba.ndim != 2 or proba.shape != (len(y_true), len(labels)):
        raise InputError(f"proba: expected shape ({len(y_true)}, {len(labels)}), got "
                         f"{proba.shape}")
    unknown = np.setdiff1d(y_true, labels)
    if unknown.size:
        raise InputError(f"y_true: holds classes outside labels, e.g. {unknown[:3].tolist()}")
    pred = labels[proba.argmax(axis=1)]
    if len(labels) == 2:
        kind = {"average": "binary", "pos_label": labels[1]}
    else:
        kind = {"average": "macro", "labels": labels}
    return {
        "accuracy": float(accuracy_score(y_true, pred)),
        "f1": float(f1_score(y_true, pred, zero_division=0, **kind)),
        "precision": float(precision_score(y_true, pred, zero_division=0, **kind)),
        "recall": float(recall_score(y_true, pred, zero_division=0, **kind)),
        "auroc": ovr_auroc(y_true, proba, labels),
    }


#: the probe scores of the sequence task, in report order
PROBE_SCORES = ("mcc", "accuracy", "macro_f1", "auroc")


def probe_scores(y_true: Any, proba: Any, labels: Sequence[Any]) -> dict[str, float]:
    """The scores DNA benchmarks report (GUE's headline is the MCC) for one split:
    Matthews correlation (multiclass: Gorodkin's R_K, scikit-learn's ``matthews_corrcoef``),
    accuracy, macro-F1 over ``labels`` (also for two classes) and the one-vs-rest AUROC of
    :func:`classification_scores`, whose checks apply; predictions ``labels[argmax(proba)]``.
    """
    scores = classification_scores(y_true, proba, labels)
    labels = np.asarray(labels)
    pred = labels[np.asarray(proba).argmax(axis=1)]
    macro = scores["f1"] if len(labels) > 2 else float(
        f1_score(y_true, pred, average="macro", labels=labels, zero_division=0))
    return {"mcc": float(matthews_corrcoef(y_true, pred)), "accuracy": scores["accuracy"],
            "macro_f1": macro, "auroc": scores["auroc"]}


def ovr_auroc(y_true: np.ndarray, proba: np.ndarray, labels: np.ndarray) -> float:
    """One-vs-rest macro AUROC over the classes present in ``y_true`` (see
    :func:`classification_scores`); NaN when fewer than two are present."""
    present = np.flatnonzero(np.isin(labels, y_true))
    if len(present) < 2:
        return float("nan")
    if len(present) == len(labels):  # the usual case: the reference's call, unchanged
        if len(labels) == 2:
            return float(roc_auc_score(y_true == labels[1], proba[:, 1]))
        return float(roc_auc_score(y_true, proba, multi_class="ovr", average="macro",
                                   labels=labels))
    sub = proba[:, present]
    total = sub.sum(axis=1, keepdims=True)
    sub = np.where(total > 0, sub / np.where(total > 0, total, 1.0), 1.0 / len(present))
    if len(present) == 2:
        return float(roc_auc_score(y_true == labels[present[1]], sub[:, 1]))
    return float(roc_auc_score(y_true, sub, multi_class="ovr", average="macro",
                               labels=labels[present]))
